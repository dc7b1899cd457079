// PNG charts drawn with cairo: line charts (loss and accuracy curves, learning-rate schedules) and
// grids of histograms (per-layer activations and gradients, side by side as in the lecture's
// figures). Plain numbers in, one file out; no tensors, no autograd (viz depends only on base/).
// Not an interactive plotting library: fixed layout, automatic axes, one palette.
#pragma once
#include <string>
#include <vector>

namespace cvtrain::viz {

// One curve of a line chart. x and y have the same length; non-finite points break the line.
struct Series {
  std::string label;
  std::vector<double> x, y;
  bool scatter = false;  // a marker on every point and no line between them (search results)
};

// Axes with "nice" ticks (1, 2, 5 x 10^k) fitted to all series, tick labels, axis labels, a title,
// and a legend listing each series' label in its colour (no legend for a single unlabelled series).
// log_y: logarithmic y axis (points with y <= 0 are skipped). Writes a PNG at `path` (InputError
// naming the path when it cannot be written).
void line_chart_png(const std::string& path, const std::string& title, const std::string& xlabel,
                    const std::string& ylabel, const std::vector<Series>& series, bool log_y = false);

// A histogram: counts[i] is the count of values in [edges[i], edges[i+1]); edges.size() ==
// counts.size() + 1, edges increasing. `title` is drawn above its panel (e.g. "layer 3\nmean 0.01
// std 0.2": a '\n' starts a second, smaller line).
struct Histogram {
  std::string title;
  std::vector<double> edges;
  std::vector<double> counts;
};

// The panels side by side in one row (wrapping into further rows past `max_columns`), each with
// its own x axis (from its edges) and its own y axis (counts), under one overall title. Writes a
// PNG at `path` (InputError naming the path when it cannot be written).
void histogram_grid_png(const std::string& path, const std::string& title, const std::vector<Histogram>& panels,
                        int max_columns = 8);

// Ticks for an axis over [lo, hi]: about `target` round values (1, 2, 5 x 10^k) inside the range.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
// Ticks for an x axis whose values are all whole numbers (epochs): nice_ticks without the fractions,
// or every whole number in a short range (epochs 1 and 2 get ticks 1 and 2, not 1, 1.2, ... 2).
std::vector<double> whole_ticks(double lo, double hi, int target = 5);
// True when every finite x of every series is a whole number.
bool whole_x(const std::vector<Series>& series);
// Ticks at the powers of ten inside [lo, hi] (lo > 0), at most about 7 of them.
std::vector<double> log_ticks(double lo, double hi);
// An axis range for the data's [lo, hi]: a degenerate or empty range widened, and (pad) 4% added on
// each side of a linear one so that curves do not sit on the frame.
void fit_range(double& lo, double& hi, bool log, bool pad);

// A short label for a tick value: "0", "0.25", "1e-05", "3000".
std::string tick_label(double v);

}  // namespace cvtrain::viz

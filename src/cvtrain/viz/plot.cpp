// Line charts and histogram grids with cairo's image surface and its toy text API (DejaVu Sans
// through fontconfig). Layout constants are in pixels; every chart is drawn in plain steps:
// frame, grid and ticks, data, labels, legend.
#include "cvtrain/viz/plot.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "cvtrain/base/error.h"
#include "cvtrain/base/files.h"
#include "cvtrain/viz/palette.h"

namespace cvtrain::viz {

namespace {

using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
using CairoPtr = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;

struct Canvas {
  SurfacePtr surface;
  CairoPtr cr;
  Canvas(int w, int h)
      : surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h), cairo_surface_destroy),
        cr(cairo_create(surface.get()), cairo_destroy) {
    CHECK(cairo_status(cr.get()) == CAIRO_STATUS_SUCCESS, "cairo: cannot create a ", w, "x", h, " image: ",
          cairo_status_to_string(cairo_status(cr.get())));
    cairo_set_source_rgb(cr.get(), 1, 1, 1);
    cairo_paint(cr.get());
    cairo_select_font_face(cr.get(), "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  }
  // Encodes in memory, then writes atomically (base/files.h): a full disk is an InputError naming the
  // file and the reason, and never leaves a truncated PNG in place of a good one.
  void write(const std::string& path) {
    cairo_surface_flush(surface.get());
    std::string png;
    const auto append = [](void* out, const unsigned char* data, unsigned int n) {
      static_cast<std::string*>(out)->append(reinterpret_cast<const char*>(data), n);
      return CAIRO_STATUS_SUCCESS;
    };
    const cairo_status_t st = cairo_surface_write_to_png_stream(surface.get(), append, &png);
    CHECK(st == CAIRO_STATUS_SUCCESS, path, ": cannot encode the PNG (", cairo_status_to_string(st), ")");
    write_text_atomic(path, png);
  }
};

enum class Align { left, center, right };

// Draws `text` with its baseline-centre (or left/right end) at (x, y); vertical = rotated 90 degrees
// counter-clockwise (y-axis labels).
void text(cairo_t* cr, const std::string& s, double x, double y, double size, Align align = Align::center,
          bool bold = false, bool vertical = false) {
  cairo_save(cr);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, s.c_str(), &ext);
  cairo_translate(cr, x, y);
  if (vertical) cairo_rotate(cr, -M_PI / 2);
  double dx = align == Align::left ? 0 : align == Align::center ? -ext.x_advance / 2 : -ext.x_advance;
  cairo_move_to(cr, dx, 0);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  cairo_show_text(cr, s.c_str());
  cairo_restore(cr);
}

double text_width(cairo_t* cr, const std::string& s, double size) {
  cairo_save(cr);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, s.c_str(), &ext);
  cairo_restore(cr);
  return ext.x_advance;
}

// A data range -> pixel range map, linear or log10.
struct Axis {
  double lo, hi;      // data
  double p0, p1;      // pixels (p1 may be < p0: the y axis grows upward)
  bool log = false;
  double map(double v) const {
    double a = log ? std::log10(v) : v, l = log ? std::log10(lo) : lo, h = log ? std::log10(hi) : hi;
    return p0 + (a - l) / (h - l) * (p1 - p0);
  }
};

// Frame, grid lines, tick marks and labels of one plot area.
void draw_axes(cairo_t* cr, const Axis& x, const Axis& y, const std::vector<double>& xt, const std::vector<double>& yt,
               double font) {
  cairo_set_line_width(cr, 1);
  for (double v : yt) {  // horizontal grid
    double py = std::round(y.map(v)) + 0.5;
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, x.p0, py);
    cairo_line_to(cr, x.p1, py);
    cairo_stroke(cr);
    text(cr, tick_label(v), x.p0 - 6, py + font * 0.35, font, Align::right);
  }
  for (double v : xt) {
    double px = std::round(x.map(v)) + 0.5;
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, px, y.p0);
    cairo_line_to(cr, px, y.p1);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_move_to(cr, px, y.p0);
    cairo_line_to(cr, px, y.p0 + 4);
    cairo_stroke(cr);
    text(cr, tick_label(v), px, y.p0 + 6 + font, font);
  }
  cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
  cairo_rectangle(cr, x.p0 + 0.5, y.p1 + 0.5, x.p1 - x.p0, y.p0 - y.p1);
  cairo_stroke(cr);
}

}  // namespace

void fit_range(double& lo, double& hi, bool log, bool pad) {
  if (!(lo <= hi)) lo = 0, hi = 1;
  if (log) {
    if (lo == hi) lo /= 10, hi *= 10;
    return;
  }
  if (lo == hi) {
    double d = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= d, hi += d;
  } else if (pad) {
    double d = (hi - lo) * 0.04;
    lo -= d, hi += d;
  }
}

std::vector<double> log_ticks(double lo, double hi) {
  std::vector<double> t;
  int a = static_cast<int>(std::floor(std::log10(lo))), b = static_cast<int>(std::ceil(std::log10(hi)));
  int step = std::max(1, (b - a) / 6);
  for (int e = a; e <= b; e += step) {
    double v = std::pow(10.0, e);
    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back(v);
  }
  return t;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> t;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo};
  double raw = (hi - lo) / std::max(1, target);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  // a round step can leave a single tick inside a narrow range: ask for finer steps
  if (t.size() < 3 && target < 64) return nice_ticks(lo, hi, target * 2);
  return t;
}

std::vector<double> whole_ticks(double lo, double hi, int target) {
  std::vector<double> t;
  for (double v : nice_ticks(lo, hi, target))
    if (v == std::round(v)) t.push_back(v);
  if (t.size() >= 2) return t;
  t.clear();
  for (double v = std::ceil(lo); v <= hi; ++v) t.push_back(v);
  return t;
}

bool whole_x(const std::vector<Series>& series) {
  for (const Series& s : series)
    for (double x : s.x)
      if (std::isfinite(x) && x != std::round(x)) return false;
  return true;
}

std::string tick_label(double v) {
  char buf[32];
  double a = std::abs(v);
  if (v == 0) return "0";
  if (a >= 1e5 || a < 1e-3)
    std::snprintf(buf, sizeof buf, "%.0e", v);
  else
    std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

namespace {

bool drawable(const Series& s, size_t i, bool log_y) {
  return std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && !(log_y && s.y[i] <= 0);
}

// A marker of shape `m` centred on (x, y), filled with the current colour (the cross is stroked).
void draw_marker(cairo_t* cr, Marker m, double x, double y, double r) {
  switch (m) {
    case Marker::circle: cairo_arc(cr, x, y, r, 0, 2 * M_PI); break;
    case Marker::square: cairo_rectangle(cr, x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7); break;
    case Marker::triangle:
      cairo_move_to(cr, x, y - r * 1.15), cairo_line_to(cr, x + r, y + r * 0.75), cairo_line_to(cr, x - r, y + r * 0.75);
      cairo_close_path(cr);
      break;
    case Marker::diamond:
      cairo_move_to(cr, x, y - r * 1.2), cairo_line_to(cr, x + r, y), cairo_line_to(cr, x, y + r * 1.2);
      cairo_line_to(cr, x - r, y), cairo_close_path(cr);
      break;
    case Marker::cross:
      cairo_move_to(cr, x - r, y - r), cairo_line_to(cr, x + r, y + r), cairo_move_to(cr, x + r, y - r);
      cairo_line_to(cr, x - r, y + r);
      cairo_set_line_width(cr, 1.8);
      cairo_stroke(cr);
      return;
  }
  cairo_fill(cr);
}

// The legend's entries laid out left to right in rows of at most `width` pixels: each entry's
// top-left corner. Returns the number of rows.
int legend_layout(cairo_t* cr, const std::vector<Series>& series, double width, double font,
                  std::vector<std::pair<double, double>>& at) {
  double x = 0, y = 0;
  for (const Series& s : series) {
    const double w = 40 + text_width(cr, s.label, font) + 18;
    if (x > 0 && x + w > width) x = 0, y += 20;
    at.emplace_back(x, y);
    x += w;
  }
  return series.empty() ? 0 : static_cast<int>(y / 20) + 1;
}

}  // namespace

void line_chart_png(const std::string& path, const std::string& title, const std::string& xlabel,
                    const std::string& ylabel, const std::vector<Series>& series, bool log_y) {
  const double font = 13, left = 80, right = 24, bottom = 62;
  bool any_label = false;
  for (const Series& s : series) any_label = any_label || !s.label.empty();
  // The legend sits in a band between the title and the plot, never over the data.
  std::vector<std::pair<double, double>> legend_at;
  {
    Canvas probe(1, 1);
    if (any_label) legend_layout(probe.cr.get(), series, 900 - left - right, font, legend_at);
  }
  const int legend_rows = legend_at.empty() ? 0 : static_cast<int>(legend_at.back().second / 20) + 1;
  const int W = 900, H = 560 + 20 * legend_rows;
  const double top = 50 + 20.0 * legend_rows;
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  for (const Series& s : series) {
    CHECK(s.x.size() == s.y.size(), "line_chart_png: series '", s.label, "' has ", s.x.size(), " x and ",
          s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!drawable(s, i, log_y)) continue;
      xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
      ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
    }
  }
  fit_range(xlo, xhi, false, false);
  fit_range(ylo, yhi, log_y, true);
  Axis x{xlo, xhi, left, W - right}, y{ylo, yhi, H - bottom, top, log_y};
  std::vector<double> xt = whole_x(series) ? whole_ticks(xlo, xhi, 8) : nice_ticks(xlo, xhi, 8), yt = log_y ? log_ticks(ylo, yhi) : nice_ticks(ylo, yhi, 6);

  Canvas canvas(W, H);
  cairo_t* cr = canvas.cr.get();
  draw_axes(cr, x, y, xt, yt, font);
  text(cr, title, W / 2.0, 30, 17, Align::center, true);
  text(cr, xlabel, (x.p0 + x.p1) / 2, H - 16, 14);
  text(cr, ylabel, 22, (y.p0 + y.p1) / 2, 14, Align::center, false, true);

  cairo_save(cr);
  cairo_rectangle(cr, x.p0 - 5, y.p1 - 5, x.p1 - x.p0 + 10, y.p0 - y.p1 + 10);
  cairo_clip(cr);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  for (size_t k = 0; k < series.size(); ++k) {
    const Rgb& c = kPalette[k % kPaletteSize];
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_set_line_width(cr, 2);
    const Series& s = series[k];
    bool pen_down = false;
    for (size_t i = 0; i < s.x.size() && !s.scatter; ++i) {
      if (!drawable(s, i, log_y)) {
        pen_down = false;
        continue;
      }
      const double px = x.map(s.x[i]), py = y.map(s.y[i]);
      pen_down ? cairo_line_to(cr, px, py) : cairo_move_to(cr, px, py);
      pen_down = true;
    }
    cairo_stroke(cr);
    const int stride = s.scatter ? 1 : marker_stride(s.x.size());
    for (size_t i = 0; i < s.x.size(); i += static_cast<size_t>(stride))
      if (drawable(s, i, log_y)) draw_marker(cr, kMarkers[k % kMarkerCount], x.map(s.x[i]), y.map(s.y[i]), 3.5);
  }
  cairo_restore(cr);

  for (size_t k = 0; k < legend_at.size(); ++k) {
    const Rgb& c = kPalette[k % kPaletteSize];
    const double lx = left + legend_at[k].first, ly = 50 + legend_at[k].second + 6;
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_set_line_width(cr, 2.5);
    cairo_move_to(cr, lx, ly - 4);
    cairo_line_to(cr, lx + 30, ly - 4);
    cairo_stroke(cr);
    draw_marker(cr, kMarkers[k % kMarkerCount], lx + 15, ly - 4, 3.5);
    text(cr, series[k].label, lx + 38, ly, font, Align::left);
  }
  canvas.write(path);
}

void histogram_grid_png(const std::string& path, const std::string& title, const std::vector<Histogram>& panels,
                        int max_columns) {
  CHECK(max_columns >= 1, "histogram_grid_png: max_columns must be >= 1");
  const int n = std::max<int>(1, static_cast<int>(panels.size()));
  const int cols = std::min(n, max_columns), rows = (n + cols - 1) / cols;
  const int PW = 250, PH = 230, top = 50;
  const int W = cols * PW + 20, H = top + rows * PH + 10;
  const double font = 11;

  Canvas canvas(W, H);
  cairo_t* cr = canvas.cr.get();
  text(cr, title, W / 2.0, 30, 17, Align::center, true);
  for (size_t k = 0; k < panels.size(); ++k) {
    const Histogram& h = panels[k];
    CHECK(h.edges.size() == h.counts.size() + 1, "histogram_grid_png: panel '", h.title, "' has ", h.edges.size(),
          " edges for ", h.counts.size(), " counts");
    const double ox = 10 + (k % cols) * PW, oy = top + (k / cols) * PH;
    // the panel title: first line bold, the rest below in the tick font
    std::string first = h.title, rest;
    if (size_t nl = h.title.find('\n'); nl != std::string::npos) first = h.title.substr(0, nl), rest = h.title.substr(nl + 1);
    text(cr, first, ox + PW / 2.0 + 14, oy + 14, 12.5, Align::center, true);
    if (!rest.empty()) text(cr, rest, ox + PW / 2.0 + 14, oy + 29, font);
    if (h.counts.empty()) continue;

    double xlo = h.edges.front(), xhi = h.edges.back(), cmax = 0;
    for (double c : h.counts) cmax = std::max(cmax, std::isfinite(c) ? c : 0.0);
    fit_range(xlo, xhi, false, false);
    if (cmax <= 0) cmax = 1;
    Axis x{xlo, xhi, ox + 52, ox + PW - 10}, y{0, cmax * 1.05, oy + PH - 34, oy + 38};
    draw_axes(cr, x, y, nice_ticks(xlo, xhi, 3), nice_ticks(0, cmax * 1.05, 4), font);
    const Rgb& c = kPalette[0];
    for (size_t i = 0; i < h.counts.size(); ++i) {
      if (!(h.counts[i] > 0) || !std::isfinite(h.counts[i])) continue;
      double x0 = x.map(h.edges[i]), x1 = x.map(h.edges[i + 1]), y1 = y.map(h.counts[i]);
      cairo_set_source_rgb(cr, c.r, c.g, c.b);
      cairo_rectangle(cr, x0, y1, std::max(0.8, x1 - x0), y.p0 - y1);
      cairo_fill(cr);
    }
  }
  canvas.write(path);
}

}  // namespace cvtrain::viz

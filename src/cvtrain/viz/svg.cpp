// The SVG line chart in the order plot.cpp draws its PNG twin: title, legend band, grid and ticks,
// data (lines, then markers), axis labels. Text widths are estimated (0.6 em per character) since
// the browser, not we, lays out the glyphs.
#include "cvtrain/viz/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "cvtrain/base/error.h"
#include "cvtrain/viz/palette.h"

namespace cvtrain::viz {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string colour(int k) {
  const Rgb& c = kPalette[k % kPaletteSize];
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(c.r * 255)),
                static_cast<int>(std::lround(c.g * 255)), static_cast<int>(std::lround(c.b * 255)));
  return buf;
}

std::string marker(Marker m, double x, double y, double r, const std::string& fill, const std::string& tip) {
  std::ostringstream s;
  const std::string t = tip.empty() ? "" : "<title>" + xml_escape(tip) + "</title>";
  auto poly = [&](std::initializer_list<std::pair<double, double>> pts) {
    s << "<polygon fill=\"" << fill << "\" points=\"";
    for (const auto& [px, py] : pts) s << num(x + px * r) << ',' << num(y + py * r) << ' ';
    s << "\">" << t << "</polygon>";
  };
  switch (m) {
    case Marker::circle:
      s << "<circle fill=\"" << fill << "\" cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"" << num(r) << "\">" << t
        << "</circle>";
      break;
    case Marker::square: poly({{-0.85, -0.85}, {0.85, -0.85}, {0.85, 0.85}, {-0.85, 0.85}}); break;
    case Marker::triangle: poly({{0, -1.15}, {1, 0.75}, {-1, 0.75}}); break;
    case Marker::diamond: poly({{0, -1.2}, {1, 0}, {0, 1.2}, {-1, 0}}); break;
    case Marker::cross:
      s << "<path stroke=\"" << fill << "\" stroke-width=\"1.8\" d=\"M" << num(x - r) << ' ' << num(y - r) << "L"
        << num(x + r) << ' ' << num(y + r) << "M" << num(x + r) << ' ' << num(y - r) << "L" << num(x - r) << ' '
        << num(y + r) << "\">" << t << "</path>";
      break;
  }
  return s.str();
}

bool drawable(const Series& s, size_t i, bool log_y) {
  return std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && !(log_y && s.y[i] <= 0);
}

struct Map {  // data -> pixels, linear or log10
  double lo, hi, p0, p1;
  bool log = false;
  double operator()(double v) const {
    const double a = log ? std::log10(v) : v, l = log ? std::log10(lo) : lo, h = log ? std::log10(hi) : hi;
    return p0 + (a - l) / (h - l) * (p1 - p0);
  }
};

// The legend band: entries left to right, wrapping; returns its SVG and sets `rows`.
std::string legend(const std::vector<Series>& series, double x0, double y0, double width, int& rows) {
  std::ostringstream s;
  double x = 0, y = 0;
  rows = 0;
  for (size_t k = 0; k < series.size(); ++k) {
    const double w = 34 + 0.6 * 12 * static_cast<double>(series[k].label.size()) + 14;
    if (x > 0 && x + w > width) x = 0, y += 18;
    const double lx = x0 + x, ly = y0 + y;
    s << "<line x1=\"" << num(lx) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(lx + 26) << "\" y2=\"" << num(ly)
      << "\" stroke=\"" << colour(static_cast<int>(k)) << "\" stroke-width=\"2\"/>"
      << marker(kMarkers[k % kMarkerCount], lx + 13, ly, 3.5, colour(static_cast<int>(k)), "")
      << "<text x=\"" << num(lx + 32) << "\" y=\"" << num(ly + 4) << "\">" << xml_escape(series[k].label) << "</text>";
    x += w;
    rows = static_cast<int>(y / 18) + 1;
  }
  return s.str();
}

// Grid lines, tick labels and the frame.
std::string axes(const Map& x, const Map& y, const std::vector<double>& xt, const std::vector<double>& yt) {
  std::ostringstream s;
  s << "<g stroke=\"#e4e4e4\" stroke-width=\"1\">";
  for (double v : yt) s << "<line x1=\"" << num(x.p0) << "\" x2=\"" << num(x.p1) << "\" y1=\"" << num(y(v)) << "\" y2=\"" << num(y(v)) << "\"/>";
  for (double v : xt) s << "<line y1=\"" << num(y.p0) << "\" y2=\"" << num(y.p1) << "\" x1=\"" << num(x(v)) << "\" x2=\"" << num(x(v)) << "\"/>";
  s << "</g><g font-size=\"11\" fill=\"#333\">";
  for (double v : yt)
    s << "<text x=\"" << num(x.p0 - 5) << "\" y=\"" << num(y(v) + 4) << "\" text-anchor=\"end\">" << tick_label(v) << "</text>";
  for (double v : xt)
    s << "<text x=\"" << num(x(v)) << "\" y=\"" << num(y.p0 + 15) << "\" text-anchor=\"middle\">" << tick_label(v) << "</text>";
  s << "</g><rect x=\"" << num(x.p0) << "\" y=\"" << num(y.p1) << "\" width=\"" << num(x.p1 - x.p0) << "\" height=\""
    << num(y.p0 - y.p1) << "\" fill=\"none\" stroke=\"#444\"/>";
  return s.str();
}

// One series: its polylines (a break at every non-drawable point), then its markers.
std::string curve(const Series& s, int k, const Map& x, const Map& y, bool log_y) {
  std::ostringstream out, pts;
  const std::string c = colour(k);
  auto flush = [&] {
    if (!pts.str().empty())
      out << "<polyline fill=\"none\" stroke=\"" << c << "\" stroke-width=\"1.8\" stroke-linejoin=\"round\" points=\""
          << pts.str() << "\"/>";
    pts.str("");
  };
  for (size_t i = 0; i < s.x.size() && !s.scatter; ++i) {
    if (!drawable(s, i, log_y)) {
      flush();
      continue;
    }
    pts << num(x(s.x[i])) << ',' << num(y(s.y[i])) << ' ';
  }
  flush();
  const size_t stride = s.scatter ? 1 : static_cast<size_t>(marker_stride(s.x.size()));
  for (size_t i = 0; i < s.x.size(); i += stride)
    if (drawable(s, i, log_y))
      out << marker(kMarkers[k % kMarkerCount], x(s.x[i]), y(s.y[i]), 3, c,
                    (s.label.empty() ? "" : s.label + ": ") + tick_label(s.x[i]) + ", " + tick_label(s.y[i]));
  return out.str();
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (const char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(ch) >= 0x20 || ch == '\n' || ch == '\t') out += ch;
    }
  }
  return out;
}

std::string line_chart_svg(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                           const std::vector<Series>& series, bool log_y, int width, int height) {
  const double left = 58, right = 14, bottom = 40;
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  for (const Series& s : series) {
    CHECK(s.x.size() == s.y.size(), "line_chart_svg: series '", s.label, "' has ", s.x.size(), " x and ", s.y.size(),
          " y values");
    for (size_t i = 0; i < s.x.size(); ++i)
      if (drawable(s, i, log_y))
        xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]), ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
  }
  fit_range(xlo, xhi, false, false);
  fit_range(ylo, yhi, log_y, true);
  bool any_label = false;
  for (const Series& s : series) any_label = any_label || !s.label.empty();
  int rows = 0;
  const std::string key = any_label ? legend(series, left, 38, width - left - right, rows) : "";
  const double top = 34 + 18.0 * rows + 8;
  const int H = height + 18 * rows;
  const Map x{xlo, xhi, left, width - right}, y{ylo, yhi, H - bottom, top, log_y};
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << H << "\" viewBox=\"0 0 "
    << width << ' ' << H << "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\" role=\"img\" "
    << "aria-label=\"" << xml_escape(title) << "\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
    << "<text x=\"" << width / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">"
    << xml_escape(title) << "</text>" << key
    << axes(x, y, whole_x(series) ? whole_ticks(xlo, xhi, 6) : nice_ticks(xlo, xhi, 6), log_y ? log_ticks(ylo, yhi) : nice_ticks(ylo, yhi, 5));
  for (size_t k = 0; k < series.size(); ++k) s << curve(series[k], static_cast<int>(k), x, y, log_y);
  s << "<text x=\"" << num((x.p0 + x.p1) / 2) << "\" y=\"" << H - 8 << "\" text-anchor=\"middle\">" << xml_escape(xlabel)
    << "</text><text transform=\"translate(14 " << num((y.p0 + y.p1) / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(ylabel) << "</text></svg>";
  return s.str();
}

}  // namespace cvtrain::viz

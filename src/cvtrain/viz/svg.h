// SVG charts as text, for pages that must stand alone (the run report): the line chart of plot.h
// with the same series, colours, markers and axes, drawn as inline SVG (no fonts to embed, no
// scripts). The legend sits above the plot area, never over the data. Not a general SVG writer.
#pragma once
#include <string>
#include <vector>

#include "cvtrain/viz/plot.h"

namespace cvtrain::viz {

// `<svg>...</svg>` of width x height pixels. Non-finite points break a line; with log_y, points
// with y <= 0 are skipped. Each marker carries a <title> (the series, x and y) that browsers show
// on hover.
std::string line_chart_svg(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                           const std::vector<Series>& series, bool log_y = false, int width = 560, int height = 340);

// Text for XML/HTML content and attribute values: & < > " ' escaped; control characters dropped.
std::string xml_escape(const std::string& text);

}  // namespace cvtrain::viz

// The charts' colours and marker shapes, shared by the PNG charts (plot.cpp) and the SVG charts
// (svg.cpp) so that a series looks the same in both. Series k takes colour k and marker k (mod the
// table sizes): colour and shape both tell series apart, for readers who cannot see the colours.
#pragma once

namespace cvtrain::viz {

struct Rgb {
  double r, g, b;
};
// Matplotlib's "tab10": distinguishable, and familiar to readers of the lecture's figures.
inline constexpr Rgb kPalette[] = {{0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173},
                                   {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294},
                                   {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133},
                                   {0.090, 0.745, 0.812}};
inline constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

enum class Marker { circle, square, triangle, diamond, cross };
inline constexpr Marker kMarkers[] = {Marker::circle, Marker::square, Marker::triangle, Marker::diamond, Marker::cross};
inline constexpr int kMarkerCount = sizeof(kMarkers) / sizeof(kMarkers[0]);

// Markers on every point of a series up to this many points; a longer series gets one on every
// ceil(n / kMarkerTarget)-th point, enough to tell the series apart without hiding the line.
inline constexpr int kMarkerTarget = 40;
inline int marker_stride(size_t points) {
  return points <= static_cast<size_t>(kMarkerTarget) ? 1 : static_cast<int>((points + kMarkerTarget - 1) / kMarkerTarget);
}

}  // namespace cvtrain::viz

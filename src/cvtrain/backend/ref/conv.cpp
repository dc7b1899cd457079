#include "cvtrain/backend/ref/conv.h"

#include <algorithm>

namespace cvtrain::ref {
namespace {

// Calls f(n, oc, oh, ow, c, kh, kw, h, w) for every output element and every kernel tap that lands
// inside the input: output (n,oc,oh,ow) reads input (n,c,h,w) through weight (oc, c - g*C/groups, kh, kw).
template <class F>
void for_each_tap(const Conv2dShape& s, F&& f) {
  const int64_t cpg = s.C / s.groups, ocpg = s.OC / s.groups;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t oc = 0; oc < s.OC; ++oc)
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow)
          for (int64_t ci = 0; ci < cpg; ++ci)
            for (int64_t kh = 0; kh < s.KH; ++kh)
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                const int64_t h = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
                const int64_t w = ow * s.stride_w - s.pad_w + kw * s.dilation_w;
                if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
                const int64_t c = (oc / ocpg) * cpg + ci;
                f(((n * s.OC + oc) * s.OH + oh) * s.OW + ow, ((n * s.C + c) * s.H + h) * s.W + w,
                  ((oc * cpg + ci) * s.KH + kh) * s.KW + kw);
              }
}

}  // namespace

template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  const int64_t plane = s.OH * s.OW;
  for (int64_t i = 0; i < s.N * s.OC * plane; ++i) y[i] = b ? b[(i / plane) % s.OC] : T(0);
  for_each_tap(s, [&](int64_t yi, int64_t xi, int64_t wi) { y[yi] += x[xi] * w[wi]; });
}

template <class T>
void conv2d_backward_data(const T* w, const T* dy, T* dx, const Conv2dShape& s) {
  std::fill(dx, dx + s.N * s.C * s.H * s.W, T(0));
  for_each_tap(s, [&](int64_t yi, int64_t xi, int64_t wi) { dx[xi] += dy[yi] * w[wi]; });
}

template <class T>
void conv2d_backward_weights(const T* x, const T* dy, T* dw, T* db, const Conv2dShape& s) {
  std::fill(dw, dw + s.OC * (s.C / s.groups) * s.KH * s.KW, T(0));
  for_each_tap(s, [&](int64_t yi, int64_t xi, int64_t wi) { dw[wi] += dy[yi] * x[xi]; });
  if (!db) return;
  const int64_t plane = s.OH * s.OW;
  std::fill(db, db + s.OC, T(0));
  for (int64_t i = 0; i < s.N * s.OC * plane; ++i) db[(i / plane) % s.OC] += dy[i];
}

template void conv2d_forward<float>(const float*, const float*, const float*, float*, const Conv2dShape&);
template void conv2d_forward<double>(const double*, const double*, const double*, double*, const Conv2dShape&);
template void conv2d_backward_data<float>(const float*, const float*, float*, const Conv2dShape&);
template void conv2d_backward_data<double>(const double*, const double*, double*, const Conv2dShape&);
template void conv2d_backward_weights<float>(const float*, const float*, float*, float*, const Conv2dShape&);
template void conv2d_backward_weights<double>(const double*, const double*, double*, double*, const Conv2dShape&);

}  // namespace cvtrain::ref

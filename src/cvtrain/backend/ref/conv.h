// Reference 2-D convolution: the plainest loops over every output and kernel tap, templated on the
// scalar so tests can check the backward by finite differences in double. Not fast; the library
// runs backend/cpu/conv.h (oneDNN), which tests hold against these.
#pragma once
#include <cstdint>

#include "cvtrain/backend/cpu/conv.h"  // Conv2dShape

namespace cvtrain::ref {

// x: (N,C,H,W), w: (OC,C/groups,KH,KW), b: (OC) or null -> y: (N,OC,OH,OW)
template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s);
// w: (OC,C/groups,KH,KW), dy: (N,OC,OH,OW) -> dx: (N,C,H,W)
template <class T>
void conv2d_backward_data(const T* w, const T* dy, T* dx, const Conv2dShape& s);
// x: (N,C,H,W), dy: (N,OC,OH,OW) -> dw: (OC,C/groups,KH,KW), db: (OC) or null
template <class T>
void conv2d_backward_weights(const T* x, const T* dy, T* dw, T* db, const Conv2dShape& s);

}  // namespace cvtrain::ref

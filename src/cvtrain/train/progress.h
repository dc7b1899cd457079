// How far a pass over a dataset (an evaluation, a prediction) has come, for a display: called after
// each batch with the images done and the images in all. An empty function reports nothing.
#pragma once
#include <cstdint>
#include <functional>

namespace cvtrain {

using PassProgress = std::function<void(int64_t images_done, int64_t images_total)>;

}  // namespace cvtrain

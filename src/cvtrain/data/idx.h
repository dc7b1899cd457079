// Reader for IDX files (the MNIST / Fashion-MNIST format: http://yann.lecun.com/exdb/mnist/), raw or
// gzip-compressed (told apart by the gzip magic bytes, not by the file name). Unsigned-byte files
// only (type code 0x08), 1 to 4 dimensions. Not a writer, and not a dataset (see dataset.h).
#pragma once
#include <string>

#include "cvtrain/tensor/tensor.h"

namespace cvtrain {

// The file's values as a contiguous u8 tensor with the declared dimensions, e.g. (60000,28,28).
// Every problem (missing file, bad magic, sizes that disagree with the data, corrupt or truncated
// gzip, trailing bytes) throws InputError with a one-line message that starts with `path`. Memory is
// never reserved from the declared sizes alone: it grows with the bytes actually read.
Tensor read_idx(const std::string& path);

}  // namespace cvtrain

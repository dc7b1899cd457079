// The safetensors file format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// "__metadata__": {string: string}} padded with spaces to a multiple of 8, then the byte buffer.
// Dtypes F32, BF16, I64, I32, U8 (what Tensor holds). Whole-file read and write; no mmap, no lazy load.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cvtrain/tensor/tensor.h"

namespace cvtrain {

// Writes the tensors (any strides; stored packed, in this order) and the metadata. Atomic: the file
// goes to path + ".tmp.<pid>", is flushed and fsync'd, then renamed over `path`; on any failure the
// temporary file is removed, `path` is left as it was, and an InputError names `path` and the
// system's reason ("out/model.safetensors: write failed: No space left on device").
// Names must be unique, non-empty and not "__metadata__" (CHECK: they come from the program).
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata);

struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in the order of their data in the file
  std::map<std::string, std::string> metadata;
  const Tensor* find(const std::string& name) const;  // nullptr when absent
};

// Reads and validates the whole file strictly: header length against the file size and a 100 MB
// ceiling, JSON syntax, known keys and dtypes, shape sizes against data_offsets, offsets inside the
// buffer, no overlaps, no gaps, no trailing bytes, unique names. Failures throw InputError naming
// the file (and the tensor when one is at fault).
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace cvtrain

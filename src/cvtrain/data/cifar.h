// CIFAR-10 and CIFAR-100 from the "binary version" files of Krizhevsky's site: records of label
// byte(s) then 3072 bytes (R, G, B planes of 32x32). Not the Python pickles.
#pragma once
#include <cstdint>
#include <string>

#include "cvtrain/data/dataset.h"

namespace cvtrain {

// root holds data_batch_{1..5}.bin + test_batch.bin (CIFAR-10) or train.bin + test.bin (CIFAR-100),
// directly or in the archive's folder (cifar-10-batches-bin, cifar-100-binary). Class names come
// from batches.meta.txt / fine_label_names.txt when present. CIFAR-100 uses the fine labels.
// A file whose size is not a whole number of records, or a label out of range, is an InputError.
Dataset load_cifar(const std::string& root, bool cifar100, Split split, int64_t limit);

}  // namespace cvtrain

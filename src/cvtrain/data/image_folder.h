// A dataset from a folder of images, one subfolder per class (torchvision's ImageFolder layout):
// PNG and JPEG files, classes in sorted order. Each image goes through an ImageSpec as it is decoded
// (resize.h: data.image_size, data.channels); after it, every image must have the channel count and
// size of the first one (the dataset is one (N,C,H,W) tensor). Not an augmentation.
#pragma once
#include <cstdint>
#include <string>

#include "cvtrain/data/dataset.h"
#include "cvtrain/data/resize.h"

namespace cvtrain {

enum class BadFile { fail, skip };
const std::vector<std::string>& bad_file_names();  // data.on_bad_file's values, in the enum's order
BadFile parse_bad_file(const std::string& policy);  // "fail" | "skip"; InputError naming data.on_bad_file

// Loads `dir`/<class>/*.{png,jpg,jpeg} (case-insensitive extensions; other files are ignored), each
// image prepared by `spec`. An unreadable or corrupt image, or one of another channel count or size
// after `spec` (suggesting data.image_size / data.channels), stops with an
// InputError naming the file (BadFile::fail) or is skipped with one counted warning on stderr
// (BadFile::skip). An empty class folder, or no classes, is an InputError. `classes`, when not
// empty, must equal the discovered class list (a test folder must match its train folder).
// limit > 0 keeps the first `limit` images in (class, file name) order. More prepared bytes than
// prepared_bytes_limit() (resize.h) is an InputError naming data.image_size.
Dataset load_image_folder(const std::string& dir, BadFile policy, int64_t limit,
                          const std::vector<std::string>& classes = {}, const ImageSpec& spec = {});

// The image-folder dataset of `root` for a split: root/train, root/val (the validation split, when
// root/test exists too) and root/test (or root/val when there is no root/test) when root/train exists;
// otherwise root itself is the training set and there is no test split (an InputError suggesting
// data.val_fraction).
Dataset load_image_folder_split(const std::string& root, Split split, BadFile policy, int64_t limit,
                                const ImageSpec& spec = {});
// Whether root has train/, val/ and test/ subfolders: its val/ is then a validation split.
bool image_folder_has_val(const std::string& root);

}  // namespace cvtrain

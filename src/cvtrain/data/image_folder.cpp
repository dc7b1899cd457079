// Image folders: walk the class subfolders in sorted order, decode every image (image_io), check
// it against the first image's shape, and pack them into one (N,C,H,W) u8 tensor.
#include "cvtrain/data/image_folder.h"

#include <cerrno>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cvtrain/base/error.h"
#include "cvtrain/data/image_io.h"

namespace cvtrain {
namespace fs = std::filesystem;

const std::vector<std::string>& bad_file_names() {
  static const std::vector<std::string> names = {"fail", "skip"};
  return names;
}

BadFile parse_bad_file(const std::string& policy) {
  return static_cast<BadFile>(index_of_name(bad_file_names(), policy, "data.on_bad_file", "mode"));
}

namespace {

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Why an entry named like an image is not one to read; "" for a regular file (or a link to one).
std::string not_a_file(const fs::path& p) {
  std::error_code ec, link_ec;
  const fs::file_status st = fs::status(p, ec);
  if (fs::is_regular_file(st)) return "";
  if (fs::is_symlink(fs::symlink_status(p, link_ec)) && !fs::exists(st))
    return ec.value() == ELOOP ? "a symbolic link loop" : "a dangling symbolic link";
  if (fs::is_directory(st)) return "a folder";
  if (fs::is_fifo(st)) return "a FIFO";
  return "not a regular file";
}

}  // namespace

Dataset load_image_folder(const std::string& dir, BadFile policy, int64_t limit, const std::vector<std::string>& classes,
                          const ImageSpec& spec) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail_input(dir, ": image folder does not exist or is not a folder (data.root)");
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::error_code entry_ec;  // a link loop is not a class folder (and not an exception)
    if (e.is_directory(entry_ec)) found.push_back(e.path().filename().string());
  }
  std::sort(found.begin(), found.end());
  if (found.empty()) fail_input(dir, ": no class subfolders (expected ", dir, "/<class>/<image>.png)");
  if (!classes.empty() && found != classes) {
    std::string want, got;
    for (const auto& c : classes) want += (want.empty() ? "" : ", ") + c;
    for (const auto& c : found) got += (got.empty() ? "" : ", ") + c;
    fail_input(dir, ": classes {", got, "} differ from the training set's {", want, "}");
  }

  std::vector<U8Image> images;
  std::vector<int64_t> labels;
  int64_t skipped = 0, bytes = 0;
  const int64_t max_bytes = prepared_bytes_limit();
  std::string first_skip;
  for (size_t k = 0; k < found.size(); ++k) {
    const fs::path cdir = fs::path(dir) / found[k];
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(cdir, ec))
      if (is_image_name(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) fail_input(cdir.string(), ": class folder has no .png/.jpg/.jpeg images");
    for (const fs::path& f : files) {
      if (limit > 0 && static_cast<int64_t>(images.size()) >= limit) break;
      try {
        if (const std::string why = not_a_file(f); !why.empty()) fail_input(f.string(), ": ", why, ", not an image file");
        U8Image img = read_image(f.string());
        if (spec.active()) img = prepare_image(img, spec);
        if (!images.empty() && (img.C != images[0].C || img.H != images[0].H || img.W != images[0].W))
          fail_input(f.string(), ": image is ", img.C, "x", img.H, "x", img.W, " (CxHxW) but the dataset's first image is ",
                     images[0].C, "x", images[0].H, "x", images[0].W,
                     "; set data.image_size (e.g. 64: shorter side, then a center crop) and data.channels (1 or 3) "
                     "to load every image at one shape");
        bytes += static_cast<int64_t>(img.data.size());
        images.push_back(std::move(img));
        labels.push_back(static_cast<int64_t>(k));
      } catch (const InputError& e) {
        if (policy == BadFile::fail) throw;
        if (skipped++ == 0) first_skip = e.what();
      }
      if (bytes > max_bytes)  // not a bad file: data.on_bad_file does not skip it
        fail_input(dir, ": the images take more than ", max_bytes >> 20,
                   " MiB, half of this machine's memory; use a smaller data.image_size or fewer images (data.limit_train)");
    }
  }
  if (skipped > 0)
    std::fprintf(stderr, "cvtrain: warning: skipped %lld bad image(s) in %s (data.on_bad_file: skip); first: %s\n",
                 static_cast<long long>(skipped), dir.c_str(), first_skip.c_str());
  if (images.empty()) fail_input(dir, ": no readable images");
  const int64_t N = static_cast<int64_t>(images.size()), C = images[0].C, H = images[0].H, W = images[0].W;
  Dataset ds;
  ds.name = "image_folder";
  ds.class_names = found;
  ds.images = Tensor::empty({N, C, H, W}, DType::u8);
  ds.labels = Tensor::empty({N}, DType::i64);
  for (int64_t i = 0; i < N; ++i) {
    std::copy(images[i].data.begin(), images[i].data.end(), ds.images.data<uint8_t>() + i * C * H * W);
    ds.labels.data<int64_t>()[i] = labels[i];
  }
  return ds;
}

bool image_folder_has_val(const std::string& root) {
  std::error_code ec;
  const fs::path r(root);
  return fs::is_directory(r / "train", ec) && fs::is_directory(r / "val", ec) && fs::is_directory(r / "test", ec);
}

Dataset load_image_folder_split(const std::string& root, Split split, BadFile policy, int64_t limit,
                                const ImageSpec& spec) {
  std::error_code ec;
  const fs::path train = fs::path(root) / "train";
  if (!fs::is_directory(train, ec)) {
    if (split == Split::train) return load_image_folder(root, policy, limit, {}, spec);
    fail_input(root, ": has no train/ and test/ subfolders, so no ", split_name(split),
               " split; set data.val_fraction to hold out part of it");
  }
  if (split == Split::train) return load_image_folder(train.string(), policy, limit, {}, spec);
  fs::path held = fs::path(root) / split_name(split);  // val/ or test/
  if (split == Split::val && !image_folder_has_val(root))
    fail_input(root, ": has no train/, val/ and test/ subfolders, so no validation split; set data.val_fraction");
  if (split == Split::test && !fs::is_directory(held, ec)) held = fs::path(root) / "val";
  if (!fs::is_directory(held, ec)) fail_input(root, ": has train/ but neither test/ nor val/; set data.val_fraction instead");
  // The class list of a held-out folder must match the training folder's.
  std::vector<std::string> classes;
  for (const auto& e : fs::directory_iterator(train, ec)) {
    std::error_code entry_ec;
    if (e.is_directory(entry_ec)) classes.push_back(e.path().filename().string());
  }
  std::sort(classes.begin(), classes.end());
  return load_image_folder(held.string(), policy, limit, classes, spec);
}

}  // namespace cvtrain

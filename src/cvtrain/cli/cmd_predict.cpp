// `cvtrain predict RUN_OR_CHECKPOINT INPUT... [--topk K] [--json]`: class probabilities for PNG/JPEG
// files or images of an IDX / CIFAR binary file ("t10k-images-idx3-ubyte.gz:0-99"), prepared as in
// training: converted to the model's channels and resized as the stored data.image_size says
// (data/resize.h), then the per-channel normalization or fitted data.preprocess from the model file's
// metadata, through the same BatchLoader. An input that fails is reported (one line) and the others
// are predicted; the exit status is then 2. Also the loading shared with `cvtrain export`.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cvtrain/cli/commands.h"
#include "cvtrain/train/config.h"
#include "cvtrain/data/idx.h"
#include "cvtrain/data/image_io.h"
#include "cvtrain/data/loader.h"
#include "cvtrain/data/resize.h"

namespace cvtrain::cli {

namespace fs = std::filesystem;

InferenceModel load_inference_model(const std::string& run_or_file, const std::vector<std::string>& overrides,
                                    StoredUse use, Rng& rng) {
  InferenceModel m;
  m.weights = read_weights(run_or_file);
  const std::string& path = m.weights.path;
  m.cfg = parse_stored_config(m.weights.metadata.at("config"), path + " (metadata config)", overrides, use);
  m.norm = normalization_from_metadata(m.weights.metadata, path);
  m.fitted = preprocess_from_metadata(m.weights.metadata, path);
  // The model's input shape and class names: the file's "input" entry, or (files written before it)
  // one test image of the run's dataset.
  Dataset like = input_like_from_metadata(m.weights.metadata, path);
  if (!like.images.defined()) {
    RunConfig one = m.cfg;
    one.data.limit_test = 1;
    try {
      like = load_split(one, Split::test);
    } catch (const InputError& e) {
      fail_input(path, ": the input shape and class names come from data.dataset '", m.cfg.data.dataset,
                 "', which did not load (--set data.root=FOLDER to point at it): ", e.what());
    }
  }
  m.class_names = like.class_names;
  m.C = like.images.size(1), m.H = like.images.size(2), m.W = like.images.size(3);
  m.model = make_stored_model(m.cfg, like, m.norm, m.fitted, fs::file_size(path), path, rng);
  load_weights(*m.model, m.weights);
  m.model->eval();
  return m;
}

namespace {

struct Images {
  std::vector<std::string> names;  // "shirt.png", "t10k-images-idx3-ubyte.gz:17"
  std::vector<uint8_t> pixels;     // (N,C,H,W) at the model's C,H,W
  std::vector<std::pair<std::string, std::string>> failed;  // input, why
};

// What predict does to every input: the training run's data.image_size (as stored: none), and a
// conversion to the model's channels (gray -> RGB copies, RGB -> gray by ITU-R 601-2 luma).
ImageSpec input_spec(const InferenceModel& m) {
  ImageSpec spec = image_spec(m.cfg.data);
  spec.channels = m.C;
  return spec;
}

// Prepares one (c,h,w) image for the model and appends it.
void add_image(Images& out, const InferenceModel& m, const ImageSpec& spec, const std::string& name, const uint8_t* src,
               int64_t c, int64_t h, int64_t w) {
  if (c != 1 && c != 3) fail_input(name, ": ", c, " channels; 1 (gray) or 3 (RGB) expected");
  const U8Image img{c, h, w, std::vector<uint8_t>(src, src + c * h * w)};
  const U8Image ready = prepare_image(img, spec);
  if (ready.H != m.H || ready.W != m.W) {
    if (!spec.resizes())
      fail_input(name, ": the image is ", h, "x", w, ", the model takes ", m.H, "x", m.W,
                 " (it was trained without data.image_size, on images as stored, so predict does not resize)");
    fail_input(name, ": data.image_size makes it ", ready.H, "x", ready.W, ", the model takes ", m.H, "x", m.W);
  }
  out.pixels.insert(out.pixels.end(), ready.data.begin(), ready.data.end());
  out.names.push_back(name);
}

// "0-99,120" -> {0..99, 120}; "" -> all n.
std::vector<int64_t> parse_indices(const std::string& file, const std::string& spec, int64_t n) {
  std::vector<int64_t> out;
  if (spec.empty()) {
    for (int64_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    const std::string item = spec.substr(pos, comma - pos);
    const size_t dash = item.find('-');
    const auto number = [&](const std::string& s) {
      char* end = nullptr;
      const long long v = std::strtoll(s.c_str(), &end, 10);
      if (s.empty() || *end != '\0' || v < 0) fail_input(file, ": bad index '", s, "' in '", spec, "' (want e.g. 0-99,120)");
      if (v >= n) fail_input(file, ": index ", v, " is out of range (the file holds ", n, " images)");
      return static_cast<int64_t>(v);
    };
    const int64_t a = number(dash == std::string::npos ? item : item.substr(0, dash));
    const int64_t b = dash == std::string::npos ? a : number(item.substr(dash + 1));
    if (b < a) fail_input(file, ": empty range '", item, "'");
    for (int64_t i = a; i <= b; ++i) out.push_back(i);
    pos = comma + 1;
  }
  return out;
}

// One input: an image file, or FILE[:INDICES] of an IDX or CIFAR binary file.
void read_input(Images& out, const std::string& arg, const InferenceModel& m, const ImageSpec& prep) {
  std::string file = arg, spec;
  const size_t colon = arg.rfind(':');
  if (!fs::exists(arg) && colon != std::string::npos) file = arg.substr(0, colon), spec = arg.substr(colon + 1);
  std::error_code ec;
  const fs::file_status st = fs::status(file, ec);
  if (!fs::exists(st)) fail_input(file, ": no such file");
  if (fs::is_directory(st)) fail_input(file, ": a folder; give the image files in it (", file, "/*.png)");
  if (!fs::is_regular_file(st)) fail_input(file, ": not a regular file (a device or a pipe); give an image file");
  unsigned char magic[4] = {0, 0, 0, 0};
  std::ifstream(file, std::ios::binary).read(reinterpret_cast<char*>(magic), 4);
  const bool png = magic[0] == 0x89 && magic[1] == 'P', jpeg = magic[0] == 0xFF && magic[1] == 0xD8;
  const bool idx = (magic[0] == 0x1F && magic[1] == 0x8B) || (magic[0] == 0 && magic[1] == 0 && magic[2] == 0x08);
  if (png || jpeg) {
    if (!spec.empty()) fail_input(arg, ": indices are for IDX and CIFAR files, not images");
    U8Image img = read_image(file);
    add_image(out, m, prep, file, img.data.data(), img.C, img.H, img.W);
  } else if (idx) {
    Tensor t = read_idx(file);  // (N,H,W) or (N,C,H,W)
    if (t.dim() != 3 && t.dim() != 4) fail_input(file, ": an IDX image file has 3 or 4 dimensions, this one ", t.dim());
    const int64_t n = t.size(0), c = t.dim() == 4 ? t.size(1) : 1, h = t.size(-2), w = t.size(-1);
    for (int64_t i : parse_indices(file, spec, n))
      add_image(out, m, prep, file + ":" + std::to_string(i), t.data<uint8_t>() + i * c * h * w, c, h, w);
  } else {
    // CIFAR binary: records of label byte(s) then 3x32x32 (cifar.h); CIFAR-100 has two label bytes.
    const int64_t label_bytes = m.cfg.data.dataset == "cifar100" ? 2 : 1, record = label_bytes + 3072;
    const auto size = static_cast<int64_t>(fs::file_size(file));
    if (size == 0 || size % record != 0)
      fail_input(file, ": not a PNG, JPEG, IDX or CIFAR binary file (", size, " bytes is not a whole number of ",
                 record, "-byte CIFAR records)");
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    std::ifstream in(file, std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) fail_input(file, ": read failed");
    for (int64_t i : parse_indices(file, spec, size / record))
      add_image(out, m, prep, file + ":" + std::to_string(i), bytes.data() + i * record + label_bytes, 3, 32, 32);
  }
}

// Every input; one that fails (unreadable, corrupt, not an image, a size the model cannot take) is
// listed in `failed` with its reason, and none of its images is kept.
Images read_inputs(const std::vector<std::string>& args, const InferenceModel& m) {
  Images out;
  const ImageSpec prep = input_spec(m);
  for (const std::string& arg : args) {
    const size_t names = out.names.size(), pixels = out.pixels.size();
    try {
      read_input(out, arg, m, prep);
    } catch (const InputError& e) {
      out.names.resize(names), out.pixels.resize(pixels);
      out.failed.emplace_back(arg, e.what());
    }
  }
  return out;
}

// The images as a dataset, through the evaluation loader: exactly the training preprocessing.
std::vector<std::vector<float>> predict_logits(Context& ctx, const InferenceModel& m, const Images& in) {
  const auto N = static_cast<int64_t>(in.names.size());
  Dataset data;
  data.images = Tensor::empty({N, m.C, m.H, m.W}, DType::u8);
  std::memcpy(data.images.data<uint8_t>(), in.pixels.data(), in.pixels.size());
  data.labels = Tensor::zeros({N}, DType::i64);
  data.class_names = m.class_names;
  BatchLoader loader(data, m.norm, 256, /*shuffle=*/false);
  if (!m.fitted.is_channel()) loader.set_preprocess(m.fitted);
  loader.start_epoch(ctx.rng);
  NoGradGuard no_grad(ctx);
  std::vector<std::vector<float>> logits;
  Batch batch;
  while (loader.next(batch)) {
    Tensor y = m.model->forward(ctx, Variable(batch.x)).data().contiguous();  // (B,K)
    for (int64_t i = 0; i < y.size(0); ++i)
      logits.emplace_back(y.data<float>() + i * y.size(1), y.data<float>() + (i + 1) * y.size(1));
  }
  return logits;
}

}  // namespace

int cmd_predict(const PredictArgs& a) {
  if (a.topk < 1) fail_input("--topk must be at least 1, got ", a.topk);
  Context ctx(0, 0);
  std::vector<std::string> inputs = a.inputs;  // with --config the first positional is an image, not a run
  if (!a.config.empty()) inputs.insert(inputs.begin(), a.run);
  InferenceModel m = open_inference_model(a.config.empty() ? a.run : "", a.config, a.weights, a.overrides,
                                          StoredUse::predict, ctx.rng);
  apply_threads(m.cfg);
  set_cpu_runtime(ctx, m.cfg);  // a bf16 run predicts in bf16, as it evaluated
  if (inputs.empty()) fail_input("predict: no images given");
  const Images in = read_inputs(inputs, m);
  const auto N = static_cast<int64_t>(in.names.size());
  for (const auto& [input, why] : in.failed) std::fprintf(stderr, "cvtrain: error: %s\n", printable(why).c_str());
  std::vector<std::vector<float>> logits = N > 0 ? predict_logits(ctx, m, in) : std::vector<std::vector<float>>{};

  nlohmann::json preds = nlohmann::json::array();
  for (int64_t i = 0; i < N; ++i) {
    const std::vector<float>& z = logits[static_cast<size_t>(i)];
    const double zmax = *std::max_element(z.begin(), z.end());
    std::vector<double> p(z.size());
    double sum = 0;
    for (size_t k = 0; k < z.size(); ++k) sum += p[k] = std::exp(z[k] - zmax);
    std::vector<size_t> order(z.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    const size_t top = std::min(order.size(), static_cast<size_t>(a.topk));
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(top), order.end(),
                      [&](size_t x, size_t y) { return p[x] > p[y] || (p[x] == p[y] && x < y); });
    nlohmann::json tops = nlohmann::json::array();
    std::string line = in.names[static_cast<size_t>(i)];
    for (size_t r = 0; r < top; ++r) {
      const size_t k = order[r];
      const std::string name = k < m.class_names.size() ? m.class_names[k] : "class_" + std::to_string(k);
      tops.push_back({{"class", k}, {"name", name}, {"prob", p[k] / sum}});
      char buf[64];
      std::snprintf(buf, sizeof buf, "  %.4f", p[k] / sum);
      line += "  " + name + buf;
    }
    if (a.json) preds.push_back({{"input", in.names[static_cast<size_t>(i)]}, {"top", tops}, {"logits", z}});
    else std::printf("%s\n", line.c_str());
  }
  if (a.json) {
    nlohmann::json failed = nlohmann::json::array();
    for (const auto& [input, why] : in.failed) failed.push_back({{"input", input}, {"error", why}});
    std::printf("%s\n", nlohmann::json({{"model", m.weights.path}, {"predictions", preds}, {"failed", failed}}).dump().c_str());
  }
  return in.failed.empty() ? 0 : 2;
}

}  // namespace cvtrain::cli

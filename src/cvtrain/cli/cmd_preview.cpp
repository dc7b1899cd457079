// `cvtrain preview CONFIG.yaml --out augment.png [--images N] [--views V] [--scale S]`: a grid of
// training images, each row one image: first the original, then V augmentations drawn by the
// config's data.augment list exactly as epochs 0..V-1 of training would draw them (same seed,
// same per-sample streams). Batch-level mixup/CutMix is not shown.
#include <algorithm>
#include <cstdio>

#include "cvtrain/cli/commands.h"
#include "cvtrain/train/config.h"
#include "cvtrain/data/augment.h"
#include "cvtrain/data/image_io.h"

namespace cvtrain::cli {

int cmd_preview(const PreviewArgs& a) {
  RunConfig cfg = load_config(a.config, a.overrides);
  apply_threads(cfg);
  if (a.images < 1 || a.views < 0 || a.scale < 1) fail_input("preview: --images, --scale must be >= 1 and --views >= 0");
  const Dataset train = load_split(cfg, Split::train);
  if (train.size() == 0) fail_input(cfg.data.dataset, ": the training set is empty");
  AugmentPipeline pipeline(cfg.data.augment);
  if (pipeline.needs_color_pca()) pipeline.set_color_pca(fit_color_pca(train.images));
  const int64_t C = train.images.size(1), H = train.images.size(2), W = train.images.size(3);
  int64_t OH = H, OW = W;
  pipeline.out_size(OH, OW);
  const int64_t cell_h = std::max(H, OH) * a.scale, cell_w = std::max(W, OW) * a.scale, gap = 2;
  const int64_t rows = std::min<int64_t>(a.images, train.size()), cols = 1 + a.views;
  U8Image grid{C, rows * (cell_h + gap) + gap, cols * (cell_w + gap) + gap, {}};
  grid.data.assign(static_cast<size_t>(grid.C * grid.H * grid.W), 128);

  // Nearest-neighbour upscaling of img into the cell at (row, col), centered.
  auto paste = [&](const Image& img, int64_t row, int64_t col) {
    std::vector<uint8_t> u8(img.data.size());
    to_u8(img, u8.data());
    const int64_t y0 = gap + row * (cell_h + gap) + (cell_h - img.H * a.scale) / 2;
    const int64_t x0 = gap + col * (cell_w + gap) + (cell_w - img.W * a.scale) / 2;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < img.H * a.scale; ++y)
        for (int64_t x = 0; x < img.W * a.scale; ++x)
          grid.data[(c * grid.H + y0 + y) * grid.W + x0 + x] = u8[(c * img.H + y / a.scale) * img.W + x / a.scale];
  };
  const uint8_t* src = train.images.data<uint8_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t index = r * (train.size() / rows);  // spread over the set (sorted sets show several classes)
    const Image original = from_u8(src + index * C * H * W, C, H, W);
    paste(original, r, 0);
    for (int64_t v = 0; v < a.views; ++v)
      paste(pipeline.run(original, static_cast<uint64_t>(cfg.seed), static_cast<uint64_t>(v), static_cast<uint64_t>(index)), r, 1 + v);
  }
  write_png(a.out, grid);
  std::printf("cvtrain: wrote %s: %lld images x (original + %lld augmentations), %zu transforms\n", a.out.c_str(),
              static_cast<long long>(rows), static_cast<long long>(a.views), pipeline.steps().size());
  return 0;
}

}  // namespace cvtrain::cli

namespace cvtrain::cli {

// `cvtrain augmentations`: the registry, with each parameter's default and meaning.
int cmd_augmentations() {
  for (const TransformDef& t : augment_registry()) {
    std::printf("%-20s %s\n", t.name, t.doc);
    std::printf("    %-14s %-18g %s\n", "p", t.default_p, "probability of applying it to an image");
    for (const ParamDef& p : t.params) std::printf("    %-14s %-18s %s\n", p.name, p.def, p.doc);
  }
  return 0;
}

}  // namespace cvtrain::cli

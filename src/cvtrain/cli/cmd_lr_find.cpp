// `cvtrain lr-find CONFIG.yaml [--set key=value]... [--out DIR] [--min-lr A] [--max-lr B] [--steps N]`:
// the learning-rate range test (train/lr_find.h) on the config's model, optimizer, data and
// augmentation; writes DIR/lr_find.json and DIR/lr_find.png (smoothed loss against log10 lr) and
// prints the suggested lr and why.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cvtrain/base/files.h"
#include "cvtrain/cli/commands.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/lr_find.h"
#include "cvtrain/train/setup.h"
#include "cvtrain/train/transfer.h"
#include "cvtrain/viz/plot.h"

namespace cvtrain::cli {

int cmd_lr_find(const LrFindArgs& a) {
  const RunConfig cfg = load_config(a.config, a.overrides);
  const std::string out =
      a.out.empty() ? "runs/" + std::filesystem::path(a.config).stem().string() + "-lr-find" : a.out;
  apply_threads(cfg);
  Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
  if (cfg.device != "cpu") fail_input("device: lr-find runs on the CPU so far; set device: cpu");
  const Dataset train = load_split(cfg, Split::train);
  if (train.size() == 0) fail_input("data.dataset ", cfg.data.dataset, ": the training split is empty");
  const Normalization norm = normalization_for(cfg.data, train);  // and data.preprocess, as training fits them
  const Preprocess fitted =
      fit_preprocess(train, cfg.data.preprocess, cfg.data.preprocess_components, cfg.data.whiten_epsilon);
  auto model = make_model(cfg, train, ctx.rng, &fitted);
  apply_transfer(cfg, *model);  // model.init_from, reset_head, freeze: the weights the run starts from
  LrFindOptions o;
  o.min_lr = a.min_lr, o.max_lr = a.max_lr, o.steps = a.steps;
  const LrFindResult r = lr_find(ctx, *model, cfg, train, norm, o, &fitted);
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) fail_input(out, ": cannot create the output folder: ", ec.message());
  write_text_atomic(out + "/lr_find.json", lr_find_json(r) + "\n");
  std::vector<double> x, shown;  // spikes past the stopping rule would flatten the curve: clipped
  const double lowest = *std::min_element(r.smoothed.begin(), r.smoothed.end());
  for (double lr : r.lr) x.push_back(std::log10(lr));
  for (double l : r.loss) shown.push_back(std::min(l, o.diverge * lowest));
  viz::line_chart_png(out + "/lr_find.png", "lr range test: " + cfg.model.name + ", " + cfg.optim.name, "log10 lr",
                      "training loss", {{"loss", x, shown}, {"smoothed", x, r.smoothed}});
  if (r.suggested_lr > 0)
    std::printf("lr-find: %zu steps from lr %g to %g; suggested optim.lr %.3g: %s\n", r.lr.size(), r.lr.front(),
                r.lr.back(), r.suggested_lr, r.why.c_str());
  else
    std::printf("lr-find: %zu steps from lr %g to %g; no suggestion: %s\n", r.lr.size(), r.lr.front(), r.lr.back(),
                r.why.c_str());
  std::printf("-> %s/lr_find.json, %s/lr_find.png\n", out.c_str(), out.c_str());
  return 0;
}

}  // namespace cvtrain::cli

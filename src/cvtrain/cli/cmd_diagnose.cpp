// `cvtrain diagnose CONFIG.yaml [--set k=v]... [--out DIR] [--batches N]`: builds the config's model
// (its activation and init included), runs forward and backward on a few shuffled training batches
// and reports per layer what the signal and the gradient look like: diagnostics.json, histograms as
// PNG pictures, and plain-language warnings printed and saved. Does not train.
#include <cstdio>
#include <filesystem>

#include "cvtrain/cli/commands.h"
#include "cvtrain/train/config.h"
#include "cvtrain/data/loader.h"
#include "cvtrain/optim/schedule.h"
#include "cvtrain/train/diagnostics.h"
#include "cvtrain/train/trainer.h"

namespace cvtrain::cli {
namespace fs = std::filesystem;

int cmd_diagnose(const DiagnoseArgs& a) {
  RunConfig cfg = load_config(a.config, a.overrides);
  if (a.batches < 1) fail_input("--batches must be >= 1, got ", a.batches);
  apply_threads(cfg);
  Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
  Dataset train = load_split(cfg, Split::train);
  Normalization norm = normalization_for(cfg.data, train);
  std::shared_ptr<nn::Module> model = make_model(cfg, train, ctx.rng);

  const std::string out = a.out.empty() ? "runs/" + fs::path(a.config).stem().string() + "-diagnose" : a.out;
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) fail_input(out, ": cannot create the output folder: ", ec.message());

  std::vector<std::pair<Tensor, Tensor>> batches;
  BatchLoader loader(train, norm, cfg.train.batch_size, true);
  loader.start_epoch(ctx.rng);
  Batch b;
  while (static_cast<int64_t>(batches.size()) < a.batches && loader.next(b)) batches.push_back({b.x.clone(), b.y.clone()});

  // The update-to-weight ratio is of the first step: the schedule's lr and momentum at step 0
  // (onecycle starts at optim.lr / 25).
  DiagnosticsOptions opt = diagnostics_options(cfg);
  const int64_t batches_per_epoch = (train.labels.size(0) + cfg.train.batch_size - 1) / cfg.train.batch_size;
  const optim::ScheduleValue first = optim::make_schedule(cfg.schedule, schedule_run(cfg, batches_per_epoch))(0);
  opt.lr = first.lr, opt.momentum = first.momentum;
  DiagnosticsReport report = diagnose(ctx, *model, batches, opt);

  std::string title = cfg.model.name + ", " + cfg.model.activation.name + ", init " + cfg.model.init.scheme;
  if (cfg.model.init.scheme == "normal" || cfg.model.init.scheme == "uniform" || cfg.model.init.scheme == "constant") {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %g", cfg.model.init.scale);
    title += buf;
  }
  write_diagnostics(report, out, title);

  std::printf("cvtrain diagnose: %s, %lld batches of %lld, loss %.4f -> %s\n", title.c_str(),
              static_cast<long long>(report.batches), static_cast<long long>(cfg.train.batch_size), report.loss,
              out.c_str());
  std::printf("%-10s %-10s %11s %11s %7s %7s %7s %11s\n", "layer", "type", "act_mean", "act_std", "zero", "dead",
              "satur.", "grad_std");
  for (const LayerDiagnostics& l : report.layers)
    std::printf("%-10s %-10s %11.4g %11.4g %6.1f%% %6.1f%% %6.1f%% %11.4g\n", l.name.c_str(), l.type.c_str(),
                l.act_mean, l.act_std, 100 * l.frac_zero, 100 * l.frac_dead, 100 * l.frac_saturated, l.grad_std);
  std::printf("update-to-weight ratio of the first SGD step (lr %g):", opt.lr);
  for (const ParamDiagnostics& p : report.params)
    if (p.shape.size() >= 2) std::printf(" %s %.2g", p.name.c_str(), p.update_ratio);
  std::printf("\n");
  if (report.warnings.empty()) std::printf("no warnings\n");
  for (const std::string& w : report.warnings) std::printf("warning: %s\n", w.c_str());
  return 0;
}

}  // namespace cvtrain::cli

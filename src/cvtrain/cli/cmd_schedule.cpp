// `cvtrain schedule CONFIG.yaml [--json] [--out lr.png]`: the learning rate (and momentum) at every
// optimizer step of the run the config describes, exactly as the trainer will use them (warmup,
// scaling rule, accumulation included). Loads the training set only to count its batches.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cvtrain/cli/commands.h"
#include "cvtrain/dist/sampler.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/setup.h"
#include "cvtrain/train/trainer.h"
#include "cvtrain/viz/plot.h"

namespace cvtrain::cli {

int cmd_schedule(const ScheduleArgs& a) {
  RunConfig cfg = load_config(a.config, a.overrides);
  Dataset train = load_split(cfg, Split::train);
  const int64_t n = train.labels.size(0), b = cfg.train.batch_size;
  const int64_t batches = dist::global_batches(n, b, cfg.data.drop_last);  // one process's loader
  const int64_t spe = optimizer_steps_per_epoch(cfg, batches);
  const optim::ScheduleRun run = schedule_run(cfg, batches);
  const optim::Schedule schedule = optim::make_schedule(cfg.schedule, run);
  const optim::ScheduleSteps spec = optim::in_steps(cfg.schedule, run);
  constexpr int64_t kMaxPrinted = 10000000;  // lines of text; a longer schedule is a typo or wants --out alone
  if (spec.total_steps > kMaxPrinted)
    fail_input("train.epochs: the schedule has ", spec.total_steps, " steps; cvtrain schedule shows at most ", kMaxPrinted,
               " (lower train.epochs or set train.max_steps)");
  std::vector<double> steps, lr, momentum;
  for (int64_t s = 0; s < spec.total_steps; ++s) {
    optim::ScheduleValue v = schedule(s);
    steps.push_back(static_cast<double>(s));
    lr.push_back(v.lr);
    momentum.push_back(v.momentum);
  }
  if (!a.out.empty())
    viz::line_chart_png(a.out, cfg.schedule.name + " schedule (" + cfg.optim.name + ")", "optimizer step",
                        "learning rate", {{"", steps, lr}});
  if (a.json) {
    nlohmann::json j = {{"schedule", cfg.schedule.name}, {"optimizer", cfg.optim.name}, {"steps_per_epoch", spe},
                        {"total_steps", spec.total_steps}, {"base_lr", spec.o.lr},
                        {"warmup_steps", spec.o.warmup_steps}, {"lr", lr}, {"momentum", momentum}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  if (cfg.schedule.name == "plateau")
    std::printf("# plateau: the lr below is before its reductions, which depend on the validation loss of the run\n");
  std::printf("# %s schedule, %lld steps (%lld per epoch), peak lr %g, warmup %lld steps\n# step epoch lr momentum\n",
              cfg.schedule.name.c_str(), static_cast<long long>(spec.total_steps), static_cast<long long>(spe),
              spec.o.lr, static_cast<long long>(spec.o.warmup_steps));
  for (size_t s = 0; s < lr.size(); ++s)
    std::printf("%zu %lld %.9g %.6g\n", s, static_cast<long long>(static_cast<int64_t>(s) / spe + 1), lr[s], momentum[s]);
  if (!a.out.empty()) std::printf("# plot -> %s\n", a.out.c_str());
  return 0;
}

}  // namespace cvtrain::cli

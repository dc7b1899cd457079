// `cvtrain bench CONFIG.yaml [--steps N] [--json]`: training and evaluation images per second of
// the config's model at its batch size and threads, on random inputs of the dataset's image shape
// (data loading excluded), and the process's peak resident memory.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cvtrain/cli/commands.h"
#include "cvtrain/cli/config.h"
#include "cvtrain/train/trainer.h"

namespace cvtrain::cli {

int cmd_bench(const BenchArgs& a) {
  RunConfig cfg = load_config(a.config, a.overrides);
  apply_threads(cfg);
  Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
  // Only the shape and class count are needed from the data.
  Dataset like = load_dataset(cfg.data_dataset, cfg.data_root, Split::test, 1);
  const Shape image{like.images.size(1), like.images.size(2), like.images.size(3)};
  const int64_t classes = static_cast<int64_t>(like.class_names.size());
  auto model = make_model(cfg, like, ctx.rng);

  const int64_t warmup = 5;
  const double train_ips = measure_train_throughput(ctx, *model, cfg, image, classes, warmup, a.steps);

  // Evaluation: forward only, no graph, at the evaluation batch size.
  const int64_t eb = cfg.train_eval_batch_size;
  Shape xs{eb};
  xs.insert(xs.end(), image.begin(), image.end());
  Tensor x = Tensor::empty(xs);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = ctx.rng.normal();
  model->eval();
  NoGradGuard no_grad(ctx);
  model->forward(ctx, Variable(x));
  const int64_t eval_rounds = std::max<int64_t>(3, a.steps / 10);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < eval_rounds; ++i) model->forward(ctx, Variable(x));
  const double eval_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double eval_ips = static_cast<double>(eval_rounds * eb) / eval_s;

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double peak_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;
  if (a.json) {
    nlohmann::json j = {{"model", cfg.model_name},       {"batch_size", cfg.train_batch_size},
                        {"threads", cfg.threads},        {"steps", a.steps},
                        {"train_images_per_s", train_ips}, {"eval_images_per_s", eval_ips},
                        {"peak_memory_mib", peak_mib}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: batch %lld, %lld threads: train %.0f img/s, eval %.0f img/s, peak memory %.0f MiB\n",
                cfg.model_name.c_str(), static_cast<long long>(cfg.train_batch_size),
                static_cast<long long>(cfg.threads), train_ips, eval_ips, peak_mib);
  }
  return 0;
}

}  // namespace cvtrain::cli

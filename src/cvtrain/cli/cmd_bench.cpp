// `cvtrain bench CONFIG.yaml [--steps N] [--json]`: training and evaluation images per second of
// the config's model at its batch size, threads and train.precision, on random inputs of the
// dataset's image shape (data loading excluded); the GFLOP/s they amount to (from the model's
// multiply-add count, nn/flops.h); system allocations per training step in the steady state (the
// Context's StorageCache misses); and the process's peak resident memory.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "cvtrain/cli/commands.h"
#include "cvtrain/train/config.h"
#include "cvtrain/data/resize.h"
#include "cvtrain/nn/flops.h"
#include "cvtrain/train/trainer.h"

namespace cvtrain::cli {

int cmd_bench(const BenchArgs& a) {
  RunConfig cfg = load_config(a.config, a.overrides);
  apply_threads(cfg);
  Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
  if (cfg.device == "cuda") {  // docs/cuda.md; CVTRAIN_CUDA_PROFILE=1 prints the time per kernel
    cuda::RuntimeOptions o;
    o.profile = std::getenv("CVTRAIN_CUDA_PROFILE") != nullptr;
    ctx.cuda = cuda::Runtime::create(o);
  }
  // Only the shape and class count are needed from the data.
  Dataset like = load_dataset(cfg.data.dataset, cfg.data.root, Split::test, 1);
  prepare_dataset(like, image_spec(cfg.data));  // data.image_size, data.channels
  const Shape image{like.images.size(1), like.images.size(2), like.images.size(3)};
  const int64_t classes = static_cast<int64_t>(like.class_names.size());
  auto model = make_model(cfg, like, ctx.rng);

  // FLOPs per image: 2 per multiply-add forward; training counts forward, backward-data and
  // backward-weights alike (3x forward), the usual convention (e.g. 186 MFLOP for ResNet-20 on 28x28).
  const double fwd_flop = 2.0 * static_cast<double>(nn::multiply_adds(*model, image));
  const int64_t warmup = 5;
  int64_t misses_total = 0;  // system allocations in the timed steps
  const double train_ips = measure_train_throughput(ctx, *model, cfg, image, classes, warmup, a.steps, &misses_total);
  if (ctx.cuda && ctx.cuda->options().profile)
    std::fprintf(stderr, "time per CUDA kernel over %lld training steps (synchronized):\n%s",
                 static_cast<long long>(a.steps), ctx.cuda->profile_report().c_str());

  // Evaluation: forward only, no graph, at the evaluation batch size.
  const int64_t eb = cfg.train.eval_batch_size;
  Shape xs{eb};
  xs.insert(xs.end(), image.begin(), image.end());
  Tensor x = Tensor::empty(xs);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = ctx.rng.normal();
  if (ctx.cuda) x = x.to_cuda(ctx.cuda);
  model->eval();
  NoGradGuard no_grad(ctx);
  model->forward(ctx, Variable(x));
  const int64_t eval_rounds = std::max<int64_t>(3, a.steps / 10);
  if (ctx.cuda) ctx.cuda->synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < eval_rounds; ++i) model->forward(ctx, Variable(x));
  if (ctx.cuda) ctx.cuda->synchronize();
  const double eval_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double eval_ips = static_cast<double>(eval_rounds * eb) / eval_s;
  const double train_gflops = 3.0 * fwd_flop * train_ips * 1e-9, eval_gflops = fwd_flop * eval_ips * 1e-9;

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double peak_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;
  if (a.json) {
    nlohmann::json j = {{"model", cfg.model.name},       {"batch_size", cfg.train.batch_size},
                        {"threads", cfg.threads},        {"steps", a.steps},
                        {"precision", cfg.train.precision}, {"device", cfg.device},
                        {"train_images_per_s", train_ips}, {"eval_images_per_s", eval_ips},
                        {"forward_mflop_per_image", fwd_flop * 1e-6},
                        {"train_gflop_per_s", train_gflops}, {"eval_gflop_per_s", eval_gflops},
                        {"system_allocations", misses_total},
                        {"peak_memory_mib", peak_mib}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf(
        "%s: batch %lld, %lld threads, %s: train %.0f img/s (%.1f GFLOP/s), eval %.0f img/s (%.1f GFLOP/s), "
        "%.1f forward MFLOP/image, %lld system allocations in %lld training steps, peak memory %.0f MiB\n",
        cfg.model.name.c_str(), static_cast<long long>(cfg.train.batch_size), static_cast<long long>(cfg.threads),
        cfg.train.precision.c_str(), train_ips, train_gflops, eval_ips, eval_gflops, fwd_flop * 1e-6,
        static_cast<long long>(misses_total), static_cast<long long>(a.steps), peak_mib);
  }
  return 0;
}

}  // namespace cvtrain::cli

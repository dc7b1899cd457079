// `cvtrain train CONFIG.yaml [--set k=v]... [--out DIR]`: load and check everything that can be
// wrong (config, data, model name) before touching the output folder; then train, writing
// config.yaml, metrics.jsonl (a line per epoch) and, only at the end, model.safetensors.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cvtrain/base/files.h"
#include "cvtrain/cli/commands.h"
#include "cvtrain/cli/config.h"
#include "cvtrain/cli/progress.h"
#include "cvtrain/nn/zoo.h"
#include "cvtrain/train/model_file.h"
#include "cvtrain/train/trainer.h"

namespace cvtrain::cli {
namespace fs = std::filesystem;

namespace {

std::string default_out_dir(const std::string& config_path) {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + fs::path(config_path).stem().string() + "-" + stamp;
}

// Creates the folder; refuses to mix with a finished run unless asked to replace it.
void prepare_out_dir(const std::string& dir, bool overwrite) {
  std::error_code ec;
  const fs::path model = fs::path(dir) / "model.safetensors";
  if (fs::exists(model, ec)) {
    if (!overwrite) fail_input(dir, ": already holds a finished run (model.safetensors); use another --out or --overwrite");
    fs::remove(model, ec);
    if (ec) fail_input(model.string(), ": cannot remove: ", ec.message());
  }
  fs::create_directories(dir, ec);
  if (ec) fail_input(dir, ": cannot create the output folder: ", ec.message());
}

std::string metrics_line(const EpochMetrics& m) {
  nlohmann::json j = {{"epoch", m.epoch},         {"train_loss", m.train_loss}, {"train_acc", m.train_acc},
                      {"test_loss", m.test_loss}, {"test_acc", m.test_acc},     {"lr", m.lr},
                      {"images_per_s", m.images_per_s}, {"seconds", m.seconds}};
  return j.dump();
}

}  // namespace

int cmd_train(const TrainArgs& a) {
  const auto t_start = std::chrono::steady_clock::now();
  RunConfig cfg = load_config(a.config, a.overrides);
  apply_threads(cfg);
  Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
  Dataset train = load_dataset(cfg.data_dataset, cfg.data_root, Split::train, cfg.data_limit_train);
  Dataset test = load_dataset(cfg.data_dataset, cfg.data_root, Split::test, cfg.data_limit_test);
  Normalization norm = fit_normalization(train);
  std::shared_ptr<nn::Module> model = make_model(cfg, train, ctx.rng);

  const std::string out = a.out.empty() ? default_out_dir(a.config) : a.out;
  prepare_out_dir(out, a.overwrite);
  write_text_atomic(out + "/config.yaml", dump_config(cfg));
  LineAppender metrics(out + "/metrics.jsonl");

  std::printf("cvtrain: %s on %s (%lld train, %lld test images), %lld epochs, batch %lld, %lld threads -> %s\n",
              cfg.model_name.c_str(), cfg.data_dataset.c_str(), static_cast<long long>(train.labels.size(0)),
              static_cast<long long>(test.labels.size(0)), static_cast<long long>(cfg.train_epochs),
              static_cast<long long>(cfg.train_batch_size), static_cast<long long>(cfg.threads), out.c_str());
  std::fflush(stdout);

  Progress progress(cfg.train_progress);
  TrainHooks hooks;
  hooks.on_step = [&](const StepInfo& s) {
    const double left_images = static_cast<double>((cfg.train_epochs - s.epoch) * s.steps_per_epoch +
                                                   (s.steps_per_epoch - s.step_in_epoch)) *
                               static_cast<double>(cfg.train_batch_size);
    progress.update(s.epoch, cfg.train_epochs, s.step_in_epoch, s.steps_per_epoch, s.loss, s.images_per_s,
                    s.images_per_s > 0 ? left_images / s.images_per_s : 0);
  };
  hooks.on_epoch = [&](const EpochMetrics& m) {
    progress.clear();
    std::printf("epoch %lld/%lld  train_loss %.4f  train_acc %.2f%%  test_loss %.4f  test_acc %.2f%%  lr %.5f  "
                "%.0f img/s  %.1fs\n",
                static_cast<long long>(m.epoch), static_cast<long long>(cfg.train_epochs), m.train_loss,
                100 * m.train_acc, m.test_loss, 100 * m.test_acc, m.lr, m.images_per_s, m.seconds);
    std::fflush(stdout);
    metrics.append(metrics_line(m));
  };
  std::vector<EpochMetrics> history = fit(ctx, *model, cfg, train, test, norm, hooks);

  save_model_file(out + "/model.safetensors", *model, model_metadata(cfg, norm));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::printf("test accuracy %.2f%% after %lld epochs (%.1f s wall) -> %s/model.safetensors\n",
              100 * history.back().test_acc, static_cast<long long>(cfg.train_epochs), wall, out.c_str());
  return 0;
}

}  // namespace cvtrain::cli

// `cvtrain train CONFIG.yaml [--set k=v]... [--out DIR]` and `cvtrain train --resume RUN_DIR`: load
// and check everything that can be wrong (config, data, model name, checkpoint) before touching the
// output folder; then train (trainer.h writes the logs, checkpoints and best.safetensors), and only
// at the end write model.safetensors, which marks the run finished.
#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "cvtrain/base/files.h"
#include "cvtrain/cli/commands.h"
#include "cvtrain/train/config.h"
#include "cvtrain/cli/progress.h"
#include "cvtrain/data/loader.h"
#include "cvtrain/dist/communicator.h"
#include "cvtrain/dist/sampler.h"
#if CVTRAIN_HAVE_MPI
#include "cvtrain/dist/mpi/mpi_communicator.h"
#endif
#if CVTRAIN_HAVE_NCCL
#include "cvtrain/dist/nccl/nccl_communicator.h"
#endif
#include "cvtrain/train/checkpoint.h"
#include "cvtrain/train/diagnostics.h"
#include "cvtrain/train/model_file.h"
#include "cvtrain/train/trainer.h"
#include "cvtrain/train/transfer.h"

namespace cvtrain::cli {
namespace fs = std::filesystem;

namespace {

std::string default_out_dir(const std::string& config_path) {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + fs::path(config_path).stem().string() + "-" + stamp;
}

// Creates the folder; refuses to mix with a finished or an unfinished run unless asked to replace it.
void prepare_out_dir(const std::string& dir, bool overwrite) {
  std::error_code ec;
  const fs::path model = fs::path(dir) / "model.safetensors";
  if (fs::exists(model, ec)) {
    if (!overwrite) fail_input(dir, ": already holds a finished run (model.safetensors); use another --out or --overwrite");
    fs::remove(model, ec);
    if (ec) fail_input(model.string(), ": cannot remove: ", ec.message());
  }
  if (!list_checkpoints(dir).empty()) {
    if (!overwrite)
      fail_input(dir, ": holds an unfinished run (checkpoints/); continue it with --resume ", dir,
                 ", or use another --out or --overwrite");
    fs::remove_all(fs::path(dir) / "checkpoints", ec);
    if (ec) fail_input(dir, "/checkpoints: cannot remove: ", ec.message());
  }
  fs::remove_all(fs::path(dir) / "tensorboard", ec);  // a fresh run's curves do not mix with a dead run's
  fs::create_directories(dir, ec);
  if (ec) fail_input(dir, ": cannot create the output folder: ", ec.message());
}

// What a run starts from: a new config and output folder, or a run folder's newest checkpoint.
struct RunStart {
  RunConfig cfg;
  std::optional<CheckpointContents> ck;
  std::string out, ck_path;
  bool extends = false;        // a finished run continued for more epochs or steps (--set train.epochs=N)
  std::string validation_note;  // a validation split held out because the run chooses (setup.h)
};

// A checkpoint continues the run whose folder it is in, with the same model and optimizer: one planted
// from another run, or --set keys that change what the checkpoint's tensors mean, are refused.
void check_resumable(const RunStart& r, const RunConfig& written) {
  // what a checkpoint's tensors mean: the model, the optimizer's state, the seed's streams, the data
  auto locked = [](const std::string& key) {
    return key.rfind("model.", 0) == 0 || key == "optim.name" || key == "seed" || key == "data.dataset" ||
           key == "data.val_fraction";
  };
  const fs::path run_config = fs::path(r.out) / "config.yaml";
  std::ifstream in(run_config);
  if (in) {  // a resume with --set changes other keys: those do not make the checkpoint another run's
    std::stringstream text;
    text << in.rdbuf();
    std::vector<std::string> differ;
    for (const std::string& key : changed_keys(parse_config_text(text.str(), run_config.string()), written))
      if (locked(key)) differ.push_back(key);
    if (!differ.empty())
      fail_input(r.ck_path, ": written for another config than ", run_config.string(), " (", join_names(differ),
                 " differ); it is not this run's checkpoint");
  }
  for (const std::string& key : changed_keys(written, r.cfg))
    if (locked(key))
      fail_input("--set ", key, ": the checkpoint was written with ", key, " ", config_value(written, key),
                 "; a resumed run keeps its model, optimizer and seed (start a new run, with model.init_from for weights)");
}

RunStart start_run(const TrainArgs& a) {
  RunStart r;
  if (a.resume.empty()) {
    if (a.config.empty()) fail_input("train: config is required (a YAML file), or --resume RUN_DIR");
    r.cfg = load_config(a.config, a.overrides);
    r.validation_note = hold_out_validation(r.cfg);
    r.out = a.out.empty() ? default_out_dir(a.config) : a.out;
    return r;
  }
  if (!a.config.empty() || !a.out.empty())
    fail_input("train --resume RUN_DIR takes the config and the folder from the run; drop CONFIG and --out");
  r.out = a.resume;
  r.extends = fs::exists(fs::path(r.out) / "model.safetensors");
  r.ck_path = latest_good_checkpoint(r.out);
  if (r.ck_path.empty()) fail_input(r.out, ": no checkpoint to resume from (checkpoints/step-*.safetensors)");
  r.ck = read_checkpoint(r.ck_path);
  auto it = r.ck->metadata.find("config");
  if (it == r.ck->metadata.end()) fail_input(r.ck_path, ": the checkpoint holds no config");
  const RunConfig written = parse_config_text(it->second, r.ck_path);  // as the checkpoint holds it
  r.cfg = parse_config_text(it->second, r.ck_path, a.overrides);
  check_resumable(r, written);
  check_overrides_read(written, r.cfg, a.overrides);
  if (a.until_epoch > 0 && a.until_epoch < r.ck->state.epoch)
    fail_input("--until-epoch ", a.until_epoch, ": ", r.out, " already trained ", r.ck->state.epoch - 1,
               " epochs; pause at a later one");
  if (r.extends) {  // a finished run goes on only when --set gives it more to do than it did
    const TrainState& s = r.ck->state;
    const bool more = r.cfg.train.epochs >= s.epoch && (r.cfg.train.max_steps == 0 || r.cfg.train.max_steps > s.step);
    if (!more)
      fail_input(r.out, ": the run already finished (model.safetensors) after ", s.epoch - 1, " epochs and ", s.step,
                 " steps; continue it with --resume ", r.out, " --set train.epochs=N for N above ", s.epoch - 1);
  }
  return r;
}

// Several ranks under an MPI launcher; one process continuing a data-parallel run; else none.
std::unique_ptr<dist::Communicator> make_communicator(const RunStart& r) {
  if (dist::launched_by_mpi()) {
#if CVTRAIN_HAVE_MPI
    return dist::make_mpi_communicator(r.cfg.train.dist_timeout_s);
#else
    fail_input("train: started by an MPI launcher, but this cvtrain was built without MPI (install libopenmpi-dev "
               "and rebuild; CMake option CVTRAIN_MPI)");
#endif
  }
  // One process is one rank: the same sampler and the same steps as `mpirun -np 1`, so a run does not
  // depend on how it was launched. A checkpoint of the earlier one-process loop (world 0) resumes there.
  if (r.ck && r.ck->state.world == 0) return nullptr;
  return std::make_unique<dist::LocalCommunicator>();
}

// device: cuda (docs/cuda.md); data-parallel: one GPU per rank of a machine, NCCL between them.
void open_device(Context& ctx, const RunConfig& cfg, std::unique_ptr<dist::Communicator>& comm) {
  if (cfg.device != "cuda") return;
  cuda::RuntimeOptions copt;
  if (comm && comm->size() > 1) copt.device = dist::local_rank() % std::max(1, cuda::Runtime::device_count());
  ctx.cuda = cuda::Runtime::create(copt);
#if CVTRAIN_HAVE_NCCL
  if (comm && comm->size() > 1) comm = dist::make_nccl_communicator(std::move(comm), copt.device);
#endif
}

void print_banner(const RunStart& r, const dist::Communicator* comm, const RunSplits& data) {
  const RunConfig& cfg = r.cfg;
  const std::string epochs = std::to_string(cfg.train.epochs) + (cfg.train.epochs == 1 ? " epoch" : " epochs");
  const std::string length = cfg.train.max_steps > 0
                                 ? epochs + " or " + std::to_string(cfg.train.max_steps) + " steps, whichever ends first"
                                 : epochs;
  if (comm && comm->size() > 1) {
    const std::string local = cfg.train.dist_local_sgd > 0 ? ", local SGD: weights averaged every " +
                                                                 std::to_string(cfg.train.dist_local_sgd) + " steps"
                                                           : "";
    std::printf("data-parallel: %s, global batch %lld%s\n", comm->describe().c_str(),
                static_cast<long long>(cfg.train.batch_size * comm->size()), local.c_str());
  }
  const std::string from = cfg.data.root.empty() ? cfg.data.dataset : cfg.data.dataset + " in " + cfg.data.root;
  std::printf("cvtrain: %s on %s (%s), %s, batch %lld, %s, %lld threads -> %s\n", cfg.model.name.c_str(),
              from.c_str(), data.describe().c_str(), length.c_str(),
              static_cast<long long>(cfg.train.batch_size), cfg.optim.name.c_str(),
              static_cast<long long>(cfg.threads), r.out.c_str());
  if (r.ck)
    std::printf("%s from %s (epoch %lld, batch %lld, step %lld)\n", r.extends ? "continuing the finished run" : "resuming", r.ck_path.c_str(),
                static_cast<long long>(r.ck->state.epoch), static_cast<long long>(r.ck->state.batches_done),
                static_cast<long long>(r.ck->state.step));
}

// The progress bar after every batch, a line per epoch.
void add_display_hooks(TrainHooks& hooks, Progress& progress, const RunConfig& cfg, int64_t batches,
                       int64_t global_batch) {
  hooks.on_step = [&progress, &cfg, global_batch](const StepInfo& s) {
    const int64_t epochs = planned_epochs(cfg, s.steps_per_epoch);
    const double left_batches =
        cfg.train.max_steps > 0
            ? static_cast<double>((planned_steps(cfg, s.steps_per_epoch) - s.step) * cfg.train.accumulate_steps)
            : static_cast<double>((epochs - s.epoch) * s.steps_per_epoch + (s.steps_per_epoch - s.step_in_epoch));
    const double left_images = left_batches * static_cast<double>(global_batch);
    progress.update(s.epoch, epochs, s.step_in_epoch, s.steps_per_epoch, s.loss, s.accuracy, s.images_per_s,
                    s.images_per_s > 0 ? left_images / s.images_per_s : 0);
  };
  hooks.eval_progress = [&progress](const char* split) { return progress.pass(std::string("evaluating ") + split); };
  hooks.on_epoch = [&progress, &cfg, batches](const EpochMetrics& m) {
    progress.clear();
    std::printf("epoch %lld/%lld  step %lld  train_loss %.4f  train_acc %.2f%%", static_cast<long long>(m.epoch),
                static_cast<long long>(planned_epochs(cfg, batches)), static_cast<long long>(m.step), m.train_loss,
                100 * m.train_acc);
    if (m.evaluated && m.has_val) std::printf("  val_loss %.4f  val_acc %.2f%%", m.val_loss, 100 * m.val_acc);
    if (m.evaluated) std::printf("  test_loss %.4f  test_acc %.2f%%", m.test_loss, 100 * m.test_acc);
    if (m.evaluated && m.has_ema)
      std::printf("  ema_%s_acc %.2f%%", m.has_val ? "val" : "test", 100 * (m.has_val ? m.ema_val_acc : m.ema_test_acc));
    std::printf("  lr %.5f  %.0f img/s  %.1fs\n", m.lr, m.images_per_s, m.seconds);
    std::fflush(stdout);
  };
}

// train.diagnostics_every: per-layer statistics of one fixed batch (the first training batch, in
// order), so the lines are comparable along the run; diagnose() leaves the model and RNG as it found them.
struct DiagnosticsHook {
  std::unique_ptr<LineAppender> log;
  Batch probe;
};
void add_diagnostics_hook(TrainHooks& hooks, DiagnosticsHook& d, Context& ctx, const RunStart& r, const Dataset& train,
                          const Normalization& norm) {
  const RunConfig& cfg = r.cfg;
  if (cfg.train.diagnostics_every <= 0) return;
  d.log = std::make_unique<LineAppender>(r.out + "/diagnostics.jsonl", /*append=*/r.ck.has_value());
  BatchLoader first(train, norm, cfg.train.batch_size, /*shuffle=*/false);
  first.start_epoch(ctx.rng);
  first.next(d.probe);
  d.probe.x = d.probe.x.clone(), d.probe.y = d.probe.y.clone();  // the loader reuses its buffers
  hooks.every_steps = cfg.train.diagnostics_every;
  hooks.on_every_steps = [&d, &ctx, &cfg](int64_t step, nn::Module& m, const nn::ParameterArena&) {
    d.log->append(diagnostics_line(diagnose(ctx, m, {{d.probe.x, d.probe.y}}, diagnostics_options(cfg)), step));
  };
}

}  // namespace

// Every rank must train the same config: a rank launched with another file, --set or seed would
// otherwise run to the end, its weights quietly pulled back to rank 0's after each epoch.
void check_same_config(dist::Communicator& comm, const RunConfig& cfg) {
  uint64_t mine = 1469598103934665603ull;  // FNV-1a of what decides the weights and the metrics
  for (const unsigned char c : config_fingerprint(cfg)) mine = (mine ^ c) * 1099511628211ull;
  uint64_t first = mine;
  comm.broadcast(&first, 1, 0, "the config check");
  double differing = first != mine ? 1.0 : 0.0;
  comm.allreduce_sum(&differing, 1, "the config check");
  if (differing > 0)
    fail_input("train: ", static_cast<int>(differing), " of ", comm.size(), " ranks resolved another config than rank 0 ",
               "(another file, --set or seed); every rank of a run must train the same config");
}

// SIGINT or SIGTERM during a one-process run: the trainer finishes its step, writes a checkpoint and
// returns, and the program says how to resume (exit 128 + the signal). A second signal ends the
// process at once (the handler restores the default). The flag is the program's one piece of
// process-wide state: a signal handler can reach nothing else.
namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) {
  g_stop_signal = sig;
  std::signal(sig, SIG_DFL);
}

// The output folder, held by this process until it ends (a resume re-checks what it read before);
// a new run's folder is prepared and gets its config.yaml.
void hold_run_folder(const RunStart& r, const RunSplits& data, bool overwrite, std::optional<DirLock>& lock) {
  std::error_code ec;
  fs::create_directories(r.out, ec);
  if (ec) fail_input(r.out, ": cannot create the output folder: ", ec.message());
  lock.emplace(r.out);
  if (r.ck && ((!r.extends && fs::exists(fs::path(r.out) / "model.safetensors")) || latest_good_checkpoint(r.out) != r.ck_path))
    fail_input(r.out, ": the run went on while this one was starting; resume it again");
  if (!r.ck) {
    prepare_out_dir(r.out, overwrite);
    write_text_atomic(r.out + "/config.yaml", dump_config(r.cfg));
    write_text_atomic(r.out + "/splits.json", data.to_json(r.cfg));
  }
}

// After fit, on rank 0: the model file and the last line, or after a signal, the way to resume.
int finish_run(const RunStart& r, const FitResult& result, nn::Module& model,
               const std::map<std::string, std::string>& metadata, double wall) {
  if (result.paused) {
    std::printf("paused after epoch %lld (%s); continue with: cvtrain train --resume %s\n",
                static_cast<long long>(result.history.back().epoch), result.last_checkpoint.c_str(), r.out.c_str());
    return 0;
  }
  if (result.interrupted) {
    const int sig = static_cast<int>(g_stop_signal);
    std::fprintf(stderr, "\ncvtrain: %s: stopped at a step's end, checkpoint %s; continue with: cvtrain train --resume %s\n",
                 sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)", result.last_checkpoint.c_str(),
                 r.out.c_str());
    return 128 + sig;
  }
  CHECK(!result.history.empty(), "train: the run ended without an epoch");
  const std::string& keep = r.cfg.train.keep;
  if (keep == "last") save_model_file(r.out + "/model.safetensors", model, metadata);
  else copy_file_atomic(r.out + "/" + keep + ".safetensors", r.out + "/model.safetensors");  // best, ema
  if (result.early_stopped)
    std::printf("early stop after epoch %lld: no better validation accuracy in %lld evaluations\n",
                static_cast<long long>(result.history.back().epoch),
                static_cast<long long>(r.cfg.train.early_stop_patience));
  const EpochMetrics& last = result.history.back();
  if (last.has_val)
    std::printf("validation accuracy %.2f%%, best %.2f%% after epoch %lld (%s/best.safetensors)\n", 100 * last.val_acc,
                100 * result.best_val_acc, static_cast<long long>(result.best_epoch), r.out.c_str());
  double kept_acc = last.test_acc;  // the test accuracy of the weights model.safetensors holds
  if (keep == "ema") kept_acc = last.ema_test_acc;
  for (const EpochMetrics& m : result.history)
    if (keep == "best" && m.epoch == result.best_epoch) kept_acc = m.test_acc;
  std::printf("test accuracy %.2f%% after %lld epochs (%.1f s wall) -> %s/model.safetensors%s\n", 100 * kept_acc,
              static_cast<long long>(last.epoch), wall, r.out.c_str(),
              keep == "last" ? "" : (" (train.keep: " + keep + ")").c_str());
  return 0;
}

}  // namespace

// The run itself; under MPI every rank runs it, and only rank 0 prints or writes. Everything that can
// be wrong (config, data, model, checkpoint) is checked before the output folder is touched.
static int train_ranks(const TrainArgs& a, std::unique_ptr<dist::Communicator>& comm) {
  const auto t_start = std::chrono::steady_clock::now();
  const RunStart r = start_run(a);
  const RunConfig& cfg = r.cfg;
  const auto& ck = r.ck;
  apply_threads(cfg);
  comm = make_communicator(r);
  if (comm && comm->size() > 1) check_same_config(*comm, cfg);
  const bool lead = !comm || comm->rank() == 0;  // prints and writes
  Context ctx(static_cast<uint64_t>(cfg.seed), static_cast<int>(cfg.threads));
  open_device(ctx, cfg, comm);
  const RunSplits data = load_splits(cfg);
  const Dataset& train = data.train;
  Normalization norm = ck ? normalization_from_metadata(ck->metadata, r.ck_path) : normalization_for(cfg.data, train);
  const Preprocess fitted = ck ? preprocess_from_metadata(ck->metadata, r.ck_path)
                              : fit_preprocess(train, cfg.data.preprocess, cfg.data.preprocess_components,
                                               cfg.data.whiten_epsilon);
  if (const std::string w = whitening_warning(fitted, train.size()); !w.empty() && lead && !ck)
    std::fprintf(stderr, "cvtrain: warning: %s\n", w.c_str());
  std::shared_ptr<nn::Module> model = make_model(cfg, train, ctx.rng, &fitted);
  const std::string transfer_report = ck ? std::string() : apply_transfer(cfg, *model);  // model.init_from (transfer.h)
  auto metadata = model_metadata(cfg, norm);
  add_preprocess_metadata(metadata, fitted);
  add_input_metadata(metadata, train);

  std::optional<DirLock> lock;  // one process per run folder, until this one ends
  if (lead) hold_run_folder(r, data, a.overwrite, lock);
  if (lead && !r.validation_note.empty()) std::fprintf(stderr, "cvtrain: %s\n", r.validation_note.c_str());
  const int64_t global_batch = cfg.train.batch_size * (comm ? comm->size() : 1);
  const int64_t batches = dist::global_batches(train.size(), global_batch, cfg.data.drop_last);
  if (!lead && !std::freopen("/dev/null", "w", stdout)) fail_input("/dev/null: cannot open");  // rank 0 speaks
  print_banner(r, comm.get(), data);
  if (!transfer_report.empty() && lead) {
    std::fprintf(stderr, "cvtrain: %s", transfer_report.substr(0, transfer_report.find('\n') + 1).c_str());
    std::printf("%s", transfer_report.c_str());
    write_text_atomic(r.out + "/transfer.txt", transfer_report);
  }
  std::fflush(stdout);

  Progress progress(cfg.train.progress && lead);
  TrainHooks hooks;
  if (!comm || comm->size() == 1) {  // several ranks would get the signal and could stop at different steps
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    hooks.should_stop = [] { return g_stop_signal != 0; };
  }
  add_display_hooks(hooks, progress, cfg, batches, global_batch);
  hooks.pause_after_epoch = a.until_epoch;
  DiagnosticsHook diagnostics;
  if (lead) add_diagnostics_hook(hooks, diagnostics, ctx, r, train, norm);
  RunOutput ro{r.out, metadata, ck ? &*ck : nullptr, fitted.is_channel() ? nullptr : &fitted, comm.get()};
  FitResult result = fit(ctx, *model, cfg, train, data.val_or_null(), data.test, norm, hooks, ro);
  std::signal(SIGINT, SIG_DFL), std::signal(SIGTERM, SIG_DFL);  // from here a signal ends the process at once

  if (!lead) return 0;
  return finish_run(r, result, *model, metadata, std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
}

int cmd_train(const TrainArgs& a) {
  std::unique_ptr<dist::Communicator> comm;
  try {
    return train_ranks(a, comm);
  } catch (const std::exception& e) {
    if (!comm || comm->size() == 1) throw;
    // one rank's error would leave the others waiting in a collective: say it, then end them all
    std::fprintf(stderr, "cvtrain: rank %d of %d: %s\n", comm->rank(), comm->size(), e.what());
    std::fflush(stderr);
    comm->abort(dynamic_cast<const InputError*>(&e) ? 2 : 1);
    throw;
  }
}

}  // namespace cvtrain::cli

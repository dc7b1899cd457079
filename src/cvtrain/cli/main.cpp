// cvtrain: the program. Parses the command line (CLI11), runs one subcommand, and maps errors to
// exit codes: 0 success, 2 bad input (config, data files, arguments), 1 internal error. The
// subcommands are one table below: a row names the subcommand, says what it does, declares its
// options and returns the call that runs it.
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>

#include "cvtrain/base/error.h"
#include "cvtrain/cli/commands.h"

namespace cvtrain::cli {
namespace {

using Runner = std::function<int()>;
struct Subcommand {
  const char* name;
  const char* help;
  // Declares the options on `app` into arguments it keeps (shared with the call, so they live as
  // long as it), and returns the call that runs the subcommand with them.
  Runner (*define)(CLI::App& app, const std::string& self);
};

void overrides(CLI::App& app, std::vector<std::string>& into, const char* what = "Override a key (repeatable)") {
  app.add_option("--set", into, what);
}

constexpr const char* kRunWeights =
    "Of a run folder: model (model.safetensors, the default), best (best.safetensors), ema (ema.safetensors)";

void weights_option(CLI::App& app, std::string& into) { app.add_option("--weights", into, kRunWeights); }

// --config RECIPE --weights FILE: a state_dict from elsewhere instead of a run folder (cmd_import.cpp).
void recipe_weights_options(CLI::App& app, std::string& config, std::string& weights) {
  app.add_option("--config", config, "With --weights FILE.safetensors: the recipe of a state_dict from elsewhere "
                                     "(model, data, normalization: data.mean/data.std or fitted on its training data)");
  app.add_option("--weights", weights, std::string(kRunWeights) + "; with --config: a state_dict file under the "
                                       "model's PyTorch names");
}

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> table = {
      {"train", "Train a model from a config file", [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<TrainArgs>();
         app.add_option("config", a->config, "YAML config (recipes/*.yaml); omit with --resume");
         overrides(app, a->overrides, "Override a key: --set train.epochs=1 (repeatable)");
         app.add_option("--out", a->out, "Output folder (default runs/<config name>-<time>)");
         app.add_flag("--overwrite", a->overwrite, "Replace a finished run already in --out");
         app.add_option("--resume", a->resume, "Continue the run in this folder from its newest checkpoint");
         app.add_option("--until-epoch", a->until_epoch,
                        "Pause after this epoch (evaluated, checkpointed; the schedule stays the whole run's); "
                        "continue with --resume")
             ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
         return [a] { return cmd_train(*a); };
       }},
      {"tune", "The lecture's tuning steps in order: initial loss, overfit a sample, lr range test, coarse and "
               "fine search on a validation split, the curves read; a recipe at the end",
       [](CLI::App& app, const std::string& self) -> Runner {
         auto a = std::make_shared<TuneArgs>();
         app.add_option("config", a->config, "YAML config")->required();
         overrides(app, a->overrides);
         app.add_option("--out", a->out, "Output folder (default runs/<config name>-tune)");
         app.add_option("--trials", a->trials, "Trials of the coarse search (the fine one runs half as many)")
             ->check(CLI::Range(2, 10000));
         app.add_option("--jobs", a->jobs, "Trials at once")->check(CLI::Range(1, 256));
         app.add_option("--coarse-epochs", a->coarse_epochs, "Epochs of a coarse trial")->check(CLI::Range(1, 100000));
         app.add_option("--fine-epochs", a->fine_epochs, "Epochs of a fine trial (default: the config's train.epochs)")
             ->check(CLI::Range(1, 100000));
         app.add_option("--seed", a->seed, "Seed of the sampled trials");
         return [a, self] { return cmd_tune(*a, self); };
       }},
      {"lr-find", "Learning-rate range test: the loss as the lr grows exponentially, and the lr it suggests",
       [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<LrFindArgs>();
         app.add_option("config", a->config, "YAML config")->required();
         overrides(app, a->overrides);
         app.add_option("--out", a->out, "Folder for lr_find.json and lr_find.png (default runs/<config name>-lr-find)");
         app.add_option("--min-lr", a->min_lr, "First lr of the sweep")->check(CLI::Range(1e-12, 1e6));
         app.add_option("--max-lr", a->max_lr, "Last lr of the sweep")->check(CLI::Range(1e-12, 1e6));
         app.add_option("--steps", a->steps, "Optimizer steps of the sweep")->check(CLI::Range(10, 100000));
         return [a] { return cmd_lr_find(*a); };
       }},
      {"schedule", "Print (and plot) the learning rate per optimizer step of a config",
       [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<ScheduleArgs>();
         app.add_option("config", a->config, "YAML config")->required();
         overrides(app, a->overrides);
         app.add_flag("--json", a->json, "Print one JSON object");
         app.add_option("--out", a->out, "Write a PNG of the lr per step");
         return [a] { return cmd_schedule(*a); };
       }},
      {"eval", "Evaluate a trained model on its test set", [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<EvalArgs>();
         app.add_option("run", a->run, "Run folder or model.safetensors (omit with --config)");
         recipe_weights_options(app, a->config, a->weights);
         overrides(app, a->overrides, "Override a key of the run's config (e.g. data.root)");
         app.add_flag("--json", a->json, "Print one JSON object");
         app.add_option("--tta", a->tta,
                        "Test-time augmentation: none, flip, 5crop, 10crop (probabilities averaged over the views)");
         return [a] { return cmd_eval(*a); };
       }},
      {"bench", "Measure training and evaluation images per second", [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<BenchArgs>();
         app.add_option("config", a->config, "YAML config")->required();
         overrides(app, a->overrides);
         app.add_option("--steps", a->steps, "Timed training steps")->check(CLI::Range(1, 100000));
         app.add_flag("--json", a->json, "Print one JSON object");
         return [a] { return cmd_bench(*a); };
       }},
      {"config", "Print the fully resolved config", [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<ConfigArgs>();
         app.add_option("config", a->config, "YAML config (omit for the defaults)");
         overrides(app, a->overrides);
         app.add_flag("--reference", a->reference, "Print the Markdown reference of every key");
         return [a] { return cmd_config(*a); };
       }},
      {"models", "List the models of the zoo", [](CLI::App&, const std::string&) -> Runner { return cmd_models; }},
      {"diagnose", "Per-layer activation and gradient statistics, histograms and warnings",
       [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<DiagnoseArgs>();
         app.add_option("config", a->config, "YAML config")->required();
         overrides(app, a->overrides);
         app.add_option("--out", a->out, "Output folder (default runs/<config name>-diagnose)");
         app.add_option("--batches", a->batches, "Training batches to run")->check(CLI::Range(1, 100000));
         return [a] { return cmd_diagnose(*a); };
       }},
      {"preview", "Write a PNG grid of training images with random augmentations from the config",
       [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<PreviewArgs>();
         app.add_option("config", a->config, "YAML config")->required();
         overrides(app, a->overrides);
         app.add_option("--out", a->out, "PNG file to write (default augment.png)");
         app.add_option("--images", a->images, "Rows: training images shown")->check(CLI::Range(1, 256));
         app.add_option("--views", a->views, "Augmentations per image")->check(CLI::Range(0, 64));
         app.add_option("--scale", a->scale, "Pixel magnification")->check(CLI::Range(1, 16));
         return [a] { return cmd_preview(*a); };
       }},
      {"augmentations", "List the augmentations data.augment accepts, with their parameters",
       [](CLI::App&, const std::string&) -> Runner { return cmd_augmentations; }},
      {"report", "Write a self-contained HTML report of a run: its curves read in words, the test set's confusion "
                 "matrix and worst mistakes",
       [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<ReportArgs>();
         app.add_option("run", a->run, "Run folder (metrics.jsonl; steps.jsonl, model.safetensors when present)")->required();
         app.add_option("--out", a->out, "HTML file to write (default RUN/report.html)");
         app.add_option("--mistakes", a->mistakes, "Most confident test mistakes shown")->check(CLI::Range(0, 1000));
         overrides(app, a->overrides, "Override a key of the run's config (e.g. data.root)");
         return [a] { return cmd_report(*a); };
       }},
      {"predict", "Class probabilities for images (PNG/JPEG, or IDX/CIFAR files with :indices)",
       [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<PredictArgs>();
         app.add_option("run", a->run, "Run folder, model.safetensors or checkpoint (with --config: the first input)")->required();
         app.add_option("inputs", a->inputs, "Image files, or FILE:0-99,120 for IDX / CIFAR binary files");
         recipe_weights_options(app, a->config, a->weights);
         app.add_option("--topk", a->topk, "Classes shown per image (default 3)");
         app.add_flag("--json", a->json, "Print one JSON object (with the logits)");
         overrides(app, a->overrides, "Override a key of the run's config (e.g. data.root)");
         return [a] { return cmd_predict(*a); };
       }},
      {"export", "Write a trained model as ONNX or as a plain safetensors model file",
       [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<ExportArgs>();
         app.add_option("run", a->run, "Run folder, model.safetensors or checkpoint (omit with --config)");
         app.add_option("--format", a->format, "onnx (inference graph, opset 13) or safetensors (PyTorch state_dict names)");
         app.add_option("--out", a->out, "File to write")->required();
         recipe_weights_options(app, a->config, a->weights);
         app.add_flag("--fold-bn", a->fold_bn, "ONNX: fold each BatchNorm into the convolution before it");
         overrides(app, a->overrides, "Override a key of the run's config (e.g. data.root)");
         return [a] { return cmd_export(*a); };
       }},
      {"import", "Write a model file from a state_dict of another program (PyTorch, torchvision) and a recipe",
       [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<ImportArgs>();
         app.add_option("--config", a->config, "Recipe: the model, the data (input shape, class names) and the "
                                               "normalization (data.mean/data.std, or fitted on its training data)")->required();
         app.add_option("--weights", a->weights, "FILE.safetensors: a state_dict under the model's PyTorch names")->required();
         app.add_option("--out", a->out, "Model file to write")->required();
         overrides(app, a->overrides, "Override a key of the recipe (repeatable)");
         return [a] { return cmd_import(*a); };
       }},
      {"ensemble", "Average the predictions of several models (or a run's snapshots) and compare them",
       [](CLI::App& app, const std::string&) -> Runner {
         auto a = std::make_shared<EnsembleArgs>();
         app.add_option("members", a->members, "Run folders or model files")->required();
         weights_option(app, a->weights);
         overrides(app, a->overrides, "Override a key of the members' configs (e.g. data.root)");
         app.add_option("--tta", a->tta, "Test-time augmentation of each member: none, flip, 5crop, 10crop");
         app.add_flag("--logits", a->logits, "Average logits instead of probabilities");
         app.add_flag("--snapshots", a->snapshots, "Members: each run's snapshots/ (train.snapshots: true)");
         app.add_flag("--json", a->json, "Print one JSON object");
         return [a] { return cmd_ensemble(*a); };
       }},
      {"search", "Hyperparameter search: random, grid, coarse-to-fine, successive halving",
       [](CLI::App& app, const std::string& self) -> Runner {
         auto a = std::make_shared<SearchArgs>();
         app.add_option("config", a->config, "Base YAML config")->required();
         app.add_option("--space", a->space, "SPACE.yaml: config keys -> {uniform|loguniform|int|choice|grid: [...]}")
             ->required();
         app.add_option("--trials", a->trials, "Trials per stage (default 16; grid-only spaces: the grid's size)")
             ->check(CLI::Range(1, 100000));
         app.add_option("--jobs", a->jobs, "Trials run at the same time (child processes)")->check(CLI::Range(1, 256));
         overrides(app, a->overrides, "Override a key of every trial (repeatable)");
         app.add_option("--out", a->out, "Output folder (default runs/search-<config name>); rerun to resume");
         app.add_option("--stages", a->stages, "2: a second stage narrowed around the best trials")->check(CLI::Range(1, 2));
         app.add_option("--halving", a->halving, "Successive halving with reduction factor ETA over train.epochs (0: off)")
             ->check(CLI::Range(0, 64));
         app.add_flag("--hyperband", a->hyperband,
                      "Hyperband: a bracket of successive halving from each rung's budget, the last at full length "
                      "(ETA from --halving, default 3)");
         app.add_option("--seed", a->seed, "Seed of the sampled trials");
         return [a, self] { return cmd_search(*a, self); };
       }},
  };
  return table;
}

// The subcommand's exit code; an InputError is the user's (2), anything else ours (1).
int run_guarded(const Runner& run) {
  try {
    return run();
  } catch (const InputError& err) {
    std::fprintf(stderr, "cvtrain: error: %s\n", printable(err.what()).c_str());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "cvtrain: error: out of memory\n");
    return 1;
  } catch (const std::exception& err) {
    std::fprintf(stderr, "cvtrain: internal error: %s\n", printable(err.what()).c_str());
    return 1;
  }
}

}  // namespace

// A message as one printable line: control characters (from file names, say) as \xNN, so they
// cannot move the cursor, change colours or split the line.
std::string printable(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

}  // namespace cvtrain::cli

int main(int argc, char** argv) {
  using namespace cvtrain::cli;
  // NOTE: a training step frees and reallocates the same activation buffers (up to tens of MB) every
  // step. glibc returns blocks above 128 KiB to the OS at once, so each step paid page faults for
  // all of them (measured: as much system time as user time). Keep them in the heap for reuse.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  CLI::App app{"cvtrain: train neural networks for computer vision"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "cvtrain 0.1.0");
  std::vector<std::pair<CLI::App*, Runner>> runners;
  std::vector<std::string> names;
  for (const Subcommand& s : subcommands()) names.push_back(s.name);
  if (argc > 1 && argv[1][0] != '-' && std::find(names.begin(), names.end(), argv[1]) == names.end()) {
    const std::string near = cvtrain::nearest_name(names, argv[1]);
    std::fprintf(stderr, "cvtrain: error: unknown subcommand '%s'%s (see cvtrain --help)\n", printable(argv[1]).c_str(),
                 near.empty() ? "" : (" (did you mean '" + near + "'?)").c_str());
    return 2;
  }
  for (const Subcommand& s : subcommands()) {
    CLI::App* sub = app.add_subcommand(s.name, s.help);
    runners.emplace_back(sub, s.define(*sub, argv[0]));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& err) {
    return app.exit(err);
  } catch (const CLI::CallForAllHelp& err) {
    return app.exit(err);
  } catch (const CLI::CallForVersion& err) {
    return app.exit(err);
  } catch (const CLI::ParseError& err) {
    std::fprintf(stderr, "cvtrain: error: %s (see cvtrain --help)\n", printable(err.what()).c_str());
    return 2;
  }
  for (const auto& [sub, run] : runners)
    if (sub->parsed()) return run_guarded(run);
  return 1;
}

// cvtrain: the program. Parses the command line (CLI11), runs one subcommand, and maps errors to
// exit codes: 0 success, 2 bad input (config, data files, arguments), 1 internal error.
#include <malloc.h>

#include <cstdio>

#include <CLI/CLI.hpp>

#include "cvtrain/base/error.h"
#include "cvtrain/cli/commands.h"

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

  TrainArgs train;
  auto* t = app.add_subcommand("train", "Train a model from a config file");
  t->add_option("config", train.config, "YAML config (recipes/*.yaml); omit with --resume");
  t->add_option("--set", train.overrides, "Override a key: --set train.epochs=1 (repeatable)");
  t->add_option("--out", train.out, "Output folder (default runs/<config name>-<time>)");
  t->add_flag("--overwrite", train.overwrite, "Replace a finished run already in --out");
  t->add_option("--resume", train.resume, "Continue the run in this folder from its newest checkpoint");

  ScheduleArgs sched;
  auto* sc = app.add_subcommand("schedule", "Print (and plot) the learning rate per optimizer step of a config");
  sc->add_option("config", sched.config, "YAML config")->required();
  sc->add_option("--set", sched.overrides, "Override a key (repeatable)");
  sc->add_flag("--json", sched.json, "Print one JSON object");
  sc->add_option("--out", sched.out, "Write a PNG of the lr per step");

  EvalArgs eval;
  auto* e = app.add_subcommand("eval", "Evaluate a trained model on its test set");
  e->add_option("run", eval.run, "Run folder or model.safetensors")->required();
  e->add_option("--set", eval.overrides, "Override a key of the run's config (e.g. data.root)");
  e->add_flag("--json", eval.json, "Print one JSON object");
  e->add_option("--tta", eval.tta, "Test-time augmentation: none, flip, 5crop, 10crop (probabilities averaged over the views)");

  BenchArgs bench;
  auto* b = app.add_subcommand("bench", "Measure training and evaluation images per second");
  b->add_option("config", bench.config, "YAML config")->required();
  b->add_option("--set", bench.overrides, "Override a key (repeatable)");
  b->add_option("--steps", bench.steps, "Timed training steps")->check(CLI::PositiveNumber);
  b->add_flag("--json", bench.json, "Print one JSON object");

  ConfigArgs config;
  auto* c = app.add_subcommand("config", "Print the fully resolved config");
  c->add_option("config", config.config, "YAML config (omit for the defaults)");
  c->add_option("--set", config.overrides, "Override a key (repeatable)");
  c->add_flag("--reference", config.reference, "Print the Markdown reference of every key");

  auto* m = app.add_subcommand("models", "List the models of the zoo");

  DiagnoseArgs diag;
  auto* dg = app.add_subcommand("diagnose", "Per-layer activation and gradient statistics, histograms and warnings");
  dg->add_option("config", diag.config, "YAML config")->required();
  dg->add_option("--set", diag.overrides, "Override a key (repeatable)");
  dg->add_option("--out", diag.out, "Output folder (default runs/<config name>-diagnose)");
  dg->add_option("--batches", diag.batches, "Training batches to run")->check(CLI::PositiveNumber);

  PreviewArgs preview;
  auto* pv = app.add_subcommand("preview", "Write a PNG grid of training images with random augmentations from the config");
  pv->add_option("config", preview.config, "YAML config")->required();
  pv->add_option("--set", preview.overrides, "Override a key (repeatable)");
  pv->add_option("--out", preview.out, "PNG file to write (default augment.png)");
  pv->add_option("--images", preview.images, "Rows: training images shown")->check(CLI::PositiveNumber);
  pv->add_option("--views", preview.views, "Augmentations per image")->check(CLI::NonNegativeNumber);
  pv->add_option("--scale", preview.scale, "Pixel magnification")->check(CLI::PositiveNumber);

  auto* aug = app.add_subcommand("augmentations", "List the augmentations data.augment accepts, with their parameters");

  PredictArgs predict;
  auto* pr = app.add_subcommand("predict", "Class probabilities for images (PNG/JPEG, or IDX/CIFAR files with :indices)");
  pr->add_option("run", predict.run, "Run folder, model.safetensors or checkpoint")->required();
  pr->add_option("inputs", predict.inputs, "Image files, or FILE:0-99,120 for IDX / CIFAR binary files")->required();
  pr->add_option("--topk", predict.topk, "Classes shown per image (default 3)");
  pr->add_flag("--json", predict.json, "Print one JSON object (with the logits)");
  pr->add_option("--set", predict.overrides, "Override a key of the run's config (e.g. data.root)");

  ExportArgs exp;
  auto* ex = app.add_subcommand("export", "Write a trained model as ONNX or as a plain safetensors model file");
  ex->add_option("run", exp.run, "Run folder, model.safetensors or checkpoint")->required();
  ex->add_option("--format", exp.format, "onnx (inference graph, opset 13) or safetensors (PyTorch state_dict names)");
  ex->add_option("--out", exp.out, "File to write")->required();
  ex->add_flag("--fold-bn", exp.fold_bn, "ONNX: fold each BatchNorm into the convolution before it");
  ex->add_option("--set", exp.overrides, "Override a key of the run's config (e.g. data.root)");

  EnsembleArgs ens;
  auto* en = app.add_subcommand("ensemble", "Average the predictions of several models (or a run's snapshots) and compare them");
  en->add_option("members", ens.members, "Run folders or model files")->required();
  en->add_option("--set", ens.overrides, "Override a key of the members' configs (e.g. data.root)");
  en->add_option("--tta", ens.tta, "Test-time augmentation of each member: none, flip, 5crop, 10crop");
  en->add_flag("--logits", ens.logits, "Average logits instead of probabilities");
  en->add_flag("--snapshots", ens.snapshots, "Members: each run's snapshots/ (train.snapshots: true)");
  en->add_flag("--json", ens.json, "Print one JSON object");

  SearchArgs search;
  auto* se = app.add_subcommand("search", "Hyperparameter search: random, grid, coarse-to-fine, successive halving");
  se->add_option("config", search.config, "Base YAML config")->required();
  se->add_option("--space", search.space, "SPACE.yaml: config keys -> {uniform|loguniform|int|choice|grid: [...]}")->required();
  se->add_option("--trials", search.trials, "Trials per stage (grid-only spaces: the grid's size)")->check(CLI::PositiveNumber);
  se->add_option("--jobs", search.jobs, "Trials run at the same time (child processes)")->check(CLI::PositiveNumber);
  se->add_option("--set", search.overrides, "Override a key of every trial (repeatable)");
  se->add_option("--out", search.out, "Output folder (default runs/search-<config name>); rerun to resume");
  se->add_option("--stages", search.stages, "2: a second stage narrowed around the best trials")->check(CLI::Range(1, 2));
  se->add_option("--halving", search.halving, "Successive halving with reduction factor ETA over train.epochs (0: off)")->check(CLI::NonNegativeNumber);
  se->add_option("--seed", search.seed, "Seed of the sampled trials");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& err) {
    return app.exit(err);
  } catch (const CLI::CallForAllHelp& err) {
    return app.exit(err);
  } catch (const CLI::CallForVersion& err) {
    return app.exit(err);
  } catch (const CLI::ParseError& err) {
    std::fprintf(stderr, "cvtrain: error: %s (see cvtrain --help)\n", err.what());
    return 2;
  }
  try {
    if (t->parsed()) return cmd_train(train);
    if (en->parsed()) return cmd_ensemble(ens);
    if (se->parsed()) return cmd_search(search, argv[0]);
    if (pv->parsed()) return cmd_preview(preview);
    if (aug->parsed()) return cmd_augmentations();
    if (e->parsed()) return cmd_eval(eval);
    if (b->parsed()) return cmd_bench(bench);
    if (c->parsed()) return cmd_config(config);
    if (m->parsed()) return cmd_models();
    if (sc->parsed()) return cmd_schedule(sched);
    if (dg->parsed()) return cmd_diagnose(diag);
    if (pr->parsed()) return cmd_predict(predict);
    if (ex->parsed()) return cmd_export(exp);
  } catch (const cvtrain::InputError& err) {
    std::fprintf(stderr, "cvtrain: error: %s\n", err.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "cvtrain: error: out of memory\n");
    return 1;
  } catch (const std::exception& err) {
    std::fprintf(stderr, "cvtrain: internal error: %s\n", err.what());
    return 1;
  }
  return 1;
}

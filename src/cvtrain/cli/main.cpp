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
  t->add_option("config", train.config, "YAML config (recipes/*.yaml)")->required();
  t->add_option("--set", train.overrides, "Override a key: --set train.epochs=1 (repeatable)");
  t->add_option("--out", train.out, "Output folder (default runs/<config name>-<time>)");
  t->add_flag("--overwrite", train.overwrite, "Replace a finished run already in --out");

  EvalArgs eval;
  auto* e = app.add_subcommand("eval", "Evaluate a trained model on its test set");
  e->add_option("run", eval.run, "Run folder or model.safetensors")->required();
  e->add_option("--set", eval.overrides, "Override a key of the run's config (e.g. data.root)");
  e->add_flag("--json", eval.json, "Print one JSON object");

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
    if (e->parsed()) return cmd_eval(eval);
    if (b->parsed()) return cmd_bench(bench);
    if (c->parsed()) return cmd_config(config);
    if (m->parsed()) return cmd_models();
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

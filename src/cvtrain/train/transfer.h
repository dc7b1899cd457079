// Transfer learning: start a model from another model's weights (a cvtrain model file or
// checkpoint, a run folder, a PyTorch state_dict saved with safetensors) matched by name and shape,
// with a report of what was loaded, skipped (and why) and left newly initialized; the head (the
// final linear layer) found and optionally left fresh (model.reset_head); model.freeze and
// optim.lr_mult turned into optimizer parameter groups; BatchNorm held in evaluation mode
// (model.freeze_bn). Not the training loop (trainer.h calls these) and not a model zoo.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "cvtrain/nn/arena.h"
#include "cvtrain/nn/module.h"
#include "cvtrain/optim/optimizer.h"
#include "cvtrain/train/run_config.h"

namespace cvtrain {

struct TransferReport {
  std::string source;
  std::vector<std::string> loaded;                           // model names, with shapes
  std::vector<std::pair<std::string, std::string>> skipped;  // a tensor of the source, and why
  std::vector<std::string> initialized;                      // model entries that keep their fresh values
  std::string text() const;                                  // the report people read (several lines)
};

// A run folder means its model.safetensors; a file is itself (InputError naming `key` when absent).
std::string resolve_model_path(const std::string& path, const std::string& key);

// The head's name prefix: the module of the last 2-D parameter named "*.weight" ("net.12" for the
// CNN, "fc" for the ResNets); "" when the model has none. `names_shapes`: parameters in order.
std::string head_prefix(const std::vector<std::pair<std::string, Shape>>& names_shapes);
std::string head_prefix(nn::Module& model);

// Copies every tensor of `source` whose name, shape and dtype match an entry of the model's
// state_dict, except entries under a `keep_fresh` prefix; the rest is reported. Names of a cvtrain
// checkpoint ("model.<name>", "optim.*", "ema") and of torch DataParallel ("module.<name>") are
// mapped to the model's names first.
TransferReport load_matching(nn::Module& model, const nn::StateDict& source, const std::string& source_name,
                             const std::vector<std::string>& keep_fresh);

// A PyTorch state_dict saved with safetensors under the model's names (torch's pickle files are not
// read) loaded into `model` strictly: one InputError naming the file and every missing, unexpected and
// mis-shaped tensor; every value finite. Names mapped as load_matching does (DataParallel "module.",
// a cvtrain checkpoint's "model."); a BatchNorm num_batches_tracked the file lacks (saved before
// PyTorch 0.4.1) keeps the model's value, since evaluation does not read it.
void load_state_dict_file(nn::Module& model, const std::string& path);

// model.init_from and model.reset_head of `cfg` applied to a freshly built model; returns the
// report's text ("" when model.init_from is empty). InputError when reset_head disagrees with the
// model's number of classes, or a model.freeze / optim.lr_mult prefix names no parameter.
std::string apply_transfer(const RunConfig& cfg, nn::Module& model);

// model.freeze with "backbone" expanded to every parameter outside the head.
std::vector<std::string> freeze_prefixes(const RunConfig& cfg, const nn::ParameterArena& arena);
// optim.lr_mult with "backbone" expanded to every parameter outside the head that no other prefix of
// it names (so "backbone" acts as the shortest prefix: {backbone: 0.1, layer4: 0.5} keeps layer4's 0.5).
std::vector<std::pair<std::string, double>> lr_mult_prefixes(const RunConfig& cfg, const nn::ParameterArena& arena);
// cfg.optim with model.freeze and optim.lr_mult expanded, for an optimizer over `arena`.
optim::OptimOptions transfer_optim_options(const RunConfig& cfg, const nn::ParameterArena& arena);

// Puts every BatchNorm layer of `model` in evaluation mode (call after model.train()): running
// statistics are used and not updated. Returns the number of layers.
int64_t freeze_batchnorm(nn::Module& model);
// The number of BatchNorm layers of `model` (model.freeze_bn on a model without one is refused).
int64_t count_batchnorm(const nn::Module& model);

// model.freeze in the backward: the parameters under `prefixes` stop requiring gradients, so no op
// computes their gradient (and a frozen backbone with nothing trainable before it is not
// backpropagated through at all: a linear probe's backward is the head's). Their arena gradients stay
// zero; the optimizer skips them anyway (optim::OptimOptions::freeze). Returns how many were stopped.
int64_t stop_frozen_gradients(nn::Module& model, const std::vector<std::string>& prefixes);
// The reverse, when model.freeze_epochs ends the freeze: the parameters under `prefixes` require
// gradients again. Returns how many were restarted.
int64_t restart_frozen_gradients(nn::Module& model, const std::vector<std::string>& prefixes);

}  // namespace cvtrain

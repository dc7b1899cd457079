// Model ensembles: each member's class probabilities (or logits) on a test set, with optional
// test-time augmentation views averaged first, then averaged over the members (Hansen & Salamon
// 1990; the lecture's "train several models, average their predictions"), and the accuracy and
// mean negative log-likelihood of members and ensemble. Also snapshot ensembles (Huang et al. 2017):
// a model file at the end of each cycle of a cyclic (SGDR) schedule. Not the loading of run folders
// and configs (cli/cmd_ensemble.cpp) and not the training loop.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cvtrain/autograd/context.h"
#include "cvtrain/data/dataset.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/nn/module.h"
#include "cvtrain/train/progress.h"
#include "cvtrain/train/run_config.h"

namespace cvtrain {

// One model's outputs on N images: values (N,K) row-major.
struct Predictions {
  int64_t n = 0, k = 0;
  std::vector<float> values;
  bool logits = false;  // false: probabilities
};

// The model's softmax probabilities (logits = false) or logits on every image of `data`, each the
// mean over the TTA views of `tta` (data/tta.h: none, flip, 5crop, 10crop; crops pad by `pad`).
// Inputs are normalized as in evaluation: per channel with `norm`, or by `fitted` when it is not
// "channel".
Predictions predict(Context& ctx, nn::Module& model, const Dataset& data, const Normalization& norm,
                    const Preprocess& fitted, int64_t batch_size, const std::string& tta, int64_t pad, bool logits,
                    const PassProgress& progress = {});

// The element-wise mean of the members' values (same n, k and kind; InputError otherwise).
Predictions average(const std::vector<Predictions>& members);

struct Score {
  double accuracy = 0;  // argmax against the labels
  double nll = 0;       // mean -log p(label), p = the probabilities (softmax of logits when logits)
};
Score score(const Predictions& p, const Tensor& labels);  // labels: (N) i64

// Whether `epoch` (from 1) ends a cycle of cfg's schedule: sgdr's restarts (optim.restart_period
// epochs, then times optim.restart_mult), and the last epoch (train.epochs) for every schedule.
bool is_cycle_end(const RunConfig& cfg, int64_t epoch);
// RUN_DIR/snapshots/epoch-NNNN.safetensors: the model file of `epoch` (the trainer writes one at each
// cycle end and at the run's last epoch).
void save_snapshot(const std::string& run_dir, int64_t epoch, nn::Module& model,
                   const std::map<std::string, std::string>& metadata);
// The snapshot files of a run, in epoch order.
std::vector<std::string> list_snapshots(const std::string& run_dir);

}  // namespace cvtrain

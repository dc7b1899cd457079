// Turning a RunConfig into what a run needs, for the program and for library users: the model
// (model.* keys), the dataset options (data.* keys), and the model file's metadata entries that let
// eval, predict and export rebuild the same model without the dataset.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cvtrain/data/dataset.h"
#include "cvtrain/data/preprocess.h"
#include "cvtrain/nn/module.h"
#include "cvtrain/tensor/rng.h"
#include "cvtrain/train/run_config.h"

namespace cvtrain {

// pre: a fitted data.preprocess that changes the input shape (null or "channel": the images' shape).
std::shared_ptr<nn::Module> make_model(const RunConfig& cfg, const Dataset& like, Rng& rng,
                                       const Preprocess* pre = nullptr);
// The model a stored config describes, for `like`'s images, built to receive the weights of a file of
// `file_bytes` (a model file or checkpoint, named `origin`). What the metadata asks for is checked
// against the images and the file first: a normalization for other channels, a preprocessing fitted
// on other images, or a model far larger than the file's bytes can hold is an InputError, not a
// crash or an allocation the machine cannot make.
std::shared_ptr<nn::Module> make_stored_model(const RunConfig& cfg, const Dataset& like, const Normalization& norm,
                                              const Preprocess& fitted, uintmax_t file_bytes,
                                              const std::string& origin, Rng& rng);
std::map<std::string, std::string> model_metadata(const RunConfig& cfg, const Normalization& norm);
Normalization normalization_from_metadata(const std::map<std::string, std::string>& meta, const std::string& origin);
// One split of the run's data (cfg.data; the seed chooses a validation split).
Dataset load_split(const RunConfig& cfg, Split split);

// The keys of `cfg` that make a choice on the validation split (train.early_stop_patience), as
// "key: value" (train.early_stop_patience, optim.schedule plateau); empty when the run chooses nothing.
std::vector<std::string> choosing_keys(const RunConfig& cfg);
// A run that chooses needs a validation split: when `cfg` has none (data.has_validation_split), its
// data.val_fraction becomes auto_val_fraction, and the returned line says which keys needed it;
// "" when nothing changed.
std::string hold_out_validation(RunConfig& cfg);

// What a run trains on, chooses on (when it has a validation split) and reports.
struct RunSplits {
  Dataset train;
  std::optional<Dataset> val;
  Dataset test;
  const Dataset* val_or_null() const { return val ? &*val : nullptr; }
  std::string describe() const;  // "54000 train, 6000 val, 10000 test images"
  std::string to_json(const RunConfig& cfg) const;  // RUN/splits.json: sizes and where each split comes from
};
// Loads the splits `cfg` gives and checks them: none empty, the images of one shape, the held-out
// labels classes of the training set. InputError naming data.* otherwise.
RunSplits load_splits(const RunConfig& cfg);
// The fitted data.preprocess transform travels as the "preprocess_fit" entry (absent for "channel").
void add_preprocess_metadata(std::map<std::string, std::string>& meta, const Preprocess& fitted);
// The model's input (C,H,W) and class names travel as the "input" entry, so that predict and export
// need not load the dataset. input_like_from_metadata: a one-image stand-in Dataset with that shape
// and those names (zero pixels), or an undefined one (no images) for files written before the entry.
void add_input_metadata(std::map<std::string, std::string>& meta, const Dataset& like);
Dataset input_like_from_metadata(const std::map<std::string, std::string>& meta, const std::string& origin);
Preprocess preprocess_from_metadata(const std::map<std::string, std::string>& meta, const std::string& origin);

}  // namespace cvtrain

// The test set is reported, never chosen on: the best checkpoint and early stopping read the
// validation split alone (a run with a different test set chooses the same epochs and writes the
// same best.safetensors), and a run that chooses without a validation split gets one held out.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/testing.h"
#include "train/trainer_setup.h"
#include "cvtrain/train/setup.h"
#include "cvtrain/train/trainer.h"

using namespace cvtrain;
using namespace cvtrain::testing;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `data` with every label moved to the next class: a model that learns scores worse on it as it learns.
Dataset relabelled(const Dataset& data) {
  Dataset out = data;
  out.labels = data.labels.clone();
  int64_t* y = out.labels.data<int64_t>();
  for (int64_t i = 0; i < out.size(); ++i) y[i] = (y[i] + 1) % data.num_classes();
  return out;
}

struct Chosen {
  FitResult result;
  std::string best_model;  // the bytes of best.safetensors
};

// Six epochs with early stopping and the best checkpoint, on `val`, reporting `test`.
Chosen train_choosing(const Dataset& val, const Dataset& test, const fs::path& dir) {
  RunConfig c = trainer_config();
  c.train.epochs = 6;
  c.train.early_stop_patience = 2;
  c.schedule.lr = 0.02;
  Context ctx(11, 2);
  auto model = trainer_model(ctx.rng);
  fs::remove_all(dir);
  fs::create_directories(dir);
  Chosen out;
  out.result = fit(ctx, *model, c, trainer_data().train, &val, test, trainer_data().norm, {},
                   RunOutput{dir.string(), {}, nullptr, nullptr, nullptr});
  out.best_model = read_bytes(dir / "best.safetensors");
  return out;
}

}  // namespace

TEST(Validation, ChoicesNeverReadTheTestSet) {
  const Dataset val = make_synthetic(96, 1, 28, 28, 5);
  const Dataset test = trainer_data().test, flipped = relabelled(test);
  const fs::path tmp = fs::temp_directory_path() / "cvtrain_validation_choices";
  const Chosen a = train_choosing(val, test, tmp / "a");
  const Chosen b = train_choosing(val, flipped, tmp / "b");
  ASSERT_FALSE(a.best_model.empty());
  // the test sets disagree: one scores well where the other scores badly
  EXPECT_GT(a.result.history.back().test_acc, 0.5);
  EXPECT_LT(b.result.history.back().test_acc, 0.5);
  // and nothing chosen moved: the best epoch, its file, where the run stopped
  EXPECT_EQ(a.result.best_epoch, b.result.best_epoch);
  EXPECT_EQ(a.result.best_val_acc, b.result.best_val_acc);
  EXPECT_TRUE(a.best_model == b.best_model);  // byte for byte
  EXPECT_EQ(a.result.history.size(), b.result.history.size());
  EXPECT_EQ(a.result.early_stopped, b.result.early_stopped);
  // the best epoch is the validation accuracy's first maximum
  int64_t argmax = 0;
  double best = -1;
  for (const EpochMetrics& m : a.result.history) {
    ASSERT_TRUE(m.has_val);
    if (m.val_acc > best) best = m.val_acc, argmax = m.epoch;
  }
  EXPECT_EQ(a.result.best_epoch, argmax);
  fs::remove_all(tmp);
}

TEST(Validation, ARunWithoutValidationChoosesNothing) {
  RunConfig c = trainer_config();
  c.train.epochs = 2;
  Context ctx(11, 2);
  auto model = trainer_model(ctx.rng);
  const fs::path dir = fs::temp_directory_path() / "cvtrain_validation_none";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const FitResult r =
      fit(ctx, *model, c, trainer_data().train, nullptr, trainer_data().test, trainer_data().norm, {},
          RunOutput{dir.string(), {}, nullptr, nullptr, nullptr});
  EXPECT_FALSE(fs::exists(dir / "best.safetensors"));  // no best model chosen by the test set
  EXPECT_FALSE(r.history.back().has_val);
  EXPECT_EQ(r.best_epoch, 0);
  fs::remove_all(dir);
}

TEST(Validation, AChoosingRunHoldsOutASplit) {
  RunConfig c;
  EXPECT_EQ(hold_out_validation(c), "");  // no choice, no split: all the training set trains
  EXPECT_EQ(c.data.val_fraction, 0.0);
  c.train.early_stop_patience = 3;
  const std::string note = hold_out_validation(c);
  EXPECT_NE(note.find("train.early_stop_patience: 3"), std::string::npos) << note;
  EXPECT_NE(note.find("10%"), std::string::npos) << note;
  EXPECT_EQ(c.data.val_fraction, auto_val_fraction);
  c.data.val_fraction = 0.25;  // the user's own fraction stays
  EXPECT_EQ(hold_out_validation(c), "");
  EXPECT_EQ(c.data.val_fraction, 0.25);
}

TEST(Validation, PlateauLowersTheLrOnTheValidationLoss) {
  RunConfig c = trainer_config();
  c.train.epochs = 4;
  c.schedule.name = "plateau";
  c.schedule.plateau_patience = 0;
  c.schedule.plateau_factor = 0.5;
  c.schedule.plateau_threshold = 0.99;  // only a 99% drop counts as progress: every evaluation after the first is bad
  Context ctx(11, 2);
  auto model = trainer_model(ctx.rng);
  const Dataset val = make_synthetic(64, 1, 28, 28, 5);
  EXPECT_THROW(fit(ctx, *model, c, trainer_data().train, nullptr, trainer_data().test, trainer_data().norm, {}),
               InputError);  // it reads the validation loss: none, refused
  const FitResult r = fit(ctx, *model, c, trainer_data().train, &val, trainer_data().test, trainer_data().norm, {});
  ASSERT_EQ(r.history.size(), 4u);
  // the lr of an epoch's last step: epoch 2's evaluation halves epoch 3's, epoch 3's halves epoch 4's
  EXPECT_FLOAT_EQ(r.history[0].lr, 0.05f);
  EXPECT_FLOAT_EQ(r.history[1].lr, 0.05f);
  EXPECT_FLOAT_EQ(r.history[2].lr, 0.025f);
  EXPECT_FLOAT_EQ(r.history[3].lr, 0.0125f);
  RunConfig no_plateau = c;
  no_plateau.schedule.name = "constant";
  no_plateau.schedule.plateau_patience = 10, no_plateau.schedule.plateau_factor = 0.1, no_plateau.schedule.plateau_threshold = 1e-4;
  EXPECT_TRUE(choosing_keys(no_plateau).empty());
  EXPECT_EQ(choosing_keys(c), std::vector<std::string>{"optim.schedule: plateau"});
}

// The config loader (train/config.h): typed lists and mappings read from YAML lists and mappings and
// from the "a, b" / "k=v" scalars that --set and configs stored by older versions give; the resolved
// config dumps and reads back to the same values; errors name the key.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/testing.h"
#include "cvtrain/base/error.h"
#include "cvtrain/train/config.h"
#include "train/trainer_setup.h"

namespace cvtrain {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_config_text(yaml, "t.yaml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ListsAndMappingsAreTyped) {
  const RunConfig c = parse_config_text(
      "data: {classes: [5, 6, 7]}\n"
      "model: {channels: [8, 16], freeze: [net.0, net.1], init_overrides: {net.3: xavier_normal, net.1: 'normal:0.02'}}\n"
      "optim: {schedule: multistep, milestones: [2, 4], lr_mult: {net.0: 0.1, net.12: 1}}\n",
      "t.yaml");
  EXPECT_EQ(c.data.classes, (std::vector<int64_t>{5, 6, 7}));
  EXPECT_EQ(c.model.channels, (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(c.transfer.freeze, (std::vector<std::string>{"net.0", "net.1"}));
  ASSERT_EQ(c.model.init.overrides.size(), 2u);
  EXPECT_EQ(c.model.init.overrides[1], (std::pair<std::string, std::string>{"net.1", "normal:0.02"}));
  EXPECT_EQ(c.schedule.milestones, (std::vector<int64_t>{2, 4}));
  ASSERT_EQ(c.optim.lr_mults.size(), 2u);
  EXPECT_EQ(c.optim.lr_mults[0].first, "net.0");
  EXPECT_DOUBLE_EQ(c.optim.lr_mults[0].second, 0.1);
}

TEST(Config, ScalarFormsOfListsStillRead) {  // --set data.classes=5,6 and configs stored before lists
  const RunConfig c = parse_config_text(
      "data: {classes: '5,6'}\nmodel: {channels: '64,128,256', init_overrides: 'net.3=xavier_normal,net.1=normal:0.02'}\n"
      "optim: {lr_mult: 'net.0=0.1,net.12=1'}\n",
      "t.yaml", {"optim.schedule=multistep", "optim.milestones=30,60"});
  EXPECT_EQ(c.data.classes, (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(c.model.channels, (std::vector<int64_t>{64, 128, 256}));
  EXPECT_EQ(c.model.init.overrides[1], (std::pair<std::string, std::string>{"net.1", "normal:0.02"}));
  EXPECT_EQ(c.schedule.milestones, (std::vector<int64_t>{30, 60}));
  EXPECT_DOUBLE_EQ(c.optim.lr_mults[1].second, 1.0);
}

TEST(Config, DumpReadsBackToTheSameValues) {
  const RunConfig c = parse_config_text(
      "data: {classes: [3, 1]}\nmodel: {name: vgg, channels: [8], freeze: [backbone], init_overrides: {net.0: zeros}}\n"
      "optim: {schedule: multistep, milestones: [5], lr_mult: {net: 0.5}}\n",
      "t.yaml");
  const RunConfig back = parse_config_text(dump_config(c), "dumped");
  EXPECT_EQ(back.data.classes, c.data.classes);
  EXPECT_EQ(back.model.channels, c.model.channels);
  EXPECT_EQ(back.transfer.freeze, c.transfer.freeze);
  EXPECT_EQ(back.model.init.overrides, c.model.init.overrides);
  EXPECT_EQ(back.schedule.milestones, c.schedule.milestones);
  EXPECT_EQ(back.optim.lr_mults, c.optim.lr_mults);
  EXPECT_EQ(dump_config(back), dump_config(c));
}

TEST(Config, BadListsNameTheKey) {
  EXPECT_NE(error_of("data: {classes: [5, x]}").find("data.classes: expected a list of integers, got 'x'"), std::string::npos);
  EXPECT_NE(error_of("model: {channels: {a: 1}}").find("model.channels: expected a list of integers, got a mapping"),
            std::string::npos);
  EXPECT_NE(error_of("optim: {lr_mult: [1, 2]}").find("optim.lr_mult: expected a mapping of names to numbers, got a list"),
            std::string::npos);
  EXPECT_NE(error_of("optim: {lr_mult: {net.0: -1}}").find("optim.lr_mult"), std::string::npos);
  EXPECT_NE(error_of("optim: {schedule: multistep, milestones: [4, 2]}").find("optim.milestones: must be increasing"),
            std::string::npos);
  EXPECT_NE(error_of("model: {name: [cnn]}").find("model.name: expected a string, got a list"), std::string::npos);
}

TEST(Config, DataRootFollowsTheDatasetUnlessGiven) {
  EXPECT_EQ(parse_config_text("data: {dataset: mnist}\n", "t.yaml").data.root, "/usr/share/datasets/mnist");
  EXPECT_EQ(parse_config_text("", "t.yaml", {"data.dataset=mnist"}).data.root, "/usr/share/datasets/mnist");
  EXPECT_EQ(parse_config_text("data: {dataset: mnist, root: /d}\n", "t.yaml").data.root, "/d");
  EXPECT_EQ(parse_config_text("data: {dataset: mnist}\n", "t.yaml", {"data.root=/e"}).data.root, "/e");
  EXPECT_THROW(parse_config_text("data: {dataset: cifar10}\n", "t.yaml"), InputError);  // no Debian folder: say so
  EXPECT_EQ(parse_config_text("data: {dataset: synthetic}\n", "t.yaml").data.root, "");  // reads no files
  // a root that is another dataset's folder: mnist and fashion_mnist files have the same names
  EXPECT_THROW(parse_config_text("data: {dataset: mnist, root: /usr/share/datasets/fashion-mnist}\n", "t.yaml"),
               InputError);
}

// A key set where the resolved run would never read it stops the load, naming the key and why.
TEST(Config, KeysTheRunWouldNotReadAreRefused) {
  const auto refusal = testing::load_config_refusal;
  const auto npos = std::string::npos;
  const std::string from = "model.init_from=runs/pretrained";
  EXPECT_NE(refusal({"model.reset_head=10"}).find("model.reset_head: no effect without model.init_from"), npos);
  EXPECT_EQ(refusal({from, "model.reset_head=10"}), "");
  // a strict load overwrites what the init keys shape; a fresh head or a lenient load keeps some of it
  for (const char* key : {"model.init=xavier_normal", "model.init_overrides={net.0: xavier_normal}"})
    EXPECT_NE(refusal({from, key}).find(": model.init_from with model.init_strict loads every tensor it would shape"), npos)
        << key;
  EXPECT_NE(refusal({from, "model.init=xavier_normal", "model.init_gain=2"}).find("model.init: model.init_from"), npos);
  EXPECT_NE(refusal({from, "model.init_gain=2"}).find("model.init_gain: model.init_from with model.init_strict"), npos);
  EXPECT_EQ(refusal({from, "model.reset_head=10", "model.init=xavier_normal", "model.init_gain=2"}), "");
  EXPECT_EQ(refusal({from, "model.init_strict=false", "model.init=xavier_normal", "model.init_gain=2"}), "");
  EXPECT_NE(refusal({from, "model.name=resnet20", "model.reset_head=10", "model.zero_init_residual=true"})
                .find("model.zero_init_residual: model.init_from with model.init_strict loads every tensor it would "
                      "shape (model.reset_head leaves only the final linear layer fresh)"),
            npos);
  // dampening scales a momentum that is not there
  const std::vector<std::string> no_cycle = {"optim.name=sgd", "optim.nesterov=false", "optim.schedule=cosine"};
  auto with = [](std::vector<std::string> v, const std::vector<std::string>& more) {
    v.insert(v.end(), more.begin(), more.end());
    return v;
  };
  EXPECT_NE(refusal(with(no_cycle, {"optim.momentum=0", "optim.dampening=0.5"}))
                .find("optim.dampening: no effect without momentum"),
            npos);
  EXPECT_EQ(refusal(with(no_cycle, {"optim.momentum=0.9", "optim.dampening=0.5"})), "");
  // the CPU's activation layout and dtype mean nothing on the GPU
  EXPECT_NE(refusal({"device=cuda", "train.memory_format=nchw"}).find("train.memory_format: no effect on training with device cuda"),
            npos);
  EXPECT_NE(refusal({"device=cuda", "train.precision=bf16", "train.bf16_activations=false"})
                .find("train.bf16_activations: no effect on training with device cuda"),
            npos);
}

// A value written at its default is a choice too: the run reads it, or refuses it naming the key.
TEST(Config, KeysWrittenAtTheirDefaultAreCheckedToo) {
  const auto refusal = testing::load_config_refusal;
  const auto npos = std::string::npos;
  EXPECT_NE(refusal({"optim.schedule=cosine", "optim.pct_start=0.15"})
                .find("optim.pct_start: no effect with optim.schedule cosine (only onecycle uses it)"),
            npos);
  EXPECT_EQ(refusal({"optim.schedule=onecycle", "optim.pct_start=0.15"}), "");
  // onecycle moves the momentum: a written 0.9, the default, is not what the run uses
  EXPECT_NE(refusal({"optim.momentum=0.9"}).find("optim.momentum: onecycle cycles the momentum"), npos);
  EXPECT_NE(refusal({"optim.name=adamw", "optim.nesterov=true"})
                .find("optim.nesterov: no effect with optim.name adamw"),
            npos);
  // the same from a file: what it writes counts, not only what differs from the defaults
  const std::filesystem::path file = std::filesystem::temp_directory_path() / "cvtrain_written_default.yaml";
  std::ofstream(file) << "optim:\n  schedule: cosine\n  pct_start: 0.15\n";
  EXPECT_NE(testing::input_error_of([&] { load_config(file.string(), {}); })
                .find("cvtrain_written_default.yaml: optim.pct_start: no effect with optim.schedule cosine"),
            npos);
  std::filesystem::remove(file);
}

// The dump leaves out only keys the run does not read that hold their default: it reads back to the
// same config, and load_config accepts it, so a run's config.yaml (and search's best.yaml) retrains.
TEST(Config, DumpKeepsWhatTheRunReadsAndLoadsAgain) {
  const auto npos = std::string::npos;
  const std::string dump = dump_config(load_config("", {"optim.schedule=cosine", "optim.momentum=0.8"}));
  EXPECT_EQ(dump.find("pct_start"), npos);  // onecycle's, unread with cosine
  EXPECT_NE(dump.find("momentum: 0.8"), npos);
  EXPECT_NE(dump.find("nesterov: true"), npos);  // read by sgd, at its default
  EXPECT_EQ(dump_config(parse_config_text(dump, "dumped")), dump);
  const std::filesystem::path file = std::filesystem::temp_directory_path() / "cvtrain_dumped_config.yaml";
  std::ofstream(file) << dump;
  EXPECT_EQ(testing::input_error_of([&] { EXPECT_EQ(dump_config(load_config(file.string(), {})), dump); }), "");
  std::filesystem::remove(file);
  // a config stored by a build with fewer checks keeps an unread value that is not the default
  const RunConfig old = parse_config_text("optim: {schedule: cosine, pct_start: 0.3}\n", "old.yaml");
  EXPECT_NE(dump_config(old).find("pct_start: 0.3"), npos);
}

// `train --resume RUN --set k=v` applies overrides to a stored config: an override the run would not
// read is refused, and so is one that leaves a value of the run's own unread.
TEST(Config, OverridesOfAStoredConfigAreCheckedAgainstIt) {
  const auto npos = std::string::npos;
  auto refusal = [](const std::string& yaml, const std::vector<std::string>& sets) {
    return testing::input_error_of([&] {
      check_overrides_read(parse_config_text(yaml, "ck"), parse_config_text(yaml, "ck", sets), sets);
    });
  };
  const std::string onecycle = "optim: {schedule: onecycle, pct_start: 0.3}\n";
  EXPECT_EQ(refusal(onecycle, {"optim.lr=0.2", "train.epochs=9", "optim.pct_start=0.2"}), "");
  EXPECT_NE(refusal(onecycle, {"optim.schedule=cosine"})
                .find("--set optim.schedule: the run's optim.pct_start 0.3 would no longer be read: no effect with "
                      "optim.schedule cosine"),
            npos);
  EXPECT_NE(refusal("optim: {schedule: cosine}\n", {"optim.pct_start=0.2"})
                .find("--set optim.pct_start: no effect with optim.schedule cosine"),
            npos);
}

TEST(Config, NearestNameIsANearMiss) {
  EXPECT_EQ(nearest_name({"train", "eval", "tune"}, "trian"), "train");
  EXPECT_EQ(nearest_name({"train", "eval", "tune"}, "evla"), "eval");
  EXPECT_EQ(nearest_name({"train", "eval", "tune"}, "completely-else"), "");
}

}  // namespace
}  // namespace cvtrain

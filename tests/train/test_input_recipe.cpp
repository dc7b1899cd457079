// The input recipe of a run (data.image_size, data.channels, data.crop_fraction, data.mean, data.std)
// reads from YAML as users write it, dumps and reads back, and travels in the model file's metadata:
// the fixed normalization exactly as a fitted one, the resize through the stored config.
#include <string>

#include "common/testing.h"
#include "cvtrain/base/error.h"
#include "cvtrain/data/resize.h"
#include "cvtrain/train/config.h"
#include "cvtrain/train/setup.h"
#include "train/trainer_setup.h"

namespace cvtrain {
namespace {

TEST(InputRecipe, ReadsAsWritten) {
  const RunConfig one = parse_config_text("data: {image_size: 64, channels: 3, crop_fraction: 0.875}\n", "t.yaml");
  EXPECT_EQ(one.data.image_size, (std::vector<int64_t>{64}));
  EXPECT_EQ(one.data.channels, 3);
  const RunConfig two = parse_config_text(
      "data:\n  image_size: [48, 40]\n  mean: [0.485, 0.456, 0.406]\n  std: [0.229, 0.224, 0.225]\n", "t.yaml");
  EXPECT_EQ(two.data.image_size, (std::vector<int64_t>{48, 40}));
  EXPECT_EQ(two.data.mean, (std::vector<double>{0.485, 0.456, 0.406}));
  EXPECT_EQ(two.data.std, (std::vector<double>{0.229, 0.224, 0.225}));
  const RunConfig set = load_config("", {"data.image_size=64", "data.mean=0.5", "data.std=0.25"});
  EXPECT_EQ(set.data.image_size, (std::vector<int64_t>{64}));
  EXPECT_EQ(set.data.mean, (std::vector<double>{0.5}));
}

TEST(InputRecipe, DumpsAndReadsBack) {
  const RunConfig c = load_config("", {"data.image_size=[48, 40]", "data.channels=3", "data.mean=[0.485, 0.456, 0.406]",
                                       "data.std=[0.229, 0.224, 0.225]"});
  const RunConfig back = parse_config_text(dump_config(c), "dump");
  EXPECT_EQ(back.data.image_size, c.data.image_size);
  EXPECT_EQ(back.data.channels, 3);
  EXPECT_EQ(back.data.mean, c.data.mean);
  EXPECT_EQ(back.data.std, c.data.std);
  EXPECT_TRUE(changed_keys(c, back).empty());
}

TEST(InputRecipe, TravelsInTheModelMetadata) {
  RunConfig c = load_config("", {"data.dataset=synthetic", "data.image_size=36", "data.channels=3",
                                 "data.mean=[0.485, 0.456, 0.406]", "data.std=[0.229, 0.224, 0.225]"});
  const Dataset train = load_split(c, Split::train);
  ASSERT_EQ(train.images.shape(), Shape({1024, 3, 36, 36}));
  const Normalization norm = normalization_for(c.data, train);
  auto meta = model_metadata(c, norm);
  add_input_metadata(meta, train);
  const Normalization back = normalization_from_metadata(meta, "m.safetensors");
  EXPECT_EQ(back.mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(back.std, (std::vector<float>{0.229f, 0.224f, 0.225f}));
  const RunConfig stored = parse_config_text(meta.at("config"), "m.safetensors (metadata config)");
  const ImageSpec spec = image_spec(stored.data);
  EXPECT_EQ(spec.size, (std::vector<int64_t>{36}));
  EXPECT_EQ(spec.channels, 3);
  const Dataset like = input_like_from_metadata(meta, "m.safetensors");
  EXPECT_EQ(like.images.shape(), Shape({1, 3, 36, 36}));
}

TEST(InputRecipe, RefusedWhereItCannotApply) {
  const auto error_of = testing::load_config_refusal;
  EXPECT_NE(error_of({"data.crop_fraction=0.875"}).find("data.crop_fraction: no effect without one data.image_size"),
            std::string::npos);
  EXPECT_NE(error_of({"data.crop_fraction=0.875", "data.image_size=[32, 32]"}).find("data.crop_fraction"), std::string::npos);
  EXPECT_NE(error_of({"data.mean=0.5", "data.std=0.2", "data.preprocess=zca"})
                .find("data.mean: no effect with data.preprocess zca (only channel uses it)"),
            std::string::npos);
  EXPECT_NE(error_of({"data.mean=[0.5, nan]"}).find("data.mean"), std::string::npos);
}

}  // namespace
}  // namespace cvtrain

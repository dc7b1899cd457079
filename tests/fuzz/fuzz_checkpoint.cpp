// libFuzzer target: read_checkpoint and restore_checkpoint. Inputs that parse as safetensors with a
// cvtrain.checkpoint entry get their CRC32C fixed up first (rewritten with the right checksum), so
// mutations reach the train_state / optim_counters JSON and the restore checks behind the checksum.
#include "cvtrain/nn/zoo.h"
#include "cvtrain/optim/adaptive.h"
#include "cvtrain/tensor/safetensors.h"
#include "cvtrain/train/checkpoint.h"
#include "fuzz_common.h"

using namespace cvtrain;

namespace {

// The checksum write_checkpoint stores: every tensor's name and bytes, then every metadata key and
// value except "checksum" (train/checkpoint.cpp).
std::string checksum_hex(const SafetensorsFile& f) {
  uint32_t crc = 0;
  for (const auto& [name, t] : f.tensors) {
    crc = crc32c(name.data(), name.size(), crc);
    crc = crc32c(t.raw_data(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()), crc);
  }
  for (const auto& [k, v] : f.metadata) {
    if (k == "checksum") continue;
    crc = crc32c(k.data(), k.size(), crc);
    crc = crc32c(v.data(), v.size(), crc);
  }
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", crc);
  return hex;
}

void read_and_restore(const std::string& path) {
  static Rng rng(1);
  static auto model = nn::build_model(nn::ModelSpec{"mlp"}, rng);
  static nn::ParameterArena arena(*model);
  static optim::Adam adam(arena, optim::OptimOptions{}, true);
  CheckpointContents ck = read_checkpoint(path);
  std::vector<float> ema;
  restore_checkpoint(ck, *model, adam, ema);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_file("step-00000001.safetensors", data, size);
  fuzz::expect_input_error_only([&] { read_and_restore(path); });
  // The same bytes with a correct checksum, when they are a readable safetensors file.
  SafetensorsFile f;
  try {
    f = read_safetensors(path);
  } catch (const InputError&) {
    return 0;
  }
  if (!f.metadata.count("cvtrain.checkpoint")) return 0;
  f.metadata["checksum"] = checksum_hex(f);
  const std::string fixed = fuzz::scratch_dir() + "/fixed.safetensors";
  write_safetensors(fixed, f.tensors, f.metadata);
  fuzz::expect_input_error_only([&] { read_and_restore(fixed); });
  return 0;
}

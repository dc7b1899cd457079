// Loading configs: YAML file + `--set key.path=value` overrides -> a validated RunConfig, for the
// program and for library users (`auto cfg = cvtrain::load_config("recipe.yaml", {"optim.lr=0.05"});`).
// Every key is in one table (config.cpp) with its type, documentation, what it changes and when it
// takes effect; an unknown key, a wrong type, an impossible value, a key named twice, or a key set to
// a value the run would not use is an InputError naming the key path (and the file).
#pragma once
#include <string>
#include <vector>

#include "cvtrain/train/run_config.h"

namespace cvtrain {

// path: a YAML file, or empty for the defaults. overrides: "key.path=value" strings. Refuses a key
// that the file or an override writes, or that holds a non-default value, when the run would not use it.
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides);
// The text of a YAML config file; InputError naming it when it is missing, not a regular file, or
// larger than a config can be.
std::string read_config_file(const std::string& path);
// A config from YAML text already in memory (a model file's metadata); `origin` names it in errors.
// Does not refuse unused keys: a stored config may come from a build whose checks were fewer.
RunConfig parse_config_text(const std::string& yaml, const std::string& origin,
                            const std::vector<std::string>& overrides = {});
// Refuses an override that the resumed run `cfg` (its stored config, `stored`, with the overrides
// applied) would not read, and an override that leaves a value of the stored config unread.
void check_overrides_read(const RunConfig& stored, const RunConfig& cfg, const std::vector<std::string>& overrides);
// What a command does with a stored model (a run folder or model file): it reads a few keys from --set,
// those of its use (docs/config.md), and the model file fixes the others.
enum class StoredUse : unsigned { evaluate = 1, predict = 2, export_model = 4 };
// A model file's stored config with the overrides of a command of `use`: an override of a key that
// `use` does not read is refused, naming the keys it reads, before the config is parsed; one that this
// model would not use (model.fmp_test_samples without fractional pooling) after, naming the file.
RunConfig parse_stored_config(const std::string& yaml, const std::string& origin,
                              const std::vector<std::string>& overrides, StoredUse use);
// The fully resolved config as YAML in table order: every key the run reads, and every key that holds
// a value other than its default; parsed again, it gives the same config, and load_config accepts it.
std::string dump_config(const RunConfig& cfg);
// The keys whose values differ between two configs, in table order (data.augment included).
std::vector<std::string> changed_keys(const RunConfig& a, const RunConfig& b);
// "key=value" lines of the keys that decide the weights and the metrics (not paths, threads, speed,
// terminal or per-rank settings): what every rank of one run must agree on.
std::string config_fingerprint(const RunConfig& cfg);
// A key's value as YAML text ("resnet20", "0.1", "[30, 60]").
std::string config_value(const RunConfig& cfg, const std::string& key);
// docs/config.md's key reference, generated from the table.
std::string config_reference_markdown();

}  // namespace cvtrain

// Loading configs: YAML file + `--set key.path=value` overrides -> a validated RunConfig. Every key
// is in one table (config.cpp) with its type and documentation; an unknown key, a wrong type or an
// impossible value is an InputError naming the key path (and the file).
#pragma once
#include <string>
#include <vector>

#include "cvtrain/train/run_config.h"

namespace cvtrain::cli {

// path: a YAML file, or empty for the defaults. overrides: "key.path=value" strings.
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides);
// The same from YAML text already in memory (a model file's metadata); `origin` names it in errors.
RunConfig parse_config_text(const std::string& yaml, const std::string& origin,
                            const std::vector<std::string>& overrides = {});
// The fully resolved config as YAML, every key present, in table order.
std::string dump_config(const RunConfig& cfg);
// docs/config.md's key reference, generated from the table.
std::string config_reference_markdown();

}  // namespace cvtrain::cli

// Loads a vendor plugin (include/dsbench/plugin.h) and presents it as a Backend, so plugin kernels
// run, appear in `list` and in scorecards exactly like built-in ones.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dsbench/backend.hpp"
#include "dsbench/plugin.h"

namespace dsbench {

// Throws Error with a precise message (file missing, not loadable, no init symbol, ABI version
// mismatch, null or malformed table, unknown op, bad names). `reserved` are backend names the plugin
// may not take (the built-in ones).
std::unique_ptr<Backend> load_plugin(const std::string& path, const std::vector<std::string>& reserved);

// The table checks load_plugin applies (every ABI v1 entry present, names and variants well formed,
// ops known, ids unique); throws Error naming `where` and the entry. Fuzzed in tests/fuzz/.
void check_plugin_table(const std::string& where, const dsb_plugin_api* api);

// The built-in backends followed by one backend per plugin path, in order.
std::vector<std::unique_ptr<Backend>> make_backends_with_plugins(const std::vector<std::string>& plugin_paths);

// Whether a backend came from a plugin (isolation is on by default for those).
bool is_plugin_backend(const Backend& b);

}  // namespace dsbench

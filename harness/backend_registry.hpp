// The one list of built-in backends, in order of preference for `--backend auto`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dsbench/backend.hpp"

namespace dsbench {

// Every backend compiled into this binary (CPU always), best first.
std::vector<std::unique_ptr<Backend>> make_backends();

// "auto": the first backend with a device; otherwise the backend of that name. Throws Error naming
// the backends built when the name is unknown.
Backend* pick_backend(const std::vector<std::unique_ptr<Backend>>& backends, const std::string& name);

// The backend that owns a kernel id "<backend>.<op>.<variant>".
Backend* backend_of_kernel(const std::vector<std::unique_ptr<Backend>>& backends, const std::string& kernel_id);

}  // namespace dsbench

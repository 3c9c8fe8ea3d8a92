#include "harness/backend_registry.hpp"

#include "harness/error.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#if DSB_WITH_CUDA
#include "kernels/cuda/cuda_backend.hpp"
#endif
#if DSB_WITH_HIP
#include "kernels/hip/hip_backend.hpp"
#endif

namespace dsbench {

std::vector<std::unique_ptr<Backend>> make_backends() {
  std::vector<std::unique_ptr<Backend>> v;
#if DSB_WITH_CUDA
  v.push_back(cuda::make_cuda_backend());
#endif
#if DSB_WITH_HIP
  v.push_back(hip::make_hip_backend());
#endif
  v.push_back(cpu::make_cpu_backend());
  return v;
}

Backend* pick_backend(const std::vector<std::unique_ptr<Backend>>& backends, const std::string& name) {
  std::string names;
  for (const auto& b : backends) {
    if (name == "auto" ? b->device_count() > 0 : b->name() == name) return b.get();
    names += (names.empty() ? "" : ", ") + b->name();
  }
  if (name == "auto") DSB_THROW("no backend has a device (built: " + names + ")");
  DSB_THROW("unknown backend \"" + name + "\": this build has " + names);
}

Backend* backend_of_kernel(const std::vector<std::unique_ptr<Backend>>& backends, const std::string& kernel_id) {
  const std::string prefix = kernel_id.substr(0, kernel_id.find('.'));
  for (const auto& b : backends)
    if (b->name() == prefix) return b.get();
  DSB_THROW("kernel \"" + kernel_id + "\": no backend \"" + prefix + "\" in this build");
}

}  // namespace dsbench

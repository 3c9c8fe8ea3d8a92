// Enough of a CUDA device for supports() and workspace_bytes() without a GPU: the properties the
// kernels read, with a chosen compute capability.
#pragma once

#include <string>

#include "tests/common/question_device.hpp"

namespace dsbench {

class PaperCudaDevice final : public QuestionDevice {
 public:
  explicit PaperCudaDevice(std::string cc = "9.0") : QuestionDevice("cuda", "paper H100"), cc_(std::move(cc)) {}
  Properties properties() const override {
    return {{"compute_capability", cc_}, {"sm_count", int64_t{132}}, {"shared_memory_per_block_optin_bytes", int64_t{232448}}};
  }

 private:
  std::string cc_;
};

}  // namespace dsbench

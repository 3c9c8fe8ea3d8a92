// Enough of a CUDA device for supports() and workspace_bytes() without a GPU: the properties the
// kernels read, with a chosen compute capability; everything else refuses.
#pragma once

#include <string>

#include "dsbench/backend.hpp"

namespace dsbench {

class PaperCudaDevice final : public Device {
 public:
  explicit PaperCudaDevice(std::string cc = "9.0") : cc_(std::move(cc)) {}
  std::string name() const override { return "paper H100"; }
  std::string backend() const override { return "cuda"; }
  int index() const override { return 0; }
  Properties properties() const override {
    return {{"compute_capability", cc_}, {"sm_count", int64_t{132}}, {"shared_memory_per_block_optin_bytes", int64_t{232448}}};
  }
  Status allocate(size_t, std::unique_ptr<Buffer>*) override { return no(); }
  Status copy_to_device(void*, const void*, size_t) override { return no(); }
  Status copy_to_host(void*, const void*, size_t) override { return no(); }
  Status fill_bytes(void*, uint8_t, size_t) override { return no(); }
  Status create_stream(std::unique_ptr<Stream>*) override { return no(); }
  Status create_event(std::unique_ptr<Event>*) override { return no(); }
  Status flush_cache(Stream&) override { return no(); }
  Status synchronize() override { return no(); }

 private:
  static Status no() { return Status::error(DSB_STATUS_NOT_SUPPORTED, "paper device"); }
  std::string cc_;
};

}  // namespace dsbench

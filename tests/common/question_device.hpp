// A device that exists only to be asked questions (supports(), workspace_bytes(), ceilings): every
// memory, stream and event call refuses. Tests derive from it and override what they ask about.
#pragma once

#include <memory>
#include <string>

#include "dsbench/backend.hpp"

namespace dsbench {

class QuestionDevice : public Device {
 public:
  explicit QuestionDevice(std::string backend, std::string name = "question device")
      : backend_(std::move(backend)), name_(std::move(name)) {}
  std::string name() const override { return name_; }
  std::string backend() const override { return backend_; }
  int index() const override { return 0; }
  Properties properties() const override { return {}; }
  Status allocate(size_t, std::unique_ptr<Buffer>*) override { return no(); }
  Status copy_to_device(void*, const void*, size_t) override { return no(); }
  Status copy_to_host(void*, const void*, size_t) override { return no(); }
  Status fill_bytes(void*, uint8_t, size_t) override { return no(); }
  Status create_stream(std::unique_ptr<Stream>*) override { return no(); }
  Status create_event(std::unique_ptr<Event>*) override { return no(); }
  Status flush_cache(Stream&) override { return no(); }
  Status synchronize() override { return no(); }

 private:
  static Status no() { return Status::error(DSB_STATUS_NOT_SUPPORTED, "a device for questions only"); }
  std::string backend_, name_;
};

}  // namespace dsbench

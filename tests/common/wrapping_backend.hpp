// Test-only: a backend that is another backend with every kernel replaced by a wrapper around it
// (the injected slowdown of tests/report/slowed_run.cpp, the faulty ranks of
// tests/comm/faulty_rank_run.cpp). Names, devices, ids and the communicator stay the inner one's,
// so scorecards line up with an ordinary run.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dsbench/backend.hpp"
#include "dsbench/comm.hpp"
#include "dsbench/kernel.hpp"
#include "harness/scorecard.hpp"
#include "harness/suite.hpp"

namespace dsbench::testing {

// Forwards everything to `inner`; subclasses override run() (and supports() where they need to).
class KernelWrapper : public Kernel {
 public:
  explicit KernelWrapper(const Kernel* inner) : inner_(inner) {}
  const std::string& id() const override { return inner_->id(); }
  dsb_op op() const override { return inner_->op(); }
  Support supports(const void* p, const Device& d) const override { return inner_->supports(p, d); }
  size_t workspace_bytes(const void* p, const Device& d) const override { return inner_->workspace_bytes(p, d); }
  Status run(const void* p, void* ws, Stream& s) const override { return inner_->run(p, ws, s); }

 protected:
  const Kernel* inner_;
};

class WrappingBackend final : public Backend {
 public:
  using Wrap = std::function<std::unique_ptr<Kernel>(const Kernel* inner)>;
  WrappingBackend(std::unique_ptr<Backend> inner, const Wrap& wrap) : inner_(std::move(inner)) {
    for (const Kernel* k : inner_->kernels()) owned_.push_back(wrap(k));
  }
  std::string name() const override { return inner_->name(); }
  int device_count() override { return inner_->device_count(); }
  Device* device(int i) override { return inner_->device(i); }
  std::string unavailable_reason() override { return inner_->unavailable_reason(); }
  Properties build_info() const override { return inner_->build_info(); }
  std::vector<const Kernel*> kernels() const override {
    std::vector<const Kernel*> out;
    for (const auto& k : owned_) out.push_back(k.get());
    return out;
  }
  Status create_communicator(Device& d, Bootstrap& b, std::unique_ptr<Communicator>* out) override {
    return inner_->create_communicator(d, b, out);
  }

 private:
  std::unique_ptr<Backend> inner_;
  std::vector<std::unique_ptr<Kernel>> owned_;
};

// The scorecard context of a test runner's run of `suite` on `backend`, as `dsbench run` fills it.
inline RunContext run_context(const std::string& command_line, const Suite& suite, const RunOptions& opts,
                              Backend& backend) {
  RunContext ctx;
  ctx.command_line = command_line;
  ctx.suite_name = suite.name;
  ctx.suite_path = suite.path;
  ctx.seed = opts.seed;
  ctx.options = opts;
  ctx.backends = {&backend};
  ctx.backend_used = backend.name();
  return ctx;
}

}  // namespace dsbench::testing

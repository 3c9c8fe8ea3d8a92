#include "harness/plugin_backend.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <regex>
#include <type_traits>
#include <set>

#include "dsbench/kernel.hpp"
#include "dsbench/plugin.h"
#include "harness/backend_registry.hpp"
#include "harness/error.hpp"

namespace dsbench {
namespace {

constexpr size_t kFlushBytes = size_t{256} << 20;  // when the plugin has no flush_cache of its own

// The table as the plugin compiled it may be shorter than ours: a field exists when it lies inside.
#define DSB_HAS_FIELD(api, field) \
  (offsetof(dsb_plugin_api, field) + sizeof(((dsb_plugin_api*)nullptr)->field) <= (api)->struct_size)

struct Lib {
  void* handle = nullptr;
  const dsb_plugin_api* api = nullptr;
  std::string path;
  ~Lib() {
    if (handle) dlclose(handle);
  }
};

std::string last_error(const dsb_plugin_api* api) {
  const char* e = api->last_error ? api->last_error() : nullptr;
  return e && *e ? e : "(the plugin gave no error text)";
}

Status from(const Lib& lib, dsb_status s, const char* what) {
  if (s == DSB_STATUS_OK) return Status::success();
  return Status::error(s, std::string(lib.api->name) + " " + what + ": " + dsb_status_name(s) + ": " + last_error(lib.api));
}

class PluginBuffer final : public Buffer {
 public:
  PluginBuffer(std::shared_ptr<Lib> lib, int device, void* p, size_t n) : lib_(std::move(lib)), device_(device), p_(p), n_(n) {}
  ~PluginBuffer() override { lib_->api->free(device_, p_); }
  void* data() const override { return p_; }
  size_t bytes() const override { return n_; }

 private:
  std::shared_ptr<Lib> lib_;
  int device_;
  void* p_;
  size_t n_;
};

class PluginStream final : public Stream {
 public:
  PluginStream(std::shared_ptr<Lib> lib, dsb_plugin_stream s) : lib_(std::move(lib)), s_(s) {}
  ~PluginStream() override { lib_->api->stream_destroy(s_); }
  Status synchronize() override { return from(*lib_, lib_->api->stream_synchronize(s_), "stream_synchronize"); }
  void* native_handle() const override { return s_; }

 private:
  std::shared_ptr<Lib> lib_;
  dsb_plugin_stream s_;
};

class PluginEvent final : public Event {
 public:
  PluginEvent(std::shared_ptr<Lib> lib, dsb_plugin_event e) : lib_(std::move(lib)), e_(e) {}
  ~PluginEvent() override { lib_->api->event_destroy(e_); }
  Status record(Stream& s) override {
    return from(*lib_, lib_->api->event_record(e_, s.native_handle()), "event_record");
  }
  Status synchronize() override { return from(*lib_, lib_->api->event_synchronize(e_), "event_synchronize"); }
  Status elapsed_ms(const Event& start, double* ms) const override {
    const auto* s = dynamic_cast<const PluginEvent*>(&start);
    if (s == nullptr) return Status::error(DSB_STATUS_INVALID_ARGUMENT, "elapsed_ms across backends");
    float f = 0;
    Status st = from(*lib_, lib_->api->event_elapsed_ms(s->e_, e_, &f), "event_elapsed_ms");
    *ms = f;
    return st;
  }

 private:
  std::shared_ptr<Lib> lib_;
  dsb_plugin_event e_;
};

class PluginDevice final : public Device {
 public:
  PluginDevice(std::shared_ptr<Lib> lib, int index) : lib_(std::move(lib)), index_(index) {
    props_.struct_size = sizeof(props_);
    const dsb_status s = lib_->api->device_props(index, &props_);
    if (s != DSB_STATUS_OK) DSB_THROW("plugin " + lib_->path + ": device_props(" + std::to_string(index) + ") failed: " + last_error(lib_->api));
    props_.name[sizeof props_.name - 1] = '\0';
    props_.vendor[sizeof props_.vendor - 1] = '\0';
  }
  std::string name() const override { return props_.name; }
  std::string backend() const override { return lib_->api->name; }
  int index() const override { return index_; }
  dsb_dtype fp8_e4m3() const override {
    return props_.fp8_e4m3 == DSB_DTYPE_E4M3FNUZ ? DSB_DTYPE_E4M3FNUZ : DSB_DTYPE_E4M3FN;
  }
  bool host_accessible() const override { return props_.host_accessible != 0; }
  Properties properties() const override {
    Properties p;
    p["vendor"] = std::string(props_.vendor);
    p["memory_bytes"] = static_cast<int64_t>(props_.memory_bytes);
    if (props_.peak_bf16_tflops > 0) p["datasheet_peak_bf16_tflops"] = props_.peak_bf16_tflops;
    if (props_.peak_fp8_tflops > 0) p["datasheet_peak_fp8_tflops"] = props_.peak_fp8_tflops;
    if (props_.peak_memory_gbps > 0) p["datasheet_peak_memory_gbps"] = props_.peak_memory_gbps;
    return p;
  }
  Status allocate(size_t bytes, std::unique_ptr<Buffer>* out) override {
    void* p = nullptr;
    Status st = from(*lib_, lib_->api->alloc(index_, std::max<size_t>(bytes, 1), &p), "alloc");
    if (st.ok() && p == nullptr) st = Status::error(DSB_STATUS_INTERNAL, std::string(lib_->api->name) + " alloc returned NULL");
    if (st.ok()) *out = std::make_unique<PluginBuffer>(lib_, index_, p, bytes);
    return st;
  }
  Status copy_to_device(void* d, const void* s, size_t n) override {
    return from(*lib_, lib_->api->copy_to_device(index_, d, s, n), "copy_to_device");
  }
  Status copy_to_host(void* d, const void* s, size_t n) override {
    return from(*lib_, lib_->api->copy_to_host(index_, d, s, n), "copy_to_host");
  }
  Status fill_bytes(void* d, uint8_t v, size_t n) override {
    return from(*lib_, lib_->api->fill_bytes(index_, d, v, n), "fill_bytes");
  }
  Status create_stream(std::unique_ptr<Stream>* out) override {
    dsb_plugin_stream s = nullptr;
    Status st = from(*lib_, lib_->api->stream_create(index_, &s), "stream_create");
    if (st.ok()) *out = std::make_unique<PluginStream>(lib_, s);
    return st;
  }
  Status create_event(std::unique_ptr<Event>* out) override {
    dsb_plugin_event e = nullptr;
    Status st = from(*lib_, lib_->api->event_create(index_, &e), "event_create");
    if (st.ok()) *out = std::make_unique<PluginEvent>(lib_, e);
    return st;
  }
  Status flush_cache(Stream& stream) override {
    if (DSB_HAS_FIELD(lib_->api, flush_cache) && lib_->api->flush_cache)
      return from(*lib_, lib_->api->flush_cache(index_, stream.native_handle()), "flush_cache");
    if (!flush_) {
      if (Status st = allocate(kFlushBytes, &flush_); !st.ok()) return st;
    }
    return fill_bytes(flush_->data(), ++flush_value_, kFlushBytes);
  }
  Status synchronize() override { return from(*lib_, lib_->api->device_synchronize(index_), "device_synchronize"); }

 private:
  std::shared_ptr<Lib> lib_;
  int index_;
  dsb_plugin_device_props props_{};
  std::unique_ptr<Buffer> flush_;
  uint8_t flush_value_ = 0;
};

class PluginKernel final : public Kernel {
 public:
  PluginKernel(std::shared_ptr<Lib> lib, const dsb_plugin_kernel* k)
      : lib_(std::move(lib)), k_(k), id_(std::string(lib_->api->name) + "." + dsb_op_name(k->op) + "." + k->variant) {}
  const std::string& id() const override { return id_; }
  dsb_op op() const override { return k_->op; }
  Support supports(const void* params, const Device& device) const override {
    if (k_->supports == nullptr) return Support::yes();
    char reason[512] = {0};
    if (k_->supports(params, device.index(), reason, sizeof reason)) return Support::yes();
    reason[sizeof reason - 1] = '\0';
    return Support::no(reason[0] ? reason : "the plugin gave no reason");
  }
  size_t workspace_bytes(const void* params, const Device& device) const override {
    return k_->workspace_bytes ? k_->workspace_bytes(params, device.index()) : 0;
  }
  Status run(const void* params, void* ws, Stream& stream) const override {
    return from(*lib_, k_->run(params, ws, stream.native_handle()), "run");
  }

 private:
  std::shared_ptr<Lib> lib_;
  const dsb_plugin_kernel* k_;
  std::string id_;
};

class PluginBackend final : public Backend {
 public:
  explicit PluginBackend(std::shared_ptr<Lib> lib) : lib_(std::move(lib)) {
    for (int32_t i = 0; i < lib_->api->num_kernels; ++i)
      kernels_.push_back(std::make_unique<PluginKernel>(lib_, &lib_->api->kernels[i]));
    const int n = lib_->api->device_count();
    for (int i = 0; i < n; ++i) devices_.push_back(std::make_unique<PluginDevice>(lib_, i));
  }
  std::string name() const override { return lib_->api->name; }
  int device_count() override { return static_cast<int>(devices_.size()); }
  Device* device(int i) override { return i >= 0 && i < device_count() ? devices_[i].get() : nullptr; }
  std::string unavailable_reason() override {
    return devices_.empty() ? "plugin " + lib_->path + " reports no device: " + last_error(lib_->api) : "";
  }
  std::vector<const Kernel*> kernels() const override {
    std::vector<const Kernel*> v;
    for (const auto& k : kernels_) v.push_back(k.get());
    return v;
  }
  Properties build_info() const override {
    return {{"plugin_path", lib_->path}, {"plugin_version", std::string(lib_->api->version ? lib_->api->version : "")},
            {"abi_version", static_cast<int64_t>(lib_->api->abi_version)},
            {"struct_size", static_cast<int64_t>(lib_->api->struct_size)},
            {"communicator", DSB_HAS_FIELD(lib_->api, comm) && lib_->api->comm != nullptr}};
  }

 private:
  std::shared_ptr<Lib> lib_;
  std::vector<std::unique_ptr<PluginKernel>> kernels_;  // destroyed before lib_ (declared after)
  std::vector<std::unique_ptr<PluginDevice>> devices_;
};

}  // namespace

// Every required entry of ABI v1, named for the error message.
void check_plugin_table(const std::string& where, const dsb_plugin_api* a) {
  const size_t v1_size = offsetof(dsb_plugin_api, kernels) + sizeof(a->kernels);
  if (a->struct_size < v1_size)
    DSB_THROW(where + ": malformed table: struct_size " + std::to_string(a->struct_size) + " is smaller than ABI v1's " +
              std::to_string(v1_size) + " bytes");
  const std::pair<const char*, const void*> required[] = {
      {"name", a->name}, {"device_count", (const void*)a->device_count}, {"device_props", (const void*)a->device_props},
      {"alloc", (const void*)a->alloc}, {"free", (const void*)a->free}, {"copy_to_device", (const void*)a->copy_to_device},
      {"copy_to_host", (const void*)a->copy_to_host}, {"fill_bytes", (const void*)a->fill_bytes},
      {"stream_create", (const void*)a->stream_create}, {"stream_destroy", (const void*)a->stream_destroy},
      {"stream_synchronize", (const void*)a->stream_synchronize}, {"event_create", (const void*)a->event_create},
      {"event_destroy", (const void*)a->event_destroy}, {"event_record", (const void*)a->event_record},
      {"event_synchronize", (const void*)a->event_synchronize}, {"event_elapsed_ms", (const void*)a->event_elapsed_ms},
      {"device_synchronize", (const void*)a->device_synchronize}, {"last_error", (const void*)a->last_error}};
  for (const auto& [field, ptr] : required)
    if (ptr == nullptr) DSB_THROW(where + ": malformed table: " + field + " is NULL");
  // Lengths first: std::regex recurses per character, so a long name would overflow the stack.
  if (std::strlen(a->name) > 32 || !std::regex_match(a->name, std::regex("[a-z0-9_]{1,32}")))
    DSB_THROW(where + ": malformed table: name \"" + std::string(a->name) + "\" is not 1-32 of [a-z0-9_]");
  if (a->num_kernels < 0 || (a->num_kernels > 0 && a->kernels == nullptr))
    DSB_THROW(where + ": malformed table: num_kernels " + std::to_string(a->num_kernels) + " with kernels " +
              (a->kernels ? "set" : "NULL"));
  std::set<std::string> ids;
  for (int32_t i = 0; i < a->num_kernels; ++i) {
    const dsb_plugin_kernel& k = a->kernels[i];
    const std::string which = where + ": kernel " + std::to_string(i);
    // The op is read as the integer the plugin stored: loading an out-of-range value as dsb_op is
    // undefined behaviour in C++ (found by fuzzing the table: UBSan, "not a valid value for type").
    std::underlying_type_t<dsb_op> op_raw;
    std::memcpy(&op_raw, &k.op, sizeof op_raw);
    if (static_cast<long long>(op_raw) <= DSB_OP_INVALID || static_cast<long long>(op_raw) >= DSB_OP_COUNT)
      DSB_THROW(which + ": unknown op " + std::to_string(static_cast<long long>(op_raw)) + " (dsb_op in dsbench/ops.h)");
    if (k.variant == nullptr || std::strlen(k.variant) > 64 || !std::regex_match(k.variant, std::regex("[A-Za-z0-9_]{1,64}")))
      DSB_THROW(which + ": variant " + (k.variant ? "\"" + std::string(k.variant) + "\"" : std::string("NULL")) +
                " is not 1-64 of [A-Za-z0-9_]");
    if (k.run == nullptr) DSB_THROW(which + " (" + k.variant + "): run is NULL");
    const std::string id = std::string(a->name) + "." + dsb_op_name(k.op) + "." + k.variant;
    if (!ids.insert(id).second) DSB_THROW(which + ": duplicate kernel id " + id);
  }
}

std::unique_ptr<Backend> load_plugin(const std::string& path, const std::vector<std::string>& reserved) {
  const std::string where = "plugin " + path;
  if (!std::filesystem::exists(path)) DSB_THROW(where + ": no such file");
  auto lib = std::make_shared<Lib>();
  lib->path = path;
  // A path without '/' would make dlopen search the library path instead of loading this file.
  const std::string load_path = path.find('/') == std::string::npos ? "./" + path : path;
  lib->handle = dlopen(load_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib->handle == nullptr) DSB_THROW(where + ": cannot be loaded: " + std::string(dlerror()));
  auto init = reinterpret_cast<dsb_plugin_init_fn>(dlsym(lib->handle, DSB_PLUGIN_INIT_SYMBOL));
  if (init == nullptr) DSB_THROW(where + ": does not export " DSB_PLUGIN_INIT_SYMBOL " (is it a dsbench plugin?)");
  lib->api = init(DSB_PLUGIN_ABI_VERSION);
  if (lib->api == nullptr) DSB_THROW(where + ": " DSB_PLUGIN_INIT_SYMBOL " returned NULL (the plugin refused ABI v" +
                                     std::to_string(DSB_PLUGIN_ABI_VERSION) + " or failed to start)");
  if (lib->api->abi_version != DSB_PLUGIN_ABI_VERSION)
    DSB_THROW(where + ": built for plugin ABI v" + std::to_string(lib->api->abi_version) + ", this dsbench speaks v" +
              std::to_string(DSB_PLUGIN_ABI_VERSION) + "; rebuild it against this dsbench's include/dsbench/plugin.h");
  check_plugin_table(where, lib->api);
  if (std::find(reserved.begin(), reserved.end(), lib->api->name) != reserved.end())
    DSB_THROW(where + ": name \"" + std::string(lib->api->name) + "\" is already taken by another backend");
  return std::make_unique<PluginBackend>(std::move(lib));
}

std::vector<std::unique_ptr<Backend>> make_backends_with_plugins(const std::vector<std::string>& plugin_paths) {
  std::vector<std::unique_ptr<Backend>> v = make_backends();
  for (const std::string& p : plugin_paths) {
    std::vector<std::string> taken{"cuda", "hip"};
    for (const auto& b : v) taken.push_back(b->name());
    v.push_back(load_plugin(p, taken));
  }
  return v;
}

bool is_plugin_backend(const Backend& b) { return dynamic_cast<const PluginBackend*>(&b) != nullptr; }

}  // namespace dsbench

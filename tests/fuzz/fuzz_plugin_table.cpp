// The plugin table validation: a dsb_plugin_api built from the input (struct size, which entries are
// NULL, the name, kernels with their ops, variants and run pointers), checked as load_plugin does.
#include <cstdint>
#include <string>
#include <vector>

#include "harness/error.hpp"
#include "harness/plugin_backend.hpp"

namespace {
dsb_status dummy_run(const void*, void*, dsb_plugin_stream) { return DSB_STATUS_OK; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  size_t at = 0;
  auto byte = [&]() -> uint8_t { return at < size ? data[at++] : 0; };
  auto text = [&](size_t max) {
    std::string s;
    while (at < size && s.size() < max) {
      const char c = static_cast<char>(data[at++]);
      if (c == '\0') break;
      s += c;
    }
    return s;
  };
  dsb_plugin_api api{};
  const uint32_t nulls = byte() | (byte() << 8) | (byte() << 16);  // one bit per entry: NULL it
  api.struct_size = (byte() & 1) ? sizeof(dsb_plugin_api) : byte();
  api.abi_version = DSB_PLUGIN_ABI_VERSION;
  const std::string name = text(100);
  api.name = (nulls & 1) ? nullptr : name.c_str();
  void* fake = reinterpret_cast<void*>(&dummy_run);  // never called: only compared with NULL
  void** entries[] = {reinterpret_cast<void**>(&api.device_count), reinterpret_cast<void**>(&api.device_props),
                      reinterpret_cast<void**>(&api.alloc), reinterpret_cast<void**>(&api.free),
                      reinterpret_cast<void**>(&api.copy_to_device), reinterpret_cast<void**>(&api.copy_to_host),
                      reinterpret_cast<void**>(&api.fill_bytes), reinterpret_cast<void**>(&api.stream_create),
                      reinterpret_cast<void**>(&api.stream_destroy), reinterpret_cast<void**>(&api.stream_synchronize),
                      reinterpret_cast<void**>(&api.event_create), reinterpret_cast<void**>(&api.event_destroy),
                      reinterpret_cast<void**>(&api.event_record), reinterpret_cast<void**>(&api.event_synchronize),
                      reinterpret_cast<void**>(&api.event_elapsed_ms), reinterpret_cast<void**>(&api.device_synchronize),
                      reinterpret_cast<void**>(&api.last_error)};
  for (size_t i = 0; i < sizeof entries / sizeof entries[0]; ++i) *entries[i] = (nulls >> (i + 1)) & 1 ? nullptr : fake;
  const int n = static_cast<int8_t>(byte()) % 9;  // -8..8: negative counts are part of the input space
  std::vector<dsb_plugin_kernel> kernels(n > 0 ? static_cast<size_t>(n) : 0);
  std::vector<std::string> variants(kernels.size());
  for (size_t i = 0; i < kernels.size(); ++i) {
    kernels[i].op = static_cast<dsb_op>(static_cast<int8_t>(byte()));
    variants[i] = text(100);
    kernels[i].variant = (byte() & 3) == 0 ? nullptr : variants[i].c_str();
    kernels[i].run = (byte() & 7) == 0 ? nullptr : &dummy_run;
  }
  api.num_kernels = n;
  api.kernels = (n > 0 && (byte() & 7) == 0) ? nullptr : kernels.data();
  try {
    dsbench::check_plugin_table("fuzz.so", &api);
  } catch (const dsbench::Error&) {
  }
  return 0;
}

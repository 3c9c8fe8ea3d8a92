// A dump's case.json, as replay reads it: the fields, the op's params, the tensors table against the
// op (the .npy files themselves are fuzzed by fuzz_npy).
#include <cstdint>
#include <filesystem>

#include "fuzz_input.hpp"
#include "harness/dump.hpp"
#include "harness/error.hpp"
#include "harness/op_registry.hpp"
#include "harness/runner.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsbench;
  const std::string dir = std::filesystem::path(fuzz::file_with(data, size, "case.json")).parent_path().string();
  try {
    const DumpedCase d = read_case_json(dir);
    const OpDriver* driver = find_driver(dsb_op_from_name(d.op.c_str()));
    if (driver == nullptr) return 0;
    const auto problem = driver->make(d.meta.at("params"));
    (void)merge_tolerances(driver->default_tolerances(), d.meta.value("tolerance", nlohmann::json()));
    (void)read_inputs(dir, *problem, &d.meta.at("tensors"));  // the table is checked before any file is read
  } catch (const Error&) {
  }
  return 0;
}

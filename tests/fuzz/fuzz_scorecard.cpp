// The scorecard loader and the schema validator behind it (compare, report, validate).
#include <cstdint>

#include "fuzz_input.hpp"
#include "harness/error.hpp"
#include "harness/report/scorecard_load.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)dsbench::report::load_scorecard(dsbench::fuzz::file_with(data, size, "card.json"));
  } catch (const dsbench::Error&) {
  }
  return 0;
}

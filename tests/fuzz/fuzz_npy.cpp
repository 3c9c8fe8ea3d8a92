// The .npy reader (replay's inputs): any bytes as a file.
#include <cstdint>

#include "fuzz_input.hpp"
#include "harness/error.hpp"
#include "harness/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const dsbench::npy::Array a = dsbench::npy::read(dsbench::fuzz::file_with(data, size, "t.npy"));
    (void)a;
  } catch (const dsbench::Error&) {
  }
  return 0;
}

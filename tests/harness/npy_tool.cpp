// Fixture tool for npy_numpy_crosscheck.py: `npy_tool write DIR` saves known arrays for NumPy to
// load; `npy_tool check DIR` reads what NumPy saved (py_*.npy) and compares it with the same arrays,
// and checks that the files our reader must refuse are refused with a message naming them.
// The array contents here and in the Python script are defined by the same formulas.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "harness/error.hpp"
#include "harness/npy.hpp"

namespace {

using dsbench::npy::Array;

Array make(const std::string& descr, std::vector<int64_t> shape) {
  Array a;
  a.descr = descr;
  a.shape = std::move(shape);
  a.data.resize(static_cast<size_t>(a.numel()) * a.itemsize());
  return a;
}

template <typename T>
void put(Array* a, size_t i, T v) { std::memcpy(a->data.data() + i * sizeof(T), &v, sizeof(T)); }

std::vector<std::pair<std::string, Array>> fixtures() {
  std::vector<std::pair<std::string, Array>> out;
  Array u2 = make("<u2", {2, 3, 4});  // BF16-style raw bits, wrapping through the high byte
  for (size_t i = 0; i < 24; ++i) put<uint16_t>(&u2, i, static_cast<uint16_t>((i * 4099 + 1) & 0xffff));
  out.emplace_back("u2_3d", u2);
  Array u1 = make("|u1", {256});  // every FP8 code
  for (size_t i = 0; i < 256; ++i) put<uint8_t>(&u1, i, static_cast<uint8_t>(i));
  out.emplace_back("u1", u1);
  Array f4 = make("<f4", {3, 4});
  for (size_t i = 0; i < 12; ++i) put<float>(&f4, i, (static_cast<float>(i) - 5.0f) * 0.375f);
  out.emplace_back("f4", f4);
  Array i8 = make("<i8", {6});
  const int64_t i8_values[] = {std::numeric_limits<int64_t>::min(), -1, 0, 1, int64_t{1} << 40,
                               std::numeric_limits<int64_t>::max()};
  for (size_t i = 0; i < 6; ++i) put<int64_t>(&i8, i, i8_values[i]);
  out.emplace_back("i8", i8);
  Array scalar = make("<f8", {});
  put<double>(&scalar, 0, 3.141592653589793);
  out.emplace_back("scalar_f8", scalar);
  Array b1 = make("|b1", {4});
  const uint8_t b1_values[] = {1, 0, 0, 1};
  for (size_t i = 0; i < 4; ++i) put<uint8_t>(&b1, i, b1_values[i]);
  out.emplace_back("b1", b1);
  Array f2 = make("<f2", {3});  // 1.0, -2.0, 65504 (largest finite half)
  const uint16_t f2_bits[] = {0x3c00, 0xc000, 0x7bff};
  for (size_t i = 0; i < 3; ++i) put<uint16_t>(&f2, i, f2_bits[i]);
  out.emplace_back("f2", f2);
  out.emplace_back("empty_i4", make("<i4", {3, 0, 2}));
  // Every other descr by raw bytes: byte j is (31 j + 7) mod 256.
  for (const char* descr : {"|i1", "<i2", "<u4", "<i4", "<u8", "<f8", "<u2", "<f4", "<f2"}) {
    Array p = make(descr, {2, 5});
    for (size_t j = 0; j < p.data.size(); ++j) p.data[j] = static_cast<uint8_t>(j * 31 + 7);
    out.emplace_back(std::string("pattern_") + (descr + 1), p);
  }
  return out;
}

int write_all(const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (const auto& [name, array] : fixtures()) dsbench::npy::write(dir + "/" + name + ".npy", array);
  return 0;
}

// NumPy-written files: the fixtures as py_NAME, plus other format versions, plus ones we must refuse.
int check_all(const std::string& dir) {
  std::vector<std::pair<std::string, Array>> expected;
  for (const auto& [name, array] : fixtures()) {
    expected.emplace_back("py_" + name, array);
    if (name == "f4") expected.emplace_back("py_v2_f4", array);
    if (name == "u2_3d") expected.emplace_back("py_v3_u2_3d", array);
  }
  const std::pair<const char*, const char*> rejected[] = {
      {"py_fortran_f4", "Fortran-order arrays are not supported"},
      {"py_big_endian_f4", "big-endian arrays are not supported"},
      {"py_structured", "structured dtypes are not supported"},
  };
  int failed = 0, passed = 0;
  auto fail = [&](const std::string& file, const std::string& why) {
    std::printf("FAIL %s: %s\n", file.c_str(), why.c_str());
    ++failed;
  };
  for (const auto& [name, want] : expected) {
    const std::string file = dir + "/" + name + ".npy";
    try {
      const Array got = dsbench::npy::read(file);
      if (got.descr != want.descr) fail(file, "descr " + got.descr + ", expected " + want.descr);
      else if (got.shape != want.shape) fail(file, "shape differs");
      else if (got.data != want.data) fail(file, "data differs");
      else { std::printf("ok %s\n", file.c_str()); ++passed; }
    } catch (const dsbench::Error& e) {
      fail(file, e.what());
    }
  }
  for (const auto& [name, fragment] : rejected) {
    const std::string file = dir + "/" + name + ".npy";
    try {
      dsbench::npy::read(file);
      fail(file, std::string("was accepted, expected an error containing '") + fragment + "'");
    } catch (const dsbench::Error& e) {
      const std::string msg = e.what();
      if (msg.rfind(file + ": ", 0) != 0 || msg.find(fragment) == std::string::npos)
        fail(file, "wrong error: " + msg);
      else { std::printf("ok %s (rejected: %s)\n", file.c_str(), msg.c_str()); ++passed; }
    }
  }
  std::printf("npy_tool check: %d ok, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 3 ? argv[1] : "";
  if (mode != "write" && mode != "check") {
    std::fprintf(stderr, "usage: npy_tool write|check DIR\n");
    return 2;
  }
  try {
    return mode == "write" ? write_all(argv[2]) : check_all(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "npy_tool: %s\n", e.what());
    return 1;
  }
}

// The harness's one exception type, for configuration and programming errors (bad suite, bad file,
// impossible shape). The runner catches it per case; main maps what escapes to exit code 2.
// Kernels and backends never throw: they return a Status.
#pragma once

#include <stdexcept>
#include <string>

namespace dsbench {

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, const char* file, int line)
      : std::runtime_error(message), where_(std::string(file) + ":" + std::to_string(line)) {}
  const std::string& where() const { return where_; }  // source location that raised it

 private:
  std::string where_;
};

}  // namespace dsbench

#define DSB_THROW(msg) throw ::dsbench::Error((msg), __FILE__, __LINE__)
#define DSB_REQUIRE(cond, msg) \
  do {                         \
    if (!(cond)) DSB_THROW(msg); \
  } while (0)

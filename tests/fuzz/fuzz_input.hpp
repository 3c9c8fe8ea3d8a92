// What every fuzz target shares: the input as text, or written to a file of this process's own
// (the readers under test take paths, as the CLI gives them), and the rule that an Error is the
// expected answer to bad input while anything else (a crash, a sanitizer report, another
// exception type escaping) is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace dsbench::fuzz {

inline std::string text_of(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

// A file under /tmp holding the input, rewritten on each call.
inline const std::string& file_with(const uint8_t* data, size_t size, const char* name) {
  static const std::string dir = [] {
    char t[] = "/tmp/dsbench-fuzz-XXXXXX";
    const char* d = mkdtemp(t);
    return std::string(d ? d : "/tmp");
  }();
  static std::string path;
  path = dir + "/" + name;
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  return path;
}

}  // namespace dsbench::fuzz

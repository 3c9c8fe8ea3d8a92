// Every JSON document dsbench reads from a user (suites, scorecards, case.json, a matrix_file, the
// ceilings cache) goes through here, so that hostile input gets a message naming the file, never a
// crash: only regular files are read, up to kMaxJsonFileBytes; nesting deeper than kMaxJsonDepth is
// refused while parsing (nlohmann's serializer recurses, so a deep document would overflow the stack
// when a scorecard or a violation is printed); a number out of range (1e400) is named with the file;
// and a syntax error says where, without echoing the file's bytes.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace dsbench {

constexpr int kMaxJsonDepth = 256;
constexpr uint64_t kMaxJsonFileBytes = 1ull << 30;

// Parses `text`; `where` names the source in messages ("suite file x.json"). Throws Error.
nlohmann::json parse_json_text(const std::string& text, const std::string& where);

// Reads a regular file of at most max_bytes (a device, FIFO or folder is refused before any read).
std::string read_regular_file(const std::string& path, const std::string& where, uint64_t max_bytes = kMaxJsonFileBytes);

// read_regular_file + parse_json_text; an empty file is an error too.
nlohmann::json read_json_file(const std::string& path, const std::string& where);

}  // namespace dsbench

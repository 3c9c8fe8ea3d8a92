// Writing a report file whole or not at all: a temporary file beside the target, then a rename, so
// a CI step never picks up half an HTML report or JUnit file. Throws dsbench::Error naming the path.
#pragma once

#include <string>

namespace dsbench::report {

void write_text_atomic(const std::string& path, const std::string& text, const std::string& what);

}  // namespace dsbench::report

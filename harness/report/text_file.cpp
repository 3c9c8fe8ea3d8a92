#include "harness/report/text_file.hpp"

#include "harness/output_file.hpp"

namespace dsbench::report {

void write_text_atomic(const std::string& path, const std::string& text, const std::string& what) {
  write_output_file(path, text, what);
}

}  // namespace dsbench::report

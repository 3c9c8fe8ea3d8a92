#include "harness/report/run_outputs.hpp"

#include <iostream>

#include "harness/error.hpp"
#include "harness/report/run_summaries.hpp"
#include "harness/output_file.hpp"
#include "harness/scorecard.hpp"

namespace dsbench::report {

void check_run_outputs(RunOutputs& o) {
  if (!o.junit_path.empty()) {
    try {
      check_writable(o.junit_path);
    } catch (const Error& e) {
      DSB_THROW(std::string("--junit: ") + e.what());
    }
  }
  if (o.format == "markdown" && o.stdout_buf == nullptr) o.stdout_buf = std::cout.rdbuf(std::cerr.rdbuf());
}

void write_run_outputs(RunOutputs& o, const nlohmann::json& scorecard, std::ostream& out) {
  if (o.stdout_buf != nullptr) {
    std::cout.flush();
    std::cout.rdbuf(o.stdout_buf);
    o.stdout_buf = nullptr;
  }
  if (o.format == "markdown") out << scorecard_markdown(scorecard) << std::flush;
  if (!o.junit_path.empty()) write_output_file(o.junit_path, scorecard_junit(scorecard), "--junit");
}

}  // namespace dsbench::report

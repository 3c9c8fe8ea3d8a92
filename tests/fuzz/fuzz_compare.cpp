// compare's input: two scorecards (the input split at its first NUL byte, or a valid card against
// itself edited), loaded and compared with the statistics and every writer.
#include <cstdint>
#include <cstring>
#include <sstream>

#include "fuzz_input.hpp"
#include "harness/error.hpp"
#include "harness/report/compare.hpp"
#include "harness/report/compare_format.hpp"
#include "harness/report/scorecard_load.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsbench;
  const uint8_t* split = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t first = split ? static_cast<size_t>(split - data) : size;
  try {
    const report::Scorecard a = report::load_scorecard(fuzz::file_with(data, first, "a.json"));
    const report::Scorecard b =
        split ? report::load_scorecard(fuzz::file_with(split + 1, size - first - 1, "b.json")) : a;
    report::CompareOptions o;
    o.stats.bootstrap = 200;  // the statistics' cost, not their precision, is what matters here
    const report::CompareResult r = report::compare_scorecards(a, b, o);
    std::ostringstream os;
    report::print_compare_text(os, r, false);
    (void)report::compare_markdown(r);
    (void)report::compare_json(r).dump();
  } catch (const Error&) {
  }
  return 0;
}

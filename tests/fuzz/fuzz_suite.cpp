// The suite loader and the params reader of every op: any bytes as a suite file, every case that
// loads then built by its op's driver (as `dsbench run` and `validate` do before any allocation).
#include <cstdint>

#include "fuzz_input.hpp"
#include "harness/error.hpp"
#include "harness/op_registry.hpp"
#include "harness/suite.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsbench;
  Suite suite;
  try {
    suite = load_suite(fuzz::file_with(data, size, "suite.json"));
  } catch (const Error&) {
    return 0;
  }
  for (const CaseSpec& c : suite.cases) {
    if (!c.error.empty()) continue;
    const OpDriver* d = find_driver(dsb_op_from_name(c.op.c_str()));
    if (d == nullptr) continue;
    try {
      RankContext ctx;
      ctx.world_size = 2;  // multi-rank ops split their work by rank: the params reader sees it too
      const auto p = d->multi_rank() ? d->make_on(c.params, ctx) : d->make(c.params);
      (void)p->inputs();
      (void)p->outputs();
      (void)p->flops();
      (void)p->bytes();
      (void)p->reference_macs();
    } catch (const Error&) {
    }
  }
  return 0;
}

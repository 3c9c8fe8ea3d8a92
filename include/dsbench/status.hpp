// C++ view of the contract's status codes: a code plus the message a kernel or backend recorded.
// Kernels and backends return these; they never throw, exit or print.
#pragma once

#include <string>
#include <utility>

#include "dsbench/dtype.h"

namespace dsbench {

struct Status {
  dsb_status code = DSB_STATUS_OK;
  std::string message;

  bool ok() const { return code == DSB_STATUS_OK; }
  static Status success() { return {}; }
  static Status error(dsb_status c, std::string msg) { return {c, std::move(msg)}; }
};

// Whether a kernel can run some params on some device, and if not, why (becomes `not_supported`).
struct Support {
  bool ok = true;
  std::string reason;

  static Support yes() { return {}; }
  static Support no(std::string why) { return {false, std::move(why)}; }
};

}  // namespace dsbench

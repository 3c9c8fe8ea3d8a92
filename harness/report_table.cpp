#include "harness/report_table.hpp"

#include <cstdio>
#include <map>
#include <string>

namespace dsbench {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Control characters (an ANSI escape in a case id or a vendor's reason) never reach the terminal raw.
std::string printable(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string fit(const std::string& raw, size_t w) {
  const std::string s = printable(raw);
  return s.size() <= w ? s : s.substr(0, w - 1) + "~";
}

}  // namespace

void print_table_header(std::ostream& os) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-52s %-42s %-13s %-8s %-9s %10s %9s %8s", "case", "kernel", "result",
                "check", "cos_diff", "median_ms", "GFLOP/s", "GB/s");
  os << buf << "\n" << std::string(158, '-') << "\n";
}

void print_table_row(std::ostream& os, const ResultRow& r) {
  std::string check = "-", cos = "-";
  if (!r.accuracy.empty()) {
    int64_t checked = 0;
    double worst_cos = 0;
    for (const auto& a : r.accuracy) { checked += a.checked; worst_cos = std::max(worst_cos, a.cos_diff); }
    check = r.verification == "sampled" ? "sampled" : "full";
    cos = fmt("%.1e", worst_cos);
  }
  std::string ms = "-", gflops = "-", gbps = "-";
  if (r.timing && r.timing->median_ms > 0) {
    ms = fmt("%.4g", r.timing->median_ms);
    gflops = fmt("%.1f", r.flops / (r.timing->median_ms * 1e-3) / 1e9);
    gbps = fmt("%.1f", r.bytes / (r.timing->median_ms * 1e-3) / 1e9);
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-52s %-42s %-13s %-8s %-9s %10s %9s %8s", fit(r.case_id, 52).c_str(),
                fit(r.kernel.empty() ? "-" : r.kernel, 42).c_str(), r.disposition.c_str(), check.c_str(), cos.c_str(),
                ms.c_str(), gflops.c_str(), gbps.c_str());
  os << buf << "\n";
  if (!r.reason.empty() && r.disposition != "passed") os << "    " << printable(r.reason) << "\n";
  os.flush();
}

void print_summary(std::ostream& os, const std::vector<ResultRow>& rows, bool interrupted) {
  std::map<std::string, int> n;
  for (const auto& r : rows) ++n[r.disposition];
  os << "\n" << rows.size() << " results" << (interrupted ? " (interrupted: the run stopped early)" : "") << ":";
  for (const char* d : {"passed", "incorrect", "error", "not_supported", "skipped", "not_verified"})
    if (n[d]) os << " " << n[d] << " " << d;
  os << "\n";
}

}  // namespace dsbench

// Reads a case's "params" object with precise errors ("params.k: 100 is not a multiple of 128") and
// refuses fields it does not know, so a typo in a suite is an error rather than a silent default.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/dtype.h"
#include "harness/error.hpp"

namespace dsbench {

class ParamReader {
 public:
  explicit ParamReader(const nlohmann::json& params) : p_(params) {
    if (!p_.is_object()) DSB_THROW("params: expected an object, got " + std::string(p_.type_name()));
  }

  int64_t integer(const std::string& key, int64_t lo, int64_t hi) { return read_int(key, at(key), lo, hi); }
  int64_t integer_or(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) {
    return has(key) ? integer(key, lo, hi) : fallback;
  }
  // An integer, or an array of n integers: one value per group.
  std::vector<int64_t> per_group(const std::string& key, int64_t n, int64_t lo, int64_t hi) {
    const nlohmann::json& v = at(key);
    std::vector<int64_t> out;
    if (v.is_array()) {
      if (static_cast<int64_t>(v.size()) != n)
        DSB_THROW("params." + key + ": has " + std::to_string(v.size()) + " entries, expected num_groups = " + std::to_string(n));
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string k = key + "[" + std::to_string(i) + "]";
        out.push_back(read_int(k, v[i], lo, hi));
      }
    } else {
      out.assign(static_cast<size_t>(n), read_int(key, v, lo, hi));
    }
    return out;
  }
  dsb_dtype dtype_or(const std::string& key, dsb_dtype fallback) {
    if (!has(key)) return fallback;
    const nlohmann::json& v = at(key);
    if (!v.is_string()) DSB_THROW("params." + key + ": expected a dtype name string");
    // "native": the device's E4M3 variant, resolved by the runner (params_for_device); without a device
    // (validate, list) it reads as OCP E4M3FN.
    if (v.get<std::string>() == "native") return DSB_DTYPE_E4M3FN;
    const dsb_dtype t = dsb_dtype_from_name(v.get<std::string>().c_str());
    if (t == DSB_DTYPE_INVALID) DSB_THROW("params." + key + ": unknown dtype \"" + v.get<std::string>() + "\"");
    return t;
  }
  double number_or(const std::string& key, double fallback, double lo, double hi) {
    if (!has(key)) return fallback;
    const nlohmann::json& v = at(key);
    if (!v.is_number()) DSB_THROW("params." + key + ": expected a number, got " + v.dump());
    const double x = v.get<double>();
    if (!(x >= lo && x <= hi))
      DSB_THROW("params." + key + ": " + v.dump() + " is outside [" + nlohmann::json(lo).dump() + ", " +
                nlohmann::json(hi).dump() + "]");
    return x;
  }
  // One of `allowed`, or fallback when absent.
  std::string choice_or(const std::string& key, const std::string& fallback, const std::vector<std::string>& allowed) {
    if (!has(key)) return fallback;
    const nlohmann::json& v = at(key);
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
    if (v.is_string())
      for (const std::string& a : allowed)
        if (v.get<std::string>() == a) return a;
    DSB_THROW("params." + key + ": " + v.dump() + " is not one of: " + list);
  }
  // The raw value (for structured fields a driver parses itself), marked as read; null when absent.
  nlohmann::json raw(const std::string& key) { return has(key) ? at(key) : nlohmann::json(); }
  bool has(const std::string& key) const { return p_.contains(key); }
  // Call last: every field the driver did not read is an error.
  void finish() const {
    for (auto it = p_.begin(); it != p_.end(); ++it)
      if (!seen_.count(it.key())) DSB_THROW("params." + it.key() + ": unknown parameter");
  }

 private:
  const nlohmann::json& at(const std::string& key) {
    if (!p_.contains(key)) DSB_THROW("params." + key + ": missing");
    seen_.insert(key);
    return p_.at(key);
  }
  // Messages show the value as written: JSON integers of 2^63 and above are unsigned, and reading one
  // as int64 would wrap it negative.
  static int64_t read_int(const std::string& key, const nlohmann::json& v, int64_t lo, int64_t hi) {
    if (!v.is_number_integer()) DSB_THROW("params." + key + ": expected an integer, got " + v.dump());
    const std::string shown = "params." + key + ": " + v.dump();
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
      DSB_THROW(shown + " exceeds the maximum " + std::to_string(hi));
    const int64_t x = v.get<int64_t>();
    if (x < 0 && lo >= 0) DSB_THROW(shown + " is negative");
    if (x < lo) DSB_THROW(shown + " is below the minimum " + std::to_string(lo));
    if (x > hi) DSB_THROW(shown + " exceeds the maximum " + std::to_string(hi));
    return x;
  }
  const nlohmann::json& p_;
  std::set<std::string> seen_;
};

}  // namespace dsbench

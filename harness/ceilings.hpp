// Measured ceilings per device (docs/ceilings.md): measured by the backend, cached per device in
// $DSBENCH_CACHE_DIR (else $XDG_CACHE_HOME/dsbench, else ~/.cache/dsbench)/ceilings.json, and turned
// into achieved/ceiling fractions for each scorecard row with the denominator named.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "dsbench/backend.hpp"

namespace dsbench {

enum class CeilingsMode { kOff, kAuto, kMeasure };  // auto: the cache, else measure and cache
CeilingsMode ceilings_mode_from(const std::string& s);  // throws Error for an unknown word

// Identity of a device in the cache: backend, name and the properties that change its rates.
std::string ceilings_device_key(const std::string& backend, const Device& device);

std::string ceilings_cache_path();

// context.ceilings: {"device_key", "source": "cache" | "measured", "measured_at", "values": {key:
// {"value", "method"}}}; null when off or the backend measures none (*note says why).
nlohmann::json obtain_ceilings(const std::string& backend, Device& device, CeilingsMode mode, std::string* note);

// metrics.of_ceiling of a row of `op` that reached tflops / gbps, against context.ceilings `c`:
// {"bandwidth": {"ceiling": "copy_gbps", "value", "fraction"}, "compute": {...}}; null when none applies.
nlohmann::json of_ceiling(const std::string& op, double tflops, double gbps, const nlohmann::json& c);

}  // namespace dsbench

// Vendors' published peak figures for devices dsbench knows by name, so a scorecard can report
// achieved/datasheet beside achieved/measured-ceiling (docs/ceilings.md#datasheet-figures). Dense
// rates (no structured sparsity), memory bandwidth as published. A device not in the table gets
// none: a datasheet figure is never guessed.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace dsbench {

// context.datasheet for a device: {"device", "source", "values": {"memory_gbps", "fp8_tflops",
// "bf16_tflops": {"value", "note"}}}; null when the device name matches no entry.
nlohmann::json datasheet_for(const std::string& backend, const std::string& device_name);

// metrics.of_datasheet of a row of `op` with its tflops / gbps against context.datasheet `d`:
// {"bandwidth": {"datasheet": "memory_gbps", "value", "fraction"}, "compute": {...}}; null if none.
nlohmann::json of_datasheet(const std::string& op, double tflops, double gbps, const nlohmann::json& d);

}  // namespace dsbench

// The dsbench subcommands. Each file registers one or two with CLI11; main dispatches and maps
// escaping errors to exit code 2.
#pragma once

#include <cmath>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

namespace dsbench::cli {

// CLI11's NonNegativeNumber, PositiveNumber and Range let NaN through (every comparison with it is
// false), and a NaN option makes an invalid scorecard or means "no timeout". Every floating-point
// option is checked with this first.
inline const CLI::Validator kFinite(
    [](std::string& s) -> std::string {
      char* end = nullptr;
      const double v = std::strtod(s.c_str(), &end);
      if (end != s.c_str() && *end == '\0' && !std::isfinite(v)) return "\"" + s + "\" is not a finite number";
      return {};
    },
    "FINITE");

// Each setup_* adds a subcommand whose callback stores its exit code in *exit_code.
void setup_list(CLI::App& app, int* exit_code);
void setup_info(CLI::App& app, int* exit_code);
void setup_run(CLI::App& app, int* exit_code);
void setup_validate(CLI::App& app, int* exit_code);
void setup_replay(CLI::App& app, int* exit_code);
void setup_compare(CLI::App& app, int* exit_code);
void setup_report(CLI::App& app, int* exit_code);
void setup_calibrate(CLI::App& app, int* exit_code);

}  // namespace dsbench::cli

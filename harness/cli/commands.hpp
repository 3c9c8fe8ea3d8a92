// The dsbench subcommands. Each file registers one or two with CLI11; main dispatches and maps
// escaping errors to exit code 2.
#pragma once

#include <CLI/CLI.hpp>

namespace dsbench::cli {

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

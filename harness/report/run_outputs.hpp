// The CI outputs of `dsbench run`: --junit FILE (JUnit XML) and --format markdown (a Markdown summary
// on stdout for CI step summaries, the live table moving to stderr). cmd_run.cpp wires them in
// four lines: add the options, check the paths before any work, write the outputs with the scorecard.
#pragma once

#include <ostream>
#include <streambuf>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace dsbench::report {

struct RunOutputs {
  std::string junit_path;             // --junit FILE: each case x kernel a testcase
  std::string format = "table";       // --format table|markdown
  std::streambuf* stdout_buf = nullptr;  // the real stdout while markdown mode sends the table to stderr
};

// Header-only so the harness library needs no CLI11; the run command links it.
inline void add_run_output_options(CLI::App* run, RunOutputs* o) {
  run->add_option("--junit", o->junit_path, "Also write JUnit XML here: each case x kernel a testcase, incorrect "
                                            "and error as failures with the metric and its threshold");
  run->add_option("--format", o->format, "stdout: 'table' (live results table) or 'markdown' (a summary for CI step "
                                         "summaries on stdout; the live table goes to stderr)")
      ->check(CLI::IsMember({"table", "markdown"}))
      ->capture_default_str();
}

// Before any work: --junit must be writable (throws dsbench::Error naming the option); in markdown
// mode std::cout is pointed at stderr until write_run_outputs.
void check_run_outputs(RunOutputs& o);

// After the scorecard is written: restores stdout, prints the Markdown summary to `out` (markdown
// mode) and writes the JUnit file atomically. Throws dsbench::Error when the file cannot be written.
void write_run_outputs(RunOutputs& o, const nlohmann::json& scorecard, std::ostream& out);

}  // namespace dsbench::report

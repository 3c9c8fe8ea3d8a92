// dsbench: DeepSeek operator conformance and benchmark suite. Exit codes: 0 all passed (or not
// supported), 1 something incorrect or errored, 2 usage or configuration error.
#include <iostream>

#include "harness/cli/commands.hpp"
#include "harness/error.hpp"
#include "harness/world.hpp"

int main(int argc, char** argv) {
  CLI::App app{"dsbench: conformance and benchmarks for DeepSeek-V3 operators (FP8 GEMM, MLA decode, MoE, "
               "all-to-all) on CPUs and accelerators.\nExit codes: 0 all passed or not supported, 1 a result "
               "was incorrect or errored (compare: a regression), 2 usage or configuration error."};
  app.require_subcommand(1);
  int exit_code = 0;
  dsbench::cli::setup_list(app, &exit_code);
  dsbench::cli::setup_info(app, &exit_code);
  dsbench::cli::setup_run(app, &exit_code);
  dsbench::cli::setup_validate(app, &exit_code);
  dsbench::cli::setup_replay(app, &exit_code);
  dsbench::cli::setup_compare(app, &exit_code);
  dsbench::cli::setup_report(app, &exit_code);
  dsbench::cli::setup_calibrate(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const dsbench::Error& e) {
    std::cerr << "dsbench: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "dsbench: error: " << e.what() << "\n";
    return 2;
  }
  dsbench::World::finalize();
  return exit_code;
}

// circal driver: `circal <command> [options]`. Dispatches to pipeline/commands/, turns every
// CircalError into its documented exit code on every rank (MPI_Abort so no rank waits).
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/commands.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/runtime/blas_runtime.hpp"
#include "pipeline/runtime/mpi_context.hpp"

namespace {

void print_usage(const circal::MpiContext& mpi) {
  std::string text = "usage: circal <command> [--config FILE] [--set key=value ...] [--run-dir DIR]\n\ncommands:\n";
  for (const auto& entry : circal::command_table()) {
    char line[160];
    std::snprintf(line, sizeof line, "  %-10s %s\n", entry.name, entry.summary);
    text += line;
  }
  text += "\n`circal <command> --help` shows the options of a command.";
  mpi.log(text);
}

}  // namespace

int main(int argc, char** argv) {
  // Past a file-size limit (ulimit -f) a write should fail with EFBIG and become a one-line
  // I/O error (exit 5) that removes the temporary file, not kill the rank with SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  // OpenBLAS picks its kernel when it loads: where Debian's build falls back to a generic
  // kernel on a CPU it does not know, start again with the fastest one the CPU supports
  // (before MPI_Init, so the MPI runtime never sees the first image).
  circal::reexec_with_fast_openblas(argv);
  circal::MpiContext mpi(&argc, &argv);
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    print_usage(mpi);
    return argc < 2 ? circal::kExitUsage : circal::kExitOk;
  }
  const std::string name = argv[1];
  const circal::Args args(argv + 2, argv + argc);
  for (const auto& entry : circal::command_table()) {
    if (name != entry.name) continue;
    try {
      return entry.run(mpi, args);
    } catch (const circal::CircalError& e) {
      mpi.abort(e.code(), e.what());
    } catch (const std::exception& e) {
      mpi.abort(circal::kExitInternal, std::string("internal error: ") + e.what());
    }
  }
  if (mpi.is_root()) std::cerr << "circal: unknown command '" << name << "'\n";
  print_usage(mpi);
  return circal::kExitUsage;
}

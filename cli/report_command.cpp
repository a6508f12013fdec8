// `circal report SWEEP_DIR`: report.md, report.csv and plots of a sweep (pipeline/sweep/sweep_report).
#include <cstdio>
#include <iostream>

#include "cli/cli_options.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/sweep/sweep_report.hpp"

namespace circal {

int report_command(MpiContext& mpi, const Args& args) {
  po::options_description desc("options");
  desc.add_options()("sweep-dir", po::value<std::string>()->required(), "the sweep directory (also positional)");
  po::positional_options_description positional;
  positional.add("sweep-dir", 1);
  const auto vm = parse_options(mpi, "report", "SWEEP_DIR", desc, args, &positional);
  if (!vm) return kExitOk;
  const std::string sweep_dir = (*vm)["sweep-dir"].as<std::string>();
  int failed = 0;
  if (mpi.is_root()) {
    const auto rows = write_sweep_report(sweep_dir);
    for (const auto& row : rows) failed += row.failure.empty() ? 0 : 1;
    std::cout << "report: " << rows.size() << " points, " << failed << " failed -> " << sweep_dir
              << "/report.md, report.csv, plots/\n"
              << std::flush;
  }
  return kExitOk;
}

}  // namespace circal

// `circal bench circulant [--quick] [--csv FILE] [--reps N]`, `circal bench model ...`
// (pipeline/bench_model.hpp) and `circal bench calibrate ...` (pipeline/bench_calibrate.hpp).
#include "pipeline/bench_calibrate.hpp"
#include "pipeline/bench_circulant.hpp"
#include "pipeline/bench_model.hpp"
#include "pipeline/commands/cli_options.hpp"
#include "pipeline/commands/commands.hpp"
#include "pipeline/errors.hpp"
#include "pipeline/fft_plans.hpp"

namespace circal {

int bench_command(MpiContext& mpi, const Args& args) {
  if (!args.empty() && args[0] == "model") return bench_model(mpi, Args(args.begin() + 1, args.end()));
  if (!args.empty() && args[0] == "calibrate")
    return bench_calibrate(mpi, Args(args.begin() + 1, args.end()));
  po::options_description desc("bench options");
  add_config_options(desc);
  desc.add_options()
      ("what", po::value<std::string>()->default_value("circulant"), "benchmark: circulant | model | calibrate")
      ("quick", po::bool_switch(), "a subset that runs in under a minute")
      ("csv", po::value<std::string>()->default_value(""), "write the table as CSV to FILE")
      ("reps", po::value<int>()->default_value(5), "timed samples per figure (median)");
  po::positional_options_description positional;
  positional.add("what", 1);
  const auto vm = parse_options(mpi, "bench", "circulant [--quick] [--csv FILE] [--reps N]",
                                desc, args, &positional);
  if (!vm) return kExitOk;
  const std::string what = (*vm)["what"].as<std::string>();
  if (what != "circulant") fail(kExitUsage, "circal bench: unknown benchmark '" + what + "'");
  CirculantBenchOptions options;
  options.quick = (*vm)["quick"].as<bool>();
  options.csv = (*vm)["csv"].as<std::string>();
  options.reps = (*vm)["reps"].as<int>();
  if (options.reps < 1) fail(kExitUsage, "circal bench: --reps must be >= 1");
  const Config config = config_from_options(*vm);
  fft_setup(mpi.comm(), config.runtime.fftw_wisdom, config.runtime.fftw_planner == "measure");
  if (mpi.is_root()) run_circulant_bench(options);
  fft_save_wisdom(mpi.comm(), config.runtime.fftw_wisdom);
  return kExitOk;
}

}  // namespace circal

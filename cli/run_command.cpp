// `circal run`: capture, project, calibrate (when enabled), evaluate, resumable.
#include <optional>

#include "cli/cli_options.hpp"
#include "pipeline/base/errors.hpp"
#include "stages/runner/stage_runner.hpp"

namespace circal {

namespace {

Stage parse_stage(const std::string& name) {
  for (Stage stage : {Stage::Capture, Stage::Project, Stage::Calibrate, Stage::Evaluate})
    if (name == stage_name(stage)) return stage;
  fail(kExitUsage, "circal run: --from: unknown stage '" + name + "' (capture, project, calibrate, evaluate)");
}

}  // namespace

int run_command(MpiContext& mpi, const Args& args) {
  po::options_description desc("options");
  add_config_options(desc);
  desc.add_options()("from", po::value<std::string>(),
                     "rerun from this stage on (capture, project, calibrate, evaluate)")("force", "rerun every stage");
  const auto vm = parse_options(
      mpi, "run", "[--config FILE] [--set key=value ...] [--run-dir DIR] [--from STAGE] [--force]", desc, args);
  if (!vm) return kExitOk;
  const Config config = config_from_options(*vm);
  RunOptions options;
  options.stages = {Stage::Capture, Stage::Project};
  if (config.calibrate.enabled) options.stages.push_back(Stage::Calibrate);
  options.stages.push_back(Stage::Evaluate);
  if (vm->count("from")) options.from = parse_stage((*vm)["from"].as<std::string>());
  options.force = vm->count("force") > 0;
  run_stages(mpi, config, options);
  return kExitOk;
}

}  // namespace circal

// `circal capture|project|calibrate|evaluate`: one stage (skipped when up to date, unless
// --force). Its inputs must exist with matching fingerprints; the stage itself refuses a
// missing or stale input (StageContext::open_output, naming what differs) before any work.
#include "cli/cli_options.hpp"
#include "cli/commands.hpp"
#include "pipeline/base/errors.hpp"
#include "stages/runner/stage_runner.hpp"

namespace circal {

namespace {

int stage_command(MpiContext& mpi, const Args& args, Stage stage) {
  po::options_description desc("options");
  add_config_options(desc);
  desc.add_options()("force", "rerun even when the output is up to date");
  const auto vm = parse_options(mpi, stage_name(stage),
                                "[--config FILE] [--set key=value ...] [--run-dir DIR] [--force]", desc, args);
  if (!vm) return kExitOk;
  RunOptions options;
  options.stages = {stage};
  options.force = vm->count("force") > 0;
  run_stages(mpi, config_from_options(*vm), options);
  return kExitOk;
}

}  // namespace

int capture_command(MpiContext& mpi, const Args& args) { return stage_command(mpi, args, Stage::Capture); }
int project_command(MpiContext& mpi, const Args& args) { return stage_command(mpi, args, Stage::Project); }
int calibrate_command(MpiContext& mpi, const Args& args) { return stage_command(mpi, args, Stage::Calibrate); }
int evaluate_command(MpiContext& mpi, const Args& args) { return stage_command(mpi, args, Stage::Evaluate); }

}  // namespace circal

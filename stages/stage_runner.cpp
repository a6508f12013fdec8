#include "stages/stage_runner.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "pipeline/checkpoint_store.hpp"
#include "pipeline/commands/cli_options.hpp"
#include "pipeline/errors.hpp"
#include "pipeline/fft_plans.hpp"
#include "pipeline/run_directory.hpp"

namespace circal {

namespace {

void run_one(const StageContext& context, Stage stage) {
  switch (stage) {
    case Stage::Capture: return capture_stage(context);
    case Stage::Project: return project_stage(context);
    case Stage::Calibrate: return calibrate_stage(context);
    case Stage::Evaluate: return evaluate_stage(context);
  }
}

std::string seconds_since(std::chrono::steady_clock::time_point start) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return text;
}

}  // namespace

bool stage_output_current(const MpiContext& mpi, const std::string& path, Stage stage,
                          const std::string& fingerprint) {
  int current = 0;
  if (mpi.is_root() && std::filesystem::exists(path)) {
    try {
      CheckpointReader::open(path, stage_name(stage), fingerprint);
      current = 1;
    } catch (const CircalError& e) {
      mpi.log(std::string(stage_name(stage)) + ": rerunning, " + e.what());
    }
  }
  MPI_Bcast(&current, 1, MPI_INT, 0, mpi.comm());
  return current == 1;
}

void run_stages(MpiContext& mpi, Config config, const RunOptions& options) {
  const RunDirectory run_directory(mpi, config.run_dir);
  const ModelWeights model = load_model(config.model.path);
  resolve_layers(config, model.config.num_hidden_layers);
  const StageContext context{mpi, config, model};
  fft_setup(mpi.comm(), config.runtime.fftw_wisdom, config.runtime.fftw_planner == "measure");
  bool rerun = options.force;
  for (Stage stage : options.stages) {
    if (options.from && *options.from == stage) rerun = true;
    const std::string output = context.output_path(stage);
    if (!rerun && stage_output_current(mpi, output, stage, context.fingerprint(stage))) {
      mpi.log(std::string(stage_name(stage)) + ": up to date, skipped (" + output + ")");
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    mpi.log(std::string(stage_name(stage)) + ": running");
    run_one(context, stage);
    rerun = true;  // later stages read what this one just wrote
    mpi.log(std::string(stage_name(stage)) + ": done in " + seconds_since(start) + " -> " + output);
  }
  fft_save_wisdom(mpi.comm(), config.runtime.fftw_wisdom);
}

int stage_command(MpiContext& mpi, const Args& args, Stage stage) {
  po::options_description desc("options");
  add_config_options(desc);
  desc.add_options()("force", "rerun even when the output is up to date");
  const auto vm = parse_options(mpi, stage_name(stage), "[--config FILE] [--set key=value ...] [--run-dir DIR] [--force]",
                                desc, args);
  if (!vm) return kExitOk;
  RunOptions options;
  options.stages = {stage};
  options.force = vm->count("force") > 0;
  run_stages(mpi, config_from_options(*vm), options);
  return kExitOk;
}

}  // namespace circal

#include "stages/runner/stage_runner.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/fft_plans.hpp"
#include "pipeline/config/capture_requirements.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/runtime/blas_runtime.hpp"
#include "pipeline/runtime/run_directory.hpp"
#include "pipeline/runtime/stop_signal.hpp"
#include "stages/calibrate/calibrate_stage.hpp"
#include "stages/capture/capture_stage.hpp"
#include "stages/common/memory_budget.hpp"
#include "stages/common/student.hpp"
#include "stages/evaluate/evaluate_stage.hpp"
#include "stages/project/project_stage.hpp"

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

void apply_runtime_threads(const Config& config) {
  set_runtime_threads(config.runtime.threads);
  fft_set_threads(config.runtime.threads);
}

namespace {

int ranks_on_node(const MpiContext& mpi) {
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(mpi.comm(), MPI_COMM_TYPE_SHARED, mpi.rank(), MPI_INFO_NULL, &node);
  int node_ranks = 1;
  MPI_Comm_size(node, &node_ranks);
  MPI_Comm_free(&node);
  return node_ranks;
}

TeacherResidency residency_for(const Config& config, const LlamaConfig& model, int node_ranks) {
  const FileWeights files = file_weights(config.model.path);
  return choose_residency(config, model, files.dtype, files.bytes, node_ranks);
}

}  // namespace

void refuse_memory_shortfall_on_node(const MpiContext& mpi, Config config) {
  const std::string config_json = config.model.path + "/config.json";
  if (!std::filesystem::is_regular_file(config_json)) return;
  const LlamaConfig model = read_llama_config(config_json);
  resolve_layers(config, model.num_hidden_layers);
  const int node_ranks = ranks_on_node(mpi);
  const TeacherResidency residency = residency_for(config, model, node_ranks);
  refuse_memory_shortfall(config, model, node_ranks, &residency);
}

TeacherResidency teacher_residency_on_node(const MpiContext& mpi, Config config) {
  const LlamaConfig model = read_llama_config(config.model.path + "/config.json");
  resolve_layers(config, model.num_hidden_layers);
  return residency_for(config, model, ranks_on_node(mpi));
}

namespace {

std::string weight_hash_cache(const Config& config) { return config.run_dir + "/weight_hashes.json"; }

}  // namespace

Teacher load_teacher(const MpiContext& mpi, const Config& config) {
  apply_runtime_threads(config);
  // A folder without config.json: open_teacher refuses it, in its words.
  ResidentDtype resident = ResidentDtype::Float32;
  if (std::filesystem::is_regular_file(config.model.path + "/config.json")) {
    const TeacherResidency residency = teacher_residency_on_node(mpi, config);
    // Said when it is news: a teacher kept in its file dtype, or a setting that chose. auto
    // keeping float32 (it fits, or the file is float32) is the quiet default, so that a refusal
    // after the load stays one line.
    if (residency.dtype != ResidentDtype::Float32 || config.model.resident_dtype != ResidentDtype::Auto)
      mpi.log("teacher matrices resident as " + residency.reason);
    resident = residency.dtype;
  }
  FileHashCache hashes(weight_hash_cache(config));
  return open_teacher(config.model.path, config.runtime.shared_weights ? mpi.comm() : MPI_COMM_NULL, &hashes, resident);
}

void save_weight_hashes(const MpiContext& mpi, const Config& config, const ModelWeights& model) {
  run_on_root_and_agree(mpi.comm(), kExitIo, [&] {
    FileHashCache hashes(weight_hash_cache(config));
    for (const HashedFile& file : model.weight_files) hashes.remember(file);
    hashes.save();
  });
}

bool stage_output_current(const MpiContext& mpi, const std::string& path, Stage stage, const std::string& fingerprint) {
  int current = 0;
  if (mpi.is_root() && std::filesystem::exists(path)) {
    try {
      CheckpointReader::open(path, stage_name(stage), fingerprint);
      current = 1;
    } catch (const CircalError& e) {
      mpi.log(std::string(stage_name(stage)) + ": rerunning, " + e.what());
    }
  }
  // evaluate.h5 is committed before the reports made from it: a run killed in between must
  // not skip evaluate and leave metrics.json missing or stale.
  if (current == 1 && stage == Stage::Evaluate && mpi.is_root() && !evaluation_reports_current(path, fingerprint)) {
    mpi.log("evaluate: rerunning, metrics.json missing or of another run");
    current = 0;
  }
  MPI_Bcast(&current, 1, MPI_INT, 0, mpi.comm());
  return current == 1;
}

void run_stages(MpiContext& mpi, Config config, const RunOptions& options) {
  // From here on SIGTERM/SIGUSR1 stop the run at the next point a stage checks, which unwinds
  // the writers (their temporary files go) and the lock; left at their default, the signals
  // would kill the ranks mid-write.
  const StopSignalGuard signals;
  // Refusals of the config and the model come before the lock, so they leave nothing behind;
  // a run that would not fit the node's memory before the teacher is even loaded.
  refuse_memory_shortfall_on_node(mpi, config);
  const Teacher teacher = load_teacher(mpi, config);
  const ModelWeights& model = teacher.weights;
  resolve_layers(config, model.config.num_hidden_layers);
  StudentLayout::patched_matrices(config, model.config);
  // A capture that could not serve the stages after it is refused before it starts.
  if (std::any_of(options.stages.begin(), options.stages.end(), [](Stage s) { return s != Stage::Capture; }))
    refuse_capture_shortfall(config);
  const RunDirectory run_directory(mpi, config.run_dir);
  const StageContext context{mpi, config, model, teacher.tokenizer};
  fft_setup(mpi.comm(), config.runtime.fftw_wisdom, config.runtime.fftw_planner == FftPlanner::Measure);
  bool rerun = options.force;
  for (Stage stage : options.stages) {
    if (options.from && *options.from == stage) rerun = true;
    const std::string output = context.output_path(stage);
    if (!rerun && stage_output_current(mpi, output, stage, context.fingerprint(stage))) {
      mpi.log(std::string(stage_name(stage)) + ": up to date, skipped (" + output + ")");
      continue;
    }
    stop_if_signalled(mpi.comm(), stage_name(stage), "not started, rerun to resume");
    const auto start = std::chrono::steady_clock::now();
    mpi.log(std::string(stage_name(stage)) + ": running");
    run_one(context, stage);
    rerun = true;  // later stages read what this one just wrote
    mpi.log(std::string(stage_name(stage)) + ": done in " + seconds_since(start) + " -> " + output);
  }
  fft_save_wisdom(mpi.comm(), config.runtime.fftw_wisdom);
  save_weight_hashes(mpi, config, model);  // after the stages: a failed run adds no file
}

}  // namespace circal

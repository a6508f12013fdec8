#include "bench/bench_calibrate.hpp"

#include <nlohmann/json.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "bench/machine_load.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/optim/lr_schedule.hpp"
#include "pipeline/runtime/blas_runtime.hpp"
#include "stages/calibrate/calibration_batches.hpp"
#include "stages/calibrate/calibrator.hpp"
#include "stages/runner/stage_runner.hpp"

namespace circal {

namespace {

using Clock = std::chrono::steady_clock;

// The steps the calibrate stage starts with: its global batches and learning rates.
struct StepPlan {
  std::vector<std::vector<int>> batches;
  std::vector<double> lrs;
  int64_t positions = 0;
};

StepPlan first_steps(const CalibrateConfig& settings, CalibrationData& data, int steps) {
  const int n = int(data.calibration().size());
  if (n == 0) fail(kExitInput, "bench calibrate: the capture holds no calibration prompts");
  const LrSchedule schedule(settings.lr, settings.schedule, settings.warmup_steps, settings.steps,
                            settings.min_lr_ratio);
  StepPlan plan;
  BatchCursor cursor;
  for (int s = 0; s < steps; ++s) {
    plan.batches.push_back(next_global_batch(n, settings.seed, std::min(settings.batch_prompts, n), cursor));
    plan.lrs.push_back(schedule.at(s));
    plan.positions += data.total_tokens(plan.batches.back());
  }
  return plan;
}

struct PassResult {
  std::vector<double> losses, seconds, cpu_seconds;
  std::vector<float> params;
};

// CPU time of the process (all its threads): unlike wall time it does not grow while other
// processes hold the core, so it shows the work and its split on a loaded machine. It does
// include Open MPI's busy-waiting inside MPI_Allreduce.
double cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return double(now.tv_sec) + 1e-9 * double(now.tv_nsec);
}

// The planned steps from `start`, each timed from the previous step's end on this rank.
PassResult run_pass(MPI_Comm comm, Calibrator& calibrator, const CalibrationState& start, const StepPlan& plan) {
  calibrator.restore(start);
  PassResult result;
  MPI_Barrier(comm);
  for (size_t s = 0; s < plan.batches.size(); ++s) {
    const auto begin = Clock::now();
    const double cpu_begin = cpu_seconds();
    result.losses.push_back(calibrator.train_step(plan.batches[s], plan.lrs[s]).gradient.loss);
    result.cpu_seconds.push_back(cpu_seconds() - cpu_begin);
    result.seconds.push_back(std::chrono::duration<double>(Clock::now() - begin).count());
  }
  result.params = calibrator.parameters();
  return result;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

nlohmann::json matrices_json(const StudentLayout& layout) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& m : layout.matrices) list.push_back({{"layer", m.layer}, {"projection", name_of(m.projection)}});
  return list;
}

}  // namespace

void run_calibrate_bench(MpiContext& mpi, Config config, const CalibrateBenchOptions& options) {
  const int steps = options.steps;
  const std::string json_path =
      options.json_path.empty() ? config.run_dir + "/bench_calibrate.jsonl" : options.json_path;

  RunOptions inputs;
  inputs.stages = {Stage::Capture, Stage::Project};
  run_stages(mpi, config, inputs);  // skips both when run_dir already holds them, current

  const Teacher teacher = load_teacher(mpi, config);
  const ModelWeights& model = teacher.weights;
  resolve_layers(config, model.config.num_hidden_layers);
  const StageContext context{mpi, config, model, teacher.tokenizer};
  const CalibrateConfig& settings = config.calibrate;
  const StudentLayout layout = StudentLayout::from_config(config, model.config);
  const auto project =
      CheckpointReader::open(context.output_path(Stage::Project), "project", context.fingerprint(Stage::Project));
  CalibrationData data(context.output_path(Stage::Capture), context.fingerprint(Stage::Capture), layout.first_layer(),
                       model.config.hidden_size, float(settings.temperature), model.embed_tokens,
                       model.config.vocab_size, size_t(settings.data_budget_mb) << 20);
  Transformer transformer(model);
  Calibrator calibrator(mpi.comm(), transformer, layout, data, settings, read_student_parameters(project, layout));
  const CalibrationState start = calibrator.initial_state();
  const StepPlan plan = first_steps(settings, data, steps);

  const PassResult warmup = run_pass(mpi.comm(), calibrator, start, plan);
  StepTimings timings;
  calibrator.attach_timings(&timings);
  const PassResult timed = run_pass(mpi.comm(), calibrator, start, plan);
  calibrator.attach_timings(nullptr);
  const bool same_bits = timed.losses == warmup.losses && timed.params == warmup.params;

  constexpr int kFigures = 7;  // the six phases, then the median CPU time of a step
  const double figures[kFigures] = {timings.forward,   timings.loss,      timings.backward,         timings.accumulate,
                                    timings.allreduce, timings.optimizer, median(timed.cpu_seconds)};
  std::vector<double> all_figures(kFigures * size_t(mpi.size()));
  MPI_Gather(figures, kFigures, MPI_DOUBLE, all_figures.data(), kFigures, MPI_DOUBLE, 0, mpi.comm());
  if (!mpi.is_root()) return;

  double total_seconds = 0.0;
  for (double s : timed.seconds) total_seconds += s;
  const double step_ms = 1e3 * median(timed.seconds);
  const double tokens_per_second = double(plan.positions) / total_seconds;
  const std::string core = openblas_core_name(), load = load_averages_text();
  std::printf(
      "bench calibrate: %d steps of %zu prompts in groups of %d (%lld positions), %zu matrices "
      "at block size %d, %d rank(s), openblas core %s (%d thread(s)), load average %s\n",
      steps, plan.batches.front().size(), settings.group_prompts, static_cast<long long>(plan.positions),
      layout.matrices.size(), layout.block_size, mpi.size(), core.c_str(), blas_threads(), load.c_str());
  std::printf("step: %.1f ms median, %.1f ms mean, %.0f tok/s; first-step loss %.9g\n", step_ms,
              1e3 * total_seconds / steps, tokens_per_second, timed.losses.front());
  static const char* kNames[6] = {"forward", "loss", "backward", "accumulate", "allreduce", "optimizer"};
  std::printf("%-6s", "rank");
  for (const char* name : kNames) std::printf(" %10s", name);
  std::printf("  ms per step (allreduce share of the step), CPU ms per step\n");
  nlohmann::json per_rank = nlohmann::json::array();
  for (int r = 0; r < mpi.size(); ++r) {
    const double* p = &all_figures[kFigures * size_t(r)];
    double sum = 0.0;
    nlohmann::json entry;
    std::printf("%-6d", r);
    for (int i = 0; i < 6; ++i) {
      std::printf(" %10.2f", 1e3 * p[i] / steps);
      entry[kNames[i] + std::string("_ms")] = 1e3 * p[i] / steps;
      sum += p[i];
    }
    entry["allreduce_share"] = p[4] / sum;
    entry["cpu_ms_median"] = 1e3 * p[6];
    std::printf("  (%.1f%%) %10.2f\n", 100.0 * p[4] / sum, 1e3 * p[6]);
    per_rank.push_back(entry);
  }
  std::printf("timed pass vs untimed pass: %s\n", same_bits ? "bitwise equal" : "DIFFERENT");

  nlohmann::json line = {{"benchmark", "calibrate"},
                         {"ranks", mpi.size()},
                         {"steps", steps},
                         {"step_ms_median", step_ms},
                         {"step_ms_mean", 1e3 * total_seconds / steps},
                         {"tokens_per_second", tokens_per_second},
                         {"positions", plan.positions},
                         {"phases", per_rank},
                         {"openblas_core", core},
                         {"load_average", load},
                         {"timed_equals_untimed", same_bits},
                         {"run_dir", config.run_dir},
                         {"model", config.model.path},
                         {"block_size", layout.block_size},
                         {"first_layer", layout.first_layer()},
                         {"matrices", matrices_json(layout)},
                         {"temperature", settings.temperature},
                         {"beta1", settings.beta1},
                         {"beta2", settings.beta2},
                         {"eps", settings.eps},
                         {"weight_decay", settings.weight_decay},
                         {"clip_norm", settings.clip_norm},
                         {"group_prompts", settings.group_prompts},
                         {"batches", plan.batches},
                         {"lr", plan.lrs},
                         {"losses", timed.losses},
                         {"step_seconds", timed.seconds}};
  std::ofstream out(json_path, std::ios::app);
  out << line.dump() << '\n';
  if (!out) fail(kExitIo, "bench calibrate: cannot write " + json_path);
  std::printf("JSON line appended to %s\n", json_path.c_str());
  if (!same_bits) fail(kExitInternal, "bench calibrate: timing changed the results");
}

}  // namespace circal

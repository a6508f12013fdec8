#include "bench/bench_scale.hpp"

#include <sys/resource.h>

#include <nlohmann/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>

#include "bench/machine_load.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/fft_plans.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/runtime/blas_runtime.hpp"
#include "pipeline/runtime/pss_monitor.hpp"
#include "pipeline/runtime/run_directory.hpp"
#include "stages/calibrate/calibrate_stage.hpp"
#include "stages/capture/capture_stage.hpp"
#include "stages/common/student.hpp"
#include "stages/evaluate/evaluate_stage.hpp"
#include "stages/project/project_stage.hpp"
#include "stages/runner/stage_runner.hpp"

namespace circal {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

double gib(int64_t bytes) { return double(bytes) / double(1ull << 30); }

// Bytes of a file, or of every file under a folder.
int64_t disk_bytes(const fs::path& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return int64_t(fs::file_size(path, ec));
  int64_t total = 0;
  if (fs::is_directory(path, ec))
    for (const auto& entry : fs::recursive_directory_iterator(path, ec))
      if (entry.is_regular_file(ec)) total += int64_t(entry.file_size(ec));
  return total;
}

// The first n lines of `from` into `to` (rank 0); fails when `from` has fewer.
void head_lines(const std::string& from, const std::string& to, int n) {
  std::ifstream in(from);
  if (!in) fail(kExitInput, from + ": cannot read");
  std::ofstream out(to);
  std::string line;
  int written = 0;
  while (written < n && std::getline(in, line)) {
    if (line.empty()) continue;
    out << line << '\n';
    ++written;
  }
  if (written < n)
    fail(kExitInput, from + ": " + std::to_string(written) + " prompts, the benchmark asks for " + std::to_string(n));
}

struct StageFigures {
  std::string name;
  double seconds = 0;
  int64_t tokens = 0;
  std::string tokens_counted;
  PssPeaks pss;
  int64_t output_bytes = 0;
  double cpu_seconds = 0;  // user + system CPU time of all ranks (the work, whatever the load)
};

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

// Runs `work` with the PSS monitor on, timed between barriers.
StageFigures measure(MpiContext& mpi, const std::string& name, const std::function<void()>& work) {
  StageFigures f;
  f.name = name;
  PssMonitor monitor(mpi.comm());
  mpi.barrier();
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = process_cpu_seconds();
  work();
  double cpu = process_cpu_seconds() - cpu_start;
  mpi.barrier();
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MPI_Allreduce(&cpu, &f.cpu_seconds, 1, MPI_DOUBLE, MPI_SUM, mpi.comm());
  f.pss = monitor.stop();
  return f;
}

int64_t dataset_rows(const std::string& file, const std::string& dataset) {
  const CheckpointReader reader(file);
  return int64_t(reader.shape(dataset).at(0));
}

int64_t calibration_tokens(const fs::path& log) {
  std::ifstream in(log);
  std::string line;
  int64_t total = 0;
  while (std::getline(in, line)) {
    const json record = json::parse(line, nullptr, false);
    if (record.is_object() && record.contains("tokens")) total += record["tokens"].get<int64_t>();
  }
  return total;
}

}  // namespace

void run_scale_bench(MpiContext& mpi, Config config, const ScaleBenchOptions& options) {
  const fs::path run_dir = fs::absolute(config.run_dir);
  const fs::path bench_dir = run_dir.parent_path();
  const std::string json_path =
      options.json_path.empty() ? (bench_dir / "bench_scale.jsonl").string() : options.json_path;
  const auto bench_start = std::chrono::steady_clock::now();
  const std::string load_before = load_averages_text();

  const bool uses_corpus = config.data.source == DataSource::Corpus;
  // The checkpoint, the prompt subsets and a clean run directory, on rank 0.
  double generate_seconds = 0;
  run_on_root_and_agree(mpi.comm(), kExitInput, [&] {
    if (!fs::exists(fs::path(config.model.path) / "config.json")) {
      const std::string command = "/usr/bin/python3 " CIRCAL_SOURCE_DIR "/bench/make_synthetic_checkpoint.py --shape " +
                                  options.shape + " --out " + config.model.path;
      mpi.log("bench scale: writing the synthetic checkpoint: " + command);
      const auto start = std::chrono::steady_clock::now();
      if (std::system(command.c_str()) != 0) fail(kExitInput, "bench scale: " + command + " failed");
      generate_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    fs::remove_all(run_dir);
    if (uses_corpus) return;  // the data.*_windows keys size the corpus windows
    fs::create_directories(bench_dir / "prompts");
    head_lines(config.prompts.calibration, (bench_dir / "prompts/calibration.txt").string(),
               options.calibration_prompts);
    head_lines(config.prompts.validation, (bench_dir / "prompts/validation.txt").string(), options.validation_prompts);
    head_lines(config.prompts.test, (bench_dir / "prompts/test.txt").string(), options.test_prompts);
  });
  if (!uses_corpus) {
    config.prompts.calibration = (bench_dir / "prompts/calibration.txt").string();
    config.prompts.validation = (bench_dir / "prompts/validation.txt").string();
    config.prompts.test = (bench_dir / "prompts/test.txt").string();
  }

  refuse_memory_shortfall_on_node(mpi, config);  // before the teacher fills the node
  std::vector<StageFigures> stages;
  std::unique_ptr<Teacher> teacher;
  stages.push_back(measure(mpi, "load", [&] { teacher = std::make_unique<Teacher>(load_teacher(mpi, config)); }));
  const ModelWeights* model = &teacher->weights;
  stages.back().output_bytes = int64_t(weight_bytes(*model));
  stages.back().tokens_counted = "none (output: float32 teacher bytes per node)";
  resolve_layers(config, model->config.num_hidden_layers);
  const StudentLayout layout = StudentLayout::from_config(config, model->config);
  const RunDirectory run_directory(mpi, config.run_dir);
  save_weight_hashes(mpi, config, *model);
  const StageContext context{mpi, config, *model, teacher->tokenizer};
  fft_setup(mpi.comm(), config.runtime.fftw_wisdom, config.runtime.fftw_planner == FftPlanner::Measure);

  const std::string capture = context.output_path(Stage::Capture);
  const std::string evaluate = context.output_path(Stage::Evaluate);
  if (!options.load_only) {
    stages.push_back(measure(mpi, "capture", [&] { capture_stage(context); }));
    stages.back().output_bytes = disk_bytes(capture);
    stages.back().tokens = dataset_rows(capture, "/tokens");
    stages.back().tokens_counted = "calibration + validation tokens, teacher forward";
    stages.push_back(measure(mpi, "project", [&] { project_stage(context); }));
    stages.back().output_bytes = disk_bytes(context.output_path(Stage::Project));
    stages.back().tokens = dataset_rows(capture, "/tokens");
    stages.back().tokens_counted = "captured tokens";
    stages.push_back(measure(mpi, "calibrate", [&] { calibrate_stage(context); }));
    stages.back().output_bytes = disk_bytes(context.output_path(Stage::Calibrate)) + disk_bytes(run_dir / "calibrate");
    stages.back().tokens = calibration_tokens(run_dir / "calibrate/log.jsonl");
    stages.back().tokens_counted = "training positions over all steps (validation passes not counted)";
    stages.push_back(measure(mpi, "evaluate", [&] { evaluate_stage(context); }));
    stages.back().output_bytes = disk_bytes(evaluate);
    stages.back().tokens = dataset_rows(evaluate, "/positions/token") * int64_t(evaluated_students(config).size());
    stages.back().tokens_counted = "test positions x students (generation not counted)";
  }
  fft_save_wisdom(mpi.comm(), config.runtime.fftw_wisdom);
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - bench_start).count();
  if (!mpi.is_root()) return;

  const LlamaConfig& c = model->config;
  std::printf(
      "bench scale: %s, %d layers, hidden %d, intermediate %d, %d matrices at block %d, %d ranks x %d threads, "
      "shared weights %s, recompute %s, OpenBLAS %s; load average %s\n",
      config.model.path.c_str(), c.num_hidden_layers, c.hidden_size, c.intermediate_size, int(layout.matrices.size()),
      layout.block_size, mpi.size(), config.runtime.threads, config.runtime.shared_weights ? "on" : "off",
      name_of(config.calibrate.recompute), openblas_core_name().c_str(),
      (load_before + " before, " + load_averages_text() + " after").c_str());
  std::printf("%-10s %9s %9s %10s %10s %14s %14s %14s %12s\n", "stage", "wall s", "CPU s", "tokens", "tokens/s",
              "peak PSS/rank", "peak PSS/node", "end PSS/node", "output");
  json line = {{"time", long(std::time(nullptr))},
               {"model", config.model.path},
               {"layers", c.num_hidden_layers},
               {"hidden", c.hidden_size},
               {"intermediate", c.intermediate_size},
               {"matrices", layout.matrices.size()},
               {"block_size", layout.block_size},
               {"ranks", mpi.size()},
               {"threads", config.runtime.threads},
               {"shared_weights", config.runtime.shared_weights},
               {"recompute", name_of(config.calibrate.recompute)},
               {"data_source", name_of(config.data.source)},
               {"load_only", options.load_only},
               {"steps", config.calibrate.steps},
               {"batch_prompts", config.calibrate.batch_prompts},
               {"group_prompts", config.calibrate.group_prompts},
               {"openblas_core", openblas_core_name()},
               {"load_average_before", load_before},
               {"generate_seconds", generate_seconds},
               {"total_seconds", total},
               {"load_average_after", load_averages_text()}};
  if (uses_corpus)
    line.update({{"window_tokens", config.data.window_tokens},
                 {"calibration_windows", config.data.calibration_windows},
                 {"validation_windows", config.data.validation_windows},
                 {"test_windows", config.data.test_windows}});
  else
    line.update({{"calibration_prompts", options.calibration_prompts},
                 {"validation_prompts", options.validation_prompts},
                 {"test_prompts", options.test_prompts}});
  json stage_list = json::array();
  for (const StageFigures& f : stages) {
    int64_t rank_peak = 0, node_peak = 0, node_end = 0;
    for (int64_t v : f.pss.rank_peak) rank_peak = std::max(rank_peak, v);
    for (int64_t v : f.pss.node_peak) node_peak = std::max(node_peak, v);
    for (int64_t v : f.pss.node_end) node_end = std::max(node_end, v);
    const double rate = f.seconds > 0 ? double(f.tokens) / f.seconds : 0;
    std::printf("%-10s %9.1f %9.1f %10lld %10.1f %10.2f GiB %10.2f GiB %10.2f GiB %8.2f GiB\n", f.name.c_str(),
                f.seconds, f.cpu_seconds, static_cast<long long>(f.tokens), rate, gib(rank_peak), gib(node_peak),
                gib(node_end), gib(f.output_bytes));
    stage_list.push_back({{"stage", f.name},
                          {"seconds", f.seconds},
                          {"cpu_seconds_all_ranks", f.cpu_seconds},
                          {"tokens", f.tokens},
                          {"tokens_counted", f.tokens_counted},
                          {"tokens_per_second", rate},
                          {"peak_pss_per_rank", f.pss.rank_peak},
                          {"peak_pss_per_node", f.pss.node_peak},
                          {"end_pss_per_node", f.pss.node_end},
                          {"pss_samples", f.pss.samples},
                          {"output_bytes", f.output_bytes}});
  }
  line["stages"] = stage_list;
  std::printf("total %.1f s (%.1f min) including checkpoint generation %.1f s; JSON line appended to %s\n", total,
              total / 60, generate_seconds, json_path.c_str());
  std::ofstream out(json_path, std::ios::app);
  out << line.dump() << '\n';
  if (!out) fail(kExitIo, "bench scale: cannot write " + json_path);
}

}  // namespace circal

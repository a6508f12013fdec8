// `circal bench circulant [--quick] [--csv FILE] [--reps N]`, `circal bench model ...`
// (bench/bench_model.hpp) and `circal bench calibrate ...` (bench/bench_calibrate.hpp).
#include "bench/bench_calibrate.hpp"
#include "bench/bench_circulant.hpp"
#include "bench/bench_model.hpp"
#include "bench/bench_scale.hpp"
#include "bench/bench_sensitivity.hpp"
#include "cli/cli_options.hpp"
#include "cli/commands.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"
#include "pipeline/circulant/fft_plans.hpp"
#include "stages/runner/stage_runner.hpp"

namespace circal {

namespace {

int bench_model(MpiContext& mpi, const Args& args) {
  po::options_description desc("circal bench model options");
  desc.add_options()(
      "model",
      po::value<std::string>()->default_value(std::string(CIRCAL_SOURCE_DIR) + "/data/models/manpages-llama-5m"),
      "model folder")("prompts",
                      po::value<std::string>()->default_value(std::string(CIRCAL_SOURCE_DIR) + "/data/prompts.txt"),
                      "prompts file")("batch", po::value<int>()->default_value(0),
                                      "prompts per batched forward (0: all of them in one)")(
      "decode-tokens", po::value<int>()->default_value(32), "greedy tokens per prompt for the decode rate")(
      "repeats", po::value<int>()->default_value(3),
      "timed passes (the median is reported); with --student-blocks, interleaved rounds")(
      "student-blocks", po::value<std::vector<int>>()->multitoken(),
      "block sizes (e.g. 16 64 256): the teacher against a random circulant student of every MLP matrix at each")(
      "seed", po::value<unsigned>()->default_value(1), "seed of the random students");
  const auto vm = parse_options(mpi, "bench model",
                                "[--model DIR] [--prompts FILE] [--batch B] [--decode-tokens N] [--repeats R] "
                                "[--student-blocks B...] [--seed S]",
                                desc, args);
  if (!vm) return kExitOk;
  ModelBenchOptions options;
  options.model = (*vm)["model"].as<std::string>();
  options.prompts = (*vm)["prompts"].as<std::string>();
  options.batch = (*vm)["batch"].as<int>();
  options.decode_tokens = (*vm)["decode-tokens"].as<int>();
  options.repeats = (*vm)["repeats"].as<int>();
  if (vm->count("student-blocks")) options.student_blocks = (*vm)["student-blocks"].as<std::vector<int>>();
  options.seed = (*vm)["seed"].as<unsigned>();
  for (const int block : options.student_blocks) check_block_size(block);
  if (options.batch < 0) fail(kExitUsage, "circal bench model: --batch must be at least 0");
  if (options.decode_tokens < 2) fail(kExitUsage, "circal bench model: --decode-tokens must be at least 2");
  if (options.repeats < 1) fail(kExitUsage, "circal bench model: --repeats must be at least 1");
  // The students' plans as the stages make theirs (FFTW_MEASURE); the warm-up pass makes them.
  if (!options.student_blocks.empty()) fft_setup(mpi.comm(), "", true);
  if (mpi.is_root()) run_model_bench(options);  // a single-process benchmark
  return kExitOk;
}

int bench_calibrate(MpiContext& mpi, const Args& args) {
  po::options_description desc("circal bench calibrate options");
  add_config_options(desc);
  desc.add_options()("steps", po::value<int>()->default_value(20), "timed steps: the calibrate stage's first N")(
      "json", po::value<std::string>()->default_value(""),
      "append the JSON line to FILE (default: run_dir/bench_calibrate.jsonl)");
  const auto vm =
      parse_options(mpi, "bench calibrate",
                    "[--config FILE] [--set key=value ...] [--run-dir DIR] [--steps N] [--json FILE]", desc, args);
  if (!vm) return kExitOk;
  CalibrateBenchOptions options;
  options.steps = (*vm)["steps"].as<int>();
  options.json_path = (*vm)["json"].as<std::string>();
  if (options.steps < 1) fail(kExitUsage, "circal bench calibrate: --steps must be >= 1");
  run_calibrate_bench(mpi, config_from_options(*vm), options);
  return kExitOk;
}

int bench_scale(MpiContext& mpi, const Args& args) {
  po::options_description desc("circal bench scale options");
  add_config_options(desc);
  desc.add_options()("shape", po::value<std::string>()->default_value("tinyllama-1.1b"),
                     "synthetic shape written to model.path when it has no config.json")(
      "calibration-prompts", po::value<int>()->default_value(64),
      "first N prompts of prompts.calibration (data.source prompts; corpus windows are counted by data.*_windows)")(
      "validation-prompts", po::value<int>()->default_value(8), "first N prompts of prompts.validation")(
      "test-prompts", po::value<int>()->default_value(16), "first N prompts of prompts.test")(
      "load-only", po::bool_switch(), "measure loading the teacher only (its memory at 1 vs N ranks)")(
      "json", po::value<std::string>()->default_value(""),
      "append the JSON line to FILE (default: bench_scale.jsonl next to run_dir)");
  const auto vm = parse_options(
      mpi, "bench scale", "[--config config/scale.yaml] [--set key=value ...] [--shape S] [--json FILE]", desc, args);
  if (!vm) return kExitOk;
  ScaleBenchOptions options;
  options.shape = (*vm)["shape"].as<std::string>();
  options.calibration_prompts = (*vm)["calibration-prompts"].as<int>();
  options.validation_prompts = (*vm)["validation-prompts"].as<int>();
  options.test_prompts = (*vm)["test-prompts"].as<int>();
  options.json_path = (*vm)["json"].as<std::string>();
  options.load_only = (*vm)["load-only"].as<bool>();
  if (options.calibration_prompts < 1 || options.validation_prompts < 0 || options.test_prompts < 1)
    fail(kExitUsage, "circal bench scale: prompt counts must be positive");
  run_scale_bench(mpi, config_from_options(*vm), options);
  return kExitOk;
}

int bench_sensitivity(MpiContext& mpi, const Args& args) {
  po::options_description desc("circal bench sensitivity options");
  add_config_options(desc);
  desc.add_options()("block-sizes", po::value<std::vector<int>>()->multitoken(),
                     "candidate block sizes (default: capture.block_sizes)")(
      "samples", po::value<int>()->default_value(16), "sampled-target backward passes a validation prompt")(
      "json", po::value<std::string>()->default_value(""),
      "write the result to FILE (default: run_dir/bench_sensitivity.json)");
  const auto vm = parse_options(
      mpi, "bench sensitivity",
      "[--config FILE] [--set key=value ...] [--run-dir DIR] [--block-sizes B ...] [--samples S] [--json FILE]", desc,
      args);
  if (!vm) return kExitOk;
  SensitivityBenchOptions options;
  if (vm->count("block-sizes")) options.block_sizes = (*vm)["block-sizes"].as<std::vector<int>>();
  options.json_path = (*vm)["json"].as<std::string>();
  options.samples = (*vm)["samples"].as<int>();
  if (options.samples < 1) fail(kExitUsage, "circal bench sensitivity: --samples must be at least 1");
  run_sensitivity_bench(mpi, config_from_options(*vm), options);
  return kExitOk;
}

}  // namespace

int bench_command(MpiContext& mpi, const Args& args) {
  if (!args.empty() && args[0] == "model") return bench_model(mpi, Args(args.begin() + 1, args.end()));
  if (!args.empty() && args[0] == "calibrate") return bench_calibrate(mpi, Args(args.begin() + 1, args.end()));
  if (!args.empty() && args[0] == "scale") return bench_scale(mpi, Args(args.begin() + 1, args.end()));
  if (!args.empty() && args[0] == "sensitivity") return bench_sensitivity(mpi, Args(args.begin() + 1, args.end()));
  po::options_description desc("bench options");
  add_config_options(desc);
  desc.add_options()("what", po::value<std::string>()->default_value("circulant"),
                     "benchmark: circulant | model | calibrate | scale | sensitivity")(
      "quick", po::bool_switch(), "a subset that runs in under a minute")(
      "lowrank", po::bool_switch(),
      "circulant vs low rank at equal parameters: TinyLlama MLP shapes, b 4..64, T 1 and 128, forward, alternating rounds")(
      "csv", po::value<std::string>()->default_value(""), "write the table as CSV to FILE")(
      "reps", po::value<int>()->default_value(5), "timed samples per figure (median)");
  po::positional_options_description positional;
  positional.add("what", 1);
  const auto vm =
      parse_options(mpi, "bench", "circulant [--quick | --lowrank] [--csv FILE] [--reps N]", desc, args, &positional);
  if (!vm) return kExitOk;
  const std::string what = (*vm)["what"].as<std::string>();
  if (what != "circulant") fail(kExitUsage, "circal bench: unknown benchmark '" + what + "'");
  CirculantBenchOptions options;
  options.quick = (*vm)["quick"].as<bool>();
  options.lowrank = (*vm)["lowrank"].as<bool>();
  options.csv = (*vm)["csv"].as<std::string>();
  options.reps = (*vm)["reps"].as<int>();
  if (options.reps < 1) fail(kExitUsage, "circal bench: --reps must be >= 1");
  const Config config = config_from_options(*vm);
  apply_runtime_threads(config);
  fft_setup(mpi.comm(), config.runtime.fftw_wisdom, config.runtime.fftw_planner == FftPlanner::Measure);
  if (mpi.is_root()) run_circulant_bench(options);
  fft_save_wisdom(mpi.comm(), config.runtime.fftw_wisdom);
  return kExitOk;
}

}  // namespace circal

// `circal export [--config FILE] [--set k=v] [--run-dir DIR] [--student NAME] --format dense
// --out DIR [--dtype f32|bf16|f16] [--shard-mb N] [--force]` (or --format circulant): the run's
// student as a model folder (stages/export/model_export.hpp). Names become enums here, at the edge.
#include <string>

#include "cli/cli_options.hpp"
#include "cli/commands.hpp"
#include "pipeline/base/errors.hpp"
#include "stages/export/model_export.hpp"
#include "stages/runner/stage_runner.hpp"

namespace circal {

namespace {

struct ExportOptions {
  Config config;
  ExportRequest request;
};

std::optional<ExportOptions> parse_export_options(const MpiContext& mpi, const Args& args) {
  po::options_description desc("circal export options");
  add_config_options(desc);
  desc.add_options()(
      "student", po::value<std::string>()->default_value("calibrated"),
      ("the run's student: " + names_text<StudentKind>() + " (dense and zeroed have nothing to export)").c_str())(
      "format", po::value<std::string>()->required(),
      ("folder format: " + names_text<ExportFormat>() +
       " (dense: a Hugging Face folder of the teacher's architecture, the student's matrices expanded; circulant: their parameters c or U, V instead, described in config.json's circal section, and modeling_circal.py, a PyTorch module that loads the folder)")
          .c_str())("out", po::value<std::string>()->required(),
                    "output folder, written as OUT.tmp and renamed once complete")(
      "dtype", po::value<std::string>(),
      ("weight dtype: " + names_text<WeightDtype>() + " (default: each tensor's dtype in the teacher's file)").c_str())(
      "shard-mb", po::value<long>()->default_value(2048),
      "largest model-*.safetensors shard in MiB (HF's index file beside them)")("force", "replace an existing OUT");
  const auto vm =
      parse_options(mpi, "export",
                    "[--config FILE] [--set key=value ...] [--run-dir DIR] [--student NAME] --format dense|circulant "
                    "--out DIR [--dtype f32|bf16|f16] [--shard-mb N] [--force]",
                    desc, args);
  if (!vm) return std::nullopt;
  const long shard_mb = (*vm)["shard-mb"].as<long>();
  if (shard_mb < 1)
    fail(kExitUsage, "circal export: --shard-mb must be at least 1 (got " + std::to_string(shard_mb) + ")");
  ExportRequest request;
  request.format = parse_name<ExportFormat>((*vm)["format"].as<std::string>());
  request.student = parse_name<StudentKind>((*vm)["student"].as<std::string>());
  request.out = (*vm)["out"].as<std::string>();
  if (vm->count("dtype")) request.dtype = parse_name<WeightDtype>((*vm)["dtype"].as<std::string>());
  request.force = vm->count("force") > 0;
  request.shard_bytes = std::size_t(shard_mb) << 20;
  return ExportOptions{config_from_options(*vm), request};
}

}  // namespace

int export_command(MpiContext& mpi, const Args& args) {
  auto options = parse_export_options(mpi, args);
  if (!options) return kExitOk;
  Config& config = options->config;
  const Teacher teacher = load_teacher(mpi, config);
  resolve_layers(config, teacher.weights.config.num_hidden_layers);
  export_student(StageContext{mpi, config, teacher.weights, teacher.tokenizer}, options->request);
  return kExitOk;
}

}  // namespace circal

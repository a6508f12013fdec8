#include "cli/commands.hpp"

namespace circal {

const std::vector<CommandEntry>& command_table() {
  static const std::vector<CommandEntry> table = {
      {"run", run_command, "run the pipeline: capture, project, calibrate, evaluate (resumable)"},
      {"capture", capture_command, "run the teacher on the calibration data, store projection statistics and logits"},
      {"project", project_command, "project the MLP matrices onto block-circulant (or low-rank) form"},
      {"calibrate", calibrate_command, "minimise KL(teacher || student), data parallel"},
      {"evaluate", evaluate_command, "held-out metrics, report.md, metrics.json, plots"},
      {"export", export_command, "write a run's student as a Hugging Face model folder"},
      {"logits", logits_command, "write teacher (and student) logits of a prompts file"},
      {"generate", generate_command, "greedy continuation of a prompt"},
      {"bench", bench_command, "benchmarks (circulant, model, calibrate, scale)"},
      {"sweep", sweep_command, "block size x learning rate sweep as a Slurm job DAG"},
      {"report", report_command, "report of a sweep directory"},
      {"inspect", inspect_command, "print groups, datasets and attributes of a circal file"},
      {"config", config_command, "print the resolved YAML config"},
      {"split", split_command, "split a prompts file into calibration/validation/test"},
  };
  return table;
}

}  // namespace circal

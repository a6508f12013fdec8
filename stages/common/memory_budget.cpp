#include "stages/common/memory_budget.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/model/transformer.hpp"
#include "stages/common/capture_layout.hpp"
#include "stages/common/student.hpp"

namespace circal {

namespace {

constexpr double kMiB = 1024.0 * 1024.0, kGiB = 1024.0 * kMiB;

// Rows of one prompt: a corpus window's length; prompt files are not tokenized yet, and
// data.window_tokens stands for one of their prompts too.
double prompt_rows(const Config& config) { return double(config.data.window_tokens); }

// capture's per-frequency statistics of every patched layer (stages/FILES.md's formula), and
// the full input Grams when capture stores them (8 n^2 bytes an input).
double statistics_bytes(const Config& config, const LlamaConfig& model) {
  const double layers = double(config.patch.layers.size());
  double bytes = 0;
  for (int b : statistics_block_sizes(config)) {
    const double bins = b / 2 + 1, qh = (model.hidden_size + b - 1) / b, qi = (model.intermediate_size + b - 1) / b;
    bytes += layers * bins * 16 * (qh * (qh + 1) / 2 + qi * (qi + 1) / 2 + 3 * qh * qi);
  }
  const int widest = std::max(model.hidden_size, model.intermediate_size);
  if (stores_full_gram(config, widest))
    bytes +=
        layers * 8.0 *
        (double(model.hidden_size) * model.hidden_size + double(model.intermediate_size) * model.intermediate_size);
  return bytes;
}

std::string gigabytes(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GB", bytes / kGiB);
  return text;
}

}  // namespace

double StagePeak::bytes() const {
  double total = 0;
  for (const MemoryItem& item : items) total += item.bytes;
  return total;
}

double teacher_float32_bytes(const LlamaConfig& m) {
  const double h = m.hidden_size, q_out = double(m.num_attention_heads) * m.head_dim,
               kv_out = double(m.num_key_value_heads) * m.head_dim, i = m.intermediate_size, V = m.vocab_size;
  const double layer = h * q_out * 2 + h * kv_out * 2 + 3 * h * i + 2 * h;
  return 4 * (V * h * (m.tie_word_embeddings ? 1 : 2) + m.num_hidden_layers * layer + h);
}

namespace {

// The teacher a node holds: float32 (shared once a node, or once a rank), or the weight files'
// bytes in their page cache (once a node whatever runtime.shared_weights says).
MemoryItem teacher_item(const Config& config, const LlamaConfig& model, int node_ranks,
                        const TeacherResidency* residency) {
  if (residency && residency->dtype == ResidentDtype::File)
    return {std::string("teacher weights (") + dtype_name(residency->file_dtype) + ", mapped once a node)",
            residency->file_bytes, ""};
  const bool shared = config.runtime.shared_weights;
  const bool smaller_file = residency && residency->file_dtype != TensorDtype::F32;
  return {"teacher weights (float32" + std::string(shared ? ", one copy a node)" : ", one copy a rank)"),
          teacher_float32_bytes(model) * (shared ? 1 : node_ranks),
          !shared        ? "runtime.shared_weights (set it true)"
          : smaller_file ? "model.resident_dtype (set it file)"
                         : ""};
}

// Under file residency each rank converts one matrix at a time; lm_head (or embed_tokens) is
// the largest.
double scratch_bytes(const LlamaConfig& m) {
  const double h = m.hidden_size, widest = std::max({double(m.vocab_size), double(m.intermediate_size),
                                                     double(m.num_attention_heads) * m.head_dim});
  return 4 * h * widest;
}

}  // namespace

std::vector<StagePeak> stage_peaks(const Config& config, const LlamaConfig& model, int node_ranks,
                                   const TeacherResidency* residency) {
  const double R = node_ranks, V = model.vocab_size;
  const MemoryItem teacher = teacher_item(config, model, node_ranks, residency);
  // capture: one batched teacher forward (teacher_batch_prompts: its own bound on rows and
  // activations), all its activations kept for the statistics hooks.
  const int rows = int(prompt_rows(config));
  const int batch = teacher_batch_prompts(config, model, std::size_t(rows));
  StagePeak capture{
      "capture",
      {teacher,
       {"teacher activations", R * Transformer::activation_bytes(model, 0, std::vector<int>(batch, rows), false),
        "capture.activation_budget_mb"},
       {"batch logits", R * double(batch) * rows * V * 4, "capture.batch_tokens"},
       {"projection statistics", R * statistics_bytes(config, model), "capture.block_sizes"}}};
  const bool converting = residency && residency->dtype == ResidentDtype::File;
  // calibrate: one group's pass, recomputed as calibrate.recompute says (Calibrator's rule).
  const std::vector<int> group(config.calibrate.group_prompts, rows);
  const int first_layer =
      config.patch.layers.empty() ? 0 : *std::min_element(config.patch.layers.begin(), config.patch.layers.end());
  const double kept = Transformer::activation_bytes(model, first_layer, group, false);
  const bool recompute =
      config.calibrate.recompute == Recompute::On ||
      (config.calibrate.recompute == Recompute::Auto && kept > config.calibrate.activation_budget_mb * kMiB);
  const double activations = recompute ? Transformer::activation_bytes(model, first_layer, group, true) : kept;
  const double group_rows = double(config.calibrate.group_prompts) * rows;
  // parameters, gradients, Adam's two moments and the best parameters so far
  const StudentLayout layout = StudentLayout::patched_matrices(config, model);
  const double student_parameters = config.project.allocate_blocks
                                        ? double(layout.dense_parameters()) / config.project.compression
                                        : double(layout.total_size);
  const double student = 5 * 4 * student_parameters;
  StagePeak calibrate{
      "calibrate",
      {teacher,
       {"stored activations", R * activations,
        recompute ? "calibrate.group_prompts" : "calibrate.activation_budget_mb (to recompute)"},
       {"kept capture rows", R * config.calibrate.data_budget_mb * kMiB, "calibrate.data_budget_mb"},
       {"group logits (student, gradient, teacher)", R * group_rows * V * 4 * 3, "calibrate.group_prompts"},
       {"student parameters, gradients, Adam moments", R * student, "project.block_size"}}};
  if (converting)
    for (StagePeak* peak : {&capture, &calibrate})
      peak->items.push_back({"float32 scratch of one teacher matrix", R * scratch_bytes(model), ""});
  return {capture, calibrate};
}

double node_memory_budget(const Config& config) {
  if (config.runtime.node_memory_gb > 0) return config.runtime.node_memory_gb * kGiB;
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    std::istringstream fields(line);
    std::string name;
    double kib = 0;
    if (fields >> name >> kib && name == "MemTotal:") return kib * 1024;
  }
  return 0;  // unknown: nothing is refused
}

namespace {

const StagePeak& highest_peak(const std::vector<StagePeak>& peaks) {
  return *std::max_element(peaks.begin(), peaks.end(),
                           [](const StagePeak& a, const StagePeak& b) { return a.bytes() < b.bytes(); });
}

}  // namespace

TeacherResidency choose_residency(const Config& config, const LlamaConfig& model, TensorDtype file_dtype,
                                  double file_bytes, int node_ranks) {
  TeacherResidency chosen{ResidentDtype::Float32, file_dtype, file_bytes, ""};
  const ResidentDtype asked = config.model.resident_dtype;
  if (file_dtype == TensorDtype::F32) {
    chosen.reason = "float32 (the checkpoint is float32)";
    return chosen;
  }
  const std::string file = std::string("file (") + dtype_name(file_dtype) + ", " + gigabytes(file_bytes) + " a node)";
  if (asked != ResidentDtype::Auto) {
    chosen.dtype = asked;
    chosen.reason = (asked == ResidentDtype::File ? file : "float32") + " (set by model.resident_dtype)";
    return chosen;
  }
  const double budget = node_memory_budget(config);
  const std::vector<StagePeak> peaks = stage_peaks(config, model, node_ranks, &chosen);
  const StagePeak& peak = highest_peak(peaks);
  if (budget <= 0 || peak.bytes() <= budget) {
    chosen.reason = "float32 (auto: the " + peak.stage + " stage's " + gigabytes(peak.bytes()) + " a node fits the " +
                    gigabytes(budget) + " of runtime.node_memory_gb)";
    return chosen;
  }
  chosen.dtype = ResidentDtype::File;
  chosen.reason = file + " (auto: with float32 the " + peak.stage + " stage would need " + gigabytes(peak.bytes()) +
                  " a node, more than the " + gigabytes(budget) + " of runtime.node_memory_gb)";
  return chosen;
}

void refuse_memory_shortfall(const Config& config, const LlamaConfig& model, int node_ranks,
                             const TeacherResidency* residency) {
  const double budget = node_memory_budget(config);
  if (budget <= 0) return;
  const std::vector<StagePeak> peaks = stage_peaks(config, model, node_ranks, residency);
  const StagePeak& peak = highest_peak(peaks);
  if (peak.bytes() > budget) {
    const MemoryItem& largest =
        *std::max_element(peak.items.begin(), peak.items.end(),
                          [](const MemoryItem& a, const MemoryItem& b) { return a.bytes < b.bytes; });
    std::string parts;
    for (const MemoryItem& item : peak.items)
      parts += (parts.empty() ? "" : " + ") + item.what + " " + gigabytes(item.bytes);
    fail(kExitUsage, "runtime.node_memory_gb: the " + peak.stage + " stage needs about " + gigabytes(peak.bytes()) +
                         " a node at " + std::to_string(node_ranks) + " rank(s) (" + parts + "), more than the " +
                         gigabytes(budget) + " budget; raise runtime.node_memory_gb" +
                         (largest.key.empty() ? " (the largest part, the " + largest.what + ", has no smaller setting)"
                                              : " or lower " + largest.key + " (" + largest.what + ", " +
                                                    gigabytes(largest.bytes) + ")"));
  }
}

}  // namespace circal

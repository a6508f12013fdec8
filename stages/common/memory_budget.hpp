#pragma once
// The memory a node needs at the peak of each stage, estimated from the config and the
// model's config.json alone (docs/DESIGN.md section 8.3), so that a run which would not fit
// runtime.node_memory_gb is refused before it loads the teacher or starts any stage, with one
// line naming what does not fit and which key to change, instead of being OOM-killed halfway.
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/config/config.hpp"
#include "pipeline/io/safetensors.hpp"
#include "pipeline/model/llama_config.hpp"

namespace circal {

// One buffer of the estimate, in bytes a node, and the config key that sizes it.
struct MemoryItem {
  std::string what;
  double bytes = 0;
  std::string key;
};

// A stage's peak: the node-shared teacher plus `node_ranks` times each rank's buffers.
struct StagePeak {
  std::string stage;
  std::vector<MemoryItem> items;
  double bytes() const;
};

// Bytes of the float32 teacher a config.json describes (4 bytes a parameter).
double teacher_float32_bytes(const LlamaConfig& model);

// How the teacher's matrices are kept (model.resident_dtype resolved: Float32 or File), the
// bytes of the weight files as stored (file_dtype: their matrices'), and why, for the log.
struct TeacherResidency {
  ResidentDtype dtype = ResidentDtype::Float32;
  TensorDtype file_dtype = TensorDtype::F32;
  double file_bytes = 0;
  std::string reason;
};
// A float32 checkpoint, or model.resident_dtype float32 or file, is taken as it is; auto picks
// file when the float32 teacher would put a stage's peak over node_memory_budget.
TeacherResidency choose_residency(const Config& config, const LlamaConfig& model, TensorDtype file_dtype,
                                  double file_bytes, int node_ranks);

// Capture's and calibrate's peaks (project and evaluate hold less: one matrix's statistics,
// or the teacher and one batch's logits, as in capture). config's patch.layers resolved.
// Without a residency the teacher is float32.
std::vector<StagePeak> stage_peaks(const Config& config, const LlamaConfig& model, int node_ranks,
                                   const TeacherResidency* residency = nullptr);

// runtime.node_memory_gb in bytes: the key's value, or the node's MemTotal when it is 0.
double node_memory_budget(const Config& config);

// CircalError(kExitUsage) when the highest stage peak passes the budget: "runtime.node_memory_gb: the
// calibrate stage needs about X GB a node (teacher weights ... + 2 ranks x (...)), more than the
// Y GB budget; raise runtime.node_memory_gb or lower KEY" (KEY: the largest per-rank item's).
void refuse_memory_shortfall(const Config& config, const LlamaConfig& model, int node_ranks,
                             const TeacherResidency* residency = nullptr);

}  // namespace circal

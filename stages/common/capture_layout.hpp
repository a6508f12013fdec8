#pragma once
// The prompts a capture covers and where each (layer, projection) input lives in
// capture.h5 (stages/FILES.md). Shared by capture and by the stages that read it.
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/config/config.hpp"
#include "pipeline/data/prompts.hpp"
#include "pipeline/model/llama_config.hpp"
#include "pipeline/model/tokenizer.hpp"

namespace circal {

struct CapturePrompts {
  std::vector<std::vector<int>> tokens;  // BOS + ids, calibration prompts then validation
  std::vector<int64_t> offsets;          // [P + 1] token rows
  std::vector<int32_t> split;            // [P] 0 calibration, 1 validation
  int calibration_count = 0;
};

// Reads and tokenizes prompts.calibration and prompts.validation, or with data.source = corpus
// draws the calibration and validation windows (pipeline/data/corpus_windows.hpp). A prompt
// longer than the model's max_position_embeddings or a prompt in two splits is a
// CircalError(kExitInput).
CapturePrompts tokenize_capture_prompts(const Config& config, const Tokenizer& tokenizer, const LlamaConfig& model);

// Prompts per batched teacher forward of capture (and of project's pass over student inputs):
// enough rows that OpenBLAS packs each weight once for many tokens, yet at most
// capture.batch_tokens rows, at most capture.activation_budget_mb of kept activations
// (Transformer::activation_bytes, plus down_proj's kept outputs) and at most 16 prompts; at
// least 1. A function of the config, the model and the longest prompt only, never of the rank
// count, so the batches and their float rounding are the same at any rank count.
int teacher_batch_prompts(const Config& config, const LlamaConfig& model, std::size_t longest);

// gate_proj and up_proj see the same state, stored once under gate_proj.
Projection capture_input_source(Projection projection);
std::string capture_input_dataset(int layer, Projection projection);

}  // namespace circal

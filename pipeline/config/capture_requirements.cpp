#include "pipeline/config/capture_requirements.hpp"

#include <algorithm>

#include "pipeline/base/errors.hpp"

namespace circal {

namespace {

std::string list_text(const std::vector<int>& values) {
  std::string text;
  for (int v : values) text += (text.empty() ? "" : ", ") + std::to_string(v);
  return "[" + text + "]";
}

// project: a circulant projection reads the per-frequency statistics of its block size.
std::optional<CaptureShortfall> block_size_shortfall(const Config& capture, const Config& point) {
  // An allocation chooses among whatever block sizes the capture has (1, kept dense, needs none).
  if (point.project.structure != Structure::Circulant || point.project.allocate_blocks) return std::nullopt;
  const std::vector<int> sizes = statistics_block_sizes(capture);
  const int b = point.project.block_size;
  if (std::find(sizes.begin(), sizes.end(), b) != sizes.end()) return std::nullopt;
  return CaptureShortfall{
      "project.block_size",
      std::to_string(b) + " has no projection statistics (capture.block_sizes " + list_text(sizes) + ")",
      "add " + std::to_string(b) + " to capture.block_sizes"};
}

// project: a low-rank student is fitted from the full input Gram.
std::optional<CaptureShortfall> full_gram_shortfall(const Config& capture, const Config& point) {
  if (point.project.structure != Structure::LowRank || capture.capture.full_gram != FullGramChoice::No)
    return std::nullopt;
  return CaptureShortfall{"project.structure", "lowrank is fitted from the full input Gram (capture.full_gram false)",
                          "set capture.full_gram to auto or true"};
}

// project: down_proj inputs from the projected student exist for circulant students only.
std::optional<CaptureShortfall> down_inputs_shortfall(const Config&, const Config& point) {
  if (point.project.down_inputs != DownInputs::Student || point.project.structure == Structure::Circulant)
    return std::nullopt;
  return CaptureShortfall{"project.down_inputs", "student works with project.structure circulant only",
                          "set project.down_inputs to teacher"};
}

// calibrate: a temperature other than 1 needs the whole teacher distribution.
std::optional<CaptureShortfall> logits_shortfall(const Config& capture, const Config& point) {
  if (!point.calibrate.enabled || point.calibrate.temperature == 1.0 ||
      capture.capture.logits_format == LogitsFormat::Full)
    return std::nullopt;
  return CaptureShortfall{"calibrate.temperature",
                          "other than 1 needs full teacher logits (capture.logits_format topk)",
                          "set capture.logits_format to full"};
}

}  // namespace

std::optional<CaptureShortfall> capture_shortfall(const Config& capture, const Config& point) {
  for (auto rule : {block_size_shortfall, full_gram_shortfall, down_inputs_shortfall, logits_shortfall})
    if (auto shortfall = rule(capture, point)) return shortfall;
  return std::nullopt;
}

void refuse_capture_shortfall(const Config& config) {
  if (const auto shortfall = capture_shortfall(config, config)) fail(kExitUsage, "config: " + shortfall->text());
}

}  // namespace circal

#include "stages/common/capture_layout.hpp"

#include <algorithm>

#include "pipeline/base/errors.hpp"
#include "pipeline/data/corpus_windows.hpp"
#include "pipeline/data/prompts.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "pipeline/model/transformer.hpp"

namespace circal {

CapturePrompts tokenize_capture_prompts(const Config& config, const Tokenizer& tokenizer, const LlamaConfig& model) {
  CapturePrompts prompts;
  if (config.data.source == DataSource::Corpus) {
    std::vector<CorpusPart> parts = corpus_windows(config.data, tokenizer, model, false);
    prompts.tokens = std::move(parts.at(0).tokens);
    prompts.calibration_count = int(prompts.tokens.size());
    for (auto& ids : parts.at(1).tokens) prompts.tokens.push_back(std::move(ids));
  } else {
    check_disjoint_splits({config.prompts.calibration, config.prompts.validation, config.prompts.test});
    prompts.tokens =
        tokenize_prompts(read_prompts(config.prompts.calibration), config.prompts.calibration, tokenizer, model);
    prompts.calibration_count = int(prompts.tokens.size());
    for (auto& ids :
         tokenize_prompts(read_prompts(config.prompts.validation), config.prompts.validation, tokenizer, model))
      prompts.tokens.push_back(std::move(ids));
  }
  prompts.offsets = {0};
  for (size_t i = 0; i < prompts.tokens.size(); ++i) {
    prompts.offsets.push_back(prompts.offsets.back() + int64_t(prompts.tokens[i].size()));
    prompts.split.push_back(int(i) < prompts.calibration_count ? 0 : 1);
  }
  return prompts;
}

int teacher_batch_prompts(const Config& config, const LlamaConfig& model, std::size_t longest) {
  longest = std::max<std::size_t>(longest, 1);
  const double budget = double(config.capture.activation_budget_mb) * (1 << 20);
  int prompts = int(std::clamp<std::size_t>(std::size_t(config.capture.batch_tokens) / longest, 1, 16));
  for (; prompts > 1; --prompts) {
    const std::vector<int> lengths(prompts, int(longest));
    const double down_outputs = 4.0 * model.num_hidden_layers * double(prompts) * longest * model.hidden_size;
    if (Transformer::activation_bytes(model, 0, lengths, false) + down_outputs <= budget) break;
  }
  return prompts;
}

Projection capture_input_source(Projection projection) {
  // gate_proj and up_proj read the same input: capture stores it once, under gate_proj.
  return projection == Projection::Up ? Projection::Gate : projection;
}

std::string capture_input_dataset(int layer, Projection projection) {
  return "/layers/" + std::to_string(layer) + "/" + name_of(capture_input_source(projection)) + "/inputs";
}

}  // namespace circal

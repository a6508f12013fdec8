#include "stages/evaluate/test_prompts.hpp"

#include "pipeline/data/corpus_windows.hpp"
#include "pipeline/data/prompts.hpp"
#include "pipeline/model/tokenizer.hpp"

namespace circal {

TestSplit read_test_split(const std::string& path, const Tokenizer& tokenizer, const LlamaConfig& model) {
  const std::vector<Prompt> prompts = read_prompts(path);
  TestSplit split;
  split.tokens = tokenize_prompts(prompts, path, tokenizer, model);
  split.offsets = {0};
  for (size_t i = 0; i < prompts.size(); ++i) {
    split.text.push_back(prompts[i].text);
    split.family.push_back(prompts[i].family);
    split.language.push_back(prompts[i].language);
    split.offsets.push_back(split.offsets.back() + int64_t(split.tokens[i].size()));
  }
  return split;
}

TestSplit read_test_data(const Config& config, const Tokenizer& tokenizer, const LlamaConfig& model) {
  if (test_data_source(config) != DataSource::Corpus) return read_test_split(config.prompts.test, tokenizer, model);
  CorpusPart part = std::move(corpus_windows(config.data, tokenizer, model, true).at(0));
  TestSplit split;
  split.text = std::move(part.label);
  split.family = std::move(part.family);
  split.language = std::move(part.language);
  split.tokens = std::move(part.tokens);
  split.offsets = {0};
  for (const auto& ids : split.tokens) split.offsets.push_back(split.offsets.back() + int64_t(ids.size()));
  return split;
}

}  // namespace circal

#include "stages/evaluate/test_prompts.hpp"

#include "pipeline/data/prompts.hpp"

namespace circal {

TestSplit read_test_split(const std::string& path, const std::string& model_dir, const LlamaConfig& model) {
  const std::vector<Prompt> prompts = read_prompts(path);
  TestSplit split;
  split.tokens = tokenize_prompts(prompts, path, Tokenizer(model_dir), model);
  split.offsets = {0};
  for (size_t i = 0; i < prompts.size(); ++i) {
    split.text.push_back(prompts[i].text);
    split.family.push_back(prompts[i].family);
    split.language.push_back(prompts[i].language);
    split.offsets.push_back(split.offsets.back() + int64_t(split.tokens[i].size()));
  }
  return split;
}

}  // namespace circal

#pragma once
// The held-out test split as the evaluate stage sees it: each prompt's tokens and the groups
// the report breaks the metrics down by. The template family is the text before the first
// ':' and the language come from pipeline/data/prompts.hpp, the rules the split stratifies by.
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/config/config.hpp"
#include "pipeline/model/llama_config.hpp"
#include "pipeline/model/tokenizer.hpp"

namespace circal {

struct TestSplit {
  std::vector<std::string> text;
  std::vector<std::string> family;
  std::vector<std::string> language;     // EN | DE
  std::vector<std::vector<int>> tokens;  // prompt_ids
  std::vector<int64_t> offsets;          // [P + 1] position rows of each prompt
  int size() const { return int(text.size()); }
};

// Reads PATH (one prompt per non-empty line) and tokenizes it with the model folder's
// tokenizer `tokenizer`. CircalError(kExitInput) naming the file when it is missing or empty, or when a
// prompt is longer than the model's context.
TestSplit read_test_split(const std::string& path, const Tokenizer& tokenizer, const LlamaConfig& model);

// The test data of a run: prompts.test, or with data.test_source (or data.source when it is
// `same`) = corpus the test windows
// (family = the corpus file's name, language = its documents' "lang", text = "SOURCE tokens A-B").
TestSplit read_test_data(const Config& config, const Tokenizer& tokenizer, const LlamaConfig& model);

}  // namespace circal

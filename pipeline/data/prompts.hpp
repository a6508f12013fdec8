#pragma once
// Prompt files: one prompt per non-empty line, UTF-8. Each prompt knows its template family
// (what the split stratifies on and evaluate breaks metrics down by) and its language.
#include <string>
#include <vector>

#include "pipeline/model/llama_config.hpp"
#include "pipeline/model/tokenizer.hpp"

namespace circal {

struct Prompt {
  std::string text;
  std::string family;    // text before the first ':', else its first four words
  std::string language;  // "DE" for the German template families, else "EN"
};

// Reads PATH; throws CircalError(kExitInput) naming the file (and line) when it is missing,
// has no prompt, or holds invalid UTF-8. Trailing "\r" and surrounding blanks are dropped.
std::vector<Prompt> read_prompts(const std::string& path);

// Throws CircalError(kExitInput) naming both files and the prompt when one prompt appears in
// two of the files.
void check_disjoint_splits(const std::vector<std::string>& paths);

// Each prompt's model input (prompt_ids: BOS, then the tokenizer's ids, all inside the
// vocabulary), refused with CircalError(kExitInput) naming `path` and the prompt's number when
// it is longer than the model's max_position_embeddings. Every command and stage that reads a
// prompt file tokenizes it here, so all of them accept and refuse the same files.
std::vector<std::vector<int>> tokenize_prompts(const std::vector<Prompt>& prompts, const std::string& path,
                                               const Tokenizer& tokenizer, const LlamaConfig& model);

}  // namespace circal

#include "stages/test_prompts.hpp"

#include <fstream>
#include <sstream>

#include "pipeline/errors.hpp"

namespace circal {

std::string prompt_family(const std::string& text) {
  const size_t colon = text.find(':');
  if (colon != std::string::npos) return colon > 0 ? text.substr(0, colon) : "(none)";
  std::istringstream words(text);
  std::string family, word;
  for (int i = 0; i < 4 && words >> word; ++i) family += (i ? " " : "") + word;
  return family;
}

std::string family_language(const std::string& family) {
  static const char* kGerman[] = {"Vervollstaendige den Satz", "Fuehre fort", "Erklaere kurz",
                                  "Gib ein Beispiel", "Formuliere um"};
  for (const char* german : kGerman)
    if (family == german) return "DE";
  return "EN";
}

TestSplit read_test_split(const std::string& path, const std::string& model_dir, const LlamaConfig& model) {
  std::ifstream in(path);
  if (!in) fail(kExitInput, path + ": cannot read the test prompts (prompts.test)");
  const Tokenizer tokenizer(model_dir);
  TestSplit split;
  split.offsets = {0};
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::vector<int> ids = {model.bos_token_id};
    for (int id : tokenizer.encode(line)) ids.push_back(id);
    if (int(ids.size()) > model.max_position_embeddings)
      fail(kExitInput, path + ": prompt " + std::to_string(split.size() + 1) + " has " +
                           std::to_string(ids.size()) + " tokens, more than max_position_embeddings " +
                           std::to_string(model.max_position_embeddings));
    split.family.push_back(prompt_family(line));
    split.language.push_back(family_language(split.family.back()));
    split.offsets.push_back(split.offsets.back() + int64_t(ids.size()));
    split.tokens.push_back(std::move(ids));
    split.text.push_back(line);
  }
  if (split.text.empty()) fail(kExitInput, path + ": no test prompts (prompts.test)");
  return split;
}

}  // namespace circal

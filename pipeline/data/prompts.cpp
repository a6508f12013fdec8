#include "pipeline/data/prompts.hpp"

#include <array>
#include <fstream>
#include <map>
#include <sstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/input_files.hpp"
#include "pipeline/model/utf8_text.hpp"

namespace circal {
namespace {

std::string trimmed(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

std::string template_family(const std::string& text) {
  const auto colon = text.find(':');
  if (colon != std::string::npos) return trimmed(text.substr(0, colon));
  std::istringstream words(text);
  std::string word, family;
  for (int n = 0; n < 4 && words >> word; ++n) family += (family.empty() ? "" : " ") + word;
  return family;
}

std::string template_language(const std::string& family) {
  static const std::array<const char*, 5> german = {"Vervollstaendige den Satz", "Fuehre fort", "Erklaere kurz",
                                                    "Gib ein Beispiel", "Formuliere um"};
  for (const char* name : german)
    if (family == name) return "DE";
  return "EN";
}

}  // namespace

std::vector<Prompt> read_prompts(const std::string& path) {
  std::ifstream in = open_input_file(path);
  std::vector<Prompt> prompts;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!valid_utf8(line)) fail(kExitInput, "prompts: " + path + ":" + std::to_string(number) + ": invalid UTF-8");
    std::string text = trimmed(line);
    if (text.empty()) continue;
    std::string family = template_family(text);
    std::string language = template_language(family);
    prompts.push_back({std::move(text), std::move(family), std::move(language)});
  }
  if (prompts.empty()) fail(kExitInput, "prompts: " + path + ": no prompts (empty file)");
  return prompts;
}

void check_disjoint_splits(const std::vector<std::string>& paths) {
  std::map<std::string, std::string> owner;  // prompt -> first file holding it
  for (const auto& path : paths) {
    for (const auto& prompt : read_prompts(path)) {
      const auto [it, fresh] = owner.emplace(prompt.text, path);
      if (!fresh && it->second != path)
        fail(kExitInput, "prompts: \"" + prompt.text + "\" is in both " + it->second + " and " + path);
    }
  }
}

std::vector<std::vector<int>> tokenize_prompts(const std::vector<Prompt>& prompts, const std::string& path,
                                               const Tokenizer& tokenizer, const LlamaConfig& model) {
  std::vector<std::vector<int>> result;
  int number = 0;
  for (const Prompt& prompt : prompts) {
    ++number;
    std::vector<int> ids = prompt_ids(tokenizer, model, prompt.text);
    if (int(ids.size()) > model.max_position_embeddings)
      fail(kExitInput, path + ": prompt " + std::to_string(number) + " has " + std::to_string(ids.size()) +
                           " tokens, more than the model's max_position_embeddings " +
                           std::to_string(model.max_position_embeddings));
    result.push_back(std::move(ids));
  }
  return result;
}

}  // namespace circal

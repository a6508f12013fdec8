#include "pipeline/model/hf_tokenizer.hpp"

#include <algorithm>

#include "pipeline/model/utf8_text.hpp"

namespace circal {
namespace {

TokenizerJsonPart part_of(const nlohmann::json& json, const std::string& path, const std::string& key) {
  static const nlohmann::json null;
  return {json.contains(key) ? json[key] : null, path, key};
}

}  // namespace

nlohmann::json HfTokenizer::parsed(const std::string& json_text, const std::string& path) {
  try {
    nlohmann::json json = nlohmann::json::parse(json_text);
    if (!json.is_object()) fail(kExitInput, path + ": not a JSON object");
    return json;
  } catch (const nlohmann::json::exception& e) {
    fail(kExitInput, path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
}

HfTokenizer::HfTokenizer(const std::string& json_text, const std::string& path, const std::string& config_text,
                         const std::string& config_path)
    : path_(path),
      json_(parsed(json_text, path)),
      added_(part_of(json_, path, "added_tokens")),
      normalizer_(part_of(json_, path, "normalizer")),
      pre_tokenizer_(part_of(json_, path, "pre_tokenizer"), alphabet_),
      model_(part_of(json_, path, "model")),
      decoder_(part_of(json_, path, "decoder"), alphabet_) {
  std::vector<std::string>& tokens = model_.tokens();
  for (const AddedTokens::Token& token : added_.tokens()) {
    if (size_t(token.id) >= tokens.size()) tokens.resize(size_t(token.id) + 1);
    tokens[size_t(token.id)] = token.content;
  }
  special_.assign(tokens.size(), 0);
  for (const AddedTokens::Token& token : added_.tokens()) special_[size_t(token.id)] = token.special;
  read_post_processor(part_of(json_, path, "post_processor"));
  if (!config_text.empty()) read_tokenizer_config(config_text, config_path);
  json_ = nullptr;  // every part is read: the vocabulary's JSON tree is large
}

void HfTokenizer::read_post_processor(const TokenizerJsonPart& part) {
  if (part.json.is_null()) return;
  const std::string type = part.type();
  if (type == "Sequence") {
    for (size_t i = 0; i < part.at("processors").size(); ++i) read_post_processor(part.element("processors", i));
  } else if (type == "TemplateProcessing") {
    const TokenizerJsonPart specials = part.child("special_tokens");
    bool after_sequence = false;
    for (size_t i = 0; i < part.at("single").size(); ++i)
      add_template_piece(part.element("single", i), specials, after_sequence);
  } else if (type != "ByteLevel") {  // ByteLevel only trims offsets, which circal does not keep
    part.unsupported();
  }
}

void HfTokenizer::add_template_piece(const TokenizerJsonPart& piece, const TokenizerJsonPart& specials,
                                     bool& after_sequence) {
  if (piece.json.contains("Sequence")) {
    after_sequence = true;
    return;
  }
  const std::string name = piece.child("SpecialToken").get<std::string>("id");
  const std::vector<int> ids = specials.child(name).get<std::vector<int>>("ids");
  std::vector<int>& side = after_sequence ? suffix_ : prefix_;
  side.insert(side.end(), ids.begin(), ids.end());
}

void HfTokenizer::read_tokenizer_config(const std::string& config_text, const std::string& config_path) {
  const nlohmann::json json = parsed(config_text, config_path);
  const TokenizerJsonPart config{json, config_path, "tokenizer_config"};
  // The classes whose fast tokenizer replaces tokenizer.json's template by these two flags.
  static const std::vector<std::string> llama = {"LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer",
                                                 "CodeLlamaTokenizerFast"};
  const std::string tokenizer_class = config.get_or<std::string>("tokenizer_class", "");
  if (std::find(llama.begin(), llama.end(), tokenizer_class) == llama.end()) return;
  prefix_.clear();
  suffix_.clear();
  if (config.get_or<bool>("add_bos_token", true)) prefix_.push_back(special_id(config, "bos_token"));
  if (config.get_or<bool>("add_eos_token", false)) suffix_.push_back(special_id(config, "eos_token"));
}

int HfTokenizer::special_id(const TokenizerJsonPart& config, const std::string& key) const {
  // A plain string, or an AddedToken object with its "content".
  const nlohmann::json& value = config.at(key);
  const std::string token =
      value.is_object() ? config.child(key).get<std::string>("content") : config.get<std::string>(key);
  const std::vector<std::string>& tokens = model_.tokens();
  const auto found = std::find(tokens.begin(), tokens.end(), token);
  if (found == tokens.end()) config.refuse("." + key + " \"" + token + "\" is not a token of " + path_);
  return int(found - tokens.begin());
}

std::vector<int> HfTokenizer::encode(const std::string& text) const {
  if (!valid_utf8(text)) fail(kExitInput, path_ + ": cannot encode text that is not valid UTF-8");
  const std::lock_guard<std::mutex> lock(encoding_);
  std::vector<int> ids;
  for (const AddedTokens::Piece& raw : added_.split(text, false, true)) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    for (const AddedTokens::Piece& piece : added_.split(normalizer_.apply(raw.text), true, raw.text_start)) {
      if (piece.id >= 0)
        ids.push_back(piece.id);
      else
        for (const std::string& word : pre_tokenizer_.words(piece.text, piece.text_start)) model_.encode(word, ids);
    }
  }
  return ids;
}

std::vector<int> HfTokenizer::with_special_tokens(const std::vector<int>& ids) const {
  std::vector<int> framed = prefix_;
  framed.insert(framed.end(), ids.begin(), ids.end());
  framed.insert(framed.end(), suffix_.begin(), suffix_.end());
  return framed;
}

std::string HfTokenizer::decode(const std::vector<int>& ids) const {
  std::vector<std::string> tokens;
  for (const int id : ids) {
    // An id the tokenizer lacks (a model's vocabulary is often padded past it) gives no text.
    if (id >= 0 && id < vocab_size() && !special_[size_t(id)]) tokens.push_back(model_.tokens()[size_t(id)]);
  }
  return decoder_.decode(std::move(tokens));
}

}  // namespace circal

#pragma once
// The tokenizer.json engine: a Hugging Face "fast" tokenizer of the BPE model, giving the ids
// that Hugging Face's tokenizers give for the same text. Byte-level BPE (GPT-2, Llama 3, Qwen2/3,
// SmolLM2) and SentencePiece-style BPE with byte fallback (Llama 2, Mistral).
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/model/added_tokens.hpp"
#include "pipeline/model/bpe_model.hpp"
#include "pipeline/model/byte_level_alphabet.hpp"
#include "pipeline/model/pre_tokenizer.hpp"
#include "pipeline/model/text_normalizer.hpp"
#include "pipeline/model/token_decoder.hpp"

namespace circal {

class HfTokenizer {
 public:
  // `json_text` is the file's content, `path` names it in every refusal (exit 3): not JSON, a
  // model other than BPE, a normalizer, pre_tokenizer, post_processor or decoder type circal
  // does not implement. `config_text`, when not empty, is tokenizer_config.json at `config_path`.
  HfTokenizer(const std::string& json_text, const std::string& path, const std::string& config_text = "",
              const std::string& config_path = "");
  HfTokenizer(const HfTokenizer&) = delete;
  HfTokenizer& operator=(const HfTokenizer&) = delete;

  // The ids of `text` without the post_processor's special tokens; refuses invalid UTF-8.
  std::vector<int> encode(const std::string& text) const;
  // `ids` framed as the post_processor frames one sequence (TemplateProcessing's "single";
  // ByteLevel and none add nothing): what tokenizer(text) gives with add_special_tokens=True.
  // For a LlamaTokenizer class in tokenizer_config.json its add_bos_token (default true) and
  // add_eos_token (default false) decide instead, as LlamaTokenizerFast rebuilds the template.
  std::vector<int> with_special_tokens(const std::vector<int>& ids) const;
  // Text of `ids`, special added tokens and ids past the vocabulary skipped
  // (skip_special_tokens=True).
  std::string decode(const std::vector<int>& ids) const;
  // One past the largest id, added tokens included (len(tokenizer)).
  int vocab_size() const { return int(model_.tokens().size()); }

 private:
  static nlohmann::json parsed(const std::string& json_text, const std::string& path);
  void read_post_processor(const TokenizerJsonPart& part);
  void add_template_piece(const TokenizerJsonPart& piece, const TokenizerJsonPart& specials, bool& after_sequence);
  void read_tokenizer_config(const std::string& config_text, const std::string& config_path);
  int special_id(const TokenizerJsonPart& config, const std::string& key) const;

  std::string path_;
  nlohmann::json json_;
  ByteLevelAlphabet alphabet_;
  AddedTokens added_;
  TextNormalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  BpeModel model_;
  TokenDecoder decoder_;
  std::vector<int> prefix_, suffix_;  // the post_processor's special tokens around the text
  std::vector<char> special_;         // per id: a special added token, skipped by decode
  mutable std::mutex encoding_;       // the regex match blocks and the word cache are shared
};

}  // namespace circal

#pragma once
// A model folder's tokenizer, and the model input of a prompt.
#include <memory>
#include <string>
#include <vector>

#include "pipeline/model/llama_config.hpp"

namespace circal {

// The tokenizer of a model folder, as Hugging Face's AutoTokenizer picks it: tokenizer.json
// (the "fast" tokenizer, circal's HfTokenizer) when the folder has one, else SentencePiece's
// tokenizer.model.
class Tokenizer {
 public:
  explicit Tokenizer(const std::string& dir);  // throws CircalError(kExitInput)
  // A tokenizer.model already in memory (serialized SentencePiece model); `path` names it in
  // errors. Throws CircalError(kExitInput).
  static Tokenizer from_bytes(const std::string& model_bytes, const std::string& path);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  // The tokenizer's ids of text, no special tokens added (no BOS).
  std::vector<int> encode(const std::string& text) const;
  // `ids` with the special tokens tokenizer(text) adds (add_special_tokens=True): for
  // tokenizer.json those of its post_processor, or of tokenizer_config.json's add_bos_token /
  // add_eos_token for a LlamaTokenizer class (HfTokenizer::with_special_tokens); for
  // tokenizer.model BOS = `bos_token_id`, as the slow LlamaTokenizer's add_bos_token does.
  std::vector<int> with_special_tokens(const std::vector<int>& ids, int bos_token_id) const;
  // Text of ids; BOS/EOS and other special tokens give no text.
  std::string decode(const std::vector<int>& ids) const;
  int vocab_size() const;
  const std::string& path() const;  // DIR/tokenizer.json or DIR/tokenizer.model
  // Every file read: path(), and tokenizer_config.json beside a tokenizer.json when present.
  const std::vector<std::string>& files() const;

 private:
  Tokenizer();
  void load(const std::string& model_bytes);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The tokenizer's ids of text (no special tokens), each checked against the model's
// vocab_size (CircalError kExitInput naming the tokenizer file).
std::vector<int> model_ids(const Tokenizer& tokenizer, const LlamaConfig& config, const std::string& text);

// The model input for a prompt: model_ids framed by with_special_tokens (config.json's
// bos_token_id for tokenizer.model).
std::vector<int> prompt_ids(const Tokenizer& tokenizer, const LlamaConfig& config, const std::string& text);

}  // namespace circal

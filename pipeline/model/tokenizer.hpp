#pragma once
// A model folder's tokenizer, and the model input of a prompt.
#include <memory>
#include <string>
#include <vector>

#include "pipeline/model/llama_config.hpp"

namespace circal {

// SentencePiece tokenizer.model of a model folder.
class Tokenizer {
 public:
  explicit Tokenizer(const std::string& dir);  // throws CircalError(kExitInput)
  // A tokenizer.model already in memory (serialized SentencePiece model); `path` names it in
  // errors. Throws CircalError(kExitInput).
  static Tokenizer from_bytes(const std::string& model_bytes, const std::string& path);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  // SentencePiece ids of text (no BOS).
  std::vector<int> encode(const std::string& text) const;
  std::string decode(const std::vector<int>& ids) const;
  int vocab_size() const;
  const std::string& path() const;  // DIR/tokenizer.model

 private:
  Tokenizer();
  void load(const std::string& model_bytes);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The model input for a prompt: BOS (config.json's bos_token_id) then encode(text). Throws
// CircalError(kExitInput) when the tokenizer yields an id outside the model's vocabulary.
std::vector<int> prompt_ids(const Tokenizer& tokenizer, const LlamaConfig& config, const std::string& text);

}  // namespace circal

// Tokenizer: the model folder's SentencePiece tokenizer.model, used as the model was trained
// (its own normaliser and dummy prefix); BOS is the caller's business.
#include <sentencepiece_processor.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/input_files.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "pipeline/model/llama_config.hpp"

namespace circal {

struct Tokenizer::Impl {
  std::string path;
  sentencepiece::SentencePieceProcessor processor;
};

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}

Tokenizer::Tokenizer(const std::string& dir) : Tokenizer() {
  impl_->path = (std::filesystem::path(dir) / "tokenizer.model").string();
  std::ifstream in = open_input_file(impl_->path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) fail(kExitInput, impl_->path + ": unreadable");
  load(bytes.str());
}

Tokenizer Tokenizer::from_bytes(const std::string& model_bytes, const std::string& path) {
  Tokenizer tokenizer;
  tokenizer.impl_->path = path;
  tokenizer.load(model_bytes);
  return tokenizer;
}

void Tokenizer::load(const std::string& model_bytes) {
  const auto status = impl_->processor.LoadFromSerializedProto(model_bytes);
  if (!status.ok()) {
    fail(kExitInput, impl_->path + ": not a SentencePiece model (" + status.ToString() + ")");
  }
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int> Tokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  const auto status = impl_->processor.Encode(text, &ids);
  if (!status.ok()) fail(kExitInput, impl_->path + ": cannot encode \"" + text + "\" (" + status.ToString() + ")");
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string text;
  const auto status = impl_->processor.Decode(ids, &text);
  if (!status.ok()) fail(kExitInput, impl_->path + ": cannot decode ids (" + status.ToString() + ")");
  return text;
}

int Tokenizer::vocab_size() const { return impl_->processor.GetPieceSize(); }

const std::string& Tokenizer::path() const { return impl_->path; }

std::vector<int> prompt_ids(const Tokenizer& tokenizer, const LlamaConfig& config, const std::string& text) {
  std::vector<int> ids = tokenizer.encode(text);
  for (int id : ids) {
    if (id >= config.vocab_size) {
      fail(kExitInput, tokenizer.path() + ": token id " + std::to_string(id) + " is outside the model's vocab_size " +
                           std::to_string(config.vocab_size));
    }
  }
  ids.insert(ids.begin(), config.bos_token_id);
  return ids;
}

}  // namespace circal

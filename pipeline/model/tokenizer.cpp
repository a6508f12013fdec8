// Tokenizer: tokenizer.json through HfTokenizer, or the SentencePiece tokenizer.model used as
// the model was trained (its own normaliser and dummy prefix).
#include <sentencepiece_processor.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/input_files.hpp"
#include "pipeline/model/hf_tokenizer.hpp"
#include "pipeline/model/llama_config.hpp"
#include "pipeline/model/tokenizer.hpp"

namespace circal {
namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in = open_input_file(path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) fail(kExitInput, path + ": unreadable");
  return bytes.str();
}

}  // namespace

struct Tokenizer::Impl {
  std::string path;
  std::vector<std::string> files;
  std::unique_ptr<HfTokenizer> json;  // set for tokenizer.json, else `processor` is used
  sentencepiece::SentencePieceProcessor processor;
};

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}

Tokenizer::Tokenizer(const std::string& dir) : Tokenizer() {
  const std::filesystem::path json = std::filesystem::path(dir) / "tokenizer.json";
  if (std::filesystem::exists(json)) {
    impl_->path = json.string();
    const std::filesystem::path config = std::filesystem::path(dir) / "tokenizer_config.json";
    const bool configured = std::filesystem::exists(config);
    impl_->files = {impl_->path};
    if (configured) impl_->files.push_back(config.string());
    impl_->json = std::make_unique<HfTokenizer>(file_bytes(impl_->path), impl_->path,
                                                configured ? file_bytes(config.string()) : "", config.string());
    return;
  }
  impl_->path = (std::filesystem::path(dir) / "tokenizer.model").string();
  impl_->files = {impl_->path};
  load(file_bytes(impl_->path));
}

Tokenizer Tokenizer::from_bytes(const std::string& model_bytes, const std::string& path) {
  Tokenizer tokenizer;
  tokenizer.impl_->path = path;
  tokenizer.impl_->files = {path};
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
  if (impl_->json) return impl_->json->encode(text);
  std::vector<int> ids;
  const auto status = impl_->processor.Encode(text, &ids);
  if (!status.ok()) fail(kExitInput, impl_->path + ": cannot encode \"" + text + "\" (" + status.ToString() + ")");
  return ids;
}

std::vector<int> Tokenizer::with_special_tokens(const std::vector<int>& ids, int bos_token_id) const {
  if (impl_->json) return impl_->json->with_special_tokens(ids);
  std::vector<int> framed{bos_token_id};
  framed.insert(framed.end(), ids.begin(), ids.end());
  return framed;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  if (impl_->json) return impl_->json->decode(ids);
  std::string text;
  const auto status = impl_->processor.Decode(ids, &text);
  if (!status.ok()) fail(kExitInput, impl_->path + ": cannot decode ids (" + status.ToString() + ")");
  return text;
}

int Tokenizer::vocab_size() const { return impl_->json ? impl_->json->vocab_size() : impl_->processor.GetPieceSize(); }

const std::string& Tokenizer::path() const { return impl_->path; }

const std::vector<std::string>& Tokenizer::files() const { return impl_->files; }

namespace {

std::vector<int> inside_vocabulary(std::vector<int> ids, const Tokenizer& tokenizer, const LlamaConfig& config) {
  for (int id : ids) {
    if (id >= config.vocab_size) {
      fail(kExitInput, tokenizer.path() + ": token id " + std::to_string(id) + " is outside the model's vocab_size " +
                           std::to_string(config.vocab_size));
    }
  }
  return ids;
}

}  // namespace

std::vector<int> model_ids(const Tokenizer& tokenizer, const LlamaConfig& config, const std::string& text) {
  return inside_vocabulary(tokenizer.encode(text), tokenizer, config);
}

std::vector<int> prompt_ids(const Tokenizer& tokenizer, const LlamaConfig& config, const std::string& text) {
  return inside_vocabulary(tokenizer.with_special_tokens(tokenizer.encode(text), config.bos_token_id), tokenizer,
                           config);
}

}  // namespace circal

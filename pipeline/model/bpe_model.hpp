#pragma once
// A tokenizer.json "model" of type BPE: vocabulary, merge ranks ("a b" strings or ["a", "b"]
// pairs), byte fallback to <0xNN> tokens, unk, ignore_merges; words merged lowest rank first.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pipeline/model/tokenizer_json_part.hpp"

namespace circal {

class BpeModel {
 public:
  // Refuses (exit 3) another model type, or a merge naming a token outside the vocabulary.
  explicit BpeModel(const TokenizerJsonPart& part);
  // The ids of one pre-tokenized word, appended to `ids`. Not reentrant (its word cache): the
  // caller runs one encode at a time.
  void encode(std::string_view word, std::vector<int>& ids) const;
  std::optional<int> id(std::string_view token) const;
  // Token of each id (empty where the vocabulary has a hole); grows with added tokens.
  std::vector<std::string>& tokens() { return tokens_; }
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  struct Merge {
    int rank, id;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Vocabulary = std::unordered_map<std::string, int, StringHash, std::equal_to<>>;

  void read_vocabulary(const TokenizerJsonPart& part);
  void read_merges(const TokenizerJsonPart& part);
  std::vector<int> symbols(std::string_view word) const;
  std::vector<int> merged(std::string_view word) const;
  static uint64_t pair_key(int left, int right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

  Vocabulary vocabulary_;
  std::vector<std::string> tokens_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int, 256> byte_ids_;  // byte_fallback: the id of <0xNN>, -1 without
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  int unk_ = -1;
  // Words seen before: natural text repeats a few thousand words most of the time.
  mutable std::unordered_map<std::string, std::vector<int>, StringHash, std::equal_to<>> cache_;
};

}  // namespace circal

#pragma once
// A tokenizer.json's "added_tokens": matched in the text before normalization (normalized
// false) or after it (normalized true), leftmost-longest, and never split by BPE.
#include <string>
#include <vector>

#include "pipeline/model/tokenizer_json_part.hpp"

namespace circal {

class AddedTokens {
 public:
  struct Token {
    std::string content;
    int id;
    bool special, normalized, lstrip, rstrip;
  };
  // A piece of text: an added token (id >= 0) or text for the model (id -1).
  struct Piece {
    std::string text;
    int id;
    bool text_start;  // begins the whole text
  };
  // Refuses (exit 3) single_word tokens: none of the supported families uses them.
  explicit AddedTokens(const TokenizerJsonPart& part);
  // `text` cut around the tokens whose normalized flag equals `normalized`.
  std::vector<Piece> split(const std::string& text, bool normalized, bool text_start) const;
  const std::vector<Token>& tokens() const { return tokens_; }

 private:
  const Token* longest_at(const std::string& text, size_t at, bool normalized) const;
  std::vector<Token> tokens_;
  std::vector<std::vector<int>> by_first_byte_[2];  // [normalized][byte] -> tokens, longest first
};

}  // namespace circal

#pragma once
// A tokenizer.json "decoder": ids' tokens back to text. ByteLevel, Metaspace, and the
// SentencePiece-style Sequence of Replace, ByteFallback, Fuse and Strip.
#include <string>
#include <vector>

#include "pipeline/model/byte_level_alphabet.hpp"
#include "pipeline/model/tokenizer_json_part.hpp"

namespace circal {

class TokenDecoder {
 public:
  // A null part joins the tokens; an unknown type is refused (exit 3).
  TokenDecoder(const TokenizerJsonPart& part, const ByteLevelAlphabet& alphabet);
  // Invalid UTF-8 that the tokens spell (a character cut between ids) comes out as U+FFFD.
  std::string decode(std::vector<std::string> tokens) const;

 private:
  enum class Kind { Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace };
  struct Step {
    Kind kind;
    std::string pattern{}, content{};  // Replace; Strip's content; Metaspace's replacement
    int start = 0, stop = 0;           // Strip
    bool prepended = true;             // Metaspace: a leading replacement was added by the encoder
  };
  void add(const TokenizerJsonPart& part);
  void apply(const Step& step, std::vector<std::string>& tokens) const;
  void byte_fallback(std::vector<std::string>& tokens) const;
  void byte_level(std::vector<std::string>& tokens) const;

  const ByteLevelAlphabet& alphabet_;
  std::vector<Step> steps_;
};

}  // namespace circal

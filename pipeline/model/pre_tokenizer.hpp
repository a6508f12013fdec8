#pragma once
// A tokenizer.json "pre_tokenizer": Split (PCRE2 regex or literal, any invert, behaviors
// Removed/Isolated/MergedWithPrevious/MergedWithNext), ByteLevel (GPT-2's regex optional, bytes
// to its alphabet) and Metaspace, alone or in a Sequence.
#include <memory>
#include <string>
#include <vector>

#include "pipeline/model/byte_level_alphabet.hpp"
#include "pipeline/model/split_regex.hpp"
#include "pipeline/model/tokenizer_json_part.hpp"

namespace circal {

class PreTokenizer {
 public:
  // A null part keeps each piece whole; an unknown type or behavior is refused (exit 3).
  PreTokenizer(const TokenizerJsonPart& part, const ByteLevelAlphabet& alphabet);
  // The words of one normalized piece (valid UTF-8). `text_start`: the piece begins the text
  // (Metaspace's prepend_scheme "first").
  std::vector<std::string> words(std::string piece, bool text_start) const;

 private:
  enum class Kind { Split, ByteLevel, Metaspace };
  enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext };
  enum class Prepend { Always, First, Never };
  struct Step {
    Kind kind;
    std::unique_ptr<SplitRegex> regex{};  // Split's pattern; ByteLevel's GPT-2 one with use_regex
    Behavior behavior = Behavior::Isolated;
    bool invert = false;
    bool add_prefix_space = false;
    std::string replacement{};  // Metaspace
    Prepend prepend = Prepend::Always;
    bool split = true;
  };
  void add(const TokenizerJsonPart& part);
  Step split_step(const TokenizerJsonPart& part) const;
  Step byte_level_step(const TokenizerJsonPart& part) const;
  Step metaspace_step(const TokenizerJsonPart& part) const;
  void apply(const Step& step, std::string piece, bool text_start, std::vector<std::string>& out) const;
  static void split(const SplitRegex& regex, Behavior behavior, bool invert, const std::string& piece,
                    std::vector<std::string>& out);

  const ByteLevelAlphabet& alphabet_;
  std::vector<Step> steps_;
};

}  // namespace circal

#pragma once
// A tokenizer.json "normalizer": Unicode normal forms (ICU), Prepend and Replace, in sequence.
#include <string>
#include <vector>

#include <unicode/normalizer2.h>

#include "pipeline/model/tokenizer_json_part.hpp"

namespace circal {

class TextNormalizer {
 public:
  // A null part normalizes nothing; an unknown type is refused (exit 3).
  explicit TextNormalizer(const TokenizerJsonPart& part);
  // `text` is valid UTF-8 and not empty.
  std::string apply(std::string text) const;

 private:
  enum class Kind { NormalForm, Prepend, Replace };
  struct Step {
    Kind kind;
    // ICU's shared instance: owned by ICU for the process's life, nothing to release.
    const icu::Normalizer2* form = nullptr;
    std::string pattern, content;  // Replace: pattern -> content; Prepend: content
  };
  void add(const TokenizerJsonPart& part);
  std::vector<Step> steps_;
};

}  // namespace circal

#pragma once
// A tokenizer.json regex (Split pre-tokenizer, ByteLevel's GPT-2 pattern) compiled by PCRE2
// in UTF + UCP mode, JIT-compiled when the platform has a JIT.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace circal {

class SplitRegex {
 public:
  // `literal` matches `pattern` as plain text (Split's {"String": ...}). `where` names the
  // pattern in the refusal (exit 3) of one PCRE2 cannot compile.
  SplitRegex(const std::string& pattern, bool literal, const std::string& where);
  ~SplitRegex();
  SplitRegex(SplitRegex&&) noexcept;
  SplitRegex& operator=(SplitRegex&&) noexcept;

  // Every non-overlapping match in `text` (valid UTF-8, not checked again) as [begin, end)
  // byte offsets, left to right; an empty match moves on by one character.
  std::vector<std::pair<size_t, size_t>> matches(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace circal

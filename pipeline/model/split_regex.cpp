#include "pipeline/model/split_regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/utf8.h>

#include "pipeline/base/errors.hpp"

namespace circal {
namespace {

struct CodeFree {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct MatchDataFree {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

size_t next_character(std::string_view text, size_t at) {
  auto i = static_cast<int32_t>(at);
  U8_FWD_1(reinterpret_cast<const uint8_t*>(text.data()), i, static_cast<int32_t>(text.size()));
  return size_t(i);
}

}  // namespace

struct SplitRegex::Impl {
  std::unique_ptr<pcre2_code, CodeFree> code;
  // One match block reused by every call: the engine runs one encode at a time (its lock).
  std::unique_ptr<pcre2_match_data, MatchDataFree> data;
  std::string where;
};

SplitRegex::SplitRegex(const std::string& pattern, bool literal, const std::string& where)
    : impl_(std::make_unique<Impl>()) {
  impl_->where = where;
  int error = 0;
  PCRE2_SIZE offset = 0;
  // UCP: \s, \d, \w and POSIX classes follow Unicode properties, as Oniguruma's do in the
  // Rust tokenizers.
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : 0u);
  impl_->code.reset(
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error, &offset, nullptr));
  if (!impl_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    fail(kExitInput, where + ": regex does not compile at offset " + std::to_string(offset) + " (" +
                         reinterpret_cast<const char*>(message) + ")");
  }
  // Without a JIT (some platforms) the interpreter gives the same matches, slower.
  pcre2_jit_compile(impl_->code.get(), PCRE2_JIT_COMPLETE);
  impl_->data.reset(pcre2_match_data_create_from_pattern(impl_->code.get(), nullptr));
}

SplitRegex::~SplitRegex() = default;
SplitRegex::SplitRegex(SplitRegex&&) noexcept = default;
SplitRegex& SplitRegex::operator=(SplitRegex&&) noexcept = default;

std::vector<std::pair<size_t, size_t>> SplitRegex::matches(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> found;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  for (size_t at = 0; at <= text.size();) {
    const int rc =
        pcre2_match(impl_->code.get(), subject, text.size(), at, PCRE2_NO_UTF_CHECK, impl_->data.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) fail(kExitInput, impl_->where + ": regex match failed (PCRE2 error " + std::to_string(rc) + ")");
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(impl_->data.get());
    if (ovector[1] == ovector[0]) {
      if (ovector[0] >= text.size()) break;
      at = next_character(text, ovector[0]);
      continue;
    }
    found.emplace_back(ovector[0], ovector[1]);
    at = ovector[1];
  }
  return found;
}

}  // namespace circal

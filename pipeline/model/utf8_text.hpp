#pragma once
// The one UTF-8 validity check of circal: prompt and corpus readers, --prompt and the
// tokenizer.json engine refuse text that fails it (each naming its own file and line).
#include <string>
#include <string_view>

namespace circal {

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF), as ICU's U8_NEXT decides.
bool valid_utf8(std::string_view text);
// `bytes` with each maximal ill-formed subsequence replaced by U+FFFD (as Rust's
// String::from_utf8_lossy, which the Hugging Face decoders use).
std::string lossy_utf8(std::string_view bytes);

}  // namespace circal

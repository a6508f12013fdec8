#pragma once
// GPT-2's byte-level alphabet: every byte is one printable character, so that byte-level BPE
// vocabularies hold only printable strings (byte 0x20 is "Ġ", 0x0A is "Ċ").
#include <array>
#include <string>
#include <string_view>

namespace circal {

class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet();
  // Each byte of `bytes` as its character (UTF-8), appended to `out`.
  void encode(std::string_view bytes, std::string& out) const;
  // The bytes of a token's characters; false (out unchanged past what was appended) when a
  // character is not in the alphabet (an added token such as "<|im_start|>" is then taken as is).
  bool decode(std::string_view token, std::string& out) const;

 private:
  std::array<std::string, 256> character_of_byte_;
  std::array<int, 324> byte_of_character_;  // code points 0..323, -1 where no byte maps
};

}  // namespace circal

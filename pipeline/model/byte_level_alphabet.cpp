#include "pipeline/model/byte_level_alphabet.hpp"

#include <unicode/utf8.h>

#include <cstdint>

namespace circal {
namespace {

// The bytes GPT-2 keeps as their own code point: printable ASCII and Latin-1.
bool printable(int byte) { return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE; }

std::string utf8_of(UChar32 c) {
  char buffer[4];
  int32_t length = 0;
  U8_APPEND_UNSAFE(buffer, length, c);
  return std::string(buffer, size_t(length));
}

}  // namespace

ByteLevelAlphabet::ByteLevelAlphabet() {
  byte_of_character_.fill(-1);
  int shifted = 0;  // the others take 256, 257, ... in byte order
  for (int byte = 0; byte < 256; ++byte) {
    const int c = printable(byte) ? byte : 256 + shifted++;
    character_of_byte_[size_t(byte)] = utf8_of(c);
    byte_of_character_[size_t(c)] = byte;
  }
}

void ByteLevelAlphabet::encode(std::string_view bytes, std::string& out) const {
  for (const char b : bytes) out += character_of_byte_[static_cast<unsigned char>(b)];
}

bool ByteLevelAlphabet::decode(std::string_view token, std::string& out) const {
  const auto* s = reinterpret_cast<const uint8_t*>(token.data());
  const auto length = static_cast<int32_t>(token.size());
  std::string bytes;
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(s, i, length, c);
    if (c < 0 || c >= int(byte_of_character_.size()) || byte_of_character_[size_t(c)] < 0) return false;
    bytes += char(byte_of_character_[size_t(c)]);
  }
  out += bytes;
  return true;
}

}  // namespace circal

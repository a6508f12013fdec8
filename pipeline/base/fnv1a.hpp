#pragma once
// FNV-1a, 64 bit: the one hash behind stage fingerprints (short labelled values; file contents
// are XXH3's, pipeline/io/input_files.hpp). Not cryptographic: it tells a changed input from
// an unchanged one, nothing more.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace circal {

class Fnv1a {
 public:
  void mix(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
      hash_ ^= bytes[i];
      hash_ *= 0x100000001b3ULL;  // FNV-1a 64 prime
    }
  }
  void mix(std::string_view text) { mix(text.data(), text.size()); }
  uint64_t value() const { return hash_; }
  std::string hex() const {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash_));
    return text;
  }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
};

}  // namespace circal

#include "stages/common/fingerprint.hpp"

#include <cstdio>

#include "pipeline/io/checkpoint_store.hpp"

namespace circal {

void Fingerprint::mix(std::string_view bytes) {
  // Length first, so ("ab","c") and ("a","bc") differ.
  const uint64_t size = bytes.size();
  for (int i = 0; i < 8; ++i) {
    hash_ ^= (size >> (8 * i)) & 0xff;
    hash_ *= 0x100000001b3ULL;
  }
  for (unsigned char byte : bytes) {
    hash_ ^= byte;
    hash_ *= 0x100000001b3ULL;
  }
}

Fingerprint& Fingerprint::add(std::string_view label, std::string_view value) {
  mix(label);
  mix(value);
  return *this;
}

Fingerprint& Fingerprint::add_key(const Config& config, const std::string& key) {
  return add(key, config_value(config, key));
}

Fingerprint& Fingerprint::add_file(const std::string& path) {
  return add("file", file_content_hash(path));
}

std::string Fingerprint::hex() const {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash_));
  return text;
}

}  // namespace circal

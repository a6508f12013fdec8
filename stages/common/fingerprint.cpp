#include "stages/common/fingerprint.hpp"

#include "pipeline/io/input_files.hpp"

namespace circal {

void Fingerprint::mix(std::string_view bytes) {
  // Length first, so ("ab","c") and ("a","bc") differ.
  const uint64_t size = bytes.size();
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>((size >> (8 * i)) & 0xff);
  hash_.mix(length, sizeof length);
  hash_.mix(bytes);
}

Fingerprint& Fingerprint::add(std::string_view label, std::string_view value) {
  mix(label);
  mix(value);
  return *this;
}

Fingerprint& Fingerprint::add_key(const Config& config, const std::string& key) {
  return add(key, config_value(config, key));
}

Fingerprint& Fingerprint::add_file(const std::string& path) { return add("file", file_content_hash(path)); }

std::string Fingerprint::hex() const { return hash_.hex(); }

}  // namespace circal

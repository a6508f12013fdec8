#pragma once
// A stage fingerprint: a stable hex hash of labelled values — config keys the stage depends
// on, content hashes of its input files, upstream fingerprints — so a stage reruns exactly
// when something it depends on changed.
#include <cstdint>
#include <string>
#include <string_view>

#include "pipeline/base/fnv1a.hpp"
#include "pipeline/config/config.hpp"

namespace circal {

class Fingerprint {
 public:
  Fingerprint& add(std::string_view label, std::string_view value);
  Fingerprint& add_key(const Config& config, const std::string& key);  // "key=value"
  Fingerprint& add_file(const std::string& path);                      // content, not name
  std::string hex() const;

 private:
  void mix(std::string_view bytes);
  Fnv1a hash_;
};

}  // namespace circal

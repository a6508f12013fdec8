#pragma once
// What every harness holds the product to: bad bytes are refused with a CircalError (the
// documented one-line error and exit code); anything else (another exception, a crash, a
// sanitizer report) escapes to libFuzzer, or to replay_main, as a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pipeline/base/errors.hpp"

namespace circal::fuzz {

inline std::string bytes_text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

template <class Body>
void accept_or_refuse(Body&& body) {
  try {
    body();
  } catch (const CircalError&) {
  }
}

}  // namespace circal::fuzz

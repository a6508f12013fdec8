#pragma once
// Where the committed float64 reference files live (tests/reference/README.md says how each
// was made): the one place tests name that folder.
#include <string>

namespace circal::test {

inline std::string reference_file(const std::string& name) {
  return std::string(CIRCAL_SOURCE_DIR) + "/tests/reference/" + name;
}

}  // namespace circal::test

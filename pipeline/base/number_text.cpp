#include "pipeline/base/number_text.hpp"

#include <cstdio>

namespace circal {

std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

}  // namespace circal

#include "pipeline/base/number_text.hpp"

#include <cmath>
#include <cstdio>

namespace circal {

std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

std::string fixed_or_blank(double value, int digits) { return std::isnan(value) ? "" : fixed(value, digits); }

}  // namespace circal

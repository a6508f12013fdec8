#pragma once
// Numbers as reports print them.
#include <string>

namespace circal {

// `value` with `digits` decimals ("%.*f"): 0.2844 at 4.
std::string fixed(double value, int digits);
// The same, or "" for NaN (a figure a report does not have).
std::string fixed_or_blank(double value, int digits);

}  // namespace circal

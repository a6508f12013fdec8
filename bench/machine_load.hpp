#pragma once
// The machine's load, which every benchmark prints beside its figures: this project's machines
// are shared and noisy, and a figure means little without it.
#include <string>

namespace circal {

// The 1-minute load average, NaN when the system does not say.
double load_average_1min();
// "1-min 5-min 15-min", two decimals each, as /proc/loadavg prints them.
std::string load_averages_text();

}  // namespace circal

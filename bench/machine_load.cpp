#include "bench/machine_load.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace circal {

double load_average_1min() {
  double load[1] = {NAN};
  return getloadavg(load, 1) == 1 ? load[0] : NAN;
}

std::string load_averages_text() {
  double load[3] = {NAN, NAN, NAN};
  getloadavg(load, 3);
  char text[64];
  std::snprintf(text, sizeof text, "%.2f %.2f %.2f", load[0], load[1], load[2]);
  return text;
}

}  // namespace circal

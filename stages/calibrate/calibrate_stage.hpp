#pragma once
// Calibrate: trains the students with the KL loss over MPI ranks and writes calibrate.h5.
#include <string>

#include "stages/common/stage.hpp"

namespace circal {

void calibrate_stage(const StageContext& context);

}  // namespace circal

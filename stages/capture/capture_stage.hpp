#pragma once
// Capture: runs the teacher over the calibration, validation and test prompts and writes
// capture.h5 (stages/FILES.md).
#include <string>

#include "stages/common/stage.hpp"

namespace circal {

void capture_stage(const StageContext& context);

}  // namespace circal

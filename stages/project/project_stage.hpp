#pragma once
// Project: fits each patched matrix's circulant student from capture.h5 and writes project.h5.
#include <string>

#include "stages/common/stage.hpp"

namespace circal {

void project_stage(const StageContext& context);

}  // namespace circal

#pragma once
// Evaluate: compares every student with the teacher on the test prompts; evaluate.h5,
// metrics.json, report.md and plots.
#include <string>

#include "stages/common/stage.hpp"

namespace circal {

void evaluate_stage(const StageContext& context);
// metrics.json beside evaluate.h5 exists and carries `fingerprint` (it is written after the
// other reports, so then they all are current).
bool evaluation_reports_current(const std::string& evaluate_h5, const std::string& fingerprint);

}  // namespace circal

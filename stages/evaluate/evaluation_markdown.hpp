#pragma once
// report.md of the evaluate stage, rendered from metrics.json alone (so it can never
// disagree with it): the headline table of students x metrics first, then plain-language
// findings, the last-position table, the KL distribution, breakdowns, compression, plots.
#include <string>
#include <vector>

#include "stages/evaluate/evaluation_report.hpp"

namespace circal {

// `plots` are image paths relative to the report.
std::string report_markdown(const Json& metrics, const std::vector<std::string>& plots);

// The findings, one sentence each: the dense sanity check, students no better than zeroing
// the patched matrices, what least squares gains over Frobenius and calibration over both.
std::vector<std::string> report_notes(const Json& metrics);

// The headline table alone (what `circal run` prints at the end).
std::string headline_table(const Json& metrics);

}  // namespace circal

#pragma once
// Which structure wins at the run's compression: the best evaluated circulant student against
// the best low-rank one of equal parameters (project.compare_lowrank puts the low-rank aware
// projection beside a circulant run), in one sentence that says which students were compared
// and which of them were calibrated. A sweep over project.structure compares calibrated
// against calibrated (sweep_report.cpp); a single run usually cannot.
#include <string>

#include "stages/evaluate/evaluation_report.hpp"

namespace circal {

// metrics.json's structure_comparison, from its students and the run's parameter counts:
// {compression_ratio, circulant: {student, calibrated, kl_mean, kl_ci95, top1, mlp_params} | null,
//  lowrank: {...} | null, winner (structure | null), kl_difference, relative_difference,
//  intervals_overlap, sentence, projection_sentence ("" unless both projections were evaluated
//  and one side's best is calibrated)}.
Json structure_comparison(const Json& metrics, const CompressionCounts& compression);

// The report.md section: the sentences of metrics["structure_comparison"] ("" if absent).
std::string structure_verdict_markdown(const Json& metrics);

}  // namespace circal

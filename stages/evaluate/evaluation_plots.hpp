#pragma once
// PNG plots of the evaluation made by gnuplot (an external program, as the design asks):
// the KL distribution of every student (empirical CDF), top-1 agreement by template family,
// and the calibration curve when the run calibrated. Without gnuplot the plots are skipped with a warning; the stage
// does not fail.
#include <ostream>
#include <string>
#include <vector>

#include "pipeline/plots/calibration_curve.hpp"
#include "stages/evaluate/evaluation_report.hpp"

namespace circal {

// Writes DIR/kl_cdf.png, DIR/top1_by_family.png and, given a calibration, DIR/calibration.png
// (each through a temporary name and a rename). Returns the names of the files written, relative to DIR's parent
// ("plots/x.png" for DIR = run/plots); on any gnuplot failure prints one warning line to `warnings` and returns what
// was written before it.
std::vector<std::string> write_evaluation_plots(const EvaluationTables& tables, const Json& metrics,
                                                const CalibrationHistory* calibration, const std::string& dir,
                                                std::ostream& warnings);

}  // namespace circal

#pragma once
// The plot people look at first: a calibration's train loss and validation KL by step, from
// calibrate.h5's /history (stages/FILES.md), the best step marked.
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <vector>

namespace circal {

class CheckpointReader;

struct CalibrationHistory {
  std::vector<double> train_loss;        // one per step, step 1 first
  std::vector<int64_t> validation_step;  // the steps that ran a validation pass
  std::vector<double> validation_kl;     // their mean KL
  int64_t best_step = 0;                 // the step whose parameters calibrate.h5 keeps
};

CalibrationHistory read_calibration_history(const CheckpointReader& calibrate);

// gnuplot's data file for `history`: block 0 "step train_loss", block 1 "step validation_kl",
// block 2 the best step's validation point.
std::string calibration_curve_data(const CalibrationHistory& history);

// Writes `png` (through a temporary name in `work`); false with a warning line when gnuplot
// fails or is missing.
bool write_calibration_curve(const CalibrationHistory& history, const std::string& title,
                             const std::filesystem::path& work, const std::filesystem::path& png,
                             std::ostream& warnings);

}  // namespace circal

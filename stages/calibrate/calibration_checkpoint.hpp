#pragma once
// Everything the calibration loop needs to continue bit for bit after a restart, and its
// HDF5 form: run_dir/calibrate/step-NNNNNN.h5 (stage "calibrate_checkpoint").
//   /state/params, /state/adam_m, /state/adam_v, /state/best_params   float32 [size]
//   /history/train_loss float64 [step]; /history/validation_step int64, /history/validation_kl
//   float64 [evaluations] (absent when there were none)
//   attributes of /state: step, epoch, epoch_position, best_step, evaluations_without_improvement,
//   stopped_early (int64), best_validation (float64)
// The data order is not stored as a PRNG state: the permutation of an epoch is recomputed from
// the seed and the epoch number.
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/io/checkpoint_writer.hpp"

namespace circal {

inline constexpr const char* kCalibrationCheckpointStage = "calibrate_checkpoint";

struct CalibrationState {
  int64_t step = 0;  // updates done (also Adam's update count)
  std::vector<float> params;
  std::vector<float> adam_m;
  std::vector<float> adam_v;
  int64_t epoch = 0;           // epoch of the next batch
  int64_t epoch_position = 0;  // index of the next prompt in that epoch's permutation
  double best_validation = std::numeric_limits<double>::infinity();
  int64_t best_step = 0;
  std::vector<float> best_params;
  int64_t evaluations_without_improvement = 0;
  bool stopped_early = false;
  std::vector<double> train_loss;  // one per step done
  std::vector<int64_t> validation_step;
  std::vector<double> validation_kl;

  bool operator==(const CalibrationState&) const = default;
};

// dir/step-NNNNNN.h5
std::string calibration_checkpoint_path(const std::string& dir, int64_t step);

// Collective over comm (every rank passes the same state); atomic through CheckpointWriter.
void save_calibration_checkpoint(MPI_Comm comm, const std::string& path, const CheckpointMeta& meta,
                                 const CalibrationState& state);

// Throws CircalError(kExitCheckpoint) for a missing, incomplete, foreign or inconsistent file.
CalibrationState load_calibration_checkpoint(const std::string& path, const std::string& fingerprint);

// The newest step-*.h5 in dir that loads with this fingerprint and parameter count; each newer
// one that does not is reported through `report` (one line) and skipped. nullopt: none usable.
std::optional<CalibrationState> newest_calibration_checkpoint(const std::string& dir, const std::string& fingerprint,
                                                              size_t parameter_count,
                                                              const std::function<void(const std::string&)>& report);

// Removes all but the newest `keep` step-*.h5 files of dir (keep <= 0 keeps all).
void prune_calibration_checkpoints(const std::string& dir, int keep);

}  // namespace circal

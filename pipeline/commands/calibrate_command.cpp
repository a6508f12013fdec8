// `circal calibrate [--config F] [--set k=v] [--run-dir D]`: the calibrate stage alone
// (capture.h5 and project.h5 must exist with matching fingerprints).
#include "stages/stage_runner.hpp"

namespace circal {

int calibrate_command(MpiContext& mpi, const Args& args) {
  return stage_command(mpi, args, Stage::Calibrate);
}

}  // namespace circal

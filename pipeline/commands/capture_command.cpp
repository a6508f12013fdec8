#include "stages/stage_runner.hpp"

namespace circal {

int capture_command(MpiContext& mpi, const Args& args) { return stage_command(mpi, args, Stage::Capture); }

}  // namespace circal

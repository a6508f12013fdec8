// `circal evaluate`: the evaluate stage alone. The stage itself refuses a missing or stale
// project.h5 (StageContext::open_output, naming what differs) before any work.
#include "stages/stage_runner.hpp"

namespace circal {

int evaluate_command(MpiContext& mpi, const Args& args) { return stage_command(mpi, args, Stage::Evaluate); }

}  // namespace circal

#include "stages/stage_runner.hpp"

namespace circal {

int project_command(MpiContext& mpi, const Args& args) { return stage_command(mpi, args, Stage::Project); }

}  // namespace circal

// Placeholder until its issue lands: the command exists so dispatch and --help work.
#include "pipeline/commands/commands.hpp"
#include "pipeline/errors.hpp"

namespace circal {

int bench_command(MpiContext&, const Args&) {
  fail(kExitUsage, "circal bench: not built yet");
}

}  // namespace circal

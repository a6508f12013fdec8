// `circal config`: the resolved configuration (defaults, --config file, --set overrides).
#include "cli/cli_options.hpp"
#include "cli/commands.hpp"

namespace circal {

int config_command(MpiContext& mpi, const Args& args) {
  po::options_description desc("options");
  add_config_options(desc);
  desc.add_options()("docs", "print each key's doc and type as a comment");
  const auto vm = parse_options(mpi, "config", "[--config FILE] [--set key=value ...] [--docs]", desc, args);
  if (!vm) return kExitOk;
  const Config config = config_from_options(*vm);  // every rank validates, so every rank fails alike
  mpi.log(vm->count("docs") ? to_commented_yaml(config) : to_yaml(config));
  return kExitOk;
}

}  // namespace circal

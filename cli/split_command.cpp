// `circal split`: prompts.source -> split.output_dir/{calibration,validation,test}.txt.
#include "cli/cli_options.hpp"
#include "cli/commands.hpp"
#include "pipeline/data/prompt_split.hpp"

namespace circal {

int split_command(MpiContext& mpi, const Args& args) {
  po::options_description desc("options");
  add_config_options(desc);
  const auto vm = parse_options(mpi, "split", "[--config FILE] [--set key=value ...]", desc, args);
  if (!vm) return kExitOk;
  const Config config = config_from_options(*vm);
  // Every rank reads and splits (cheap, and a bad file fails on every rank alike); one writes.
  const PromptSplit split = split_prompts(read_prompts(config.prompts.source), config.split);
  if (mpi.is_root()) write_split(split, config.split.output_dir);
  mpi.barrier();
  mpi.log("split " + config.prompts.source + " (seed " + std::to_string(config.split.seed) + ") into " +
          config.split.output_dir + "/{calibration,validation,test}.txt\n" + split_summary(split));
  return kExitOk;
}

}  // namespace circal

#pragma once
// Every `circal <command>`: one function per command, one file per command in this folder.
// args are the words after the command name.
#include <string>
#include <vector>

#include "pipeline/runtime/mpi_context.hpp"

namespace circal {

using Args = std::vector<std::string>;

int run_command(MpiContext& mpi, const Args& args);
int capture_command(MpiContext& mpi, const Args& args);
int project_command(MpiContext& mpi, const Args& args);
int calibrate_command(MpiContext& mpi, const Args& args);
int evaluate_command(MpiContext& mpi, const Args& args);
int export_command(MpiContext& mpi, const Args& args);
int logits_command(MpiContext& mpi, const Args& args);
int generate_command(MpiContext& mpi, const Args& args);
int bench_command(MpiContext& mpi, const Args& args);
int sweep_command(MpiContext& mpi, const Args& args);
int report_command(MpiContext& mpi, const Args& args);
int inspect_command(MpiContext& mpi, const Args& args);
int config_command(MpiContext& mpi, const Args& args);
int split_command(MpiContext& mpi, const Args& args);

struct CommandEntry {
  const char* name;
  int (*run)(MpiContext&, const Args&);
  const char* summary;
};
const std::vector<CommandEntry>& command_table();

}  // namespace circal

#pragma once
// Boost.Program_options plumbing shared by every command: the common options
// (--config, --set key=value ..., --run-dir, --help), usage text and exit code 2 on bad
// options, and the resolved Config.
#include <boost/program_options.hpp>
#include <optional>
#include <string>

#include "cli/commands.hpp"
#include "pipeline/config/config.hpp"

namespace circal {

namespace po = boost::program_options;

// Adds --config FILE, --set key=value (repeatable) and --run-dir DIR.
void add_config_options(po::options_description& desc);

// Parses args with desc (which always gains --help). With --help prints
// "usage: circal COMMAND SYNOPSIS" and the options on rank 0 and returns nullopt; an unknown
// or malformed option throws CircalError(kExitUsage).
std::optional<po::variables_map> parse_options(const MpiContext& mpi, const std::string& command,
                                               const std::string& synopsis, po::options_description desc,
                                               const Args& args,
                                               const po::positional_options_description* positional = nullptr);

// load_config(--config, --set) with --run-dir applied last.
Config config_from_options(const po::variables_map& vm);

}  // namespace circal

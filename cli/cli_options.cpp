#include "cli/cli_options.hpp"

#include <iostream>
#include <sstream>

#include "pipeline/base/errors.hpp"

namespace circal {

void add_config_options(po::options_description& desc) {
  desc.add_options()("config", po::value<std::string>()->default_value(""),
                     "YAML config file (default: built-in defaults)")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a key, e.g. --set project.block_size=32 (repeatable)")("run-dir", po::value<std::string>(),
                                                                       "run directory (overrides run_dir)");
}

std::optional<po::variables_map> parse_options(const MpiContext& mpi, const std::string& command,
                                               const std::string& synopsis, po::options_description desc,
                                               const Args& args, const po::positional_options_description* positional) {
  desc.add_options()("help,h", "show this help");
  po::variables_map vm;
  try {
    po::command_line_parser parser(args);
    parser.options(desc);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    if (vm.count("help")) {
      std::ostringstream out;
      out << "usage: circal " << command << " " << synopsis << "\n" << desc;
      mpi.log(out.str());
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    fail(kExitUsage, "circal " + command + ": " + e.what() + " (see circal " + command + " --help)");
  }
  return vm;
}

Config config_from_options(const po::variables_map& vm) {
  std::vector<std::string> overrides;
  if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();
  if (vm.count("run-dir")) overrides.push_back("run_dir=" + vm["run-dir"].as<std::string>());
  return load_config(vm["config"].as<std::string>(), overrides);
}

}  // namespace circal

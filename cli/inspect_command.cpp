// `circal inspect FILE.h5`: the tree of any HDF5 file (circal checkpoints, the reference
// files): groups, datasets with dtype and shape, attributes with their values. Long values
// (the embedded config) are shortened unless --full.
#include <sstream>

#include "cli/cli_options.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/hdf5_tree.hpp"

namespace circal {

int inspect_command(MpiContext& mpi, const Args& args) {
  po::options_description desc("inspect options");
  desc.add_options()("file", po::value<std::string>()->required(), "HDF5 file to show")(
      "full", "print long attribute values (the config) in full");
  po::positional_options_description positional;
  positional.add("file", 1);
  const auto vm = parse_options(mpi, "inspect", "FILE.h5 [--full]", desc, args, &positional);
  if (!vm) return kExitOk;
  const std::string path = (*vm)["file"].as<std::string>();
  const CheckpointReader file(path);  // CircalError(kExitCheckpoint): missing / not HDF5
  std::ostringstream out;
  out << path << "\n";
  print_hdf5_tree(out, file, vm->count("full") > 0);
  mpi.log(out.str().substr(0, out.str().size() - 1));
  return kExitOk;
}

}  // namespace circal

#pragma once
// The tree of an HDF5 file: groups, datasets with dtype and shape, attributes with their
// values; long values (the embedded config) shortened unless `full`.
#include <ostream>

namespace circal {

class CheckpointReader;

// Throws CircalError(kExitCheckpoint) for objects the file cannot show.
void print_hdf5_tree(std::ostream& out, const CheckpointReader& file, bool full);

}  // namespace circal

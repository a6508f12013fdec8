#pragma once
// Why a write failed, in words a user can act on. Parallel HDF5 reports only that a call
// failed, and errno does not always survive MPI-IO: so besides errno, look at the file system
// (nearly full) and the file-size limit (ulimit -f) the file has reached.
#include <string>

namespace circal {

// " (No space left on device)", " (disk full: 12 KiB free)", " (file-size limit of 1024 KiB
// reached)" or "" when nothing tells; `error` is the errno saved right after the failure.
std::string io_failure_reason(const std::string& path, int error);

}  // namespace circal

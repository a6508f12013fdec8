#pragma once
// Text outputs of a stage (metrics.json, report.md) written so a reader sees the old file or
// the new one, never a partial one.
#include <string>

namespace circal {

// Writes PATH.tmp (creating parent directories), fsyncs it and renames it over PATH.
// CircalError(kExitIo) naming the path and the system's reason on failure.
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace circal

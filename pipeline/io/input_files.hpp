#pragma once
// Input files a user names: one opener and one content hash, so every command names a bad
// file with the same words.
#include <fstream>
#include <string>

namespace circal {

// Hex content hash of a file (FNV-1a 64 over its bytes: stable across runs and machines).
// CircalError(kExitInput) naming the file when it cannot be read.
std::string file_content_hash(const std::string& path);

// An input file a user names (prompt and corpus files, tokenizer.model), opened for binary
// reading, or CircalError(kExitInput) "PATH: missing", "PATH: not a regular file" or "PATH:
// cannot open (reason)". A stage hashes its input files (fingerprints) before it reads them,
// while logits, generate and bench read them directly: this one opener is why every command
// names a bad file with the same words.
std::ifstream open_input_file(const std::string& path);

}  // namespace circal

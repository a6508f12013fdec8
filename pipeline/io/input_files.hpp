#pragma once
// Input files a user names: one opener and one content hash, so every command names a bad
// file with the same words.
#include <fstream>
#include <string>

namespace circal {

// Hex content hash of a file (XXH3 64 over its bytes: stable across runs and machines, and
// read at memory speed: a 7B teacher is 13.5 GB). CircalError(kExitInput) naming the file
// when it cannot be read.
std::string file_content_hash(const std::string& path);
// The name of that hash ("xxh3-64"), stored beside hashes that outlive the process (caches,
// checkpoints) so that one made with another hash is recognised as such.
const char* content_hash_name();

// An input file a user names (prompt and corpus files, tokenizer.model), opened for binary
// reading, or CircalError(kExitInput) "PATH: missing", "PATH: not a regular file" or "PATH:
// cannot open (reason)". A stage hashes its input files (fingerprints) before it reads them,
// while logits, generate and bench read them directly: this one opener is why every command
// names a bad file with the same words.
std::ifstream open_input_file(const std::string& path);

}  // namespace circal

#pragma once
// Content hashes of large input files (the teacher's safetensors), remembered in a small JSON
// file in the run directory and keyed by what stat says of the file: device, inode, size and
// modification time (what make and rsync trust too). A later stage or a rerun then hashes a
// 13 GB teacher by one stat instead of reading it. A file whose identity changed, or that
// changed while it was read, is hashed again; a cache that is missing, unreadable or corrupt
// is an empty cache, never an error.
#include <cstdint>
#include <string>
#include <vector>

namespace circal {

struct FileIdentity {
  uint64_t device = 0, inode = 0, size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileIdentity& other) const {
    return device == other.device && inode == other.inode && size == other.size && mtime_ns == other.mtime_ns;
  }
};
// CircalError(kExitInput) naming the file when it cannot be stat'ed.
FileIdentity file_identity(const std::string& path);

struct HashedFile {
  FileIdentity identity;
  std::string hash;  // file_content_hash
};

class FileHashCache {
 public:
  FileHashCache() = default;                 // empty, remembers only what it hashes
  explicit FileHashCache(std::string path);  // loads PATH when it holds a valid cache
  // The content hash of `path`: the remembered one when its identity is unchanged, else read
  // from the file (and remembered, unless the file changed while it was read).
  std::string hash(const std::string& path);
  // Remembers a hash another rank computed (node ranks share out the files).
  void remember(const HashedFile& file);
  // Writes the cache to its path (atomically: PATH.tmp then rename) when it learned anything
  // since it was loaded; CircalError(kExitIo) when it cannot.
  void save() const;
  std::size_t files_read() const { return files_read_; }  // hashes not found in the cache
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<HashedFile> files_;
  std::size_t files_read_ = 0;
  bool changed_ = false;
};

}  // namespace circal

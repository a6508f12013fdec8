#pragma once
// HDF5 files written by circal: self-describing (version, git commit, stage, fingerprint,
// resolved config, creation time, rank count, and a `complete` flag set last), atomic
// (NAME.tmp, flush, fsync, rename) and writable in parallel (collective MPI-IO, disjoint
// row ranges). Readers refuse missing, truncated, incomplete, wrong-stage and
// wrong-fingerprint files with a one-line CircalError(kExitCheckpoint).
#include <hdf5.h>
#include <mpi.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace circal {

struct CheckpointMeta {
  std::string stage;        // capture | project | calibrate | evaluate | logits | ...
  std::string fingerprint;  // hash of what the content depends on
  std::string config_yaml;  // resolved config
};

enum class H5Type { Float32, Float64, Int32, Int64 };

class CheckpointWriter {
 public:
  // Collective over comm: creates PATH.tmp (parent directories too) and stamps the metadata.
  CheckpointWriter(MPI_Comm comm, const std::string& path, const CheckpointMeta& meta);
  // Without commit(): closes and removes PATH.tmp, so no reader ever sees a partial file.
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Collective. Creates a dataset (and its parent groups); rows = dims[0]; chunked along
  // rows when gzip_level > 0 or chunk_rows > 0.
  void create(const std::string& name, H5Type type, const std::vector<uint64_t>& dims,
              int gzip_level = 0, uint64_t chunk_rows = 0);
  // Collective. This rank writes rows [row0, row0 + nrows) (nrows may be 0) of a created
  // dataset; `data` holds nrows * (product of the other dims) elements.
  void write_rows(const std::string& name, uint64_t row0, uint64_t nrows, const float* data);
  void write_rows(const std::string& name, uint64_t row0, uint64_t nrows, const double* data);
  void write_rows(const std::string& name, uint64_t row0, uint64_t nrows, const int32_t* data);
  void write_rows(const std::string& name, uint64_t row0, uint64_t nrows, const int64_t* data);
  // Collective. Create + write of a whole dataset; every rank passes the same data, rank 0's
  // is written (gzip-chunked along rows when gzip_level > 0).
  void write(const std::string& name, const std::vector<uint64_t>& dims, const float* data, int gzip_level = 0);
  void write(const std::string& name, const std::vector<uint64_t>& dims, const double* data, int gzip_level = 0);
  void write(const std::string& name, const std::vector<uint64_t>& dims, const int32_t* data, int gzip_level = 0);
  void write(const std::string& name, const std::vector<uint64_t>& dims, const int64_t* data, int gzip_level = 0);
  // Collective, same value on every rank. `object` is "/" or a group/dataset path (groups are
  // created as needed).
  void set_attr(const std::string& object, const std::string& name, const std::string& value);
  void set_attr(const std::string& object, const std::string& name, double value);
  void set_attr(const std::string& object, const std::string& name, int64_t value);
  void set_attr(const std::string& object, const std::string& name,
                const std::vector<double>& value);
  // Collective: sets complete=1, closes, fsyncs, renames PATH.tmp to PATH.
  void commit();

 private:
  struct Impl;
  Impl* impl_;
};

class CheckpointReader {
 public:
  // A circal file: refuses it unless it exists, opens, is complete, is of `stage` and (when
  // non-empty) has `fingerprint`.
  static CheckpointReader open(const std::string& path, const std::string& stage,
                               const std::string& fingerprint = "");
  // The same checks, in the same order and words, for a file that may be of any of `stages`
  // (a student checkpoint: project or calibrate).
  static CheckpointReader open_one_of(const std::string& path, const std::vector<std::string>& stages);
  // Any HDF5 file (e.g. tests/reference), no metadata checks.
  explicit CheckpointReader(const std::string& path);
  ~CheckpointReader();
  CheckpointReader(CheckpointReader&&) noexcept;
  CheckpointReader(const CheckpointReader&) = delete;
  CheckpointReader& operator=(const CheckpointReader&) = delete;

  const std::string& path() const;
  bool exists(const std::string& name) const;  // group or dataset
  std::vector<std::string> children(const std::string& group) const;  // sorted names
  std::vector<uint64_t> shape(const std::string& dataset) const;
  // Whole dataset, converted by HDF5 to the requested type.
  std::vector<float> read_float(const std::string& dataset) const;
  std::vector<double> read_double(const std::string& dataset) const;
  std::vector<int32_t> read_int32(const std::string& dataset) const;
  std::vector<int64_t> read_int64(const std::string& dataset) const;
  // Rows [row0, row0 + nrows) of a dataset.
  std::vector<float> read_float_rows(const std::string& dataset, uint64_t row0,
                                     uint64_t nrows) const;
  std::vector<int32_t> read_int32_rows(const std::string& dataset, uint64_t row0,
                                       uint64_t nrows) const;
  bool has_attr(const std::string& object, const std::string& name) const;
  std::string attr_string(const std::string& object, const std::string& name) const;
  double attr_double(const std::string& object, const std::string& name) const;
  int64_t attr_int(const std::string& object, const std::string& name) const;
  std::vector<double> attr_doubles(const std::string& object, const std::string& name) const;

  // Generic browsing (circal inspect): what kind of object, element type names like
  // "float32" / "string", attribute names (sorted) and every attribute as a list of values.
  bool is_group(const std::string& name) const;
  std::string dtype_name(const std::string& dataset) const;
  std::vector<std::string> attr_names(const std::string& object) const;
  enum class AttrKind { String, Integer, Float, Other };
  AttrKind attr_kind(const std::string& object, const std::string& name) const;
  std::vector<std::string> attr_strings(const std::string& object, const std::string& name) const;
  std::vector<int64_t> attr_ints(const std::string& object, const std::string& name) const;

 private:
  CheckpointReader() = default;
  std::string path_;
  hid_t file_ = -1;
};

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

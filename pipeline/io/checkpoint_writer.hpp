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
  void create(const std::string& name, H5Type type, const std::vector<uint64_t>& dims, int gzip_level = 0,
              uint64_t chunk_rows = 0);
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
  void set_attr(const std::string& object, const std::string& name, const std::vector<double>& value);
  // Collective: sets complete=1, closes, fsyncs, renames PATH.tmp to PATH.
  void commit();

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace circal

#pragma once
// Reading circal's HDF5 files (pipeline/io/checkpoint_writer.hpp writes them): readers refuse
// missing, truncated, incomplete, wrong-stage and wrong-fingerprint files with a one-line
// CircalError(kExitCheckpoint).
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace circal {

class CheckpointReader {
 public:
  // A circal file: refuses it unless it exists, opens, is complete, is of `stage` and (when
  // non-empty) has `fingerprint`.
  static CheckpointReader open(const std::string& path, const std::string& stage, const std::string& fingerprint = "");
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
  bool exists(const std::string& name) const;                         // group or dataset
  std::vector<std::string> children(const std::string& group) const;  // sorted names
  std::vector<uint64_t> shape(const std::string& dataset) const;
  // Whole dataset, converted by HDF5 to the requested type.
  std::vector<float> read_float(const std::string& dataset) const;
  std::vector<double> read_double(const std::string& dataset) const;
  std::vector<int32_t> read_int32(const std::string& dataset) const;
  std::vector<int64_t> read_int64(const std::string& dataset) const;
  // Rows [row0, row0 + nrows) of a dataset.
  std::vector<float> read_float_rows(const std::string& dataset, uint64_t row0, uint64_t nrows) const;
  std::vector<int32_t> read_int32_rows(const std::string& dataset, uint64_t row0, uint64_t nrows) const;
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

}  // namespace circal

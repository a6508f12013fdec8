// CheckpointReader: any rank opens a file on its own (default sec2 driver, read-only) and
// reads whole datasets, row ranges and attributes; open() refuses files a stage must not
// trust. Strings are read whether fixed- (circal) or variable-length (h5py).
#include <algorithm>
#include <filesystem>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/hdf5_handle.hpp"

namespace circal {

namespace {

hid_t memory_type(const float*) { return H5T_NATIVE_FLOAT; }
hid_t memory_type(const double*) { return H5T_NATIVE_DOUBLE; }
hid_t memory_type(const int32_t*) { return H5T_NATIVE_INT32; }
hid_t memory_type(const int64_t*) { return H5T_NATIVE_INT64; }

[[noreturn]] void fail_read(const std::string& path, const std::string& object, const std::string& what) {
  fail(kExitCheckpoint, path + ": " + what + " '" + object + "'");
}

std::vector<uint64_t> extent_of(hid_t space) {
  const int ndims = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(ndims > 0 ? ndims : 0);
  if (ndims > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

std::vector<std::string> read_variable_strings(hid_t attr, hid_t file_type, size_t count) {
  H5Datatype memory(H5Tcopy(H5T_C_S1));
  H5Tset_size(memory.get(), H5T_VARIABLE);
  H5Tset_cset(memory.get(), H5Tget_cset(file_type));
  std::vector<char*> raw(count, nullptr);
  if (H5Aread(attr, memory.get(), raw.data()) < 0) return {};
  std::vector<std::string> values;
  for (char* text : raw) {
    values.emplace_back(text ? text : "");
    H5free_memory(text);
  }
  return values;
}

std::vector<std::string> read_fixed_strings(hid_t attr, hid_t file_type, size_t count) {
  const size_t width = H5Tget_size(file_type);
  H5Datatype memory(H5Tcopy(H5T_C_S1));
  H5Tset_size(memory.get(), width);
  H5Tset_cset(memory.get(), H5Tget_cset(file_type));
  std::string raw(width * count, '\0');
  if (H5Aread(attr, memory.get(), raw.data()) < 0) return {};
  std::vector<std::string> values;
  for (size_t i = 0; i < count; ++i) {
    std::string value = raw.substr(i * width, width);
    value.resize(std::min(value.find('\0'), value.size()));  // NULLTERM / NULLPAD
    values.push_back(value);
  }
  return values;
}

}  // namespace

CheckpointReader::CheckpointReader(const std::string& path) : path_(path) {
  silence_hdf5_errors();
  if (!std::filesystem::exists(path)) fail(kExitCheckpoint, path + ": missing");
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file_ < 0) fail(kExitCheckpoint, path + ": not an HDF5 file or truncated");
}

CheckpointReader CheckpointReader::open_one_of(const std::string& path, const std::vector<std::string>& stages) {
  CheckpointReader reader(path);
  if (!reader.has_attr("/", "complete") || !reader.has_attr("/", "stage"))
    fail(kExitCheckpoint, path + ": not a circal checkpoint (no 'complete'/'stage' attributes)");
  if (reader.attr_int("/", "complete") != 1)
    fail(kExitCheckpoint, path + ": incomplete (written by a process that did not finish)");
  const std::string found_stage = reader.attr_string("/", "stage");
  if (std::find(stages.begin(), stages.end(), found_stage) == stages.end()) {
    std::string expected;
    for (std::size_t i = 0; i < stages.size(); ++i) {
      if (i > 0) expected += i + 1 == stages.size() ? " or " : ", ";
      expected.append("'").append(stages[i]).append("'");
    }
    fail(kExitCheckpoint, path + ": is a '" + found_stage + "' checkpoint, expected " + expected);
  }
  return reader;
}

CheckpointReader CheckpointReader::open(const std::string& path, const std::string& stage,
                                        const std::string& fingerprint) {
  CheckpointReader reader = open_one_of(path, {stage});
  if (!fingerprint.empty()) {
    const std::string found = reader.has_attr("/", "fingerprint") ? reader.attr_string("/", "fingerprint") : "";
    if (found != fingerprint)
      fail(kExitCheckpoint,
           path + ": fingerprint " + found + " does not match the current config/input " + fingerprint + " (stale)");
  }
  return reader;
}

CheckpointReader::~CheckpointReader() {
  if (file_ >= 0) H5Fclose(file_);
}

CheckpointReader::CheckpointReader(CheckpointReader&& other) noexcept
    : path_(std::move(other.path_)), file_(std::exchange(other.file_, H5I_INVALID_HID)) {}

const std::string& CheckpointReader::path() const { return path_; }

bool CheckpointReader::exists(const std::string& name) const {
  // H5Lexists fails (rather than answering no) when an intermediate group is missing.
  std::string so_far;
  for (const auto& part : std::filesystem::path(name)) {
    const std::string text = part.string();
    if (text.empty() || text == "/") continue;
    so_far += "/" + text;
    if (H5Lexists(file_, so_far.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

bool CheckpointReader::is_group(const std::string& name) const {
  H5O_info_t info;
  if (H5Oget_info_by_name(file_, name.c_str(), &info, H5P_DEFAULT) < 0) fail_read(path_, name, "no object");
  return info.type == H5O_TYPE_GROUP;
}

std::vector<std::string> CheckpointReader::children(const std::string& group) const {
  H5Group opened(H5Gopen2(file_, group.c_str(), H5P_DEFAULT));
  if (!opened.valid()) fail_read(path_, group, "no group");
  std::vector<std::string> names;
  auto collect = [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->emplace_back(name);
    return 0;
  };
  if (H5Literate(opened.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect, &names) < 0)
    fail_read(path_, group, "cannot list group");
  return names;
}

std::vector<uint64_t> CheckpointReader::shape(const std::string& dataset) const {
  H5Dataset opened(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT));
  if (!opened.valid()) fail_read(path_, dataset, "no dataset");
  H5Dataspace space(H5Dget_space(opened.get()));
  return extent_of(space.get());
}

std::string CheckpointReader::dtype_name(const std::string& dataset) const {
  H5Dataset opened(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT));
  if (!opened.valid()) fail_read(path_, dataset, "no dataset");
  H5Datatype type(H5Dget_type(opened.get()));
  const std::string bits = std::to_string(8 * H5Tget_size(type.get()));
  switch (H5Tget_class(type.get())) {
    case H5T_FLOAT: return "float" + bits;
    case H5T_INTEGER: return (H5Tget_sign(type.get()) == H5T_SGN_NONE ? "uint" : "int") + bits;
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    default: return "other";
  }
}

namespace {

template <typename T>
std::vector<T> read_selection(hid_t file, const std::string& path, const std::string& dataset, const uint64_t* row0,
                              uint64_t nrows) {
  H5Dataset opened(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT));
  if (!opened.valid()) fail_read(path, dataset, "no dataset");
  H5Dataspace file_space(H5Dget_space(opened.get()));
  std::vector<uint64_t> dims = extent_of(file_space.get());
  std::vector<hsize_t> count(dims.begin(), dims.end());
  if (row0) {
    if (dims.empty() || *row0 > dims[0] || nrows > dims[0] - *row0)  // no wrap-around
      fail_read(path, dataset, "rows [" + std::to_string(*row0) + ", " + std::to_string(*row0 + nrows) + ") outside");
    std::vector<hsize_t> start(dims.size(), 0);
    start[0] = *row0;
    count[0] = nrows;
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  }
  size_t elements = 1;
  for (hsize_t d : count) elements *= d;
  std::vector<T> values(elements);
  if (elements == 0) return values;
  H5Dataspace memory_space(count.empty() ? H5Screate(H5S_SCALAR)
                                         : H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
  if (H5Dread(opened.get(), memory_type(values.data()), memory_space.get(), file_space.get(), H5P_DEFAULT,
              values.data()) < 0)
    fail_read(path, dataset, "cannot read dataset");
  return values;
}

}  // namespace

std::vector<float> CheckpointReader::read_float(const std::string& dataset) const {
  return read_selection<float>(file_, path_, dataset, nullptr, 0);
}
std::vector<double> CheckpointReader::read_double(const std::string& dataset) const {
  return read_selection<double>(file_, path_, dataset, nullptr, 0);
}
std::vector<int32_t> CheckpointReader::read_int32(const std::string& dataset) const {
  return read_selection<int32_t>(file_, path_, dataset, nullptr, 0);
}
std::vector<int64_t> CheckpointReader::read_int64(const std::string& dataset) const {
  return read_selection<int64_t>(file_, path_, dataset, nullptr, 0);
}
std::vector<float> CheckpointReader::read_float_rows(const std::string& dataset, uint64_t row0, uint64_t nrows) const {
  return read_selection<float>(file_, path_, dataset, &row0, nrows);
}
std::vector<int32_t> CheckpointReader::read_int32_rows(const std::string& dataset, uint64_t row0,
                                                       uint64_t nrows) const {
  return read_selection<int32_t>(file_, path_, dataset, &row0, nrows);
}

bool CheckpointReader::has_attr(const std::string& object, const std::string& name) const {
  return exists(object) && H5Aexists_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

std::vector<std::string> CheckpointReader::attr_names(const std::string& object) const {
  std::vector<std::string> names;
  auto collect = [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->emplace_back(name);
    return 0;
  };
  hsize_t index = 0;
  if (H5Aiterate_by_name(file_, object.c_str(), H5_INDEX_NAME, H5_ITER_INC, &index, collect, &names, H5P_DEFAULT) < 0)
    fail_read(path_, object, "cannot list attributes of");
  return names;
}

namespace {

struct OpenAttribute {
  H5Attribute attr;
  H5Datatype type;
  size_t count = 0;
};

OpenAttribute open_attribute(hid_t file, const std::string& path, const std::string& object, const std::string& name) {
  OpenAttribute opened;
  opened.attr = H5Attribute(H5Aopen_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT));
  if (!opened.attr.valid()) fail_read(path, object, "no attribute '" + name + "' on");
  opened.type = H5Datatype(H5Aget_type(opened.attr.get()));
  H5Dataspace space(H5Aget_space(opened.attr.get()));
  const hssize_t points = H5Sget_simple_extent_npoints(space.get());
  opened.count = points > 0 ? static_cast<size_t>(points) : 0;
  return opened;
}

template <typename T>
std::vector<T> read_numeric_attr(hid_t file, const std::string& path, const std::string& object,
                                 const std::string& name) {
  OpenAttribute opened = open_attribute(file, path, object, name);
  const H5T_class_t kind = H5Tget_class(opened.type.get());
  if (kind != H5T_INTEGER && kind != H5T_FLOAT) fail_read(path, object, "attribute '" + name + "' is not numeric on");
  std::vector<T> values(opened.count);
  if (!values.empty() && H5Aread(opened.attr.get(), memory_type(values.data()), values.data()) < 0)
    fail_read(path, object, "cannot read attribute '" + name + "' of");
  return values;
}

}  // namespace

CheckpointReader::AttrKind CheckpointReader::attr_kind(const std::string& object, const std::string& name) const {
  OpenAttribute opened = open_attribute(file_, path_, object, name);
  switch (H5Tget_class(opened.type.get())) {
    case H5T_STRING: return AttrKind::String;
    case H5T_INTEGER: return AttrKind::Integer;
    case H5T_FLOAT: return AttrKind::Float;
    default: return AttrKind::Other;
  }
}

std::vector<std::string> CheckpointReader::attr_strings(const std::string& object, const std::string& name) const {
  OpenAttribute opened = open_attribute(file_, path_, object, name);
  if (H5Tget_class(opened.type.get()) != H5T_STRING)
    fail_read(path_, object, "attribute '" + name + "' is not a string on");
  if (opened.count == 0) return {};
  std::vector<std::string> values = H5Tis_variable_str(opened.type.get()) > 0
                                        ? read_variable_strings(opened.attr.get(), opened.type.get(), opened.count)
                                        : read_fixed_strings(opened.attr.get(), opened.type.get(), opened.count);
  if (values.empty()) fail_read(path_, object, "cannot read attribute '" + name + "' of");
  return values;
}

std::string CheckpointReader::attr_string(const std::string& object, const std::string& name) const {
  std::vector<std::string> values = attr_strings(object, name);
  return values.empty() ? std::string() : values.front();
}

std::vector<int64_t> CheckpointReader::attr_ints(const std::string& object, const std::string& name) const {
  return read_numeric_attr<int64_t>(file_, path_, object, name);
}

std::vector<double> CheckpointReader::attr_doubles(const std::string& object, const std::string& name) const {
  return read_numeric_attr<double>(file_, path_, object, name);
}

double CheckpointReader::attr_double(const std::string& object, const std::string& name) const {
  std::vector<double> values = attr_doubles(object, name);
  if (values.size() != 1) fail_read(path_, object, "attribute '" + name + "' is not a scalar on");
  return values.front();
}

int64_t CheckpointReader::attr_int(const std::string& object, const std::string& name) const {
  std::vector<int64_t> values = attr_ints(object, name);
  if (values.size() != 1) fail_read(path_, object, "attribute '" + name + "' is not a scalar on");
  return values.front();
}

}  // namespace circal

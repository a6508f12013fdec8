// The tree of an HDF5 file as text (what `circal inspect` prints); shared with tests/fuzz,
// which walks corrupt files through the same reads.
#include "pipeline/io/hdf5_tree.hpp"

#include <algorithm>
#include <sstream>

#include "pipeline/io/checkpoint_reader.hpp"

namespace circal {

namespace {

constexpr size_t kShortValues = 8;

std::string join_path(const std::string& group, const std::string& name) {
  return group == "/" ? "/" + name : group + "/" + name;
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string string_value(const std::string& value, bool full) {
  const size_t lines =
      static_cast<size_t>(std::count(value.begin(), value.end(), '\n')) + (!value.empty() && value.back() != '\n');
  if (full || lines <= 1) return '"' + value + '"';
  return '"' + value.substr(0, value.find('\n')) + "\"... (" + std::to_string(lines) + " lines)";
}

template <typename T>
std::string list_text(const std::vector<T>& values, bool full, std::string (*show)(const T&, bool), bool full_strings) {
  if (values.size() == 1) return show(values.front(), full_strings);
  const size_t shown = full ? values.size() : std::min(values.size(), kShortValues);
  std::string text = "[";
  for (size_t i = 0; i < shown; ++i) text += (i ? ", " : "") + show(values[i], full_strings);
  if (shown < values.size())
    text += ", ...] (" + std::to_string(values.size()) + " values)";
  else
    text += "]";
  return text;
}

std::string show_string(const std::string& value, bool full) { return string_value(value, full); }
std::string show_int(const int64_t& value, bool) { return std::to_string(value); }
std::string show_double(const double& value, bool) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

std::string attr_text(const CheckpointReader& file, const std::string& object, const std::string& name, bool full) {
  switch (file.attr_kind(object, name)) {
    case CheckpointReader::AttrKind::String: return list_text(file.attr_strings(object, name), full, show_string, full);
    case CheckpointReader::AttrKind::Integer: return list_text(file.attr_ints(object, name), full, show_int, full);
    case CheckpointReader::AttrKind::Float: return list_text(file.attr_doubles(object, name), full, show_double, full);
    case CheckpointReader::AttrKind::Other: break;
  }
  return "(unsupported type)";
}

void print_attrs(std::ostream& out, const CheckpointReader& file, const std::string& object, const std::string& indent,
                 bool full) {
  for (const auto& name : file.attr_names(object))
    out << indent << "@" << name << " = " << attr_text(file, object, name, full) << "\n";
}

void print_group(std::ostream& out, const CheckpointReader& file, const std::string& group, const std::string& indent,
                 bool full) {
  print_attrs(out, file, group, indent, full);
  for (const auto& name : file.children(group)) {
    const std::string child = join_path(group, name);
    if (file.is_group(child)) {
      out << indent << name << "/\n";
      print_group(out, file, child, indent + "  ", full);
    } else {
      out << indent << name << "  " << file.dtype_name(child) << " " << shape_text(file.shape(child)) << "\n";
      print_attrs(out, file, child, indent + "  ", full);
    }
  }
}

}  // namespace

void print_hdf5_tree(std::ostream& out, const CheckpointReader& file, bool full) {
  out << "/\n";
  print_group(out, file, "/", "  ", full);
}

}  // namespace circal

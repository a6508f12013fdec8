#include "pipeline/config/config_fields.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <regex>

namespace circal {

void reject(const std::string& reason) { throw ConfigValueError{reason}; }

std::string text(double v) {
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof buf, v);  // shortest exact round trip
  return std::string(buf, result.ptr);
}
std::string text(int v) { return std::to_string(v); }
std::string text(const std::string& v) { return v; }

std::string shown(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsScalar()) return node.Scalar();
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

// ---- parsing -------------------------------------------------------------------------------

namespace {

const YAML::Node& scalar(const YAML::Node& node, const char* what) {
  if (!node.IsScalar()) reject(std::string("must be ") + what + " (got " + shown(node) + ")");
  return node;
}

long long parse_integer(const YAML::Node& node, long long lo, long long hi) {
  long long v = 0;
  if (!YAML::convert<long long>::decode(scalar(node, "an integer"), v))
    reject("must be an integer (got " + node.Scalar() + ")");
  if (v < lo || v > hi) reject("integer out of range (got " + node.Scalar() + ")");
  return v;
}

template <class T>
std::vector<T> parse_list(const YAML::Node& node) {
  if (!node.IsSequence()) reject("must be a list such as [a, b] (got " + shown(node) + ")");
  std::vector<T> values;
  for (const auto& item : node) values.push_back(parse<T>(item));
  return values;
}

}  // namespace

template <>
int parse<int>(const YAML::Node& node) {
  return static_cast<int>(parse_integer(node, INT_MIN, INT_MAX));
}
template <>
unsigned parse<unsigned>(const YAML::Node& node) {
  if (node.IsScalar() && node.Scalar().starts_with('-')) reject("must be an integer >= 0 (got " + node.Scalar() + ")");
  return static_cast<unsigned>(parse_integer(node, 0, UINT_MAX));
}
template <>
double parse<double>(const YAML::Node& node) {
  double v = 0;
  if (!YAML::convert<double>::decode(scalar(node, "a number"), v) || !std::isfinite(v))
    reject("must be a finite number (got " + node.Scalar() + ")");
  return v;
}
template <>
bool parse<bool>(const YAML::Node& node) {
  bool v = false;
  if (!YAML::convert<bool>::decode(scalar(node, "true or false"), v))
    reject("must be true or false (got " + node.Scalar() + ")");
  return v;
}
template <>
std::string parse<std::string>(const YAML::Node& node) {
  if (node.IsNull()) return "";
  return scalar(node, "a string").Scalar();
}
template <>
std::vector<int> parse<std::vector<int>>(const YAML::Node& node) {
  return parse_list<int>(node);
}
template <>
std::vector<std::string> parse<std::vector<std::string>>(const YAML::Node& node) {
  return parse_list<std::string>(node);
}

// ---- printing ------------------------------------------------------------------------------

// Doubles go out as their shortest exact text: 0.003, not 0.0030000000000000001.
YAML::Node to_node(double v) { return YAML::Node(text(v)); }
YAML::Node to_node(int v) { return YAML::Node(v); }
YAML::Node to_node(unsigned v) { return YAML::Node(v); }
YAML::Node to_node(bool v) { return YAML::Node(v); }
YAML::Node to_node(const std::string& v) { return YAML::Node(v); }

template <class T>
static YAML::Node flow_sequence(const std::vector<T>& values) {
  YAML::Node node(YAML::NodeType::Sequence);
  for (const auto& v : values) node.push_back(v);
  node.SetStyle(YAML::EmitterStyle::Flow);
  return node;
}
YAML::Node to_node(const std::vector<int>& values) { return flow_sequence(values); }
YAML::Node to_node(const std::vector<std::string>& values) { return flow_sequence(values); }

template <>
const char* type_name<int>() {
  return "int";
}
template <>
const char* type_name<unsigned>() {
  return "unsigned int";
}
template <>
const char* type_name<double>() {
  return "float";
}
template <>
const char* type_name<bool>() {
  return "bool";
}
template <>
const char* type_name<std::string>() {
  return "string";
}
template <>
const char* type_name<std::vector<int>>() {
  return "list of int";
}
template <>
const char* type_name<std::vector<std::string>>() {
  return "list of string";
}

// ---- range checks --------------------------------------------------------------------------

void positive(double v) {
  if (!(v > 0)) reject("must be > 0 (got " + text(v) + ")");
}
void open_unit(double v) {
  if (!(v > 0 && v < 1)) reject("must be in (0, 1) (got " + text(v) + ")");
}
void half_open_unit(double v) {
  if (!(v >= 0 && v < 1)) reject("must be in [0, 1) (got " + text(v) + ")");
}
void closed_unit(double v) {
  if (!(v >= 0 && v <= 1)) reject("must be in [0, 1] (got " + text(v) + ")");
}
void not_empty(const std::string& v) {
  if (v.empty()) reject("must not be empty");
}
void even_block(int v) {
  if (v < 2 || v % 2 != 0) reject("must be an even number >= 2 (got " + text(v) + ")");
}
void even_blocks(const std::vector<int>& values) {
  for (int v : values) even_block(v);
  distinct(values);
}
void gzip_level(int v) {
  if (v < 0 || v > 9) reject("must be a gzip level 0..9 (got " + text(v) + ")");
}
void slurm_time(const std::string& v) {
  static const std::regex format(R"((\d+-)?\d{1,2}:\d{2}:\d{2})");
  if (!std::regex_match(v, format)) reject("must be HH:MM:SS or D-HH:MM:SS (got " + v + ")");
}
void positive_distinct(const std::vector<int>& values) {
  for (int v : values) at_least(1)(v);
  distinct_nonempty(values);
}
void nonnegative_distinct(const std::vector<int>& values) {
  for (int v : values) at_least(0)(v);
  distinct_nonempty(values);
}
void quantization_bits(const std::vector<int>& values) {
  for (int v : values)
    if (v < 2 || v > 8) reject("bit widths must be 2..8 (got " + text(v) + ")");
  distinct_nonempty(values);
}

}  // namespace circal

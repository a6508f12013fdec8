#pragma once
// Building blocks of the config schema in config.cpp: a ConfigKey binds one fully-qualified
// key to a Config member with a parser, a range check and a printer.
#include <yaml-cpp/yaml.h>

#include <concepts>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "pipeline/config/config.hpp"

namespace circal {

struct ConfigKey {
  std::string key;   // fully qualified, e.g. "calibrate.lr"
  std::string type;  // int, float, bool, string, list of int, ...
  std::string doc;   // one line
  // Parses and range-checks `value` into config; throws ConfigValueError with the reason.
  std::function<void(Config&, const YAML::Node&)> set;
  // The key's current value as a YAML node (scalar or flow sequence).
  std::function<YAML::Node(const Config&)> get;
};

// Thrown while parsing one value; load_config adds the key and where the value came from.
struct ConfigValueError {
  std::string reason;
};
[[noreturn]] void reject(const std::string& reason);

std::string text(double v);
std::string text(int v);
std::string text(const std::string& v);
// A node as it would read in the file (for "got ..." in messages).
std::string shown(const YAML::Node& node);

// parse<T>: int, unsigned, double, bool, std::string, std::vector<int>, std::vector<std::string>.
template <class T>
T parse(const YAML::Node& node);

YAML::Node to_node(double v);
YAML::Node to_node(int v);
YAML::Node to_node(unsigned v);
YAML::Node to_node(bool v);
YAML::Node to_node(const std::string& v);
YAML::Node to_node(const std::vector<int>& values);
YAML::Node to_node(const std::vector<std::string>& values);

template <class T>
const char* type_name();

// Fixed choices (config/names.hpp): parsed from and printed as their table names; their type
// reads as the text it is in the file.
template <class T>
concept NamedEnum = requires {
  EnumNames<T>::names;
};
template <class T>
struct is_named_enum_list : std::false_type {};
template <NamedEnum E>
struct is_named_enum_list<std::vector<E>> : std::true_type {};

template <NamedEnum E>
E parse(const YAML::Node& node) {
  E value{};
  const std::string name = parse<std::string>(node);
  if (!find_name(name, value)) reject("unknown name '" + name + "' (one of: " + names_text<E>() + ")");
  return value;
}
template <class V>
requires is_named_enum_list<V>::value V parse(const YAML::Node& node) {
  V values;
  for (const std::string& name : parse<std::vector<std::string>>(node))
    values.push_back(parse<typename V::value_type>(YAML::Node(name)));
  return values;
}
template <NamedEnum E>
YAML::Node to_node(E value) {
  return YAML::Node(name_of(value));
}
template <NamedEnum E>
YAML::Node to_node(const std::vector<E>& values) {
  std::vector<std::string> names;
  for (E value : values) names.push_back(name_of(value));
  return to_node(names);
}
template <NamedEnum E>
const char* type_name() {
  return "string";
}
template <class V>
requires is_named_enum_list<V>::value const char* type_name() { return "list of string"; }

// ---- range checks: callables that reject() a bad value ---------------------------------
inline constexpr auto any_value = [](const auto&) {};
template <class T>
auto at_least(T lo) {
  return [lo](T v) {
    if (v < lo) reject("must be >= " + text(lo) + " (got " + text(v) + ")");
  };
}
void positive(double v);
void open_unit(double v);       // (0, 1)
void half_open_unit(double v);  // [0, 1)
void closed_unit(double v);     // [0, 1]
void not_empty(const std::string& v);
void even_block(int v);
void even_blocks(const std::vector<int>& values);  // distinct even sizes >= 2, may be empty
void gzip_level(int v);
void slurm_time(const std::string& v);
void positive_distinct(const std::vector<int>& values);
void nonnegative_distinct(const std::vector<int>& values);
void quantization_bits(const std::vector<int>& values);  // distinct, each 2..8, not empty
// A list naming no value twice (distinct), and not empty either (distinct_nonempty): the one
// home of "lists X twice" for every list-valued key.
template <NamedEnum E>
std::string text(E value) {
  return name_of(value);
}
template <class T>
void distinct(const std::vector<T>& values) {
  for (size_t i = 0; i < values.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (values[j] == values[i]) reject("lists " + text(values[i]) + " twice");
}
template <class T>
void distinct_nonempty(const std::vector<T>& values) {
  if (values.empty()) reject("must not be an empty list");
  distinct(values);
}

// A key bound to a Config member. `ref` is a generic lambda returning the member for both a
// const and a non-const Config; FIELD(path) writes key name and member once.
template <class Ref, class Check>
ConfigKey field(const char* key, Ref ref, Check check, const char* doc) {
  using T = std::decay_t<decltype(ref(std::declval<Config&>()))>;
  return {key, type_name<T>(), doc,
          [ref, check](Config& c, const YAML::Node& node) {
            T value = parse<T>(node);
            check(value);
            ref(c) = std::move(value);
          },
          [ref](const Config& c) { return to_node(ref(c)); }};
}
#define CIRCAL_FIELD(path) \
#path, [](auto& c) -> auto& { return c.path; }

}  // namespace circal

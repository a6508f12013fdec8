#pragma once
// Building blocks of the config schema in config.cpp: a ConfigKey binds one fully-qualified
// key to a Config member with a parser, a range check and a printer.
#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>
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
// A name from `names`; a non-empty list of distinct names from `names`.
std::function<void(const std::string&)> one_of(std::vector<std::string> names);
std::function<void(const std::vector<std::string>&)> subset_of(std::vector<std::string> names);

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
#define CIRCAL_FIELD(path) #path, [](auto& c) -> auto& { return c.path; }

}  // namespace circal

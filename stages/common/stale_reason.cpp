#include "stages/common/stale_reason.hpp"

#include <yaml-cpp/yaml.h>

namespace circal {

namespace {

// One style for both sides: the stored config is block YAML, config_value() flow text.
std::string normalised(const YAML::Node& node) {
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

// nullopt-free: an absent key reads as "(absent)", which differs from any value.
std::string stored_value(const YAML::Node& root, const std::string& key) {
  const size_t dot = key.find('.');
  const YAML::Node section = dot == std::string::npos ? root : root[key.substr(0, dot)];
  const YAML::Node value = dot == std::string::npos ? section[key] : section[key.substr(dot + 1)];
  return value ? normalised(value) : "(absent)";
}

}  // namespace

std::string stale_reason(const CheckpointReader& file, const Config& current, const std::vector<std::string>& keys) {
  if (!file.has_attr("/", "config")) return "it stores no config";
  YAML::Node stored;
  try {
    stored = YAML::Load(file.attr_string("/", "config"));
  } catch (const YAML::Exception&) {
    return "its stored config is not YAML";
  }
  std::string reason;
  int listed = 0;
  for (const std::string& key : keys) {
    const std::string then = stored_value(stored, key);
    const std::string now = normalised(YAML::Load(config_value(current, key)));
    if (then == now) continue;
    if (++listed > 3) {
      reason += ", ...";
      break;
    }
    reason += (reason.empty() ? "made with " : ", ") + key + " " + then + ", now " + now;
  }
  return reason.empty() ? "same settings, but the model, prompt or corpus files have changed since" : reason;
}

}  // namespace circal

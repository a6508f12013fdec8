#pragma once
// Reading one part of a tokenizer.json (normalizer, pre_tokenizer, model, ...): its "type"
// string, the fields it must have, and the refusal (exit 3) of what circal does not implement.
#include <nlohmann/json.hpp>

#include <string>

#include "pipeline/base/errors.hpp"

namespace circal {

struct TokenizerJsonPart {
  const nlohmann::json& json;
  std::string file;  // the tokenizer.json path, first in every message
  std::string part;  // e.g. "pre_tokenizer.pretokenizers[1]"

  [[noreturn]] void refuse(const std::string& what) const { fail(kExitInput, file + ": " + part + what); }

  std::string type() const {
    if (!json.is_object() || !json.contains("type") || !json["type"].is_string()) refuse(" has no \"type\"");
    return json["type"].get<std::string>();
  }

  [[noreturn]] void unsupported() const { refuse(".type " + type() + " is not supported"); }

  TokenizerJsonPart child(const std::string& key) const { return {at(key), file, part + "." + key}; }

  TokenizerJsonPart element(const std::string& key, size_t i) const {
    return {at(key).at(i), file, part + "." + key + "[" + std::to_string(i) + "]"};
  }

  const nlohmann::json& at(const std::string& key) const {
    if (!json.contains(key)) refuse(" has no \"" + key + "\"");
    return json[key];
  }

  template <typename T>
  T get(const std::string& key) const {
    try {
      return at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
      refuse("." + key + " has the wrong type");
    }
  }

  // A token id: a vocabulary far larger than any model's (2^24) is a broken file, refused
  // before it is allocated.
  int id(const std::string& key) const {
    const nlohmann::json& value = at(key);
    if (!value.is_number_integer() || value.get<long long>() < 0 || value.get<long long>() >= (1 << 24))
      refuse("." + key + " is not a token id in [0, 2^24)");
    return value.get<int>();
  }

  template <typename T>
  T get_or(const std::string& key, T fallback) const {
    return json.contains(key) && !json[key].is_null() ? get<T>(key) : fallback;
  }
};

}  // namespace circal

// config.json of an HF LLaMA folder -> LlamaConfig. Anything the forward pass would silently
// get wrong (another architecture, rope scaling, biases, another activation) is refused.
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "pipeline/base/errors.hpp"
#include "pipeline/model/llama_config.hpp"

namespace circal {

namespace {

using nlohmann::json;

[[noreturn]] void bad_config(const std::string& path, const std::string& problem) {
  fail(kExitInput, path + ": " + problem);
}

json parse_json_text(const std::string& text, const std::string& path) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    bad_config(path, std::string("not valid JSON (") + e.what() + ")");
  }
}

bool present(const json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

int positive_int(const json& j, const std::string& path, const char* key) {
  if (!present(j, key)) bad_config(path, std::string("missing key ") + key);
  const json& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > (1ll << 30)) {
    bad_config(path, std::string("key ") + key + " must be a positive integer, got " + v.dump());
  }
  return v.get<int>();
}

int optional_positive_int(const json& j, const std::string& path, const char* key, int fallback) {
  return present(j, key) ? positive_int(j, path, key) : fallback;
}

float positive_float(const json& j, const std::string& path, const char* key, float fallback) {
  if (!present(j, key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_number() || v.get<double>() <= 0) {
    bad_config(path, std::string("key ") + key + " must be a positive number, got " + v.dump());
  }
  return v.get<float>();
}

// eos_token_id may be a list in newer configs; the first entry is the model's EOS. The id,
// given or the default, must lie inside the vocabulary: BOS indexes the embedding of every
// prompt.
int token_id(const json& j, const std::string& path, const char* key, int fallback, int vocab_size) {
  uint64_t id = static_cast<uint64_t>(fallback);
  if (present(j, key)) {
    const json& v = j.at(key);
    const json& given = (v.is_array() && !v.empty()) ? v.at(0) : v;
    if (!given.is_number_unsigned()) bad_config(path, std::string("key ") + key + " must be a token id, got " + v.dump());
    id = given.get<uint64_t>();
  }
  if (id >= static_cast<uint64_t>(vocab_size)) {
    bad_config(path, std::string("key ") + key + " (" + std::to_string(id) + (present(j, key) ? "" : ", the default") +
                         ") must be a token id below vocab_size " + std::to_string(vocab_size));
  }
  return static_cast<int>(id);
}

void require_llama(const json& j, const std::string& path) {
  bool llama = false;
  if (present(j, "model_type")) {
    const json& type = j.at("model_type");
    if (!type.is_string() || type.get<std::string>() != "llama") {
      bad_config(path, "not a LLaMA config: model_type " + type.dump() + " (circal supports \"llama\")");
    }
    llama = true;
  }
  if (present(j, "architectures")) {
    const json& archs = j.at("architectures");
    if (!archs.is_array() || archs.size() != 1 || archs.at(0) != "LlamaForCausalLM") {
      bad_config(path, "not a LLaMA config: architectures " + archs.dump() +
                           " (circal supports [\"LlamaForCausalLM\"])");
    }
    llama = true;
  }
  if (!llama) bad_config(path, "not a LLaMA config: neither model_type nor architectures given");
}

void refuse_unsupported_features(const json& j, const std::string& path) {
  if (present(j, "rope_scaling")) {
    bad_config(path, "rope_scaling " + j.at("rope_scaling").dump() + " is not supported");
  }
  if (present(j, "hidden_act") && j.at("hidden_act") != "silu") {
    bad_config(path, "hidden_act " + j.at("hidden_act").dump() + " is not supported (only \"silu\")");
  }
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    if (present(j, key) && j.at(key) != false) {
      bad_config(path, std::string(key) + " " + j.at(key).dump() + " is not supported (biases)");
    }
  }
  if (present(j, "pretraining_tp") && j.at("pretraining_tp") != 1) {
    bad_config(path, "pretraining_tp " + j.at("pretraining_tp").dump() + " is not supported (only 1)");
  }
}

}  // namespace

LlamaConfig read_llama_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_config(path, "missing or unreadable");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_llama_config(text.str(), path);
}

LlamaConfig parse_llama_config(const std::string& text, const std::string& path) {
  const json j = parse_json_text(text, path);
  if (!j.is_object()) bad_config(path, "not a JSON object");
  require_llama(j, path);
  refuse_unsupported_features(j, path);

  LlamaConfig c;
  c.hidden_size = positive_int(j, path, "hidden_size");
  c.intermediate_size = positive_int(j, path, "intermediate_size");
  c.num_hidden_layers = positive_int(j, path, "num_hidden_layers");
  c.num_attention_heads = positive_int(j, path, "num_attention_heads");
  c.num_key_value_heads = optional_positive_int(j, path, "num_key_value_heads", c.num_attention_heads);
  c.vocab_size = positive_int(j, path, "vocab_size");
  if (!present(j, "head_dim") && c.hidden_size % c.num_attention_heads != 0) {
    bad_config(path, "hidden_size " + std::to_string(c.hidden_size) +
                         " is not a multiple of num_attention_heads and head_dim is not given");
  }
  c.head_dim = optional_positive_int(j, path, "head_dim", c.hidden_size / c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    bad_config(path, "num_attention_heads " + std::to_string(c.num_attention_heads) +
                         " is not a multiple of num_key_value_heads " +
                         std::to_string(c.num_key_value_heads));
  }
  if (c.head_dim % 2 != 0) bad_config(path, "head_dim " + std::to_string(c.head_dim) + " must be even (RoPE)");
  c.max_position_embeddings = optional_positive_int(j, path, "max_position_embeddings", 2048);
  c.rms_norm_eps = positive_float(j, path, "rms_norm_eps", 1e-6f);
  c.rope_theta = positive_float(j, path, "rope_theta", 10000.0f);
  if (present(j, "tie_word_embeddings")) {
    if (!j.at("tie_word_embeddings").is_boolean()) bad_config(path, "key tie_word_embeddings must be true or false");
    c.tie_word_embeddings = j.at("tie_word_embeddings").get<bool>();
  }
  c.bos_token_id = token_id(j, path, "bos_token_id", 1, c.vocab_size);
  c.eos_token_id = token_id(j, path, "eos_token_id", 2, c.vocab_size);
  return c;
}

}  // namespace circal

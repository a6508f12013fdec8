// config.json of an HF LLaMA-family folder -> LlamaConfig. Anything the forward pass would
// silently get wrong (another architecture, another rope scaling, MLP biases, another
// activation) is refused.
#include <nlohmann/json.hpp>
#include <cmath>
#include <fstream>
#include <sstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/model/llama_config.hpp"
#include "pipeline/model/ops/rope.hpp"

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
    if (!given.is_number_unsigned())
      bad_config(path, std::string("key ") + key + " must be a token id, got " + v.dump());
    id = given.get<uint64_t>();
  }
  if (id >= static_cast<uint64_t>(vocab_size)) {
    bad_config(path, std::string("key ") + key + " (" + std::to_string(id) + (present(j, key) ? "" : ", the default") +
                         ") must be a token id below vocab_size " + std::to_string(vocab_size));
  }
  return static_cast<int>(id);
}

struct Family {
  Architecture architecture;
  const char* model_type;
  const char* class_name;
};
constexpr Family kFamilies[] = {{Architecture::Llama, "llama", "LlamaForCausalLM"},
                                {Architecture::Qwen2, "qwen2", "Qwen2ForCausalLM"},
                                {Architecture::Qwen3, "qwen3", "Qwen3ForCausalLM"},
                                {Architecture::Mistral, "mistral", "MistralForCausalLM"}};
constexpr const char* kSupported = "llama, qwen2, qwen3, mistral";

const Family* family_named(const json& name, const char* Family::*field) {
  for (const Family& f : kFamilies)
    if (name.is_string() && name.get<std::string>() == f.*field) return &f;
  return nullptr;
}

// model_type and architectures must name the same supported family when both are given.
Architecture read_architecture(const json& j, const std::string& path) {
  const Family* by_type = nullptr;
  const Family* by_class = nullptr;
  if (present(j, "model_type")) {
    by_type = family_named(j.at("model_type"), &Family::model_type);
    if (!by_type)
      bad_config(path, "unsupported architecture: model_type " + j.at("model_type").dump() + " (circal supports " +
                           kSupported + ")");
  }
  if (present(j, "architectures")) {
    const json& archs = j.at("architectures");
    if (archs.is_array() && archs.size() == 1) by_class = family_named(archs.at(0), &Family::class_name);
    if (!by_class)
      bad_config(path, "unsupported architecture: architectures " + archs.dump() + " (circal supports one of " +
                           kSupported + ")");
  }
  if (!by_type && !by_class) bad_config(path, "unsupported architecture: neither model_type nor architectures given");
  if (by_type && by_class && by_type != by_class)
    bad_config(path, "unsupported architecture: model_type " + j.at("model_type").dump() +
                         " disagrees with architectures " + j.at("architectures").dump());
  return (by_type ? by_type : by_class)->architecture;
}

bool boolean(const json& j, const std::string& path, const char* key, bool fallback) {
  if (!present(j, key)) return fallback;
  if (!j.at(key).is_boolean())
    bad_config(path, std::string("key ") + key + " must be true or false, got " + j.at(key).dump());
  return j.at(key).get<bool>();
}

void refuse_unsupported_features(const json& j, const std::string& path) {
  if (present(j, "hidden_act") && j.at("hidden_act") != "silu") {
    bad_config(path, "hidden_act " + j.at("hidden_act").dump() + " is not supported (only \"silu\")");
  }
  if (boolean(j, path, "mlp_bias", false)) bad_config(path, "mlp_bias true is not supported (MLP biases)");
  if (present(j, "pretraining_tp") && j.at("pretraining_tp") != 1) {
    bad_config(path, "pretraining_tp " + j.at("pretraining_tp").dump() + " is not supported (only 1)");
  }
}

double scaling_number(const json& scaling, const std::string& path, const char* key) {
  if (!present(scaling, key) || !scaling.at(key).is_number() || scaling.at(key).get<double>() <= 0)
    bad_config(path, std::string("key rope_scaling.") + key + " must be a positive number, got " +
                         (scaling.contains(key) ? scaling.at(key).dump() : std::string("nothing")));
  return scaling.at(key).get<double>();
}

void read_llama3_scaling(const json& r, const std::string& path, LlamaConfig& c) {
  c.low_freq_factor = scaling_number(r, path, "low_freq_factor");
  c.high_freq_factor = scaling_number(r, path, "high_freq_factor");
  if (c.high_freq_factor <= c.low_freq_factor)
    bad_config(path, "key rope_scaling.high_freq_factor must exceed low_freq_factor, got " + r.dump());
  c.original_max_position_embeddings = positive_int(r, path, "original_max_position_embeddings");
}

// transformers reads the type from rope_type, or from type in older configs; "default" is none.
void read_rope_scaling(const json& j, const std::string& path, LlamaConfig& c) {
  // transformers 5's layout moves rope_theta and the scaling into rope_parameters: refused
  // rather than read with the defaults.
  if (present(j, "rope_parameters"))
    bad_config(path, "key rope_parameters " + j.at("rope_parameters").dump() +
                         " is not supported (give rope_theta and rope_scaling)");
  if (!present(j, "rope_scaling")) return;
  const json& r = j.at("rope_scaling");
  if (!r.is_object()) bad_config(path, "key rope_scaling must be an object, got " + r.dump());
  const char* type_key = present(r, "rope_type") ? "rope_type" : "type";
  const json type = present(r, type_key) ? r.at(type_key) : json();
  if (type == "default") return;
  if (type == "linear" || type == "llama3") c.rope_factor = scaling_number(r, path, "factor");
  if (type == "linear") {
    c.rope_scaling = RopeScaling::Linear;
  } else if (type == "llama3") {
    c.rope_scaling = RopeScaling::Llama3;
    read_llama3_scaling(r, path, c);
  } else {
    bad_config(path, std::string("key rope_scaling.") + type_key + " " + type.dump() +
                         " is not supported (only linear and llama3): " + r.dump());
  }
}

// HF's attention layers: Llama and Qwen3 put attention_bias on q, k, v and o; Qwen2 always
// biases q, k, v and never o; Mistral has none. Qwen2 and Mistral do not read the key.
void read_attention_layout(const json& j, const std::string& path, LlamaConfig& c) {
  switch (c.architecture) {
    case Architecture::Qwen2: c.qkv_bias = true; break;
    case Architecture::Qwen3: c.qk_norm = true; [[fallthrough]];
    case Architecture::Llama: c.qkv_bias = c.o_bias = boolean(j, path, "attention_bias", false); break;
    case Architecture::Mistral: break;
  }
}

// Mistral looks back sliding_window positions whenever it is given; Qwen2/Qwen3 only with
// use_sliding_window. LLaMA has no window.
void read_sliding_window(const json& j, const std::string& path, LlamaConfig& c) {
  const bool qwen = c.architecture == Architecture::Qwen2 || c.architecture == Architecture::Qwen3;
  const bool windowed = c.architecture == Architecture::Mistral ? present(j, "sliding_window")
                                                                : qwen && boolean(j, path, "use_sliding_window", false);
  if (windowed) c.sliding_window = positive_int(j, path, "sliding_window");
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
  LlamaConfig c;
  c.architecture = read_architecture(j, path);
  refuse_unsupported_features(j, path);
  read_rope_scaling(j, path, c);
  read_attention_layout(j, path, c);
  read_sliding_window(j, path, c);
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
                         " is not a multiple of num_key_value_heads " + std::to_string(c.num_key_value_heads));
  }
  if (c.head_dim % 2 != 0) bad_config(path, "head_dim " + std::to_string(c.head_dim) + " must be even (RoPE)");
  c.max_position_embeddings = optional_positive_int(j, path, "max_position_embeddings", 2048);
  c.rms_norm_eps = positive_float(j, path, "rms_norm_eps", 1e-6f);
  c.rope_theta = positive_float(j, path, "rope_theta", 10000.0f);
  c.tie_word_embeddings = boolean(j, path, "tie_word_embeddings", false);
  c.bos_token_id = token_id(j, path, "bos_token_id", 1, c.vocab_size);
  c.eos_token_id = token_id(j, path, "eos_token_id", 2, c.vocab_size);
  return c;
}

namespace {

// Llama 3.1: wavelengths below original/high_freq_factor keep their frequency, those above
// original/low_freq_factor are divided by factor, and the band between blends the two
// linearly in original/wavelength.
double llama3_frequency(double f, const LlamaConfig& c) {
  const double pi = 3.14159265358979323846;
  const double original = c.original_max_position_embeddings;
  const double wavelength = 2 * pi / f;
  if (wavelength < original / c.high_freq_factor) return f;
  if (wavelength > original / c.low_freq_factor) return f / c.rope_factor;
  const double smooth = (original / wavelength - c.low_freq_factor) / (c.high_freq_factor - c.low_freq_factor);
  return (1 - smooth) * f / c.rope_factor + smooth * f;
}

}  // namespace

std::vector<double> rope_inverse_frequencies(const LlamaConfig& c) {
  std::vector<double> inv = rope_unscaled_frequencies(c.head_dim, c.rope_theta);
  for (double& f : inv) {
    switch (c.rope_scaling) {
      case RopeScaling::None: break;
      case RopeScaling::Linear: f /= c.rope_factor; break;
      case RopeScaling::Llama3: f = llama3_frequency(f, c); break;
    }
  }
  return inv;
}

}  // namespace circal

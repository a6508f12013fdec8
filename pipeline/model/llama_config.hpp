#pragma once
// The architecture of a LLaMA-family model, from its folder's config.json.
#include <string>

namespace circal {

struct LlamaConfig {
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;  // hidden_size / num_attention_heads unless config.json says otherwise
  int vocab_size = 0;
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  bool tie_word_embeddings = false;
  int bos_token_id = 1;
  int eos_token_id = 2;
};

// Parses and checks a config.json (LLaMA only: model_type/architectures, hidden_act silu,
// no rope_scaling, no biases). Throws CircalError(kExitInput) naming the file and key.
LlamaConfig read_llama_config(const std::string& config_json_path);
// The same checks on config.json text already in memory; `path` names it in errors.
LlamaConfig parse_llama_config(const std::string& json_text, const std::string& path);

}  // namespace circal

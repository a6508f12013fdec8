#pragma once
// The architecture of a LLaMA-family model, from its folder's config.json.
#include <string>
#include <vector>

namespace circal {

// The decoder families whose forward circal computes; they differ only in the attention
// block (biases, q/k norm), which the flags below spell out.
enum class Architecture { Llama, Qwen2, Qwen3, Mistral };
// rope_scaling types whose frequencies circal computes (docs/DESIGN.md section 7).
enum class RopeScaling { None, Linear, Llama3 };

struct LlamaConfig {
  Architecture architecture = Architecture::Llama;
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
  RopeScaling rope_scaling = RopeScaling::None;
  double rope_factor = 1.0;                              // Linear and Llama3
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // Llama3
  int original_max_position_embeddings = 0;              // Llama3
  bool qkv_bias = false;                                 // q_proj, k_proj, v_proj carry a .bias
  bool o_bias = false;                                   // o_proj carries a .bias
  bool qk_norm = false;                                  // per-head RMSNorm of q and k before RoPE (Qwen3)
  // Positions a token may look back (0: unlimited). The forward refuses a pass whose
  // sequences do not fit it, so attention stays full causal attention.
  int sliding_window = 0;
  bool tie_word_embeddings = false;
  int bos_token_id = 1;
  int eos_token_id = 2;  // the first id when config.json gives a list
};

// Parses and checks a config.json (llama, qwen2, qwen3, mistral; hidden_act silu; rope_scaling
// none, linear or llama3; no MLP biases). Throws CircalError(kExitInput) naming the file and key.
LlamaConfig read_llama_config(const std::string& config_json_path);
// The same checks on config.json text already in memory; `path` names it in errors.
LlamaConfig parse_llama_config(const std::string& json_text, const std::string& path);

// RoPE inverse frequencies [head_dim / 2] as transformers computes them for the config's
// rope_scaling (in double).
std::vector<double> rope_inverse_frequencies(const LlamaConfig& config);

}  // namespace circal

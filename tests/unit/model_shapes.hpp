#pragma once
// Model shapes for tests that need only a LlamaConfig (formulas, batch sizes), not weights.
#include "pipeline/model/llama_config.hpp"

namespace circal_test {

inline circal::LlamaConfig llama_shape(int hidden, int intermediate, int layers, int heads, int kv_heads, int vocab) {
  circal::LlamaConfig c;
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.vocab_size = vocab;
  return c;
}

// TinyLlama-1.1B: hidden 2048, intermediate 5632, 22 layers, 32 heads with 4 KV heads.
inline circal::LlamaConfig tinyllama_shape() { return llama_shape(2048, 5632, 22, 32, 4, 32000); }

// Llama-2-7B: 32 layers, 32 heads (no grouped KV), 6,738,415,616 parameters.
inline circal::LlamaConfig llama2_7b_shape() { return llama_shape(4096, 11008, 32, 32, 32, 32000); }

}  // namespace circal_test

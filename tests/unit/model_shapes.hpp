#pragma once
// Model shapes for tests that need only a LlamaConfig (formulas, batch sizes), not weights.
#include "pipeline/model/llama_config.hpp"

namespace circal_test {

// TinyLlama-1.1B: hidden 2048, intermediate 5632, 22 layers, 32 heads with 4 KV heads.
inline circal::LlamaConfig tinyllama_shape() {
  circal::LlamaConfig c;
  c.hidden_size = 2048;
  c.intermediate_size = 5632;
  c.num_hidden_layers = 22;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.vocab_size = 32000;
  return c;
}

}  // namespace circal_test

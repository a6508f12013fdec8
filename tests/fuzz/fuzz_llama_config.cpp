// config.json text -> parse_llama_config (every check a model folder's config goes through).
// An accepted config must satisfy what the forward pass indexes by without further checks.
#include <stdexcept>

#include "pipeline/model/llama_config.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

void require(bool holds, const char* what) {
  if (!holds) throw std::logic_error(std::string("accepted config.json breaks: ") + what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  circal::fuzz::accept_or_refuse([&] {
    const circal::LlamaConfig c = circal::parse_llama_config(circal::fuzz::bytes_text(data, size), "fuzz/config.json");
    require(c.hidden_size > 0 && c.intermediate_size > 0 && c.num_hidden_layers > 0 && c.vocab_size > 0,
            "positive sizes");
    require(c.num_key_value_heads > 0 && c.num_attention_heads % c.num_key_value_heads == 0, "GQA grouping");
    require(c.head_dim > 0 && c.head_dim % 2 == 0, "even head_dim (RoPE)");
    require(c.max_position_embeddings > 0, "positive max_position_embeddings");
    // prompt_ids puts BOS in front of every prompt, and the embedding is looked up by it.
    require(c.bos_token_id >= 0 && c.bos_token_id < c.vocab_size, "bos_token_id inside the vocabulary");
  });
  return 0;
}

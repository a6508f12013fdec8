// parse_llama_config on config.json texts the fuzz harness refuses to accept (tests/fuzz/corpus/llama_config/
// crash_*): token ids must lie inside the vocabulary, since BOS indexes the embedding.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <cmath>
#include <fstream>
#include <sstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/model/llama_config.hpp"

using nlohmann::json;

namespace {

json teacher_config() {
  std::ifstream in(std::string(CIRCAL_SOURCE_DIR) + "/data/models/manpages-llama-5m/config.json");
  return json::parse(in);
}

std::string refusal(const json& config) {
  try {
    circal::parse_llama_config(config.dump(), "model/config.json");
  } catch (const circal::CircalError& e) {
    CHECK(e.code() == circal::kExitInput);
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("the bundled teacher's config.json parses from text") {
  const circal::LlamaConfig c = circal::parse_llama_config(teacher_config().dump(), "model/config.json");
  CHECK(c.vocab_size == 4096);
  CHECK(c.bos_token_id == 1);
  CHECK(c.eos_token_id == 2);
}

TEST_CASE("bos_token_id and eos_token_id outside the vocabulary are refused") {
  json c = teacher_config();
  c["bos_token_id"] = 5000;
  std::string message = refusal(c);
  CHECK(message.find("model/config.json") != std::string::npos);
  CHECK(message.find("bos_token_id") != std::string::npos);
  CHECK(message.find("vocab_size 4096") != std::string::npos);
  // 2^40 used to be truncated to int (0) and accepted.
  c["bos_token_id"] = 1ll << 40;
  CHECK(refusal(c).find("bos_token_id") != std::string::npos);
  c = teacher_config();
  c["eos_token_id"] = json::array({4096, 2});
  CHECK(refusal(c).find("eos_token_id") != std::string::npos);
  c["eos_token_id"] = -1;
  CHECK(refusal(c).find("eos_token_id") != std::string::npos);
}

TEST_CASE("the default token ids are checked against a tiny vocabulary too") {
  json c = teacher_config();
  c.erase("bos_token_id");
  c["vocab_size"] = 1;
  CHECK(refusal(c).find("the default") != std::string::npos);
}

namespace {

json family_config(const std::string& model_type, const std::string& class_name) {
  json c = teacher_config();
  c["model_type"] = model_type;
  c["architectures"] = json::array({class_name});
  return c;
}

}  // namespace

TEST_CASE("qwen2, qwen3 and mistral configs set the attention layout of their family") {
  using circal::Architecture;
  json qwen2 = family_config("qwen2", "Qwen2ForCausalLM");
  qwen2["use_sliding_window"] = false;
  qwen2["sliding_window"] = 4096;
  circal::LlamaConfig c = circal::parse_llama_config(qwen2.dump(), "model/config.json");
  CHECK(c.architecture == Architecture::Qwen2);
  CHECK((c.qkv_bias && !c.o_bias && !c.qk_norm && c.sliding_window == 0));
  qwen2["use_sliding_window"] = true;
  CHECK(circal::parse_llama_config(qwen2.dump(), "model/config.json").sliding_window == 4096);

  json qwen3 = family_config("qwen3", "Qwen3ForCausalLM");
  qwen3["head_dim"] = 128;
  c = circal::parse_llama_config(qwen3.dump(), "model/config.json");
  CHECK((c.architecture == Architecture::Qwen3 && c.qk_norm && !c.qkv_bias && !c.o_bias && c.head_dim == 128));
  qwen3["attention_bias"] = true;
  c = circal::parse_llama_config(qwen3.dump(), "model/config.json");
  CHECK((c.qkv_bias && c.o_bias));

  json mistral = family_config("mistral", "MistralForCausalLM");
  mistral["sliding_window"] = nullptr;
  c = circal::parse_llama_config(mistral.dump(), "model/config.json");
  CHECK((c.architecture == Architecture::Mistral && !c.qkv_bias && c.sliding_window == 0));
  mistral["sliding_window"] = 4096;
  CHECK(circal::parse_llama_config(mistral.dump(), "model/config.json").sliding_window == 4096);
  mistral["sliding_window"] = 0;
  CHECK(refusal(mistral).find("sliding_window") != std::string::npos);

  json llama = teacher_config();
  llama["attention_bias"] = true;
  c = circal::parse_llama_config(llama.dump(), "model/config.json");
  CHECK((c.qkv_bias && c.o_bias));
  llama["eos_token_id"] = json::array({3, 2});
  CHECK(circal::parse_llama_config(llama.dump(), "model/config.json").eos_token_id == 3);
}

TEST_CASE("rope_scaling linear and llama3 give transformers' inverse frequencies") {
  json j = teacher_config();
  j["hidden_size"] = 64;
  j["num_attention_heads"] = 4;
  j["num_key_value_heads"] = 4;
  j["head_dim"] = 16;
  j["rope_theta"] = 500000.0;
  const double theta = 500000.0;
  const auto unscaled = [&](int i) { return std::pow(theta, -2.0 * i / 16); };
  const auto frequencies = [&](const json& scaling) {
    j["rope_scaling"] = scaling;
    return circal::rope_inverse_frequencies(circal::parse_llama_config(j.dump(), "model/config.json"));
  };
  std::vector<double> f = frequencies(nullptr);
  REQUIRE(f.size() == 8);
  for (int i = 0; i < 8; ++i) CHECK(f[i] == doctest::Approx(unscaled(i)).epsilon(1e-15));
  CHECK(frequencies({{"rope_type", "default"}}) == f);
  f = frequencies({{"type", "linear"}, {"factor", 4.0}});
  for (int i = 0; i < 8; ++i) CHECK(f[i] == doctest::Approx(unscaled(i) / 4).epsilon(1e-15));
  // Original context 64: wavelength 2 pi (i = 0) is below 64/4 and kept; 32.4 (i = 1) lies in
  // the blended band; from i = 2 (167) on every wavelength is above 64/1 and divided by 8.
  f = frequencies({{"rope_type", "llama3"},
                   {"factor", 8.0},
                   {"low_freq_factor", 1.0},
                   {"high_freq_factor", 4.0},
                   {"original_max_position_embeddings", 64}});
  CHECK(f[0] == doctest::Approx(1.0).epsilon(1e-15));
  const double f1 = unscaled(1), smooth = (64 / (2 * M_PI / f1) - 1.0) / 3.0;
  CHECK(smooth == doctest::Approx(0.3253).epsilon(1e-3));
  CHECK(f[1] == doctest::Approx((1 - smooth) * f1 / 8 + smooth * f1).epsilon(1e-15));
  for (int i = 2; i < 8; ++i) CHECK(f[i] == doctest::Approx(unscaled(i) / 8).epsilon(1e-15));
}

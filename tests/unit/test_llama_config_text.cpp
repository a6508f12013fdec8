// parse_llama_config on config.json texts the fuzz harness refuses to accept (tests/fuzz/corpus/llama_config/
// crash_*): token ids must lie inside the vocabulary, since BOS indexes the embedding.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
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

// Prompts per batched teacher forward (stages/common/capture_layout.hpp): capture.batch_tokens
// caps the rows, capture.activation_budget_mb the memory the batch's pass keeps.
#include <doctest/doctest.h>

#include <vector>

#include "pipeline/config/config.hpp"
#include "pipeline/model/llama_config.hpp"
#include "pipeline/model/transformer.hpp"
#include "stages/common/capture_layout.hpp"
#include "tests/unit/model_shapes.hpp"

using namespace circal;

using circal_test::tinyllama_shape;

TEST_CASE("teacher batches: 256-token windows at the 1.1B shape fit 2 a batch in the default 2 GiB") {
  const LlamaConfig c = tinyllama_shape();
  Config config;
  REQUIRE(config.capture.batch_tokens == 4096);
  REQUIRE(config.capture.activation_budget_mb == 2048);
  // By hand (DESIGN 8.3): a row keeps 22 layers x (x_in, 3H + 2 + 2q + 2kv + 3I, 32 x 256
  // probabilities) + the head (2H + 1 + V) + gradient scratch (3H + 2q + 2kv + 3I) floats, plus
  // down_proj's output (H a layer): ~3.75 MB, so 2 windows are 1.92 GB and 3 are 2.88 GB.
  const double row = 4.0 * (22 * (2048 + 3 * 2048 + 2 + 2 * 2048 + 2 * 256 + 3 * 5632 + 32 * 256 + 2048) +
                            (2 * 2048 + 1 + 32000) + (3 * 2048 + 2 * 2048 + 2 * 256 + 3 * 5632));
  CHECK(2 * 256 * row < 2048.0 * (1 << 20));
  CHECK(3 * 256 * row > 2048.0 * (1 << 20));
  CHECK(teacher_batch_prompts(config, c, 256) == 2);  // 4096 rows alone would allow 16
  config.capture.activation_budget_mb = 1024;
  CHECK(teacher_batch_prompts(config, c, 256) == 1);
  config.capture.activation_budget_mb = 1;
  CHECK(teacher_batch_prompts(config, c, 256) == 1);  // never fewer than one prompt
  config.capture.activation_budget_mb = 1 << 20;
  CHECK(teacher_batch_prompts(config, c, 256) == 16);  // batch_tokens: 4096 / 256
  config.capture.batch_tokens = 1000;
  CHECK(teacher_batch_prompts(config, c, 256) == 3);
  CHECK(teacher_batch_prompts(config, c, 20) == 16);  // at most 16 prompts
  // The chosen batch is the largest within the budget: one more prompt would pass it.
  config = Config();
  const int k = teacher_batch_prompts(config, c, 100);
  const auto kept = [&](int prompts) {
    return Transformer::activation_bytes(c, 0, std::vector<int>(prompts, 100), false) + 4.0 * 22 * prompts * 100 * 2048;
  };
  CHECK(kept(k) <= 2048.0 * (1 << 20));
  CHECK(kept(k + 1) > 2048.0 * (1 << 20));
}

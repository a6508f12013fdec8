// The node memory estimate made before any work (stages/common/memory_budget): the float32
// teacher's bytes against Llama-2-7B's published parameter count, the per-rank parts growing
// with the rank count, and the refusal: one line naming the stage, the budget key and what to
// change (for the stage of the highest peak), at the 7B shape on a 24 GB node and at the
// 1.1B shape with a small budget.
#include <doctest/doctest.h>

#include <string>

#include "pipeline/config/config.hpp"
#include "stages/common/memory_budget.hpp"
#include "tests/unit/error_of.hpp"
#include "tests/unit/model_shapes.hpp"

namespace {

circal::Config all_layers(const circal::LlamaConfig& model) {
  circal::Config config;
  circal::resolve_layers(config, model.num_hidden_layers);  // the default patch.layers
  config.patch.layers.clear();
  for (int l = 0; l < model.num_hidden_layers; ++l) config.patch.layers.push_back(l);
  config.project.block_size = 64;
  return config;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("the float32 teacher is 4 bytes a parameter: Llama-2-7B's 6,738,415,616") {
  CHECK(circal::teacher_float32_bytes(circal_test::llama2_7b_shape()) == 4.0 * 6738415616.0);
  circal::LlamaConfig tied = circal_test::llama2_7b_shape();
  tied.tie_word_embeddings = true;
  CHECK(circal::teacher_float32_bytes(tied) == 4.0 * (6738415616.0 - 32000.0 * 4096));
}

TEST_CASE("per-rank buffers scale with the node's ranks, the shared teacher does not") {
  const circal::LlamaConfig model = circal_test::tinyllama_shape();
  const circal::Config config = all_layers(model);
  const auto one = circal::stage_peaks(config, model, 1), two = circal::stage_peaks(config, model, 2);
  REQUIRE(one.size() == two.size());
  for (std::size_t s = 0; s < one.size(); ++s) {
    CAPTURE(one[s].stage);
    CHECK(one[s].items[0].bytes == two[s].items[0].bytes);  // the teacher, once a node
    for (std::size_t i = 1; i < one[s].items.size(); ++i) CHECK(two[s].items[i].bytes == 2 * one[s].items[i].bytes);
  }
}

TEST_CASE("a 7B run on a 24 GB node is refused before any work, naming the key") {
  const circal::LlamaConfig model = circal_test::llama2_7b_shape();
  circal::Config config = all_layers(model);
  config.runtime.node_memory_gb = 24;
  const circal::CircalError error =
      circal::testing::error_of([&] { circal::refuse_memory_shortfall(config, model, 2); });
  const std::string message = error.what();
  INFO(message);
  CHECK(error.code() == circal::kExitUsage);
  CHECK(has(message, "runtime.node_memory_gb: the calibrate stage needs about"));
  CHECK(has(message, "teacher weights (float32, one copy a node) 25.1 GB"));
  CHECK(has(message, "more than the 24.0 GB budget; raise runtime.node_memory_gb"));
  CHECK(has(message, "(the largest part, the teacher weights (float32, one copy a node), has no smaller setting)"));
  CHECK(message.find('\n') == std::string::npos);
  config.runtime.node_memory_gb = 200;
  CHECK(circal::testing::error_of([&] { circal::refuse_memory_shortfall(config, model, 2); }).code() == -1);
}

TEST_CASE("a small budget names the largest per-rank part and its key") {
  const circal::LlamaConfig model = circal_test::tinyllama_shape();
  circal::Config config = all_layers(model);
  config.runtime.node_memory_gb = 4.2;  // the 4.1 GB float32 teacher fits, a rank's buffers do not
  config.calibrate.group_prompts = 64;
  config.data.window_tokens = 512;
  const std::string message =
      circal::testing::error_of([&] { circal::refuse_memory_shortfall(config, model, 1); }).what();
  INFO(message);
  CHECK(has(message, "the calibrate stage needs about"));
  CHECK(has(message, "group logits (student, gradient, teacher) 11.7 GB"));
  CHECK(has(message, "or lower calibrate.group_prompts (stored activations, 18.9 GB)"));
  CHECK(has(message, "4.2 GB budget"));
}

TEST_CASE("model.resident_dtype: auto keeps a 7B BF16 teacher in file dtype on a 24 GB node, float32 is refused") {
  const circal::LlamaConfig model = circal_test::llama2_7b_shape();
  circal::Config config = all_layers(model);  // config/scale-7b.yaml's workload
  config.data.window_tokens = 256;
  config.calibrate.group_prompts = 1;
  config.runtime.node_memory_gb = 23.6;
  const double bf16_bytes = circal::teacher_float32_bytes(model) / 2;
  const auto residency = [&] {
    return circal::choose_residency(config, model, circal::TensorDtype::BF16, bf16_bytes, 2);
  };
  // auto: float32 would not fit, so the file's BF16, with the reason in one line.
  circal::TeacherResidency chosen = residency();
  INFO(chosen.reason);
  CHECK(chosen.dtype == circal::ResidentDtype::File);
  CHECK(has(chosen.reason,
            "file (BF16, 12.6 GB a node) (auto: with float32 the capture stage would need 31.4 GB a "
            "node, more than the 23.6 GB of runtime.node_memory_gb)"));
  // ...which fits: the teacher counted at its file bytes, plus a rank's float32 scratch of lm_head.
  CHECK(circal::testing::error_of([&] { circal::refuse_memory_shortfall(config, model, 2, &chosen); }).code() == -1);
  const auto peaks = circal::stage_peaks(config, model, 2, &chosen);
  CHECK(peaks[0].items[0].bytes == bf16_bytes);
  CHECK(peaks[0].items.back().bytes == 2 * 4.0 * 32000 * 4096);
  // float32 forced: refused before any work, naming the budget key and the residency key.
  config.model.resident_dtype = circal::ResidentDtype::Float32;
  chosen = residency();
  CHECK(chosen.dtype == circal::ResidentDtype::Float32);
  CHECK(chosen.reason == "float32 (set by model.resident_dtype)");
  const circal::CircalError error =
      circal::testing::error_of([&] { circal::refuse_memory_shortfall(config, model, 2, &chosen); });
  const std::string message = error.what();
  INFO(message);
  CHECK(error.code() == circal::kExitUsage);
  CHECK(has(message, "runtime.node_memory_gb: the capture stage needs about 31.4 GB"));
  CHECK(has(message, "or lower model.resident_dtype (set it file) (teacher weights (float32, one copy a node)"));
  CHECK(message.find('\n') == std::string::npos);
  // auto with room for float32 keeps float32; a float32 checkpoint is float32 whatever is asked.
  config.model.resident_dtype = circal::ResidentDtype::Auto;
  config.runtime.node_memory_gb = 64;
  CHECK(residency().dtype == circal::ResidentDtype::Float32);
  config.model.resident_dtype = circal::ResidentDtype::File;
  CHECK(circal::choose_residency(config, model, circal::TensorDtype::F32, 4 * bf16_bytes, 2).dtype ==
        circal::ResidentDtype::Float32);
}

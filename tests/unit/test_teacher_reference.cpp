// The whole teacher path (loader, tokenizer, Transformer) against teacher.h5, computed
// independently in float64 with PyTorch: logits within 1e-4 * max|logit| per row, greedy16
// continuations identical.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "pipeline/model/transformer.hpp"
#include "tests/reference_files.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kTeacherDir = fs::path(CIRCAL_SOURCE_DIR) / "data/models/manpages-llama-5m";

fs::path teacher_reference() { return circal::test::reference_file("teacher.h5"); }

}  // namespace

TEST_CASE("teacher logits and greedy16 match the float64 reference for every prompt") {
  const circal::ModelWeights model = circal::load_model(kTeacherDir.string());
  const circal::Tokenizer tokenizer(kTeacherDir.string());
  circal::Transformer teacher(model);
  const circal::CheckpointReader reference(teacher_reference().string());
  const auto prompts = reference.children("/");
  REQUIRE(prompts.size() >= 4);
  const int vocab = model.config.vocab_size;
  double worst_relative = 0.0;
  for (const auto& group : prompts) {
    INFO(group);
    const std::vector<int> ids = circal::prompt_ids(tokenizer, model.config, reference.attr_string(group, "text"));
    const std::vector<int32_t> expected_ids = reference.read_int32(group + "/tokens");
    REQUIRE(std::vector<int32_t>(ids.begin(), ids.end()) == expected_ids);

    const std::vector<double> expected = reference.read_double(group + "/logits");
    REQUIRE(expected.size() == ids.size() * static_cast<std::size_t>(vocab));
    const float* logits = teacher.forward(ids);
    for (std::size_t t = 0; t < ids.size(); ++t) {
      const double* row = expected.data() + t * static_cast<std::size_t>(vocab);
      double scale = 0.0, error = 0.0;
      for (int v = 0; v < vocab; ++v) {
        scale = std::max(scale, std::fabs(row[v]));
        error = std::max(error,
                         std::fabs(row[v] - logits[t * static_cast<std::size_t>(vocab) + static_cast<std::size_t>(v)]));
      }
      INFO("row ", t, ": max error ", error, ", max |logit| ", scale);
      CHECK(error <= 1e-4 * scale);
      worst_relative = std::max(worst_relative, error / scale);
    }

    const std::vector<int32_t> greedy = reference.read_int32(group + "/greedy16");
    const std::vector<int> continuation = teacher.generate_greedy(ids, static_cast<int>(greedy.size()));
    CHECK(std::vector<int32_t>(continuation.begin(), continuation.end()) == greedy);
  }
  MESSAGE("worst per-row error / max|logit|: ", worst_relative);
}

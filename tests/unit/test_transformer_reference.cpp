// The bundled teacher against tests/reference/teacher.h5 (float64 PyTorch): logits per
// row within 1e-4 of the row's max |logit|, greedy continuations identical, and the
// forward_from hook reproducing the full forward. Reference tokens are used directly so the
// tokenizer is not under test here.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/transformer.hpp"
#include "tests/reference_files.hpp"

using namespace circal;

namespace {

const std::string kModelDir = std::string(CIRCAL_SOURCE_DIR) + "/data/models/manpages-llama-5m";
const std::string kTeacherFile = circal::test::reference_file("teacher.h5");

// max over rows of (max_v |logits - reference|) / (max_v |reference|).
double worst_row_error(const float* logits, const std::vector<double>& reference, int T, int V) {
  double worst = 0.0;
  for (int t = 0; t < T; ++t) {
    double err = 0.0, peak = 0.0;
    for (int v = 0; v < V; ++v) {
      const double ref = reference[static_cast<size_t>(t) * V + v];
      err = std::max(err, std::abs(logits[static_cast<size_t>(t) * V + v] - ref));
      peak = std::max(peak, std::abs(ref));
    }
    worst = std::max(worst, err / peak);
  }
  return worst;
}

}  // namespace

TEST_CASE("teacher forward matches the float64 reference logits and greedy continuations") {
  const ModelWeights model = load_model(kModelDir);
  Transformer net(model);
  const int V = model.config.vocab_size, H = model.config.hidden_size;
  const CheckpointReader ref(kTeacherFile);
  const std::vector<std::string> prompts = ref.children("/");
  REQUIRE(!prompts.empty());
  for (const std::string& prompt : prompts) {
    CAPTURE(prompt);
    const std::vector<int32_t> ids32 = ref.read_int32(prompt + "/tokens");
    const std::vector<int> tokens(ids32.begin(), ids32.end());
    const int T = static_cast<int>(tokens.size());
    const std::vector<double> expected = ref.read_double(prompt + "/logits");
    REQUIRE(expected.size() == static_cast<size_t>(T) * V);

    const float* logits = net.forward(tokens);
    const double error = worst_row_error(logits, expected, T, V);
    MESSAGE(prompt << ": worst row error / max|logit| = " << error);
    CHECK(error < 1e-4);
    const std::vector<float> full(logits, logits + static_cast<size_t>(T) * V);

    for (int layer = 0; layer <= model.config.num_hidden_layers; ++layer) {
      CAPTURE(layer);
      net.forward(tokens);
      const std::vector<float> hidden(net.hidden_in(layer), net.hidden_in(layer) + static_cast<size_t>(T) * H);
      const float* resumed = net.forward_from(layer, hidden.data(), T);
      CHECK(std::equal(full.begin(), full.end(), resumed));
    }

    const std::vector<int32_t> greedy = ref.read_int32(prompt + "/greedy16");
    const std::vector<int> generated = net.generate_greedy(tokens, 16);
    CHECK(std::equal(greedy.begin(), greedy.end(), generated.begin(), generated.end()));
  }
}

// The forward's fast paths against their slow, obvious twins: a batch of prompts stacked into
// one activation matrix against one forward per prompt (logits, hooks, forward_from and
// backward), and the sgemv paths of a one-token decode step against the sgemm ones.
// GEMMs over a different number of rows may block (and so round) differently, hence float
// tolerances rather than bitwise equality.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/ops/attention.hpp"
#include "pipeline/model/ops/linear.hpp"
#include "pipeline/model/transformer.hpp"
#include "tests/reference_files.hpp"

using namespace circal;

namespace {

const std::string kModelDir = std::string(CIRCAL_SOURCE_DIR) + "/data/models/manpages-llama-5m";
const std::string kTeacherFile = circal::test::reference_file("teacher.h5");

// Prompts of several lengths, including a BOS-only one (its attention takes the one-query path).
std::vector<std::vector<int>> test_prompts() {
  const CheckpointReader ref(kTeacherFile);
  std::vector<std::vector<int>> prompts;
  for (const std::string& name : ref.children("/")) {
    const std::vector<int32_t> ids = ref.read_int32(name + "/tokens");
    prompts.emplace_back(ids.begin(), ids.end());
  }
  prompts.push_back({1});
  prompts.push_back(std::vector<int>(prompts.front().begin(), prompts.front().begin() + 3));
  return prompts;
}

// max |a - b| over n values relative to max |b| (at least 1, so near-zero rows do not inflate it).
double relative_error(const float* a, const float* b, long n) {
  double err = 0.0, peak = 1.0;
  for (long i = 0; i < n; ++i) {
    err = std::max(err, std::abs(double(a[i]) - b[i]));
    peak = std::max(peak, std::abs(double(b[i])));
  }
  return err / peak;
}

std::vector<float> random_values(std::mt19937& rng, long n) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace

TEST_CASE("a batch of prompts gives each prompt's own logits and hooks") {
  const ModelWeights model = load_model(kModelDir);
  const LlamaConfig& c = model.config;
  const long V = c.vocab_size, H = c.hidden_size, I = c.intermediate_size;
  const std::vector<std::vector<int>> prompts = test_prompts();
  Transformer batched(model), single(model);

  const float* logits = batched.forward_batch(prompts);
  REQUIRE(batched.batch_size() == int(prompts.size()));
  const std::vector<float> all(logits, logits + long(batched.tokens()) * V);
  long rows = 0;
  for (std::size_t s = 0; s < prompts.size(); ++s) {
    CAPTURE(s);
    const long T = long(prompts[s].size()), r = batched.row_offset(int(s));
    CHECK(r == rows);
    rows += T;
    const float* expected = single.forward(prompts[s]);
    CHECK(relative_error(all.data() + r * V, expected, T * V) < 1e-5);
    for (int l = 0; l <= c.num_hidden_layers; ++l)
      CHECK(relative_error(batched.hidden_in(l) + r * H, single.hidden_in(l), T * H) < 1e-5);
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      CHECK(relative_error(batched.mlp_input(l, Projection::Gate) + r * H, single.mlp_input(l, Projection::Gate),
                           T * H) < 1e-5);
      CHECK(relative_error(batched.mlp_input(l, Projection::Down) + r * I, single.mlp_input(l, Projection::Down),
                           T * I) < 1e-5);
    }
  }
  CHECK(batched.tokens() == rows);

  // forward_from over the batch repeats forward_batch exactly: same rows, same GEMMs.
  std::vector<int> lengths;
  for (const auto& p : prompts) lengths.push_back(int(p.size()));
  for (int layer = 0; layer <= c.num_hidden_layers; ++layer) {
    CAPTURE(layer);
    batched.forward_batch(prompts);
    const std::vector<float> hidden(batched.hidden_in(layer), batched.hidden_in(layer) + rows * H);
    const float* resumed = batched.forward_from(layer, hidden.data(), lengths);
    CHECK(std::equal(all.begin(), all.end(), resumed));
  }
}

TEST_CASE("backward of a batch gives each prompt's own input gradient") {
  const ModelWeights model = load_model(kModelDir);
  const long V = model.config.vocab_size, H = model.config.hidden_size;
  const std::vector<std::vector<int>> prompts = test_prompts();
  const int layer = 2;
  Transformer batched(model), single(model);
  batched.forward_batch(prompts);
  const long rows = batched.tokens();
  const std::vector<float> hidden(batched.hidden_in(layer), batched.hidden_in(layer) + rows * H);
  std::vector<int> lengths;
  for (const auto& p : prompts) lengths.push_back(int(p.size()));
  std::mt19937 rng(7);
  const std::vector<float> dlogits = random_values(rng, rows * V);

  batched.forward_from(layer, hidden.data(), lengths);
  batched.backward(dlogits.data());
  const std::vector<float> dhidden(batched.hidden_gradient(), batched.hidden_gradient() + rows * H);
  for (std::size_t s = 0; s < prompts.size(); ++s) {
    CAPTURE(s);
    const long r = batched.row_offset(int(s)), T = long(prompts[s].size());
    single.forward_from(layer, hidden.data() + r * H, int(T));
    single.backward(dlogits.data() + r * V);
    CHECK(relative_error(dhidden.data() + r * H, single.hidden_gradient(), T * H) < 1e-5);
  }
}

TEST_CASE("one-token decode steps (sgemv) match the sgemm paths") {
  std::mt19937 rng(3);
  SUBCASE("linear: one row alone equals the same row inside a two-row product") {
    const int in = 96, out = 80;
    const std::vector<float> W = random_values(rng, long(in) * out), X = random_values(rng, 2L * in);
    std::vector<float> one(out), two(2 * out);
    linear_forward(X.data(), W.data(), one.data(), 1, in, out);
    linear_forward(X.data(), W.data(), two.data(), 2, in, out);
    CHECK(relative_error(one.data(), two.data(), out) < 1e-6);
  }
  SUBCASE("attention: the last query alone over the cache equals the last row of the block") {
    const AttentionShape block{9, 0, 4, 2, 16};
    const AttentionShape last{1, 8, 4, 2, 16};
    const long qw = 4 * 16, kw = 2 * 16;
    const std::vector<float> q = random_values(rng, 9 * qw), k = random_values(rng, 9 * kw),
                             v = random_values(rng, 9 * kw);
    std::vector<float> out_block(9 * qw), probs_block(4 * 9 * 9), out_last(qw), probs_last(4 * 9);
    attention_forward(block, q.data(), k.data(), v.data(), out_block.data(), probs_block.data());
    attention_forward(last, q.data() + 8 * qw, k.data(), v.data(), out_last.data(), probs_last.data());
    CHECK(relative_error(out_last.data(), out_block.data() + 8 * qw, qw) < 1e-6);
  }
  SUBCASE("greedy decoding with the KV cache equals re-running the whole sequence") {
    const ModelWeights model = load_model(kModelDir);
    Transformer net(model);
    const std::vector<int> prompt = test_prompts().front();
    const std::vector<int> generated = net.generate_greedy(prompt, 6);
    std::vector<int> sequence = prompt;
    for (int step = 0; step < 6; ++step) {
      const float* logits = net.forward(sequence);
      const float* row = logits + (sequence.size() - 1) * model.config.vocab_size;
      const int next = int(std::max_element(row, row + model.config.vocab_size) - row);
      CHECK(next == generated[step]);
      sequence.push_back(next);
    }
  }
}

TEST_CASE("the MLP output hooks are the products the pass computed; the prompt pass of greedy decoding is forward()") {
  const ModelWeights model = load_model(kModelDir);
  const LlamaConfig& c = model.config;
  const long V = c.vocab_size, H = c.hidden_size, I = c.intermediate_size;
  const std::vector<std::vector<int>> prompts = test_prompts();
  Transformer plain(model), kept(model);
  kept.set_keep_mlp_outputs(true);
  const float* logits = plain.forward_batch(prompts);
  const long T = plain.tokens();
  const std::vector<float> expected(logits, logits + T * V);
  const float* kept_logits = kept.forward_batch(prompts);
  CHECK(std::equal(expected.begin(), expected.end(), kept_logits));  // keeping down_proj's output changes no bit
  CHECK_THROWS_AS(plain.mlp_output(0, Projection::Down), CircalError);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    CAPTURE(l);
    // The slow twin: W x of the hooked inputs, one GEMM per matrix.
    for (Projection projection : kProjections) {
      CAPTURE(name_of(projection));
      const long m = projection == Projection::Down ? H : I, n = projection == Projection::Down ? I : H;
      std::vector<float> y(T * m);
      linear_forward(kept.mlp_input(l, projection), mlp_matrix(model, l, projection), y.data(), int(T), int(n), int(m));
      CHECK(std::equal(y.begin(), y.end(), kept.mlp_output(l, projection)));
    }
  }
  Transformer greedy(model);
  for (const std::vector<int>& prompt : prompts) {
    std::vector<float> prompt_logits;
    const std::vector<int> ids = greedy.generate_greedy(prompt, 3, &prompt_logits);
    CHECK(ids.size() == 3);
    const float* forward = plain.forward(prompt);
    REQUIRE(prompt_logits.size() == prompt.size() * size_t(V));
    CHECK(std::equal(prompt_logits.begin(), prompt_logits.end(), forward));
  }
}

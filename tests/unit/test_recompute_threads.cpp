// Activation checkpointing and threads per rank against the plain single-thread pass, on the
// bundled teacher with every MLP matrix block-circulant (random parameters, gradients on):
// - recomputation (Transformer::set_recompute) gives bitwise the same logits, input gradient
//   and parameter gradients, and its activation formula shrinks with it;
// - runtime.threads 2 (OpenBLAS, FFTW, OpenMP) stays within 1e-5 of 1 thread.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "pipeline/circulant/block_layout.hpp"
#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/circulant/fft_plans.hpp"
#include "pipeline/config/names.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/ops/swiglu.hpp"
#include "pipeline/model/transformer.hpp"
#include "pipeline/runtime/blas_runtime.hpp"
#include "tests/unit/model_shapes.hpp"

using namespace circal;

namespace {

const std::string kModelDir = std::string(CIRCAL_SOURCE_DIR) + "/data/models/manpages-llama-5m";

std::vector<float> random_values(std::mt19937& rng, std::size_t n, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

struct PassResult {
  std::vector<float> logits, hidden_gradient, parameter_gradient;
};

// forward_from(first) over a stacked batch, a fixed dL/dlogits, backward with the input
// gradient; every layer from `first` has circulant gate/up/down with parameters from `seed`.
PassResult student_pass(const ModelWeights& model, int first, bool recompute, bool switch_modes = false) {
  const LlamaConfig& c = model.config;
  const int b = 16;
  std::mt19937 rng(20261201);
  std::vector<std::unique_ptr<CirculantLinear>> ops;
  std::vector<std::vector<float>> params, grads;
  Transformer t(model);
  for (int l = first; l < c.num_hidden_layers; ++l) {
    for (Projection proj : kProjections) {
      const int m = mlp_out_features(c, proj), n = mlp_in_features(c, proj);
      const std::size_t count = std::size_t(block_count(m, b)) * block_count(n, b) * b;
      params.push_back(random_values(rng, count, 0.02f));
      grads.emplace_back(count, 0.0f);
      ops.push_back(std::make_unique<CirculantLinear>(m, n, b, params.back().data(), grads.back().data()));
      t.set_mlp_operator(l, proj, ops.back().get());
    }
  }
  const std::vector<int> lengths = {7, 12, 3};
  long rows = 0;
  for (int n : lengths) rows += n;
  const std::vector<float> hidden = random_values(rng, std::size_t(rows) * c.hidden_size, 1.0f);
  const std::vector<float> dlogits = random_values(rng, std::size_t(rows) * c.vocab_size, 1e-3f);
  if (switch_modes) {  // a pass in the other mode first: switching must leave nothing stale
    t.set_recompute(!recompute);
    t.forward_from(first, hidden.data(), lengths);
    t.backward(dlogits.data(), true);
    for (auto& g : grads) std::fill(g.begin(), g.end(), 0.0f);
  }
  t.set_recompute(recompute);
  CHECK(t.recompute() == recompute);
  PassResult r;
  const float* logits = t.forward_from(first, hidden.data(), lengths);
  r.logits.assign(logits, logits + rows * c.vocab_size);
  t.backward(dlogits.data(), true);
  r.hidden_gradient.assign(t.hidden_gradient(), t.hidden_gradient() + rows * c.hidden_size);
  for (const auto& g : grads) r.parameter_gradient.insert(r.parameter_gradient.end(), g.begin(), g.end());
  return r;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// max |a - b| / max(1e-30, max |b|)
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, peak = 1e-30;
  for (std::size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(double(a[i]) - b[i]));
    peak = std::max(peak, std::abs(double(b[i])));
  }
  return err / peak;
}

double norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  return std::sqrt(s);
}

}  // namespace

TEST_CASE("recompute: the same logits and gradients bit for bit, from layer 0 and from layer 2") {
  const ModelWeights model = load_model(kModelDir);
  for (int first : {0, 2}) {
    CAPTURE(first);
    const PassResult plain = student_pass(model, first, false);
    REQUIRE(norm(plain.parameter_gradient) > 0);
    REQUIRE(norm(plain.hidden_gradient) > 0);
    for (bool switch_modes : {false, true}) {
      CAPTURE(switch_modes);
      const PassResult again = student_pass(model, first, true, switch_modes);
      CHECK(bitwise_equal(again.logits, plain.logits));
      CHECK(bitwise_equal(again.hidden_gradient, plain.hidden_gradient));
      CHECK(bitwise_equal(again.parameter_gradient, plain.parameter_gradient));
      const PassResult back = student_pass(model, first, false, switch_modes);
      CHECK(bitwise_equal(back.parameter_gradient, plain.parameter_gradient));
    }
  }
}

TEST_CASE("recompute: the activation formula keeps one layer's worth instead of every layer's") {
  const LlamaConfig c = circal_test::tinyllama_shape();
  const std::vector<int> group(8, 256);
  const double all = Transformer::activation_bytes(c, 0, group, false);
  const double recomputed = Transformer::activation_bytes(c, 0, group, true);
  // Kept without recomputation, per token and layer beyond x_in: ln1, x_mid, ln2 (3H), two
  // inverse RMS, q and att (2q), k and v (2kv), gate, up, act (3I), 32 heads x 256 keys of
  // probabilities. Recomputation keeps that for one layer instead of 22, plus one H-row buffer.
  const double rows = 8 * 256;
  const double per_layer = 4.0 * rows * (3 * 2048 + 2 + 2 * 2048 + 2 * 256 + 3 * 5632 + 32 * 256);
  CHECK(all - recomputed == doctest::Approx(21 * per_layer - 4.0 * rows * 2048).epsilon(1e-12));
  // The logits, the final norm and the backward's scratch stay: 6x less here, not 22x.
  CHECK(recomputed < all / 6);
  CHECK(Transformer::activation_bytes(c, 21, group, false) < all / 8);  // one layer run
}

TEST_CASE("threads: 2 threads (OpenBLAS, FFTW, OpenMP) within 1e-5 of 1 thread; swiglu bitwise") {
  const ModelWeights model = load_model(kModelDir);
  set_runtime_threads(1);
  fft_set_threads(1);
  const PassResult one = student_pass(model, 0, false);
  set_runtime_threads(2);
  fft_set_threads(2);
  CHECK(blas_threads() == 2);
  const PassResult two = student_pass(model, 0, false);
  std::mt19937 rng(7);
  const std::size_t n = 1 << 18;  // above the parallel threshold
  const auto g = random_values(rng, n, 2.0f), u = random_values(rng, n, 1.0f), dy = random_values(rng, n, 1.0f);
  std::vector<float> out2(n), dg2(n), du2(n), out1(n), dg1(n), du1(n);
  swiglu_forward(g.data(), u.data(), out2.data(), long(n));
  swiglu_backward(dy.data(), g.data(), u.data(), dg2.data(), du2.data(), long(n));
  set_runtime_threads(1);
  fft_set_threads(1);
  swiglu_forward(g.data(), u.data(), out1.data(), long(n));
  swiglu_backward(dy.data(), g.data(), u.data(), dg1.data(), du1.data(), long(n));
  CHECK(bitwise_equal(out1, out2));
  CHECK(bitwise_equal(dg1, dg2));
  CHECK(bitwise_equal(du1, du2));
  const double logits = relative_error(two.logits, one.logits);
  const double hidden = relative_error(two.hidden_gradient, one.hidden_gradient);
  const double params = relative_error(two.parameter_gradient, one.parameter_gradient);
  MESSAGE("2 vs 1 thread, max relative difference: logits "
          << logits << ", input gradient " << hidden << ", parameter gradient " << params
          << std::string(bitwise_equal(two.parameter_gradient, one.parameter_gradient) ? " (bitwise)" : ""));
  CHECK(logits <= 1e-5);
  CHECK(hidden <= 1e-5);
  CHECK(params <= 1e-5);
}

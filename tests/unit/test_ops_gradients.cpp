// Finite-difference checks of every op's backward, and of Transformer::backward on a tiny
// random model. Each check compares the analytic directional derivative <grad, u> with the
// central difference of a scalar loss L = sum(out . G) along random directions u.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "pipeline/model/dense_linear.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/ops/attention.hpp"
#include "pipeline/model/ops/kl_divergence.hpp"
#include "pipeline/model/ops/linear.hpp"
#include "pipeline/model/ops/next_token_nll.hpp"
#include "pipeline/model/ops/rmsnorm.hpp"
#include "pipeline/model/ops/rope.hpp"
#include "pipeline/model/ops/swiglu.hpp"
#include "pipeline/model/ops/teacher_kl.hpp"
#include "pipeline/model/output_fisher.hpp"
#include "pipeline/model/transformer.hpp"

using namespace circal;

namespace {

using Vec = std::vector<float>;

Vec random_vec(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  Vec v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Central difference of `loss` along u at x (x is restored afterwards).
double directional_fd(Vec& x, const Vec& u, const std::function<double()>& loss, float eps = 1e-3f) {
  const Vec x0 = x;
  for (size_t i = 0; i < x.size(); ++i) x[i] = x0[i] + eps * u[i];
  const double plus = loss();
  for (size_t i = 0; i < x.size(); ++i) x[i] = x0[i] - eps * u[i];
  const double minus = loss();
  x = x0;
  return (plus - minus) / (2.0 * eps);
}

// Whether the analytic gradient `grad` of `loss` at x agrees with central differences. The
// first direction is grad itself, where <grad, u> = ||grad||^2 is as large as a directional
// derivative gets, so a gradient off by a factor (1 + e) misses by e ||grad||^2 and fails for
// e above rel_tol; two random directions then check the gradient's direction. Each
// derivative is compared relative to its own size, plus how much the central difference
// itself moves between steps eps and 2 eps (its own truncation and float rounding: it cannot
// resolve less).
bool gradient_matches(Vec& x, const Vec& grad, const std::function<double()>& loss, std::mt19937& rng,
                      double rel_tol = 2e-3, float eps = 1e-3f) {
  bool ok = true;
  for (int trial = 0; trial < 3; ++trial) {
    const Vec u = trial == 0 ? grad : random_vec(rng, x.size());
    const double analytic = dot(grad, u);
    const double numeric = directional_fd(x, u, loss, eps);
    const double resolution = std::abs(numeric - directional_fd(x, u, loss, 2 * eps));
    const double allowed = rel_tol * std::abs(numeric) + 2 * resolution;
    CAPTURE(trial);
    CAPTURE(analytic);
    CAPTURE(numeric);
    CAPTURE(allowed);
    if (std::abs(analytic - numeric) > allowed) ok = false;
  }
  return ok;
}

// The check every test makes, and proof that it has teeth: the same gradient scaled by 1%
// must fail it.
void check_gradient(Vec& x, const Vec& grad, const std::function<double()>& loss, std::mt19937& rng,
                    double rel_tol = 2e-3, float eps = 1e-3f) {
  CHECK(gradient_matches(x, grad, loss, rng, rel_tol, eps));
  Vec scaled = grad;
  for (float& g : scaled) g *= 1.01f;
  CHECK_FALSE(gradient_matches(x, scaled, loss, rng, rel_tol, eps));
}

}  // namespace

TEST_CASE("rmsnorm backward matches finite differences") {
  std::mt19937 rng(1);
  const int T = 3, d = 12;
  Vec x = random_vec(rng, T * d), w = random_vec(rng, d), G = random_vec(rng, T * d);
  Vec y(T * d), inv(T), dx(T * d, 0.0f), dw_unused;
  auto loss = [&] {
    rmsnorm_forward(x.data(), w.data(), y.data(), inv.data(), T, d, 1e-5f);
    return dot(y, G);
  };
  loss();
  rmsnorm_backward(G.data(), x.data(), w.data(), inv.data(), dx.data(), T, d);
  check_gradient(x, dx, loss, rng);
}

TEST_CASE("rope backward matches finite differences and rope preserves norms") {
  std::mt19937 rng(2);
  const int T = 5, heads = 3, D = 8, pos0 = 2;
  RopeTable table(D, 10000.0f);
  table.reserve(pos0 + T);
  Vec x = random_vec(rng, T * heads * D), G = random_vec(rng, x.size());
  auto loss = [&] {
    Vec y = x;
    rope_forward(y.data(), T, heads, pos0, table);
    return dot(y, G);
  };
  Vec dx = G;
  rope_backward(dx.data(), T, heads, pos0, table);
  check_gradient(x, dx, loss, rng);
  Vec y = x;
  rope_forward(y.data(), T, heads, pos0, table);
  CHECK(dot(y, y) == doctest::Approx(dot(x, x)).epsilon(1e-5));
  // Position 0 is the identity; HF rotate_half pairs dimension i with i + D/2.
  Vec z = random_vec(rng, D), z0 = z;
  rope_forward(z.data(), 1, 1, 0, table);
  for (int i = 0; i < D; ++i) CHECK(z[i] == z0[i]);
  Vec e(D, 0.0f);
  e[0] = 1.0f;
  rope_forward(e.data(), 1, 1, 1, table);  // angle 1 rad for i = 0
  CHECK(e[0] == doctest::Approx(std::cos(1.0)));
  CHECK(e[D / 2] == doctest::Approx(std::sin(1.0)));
}

TEST_CASE("swiglu backward matches finite differences") {
  std::mt19937 rng(3);
  const int n = 40;
  Vec gate = random_vec(rng, n, 2.0f), up = random_vec(rng, n), G = random_vec(rng, n);
  Vec out(n), dgate(n), dup(n);
  auto loss = [&] {
    swiglu_forward(gate.data(), up.data(), out.data(), n);
    return dot(out, G);
  };
  swiglu_backward(G.data(), gate.data(), up.data(), dgate.data(), dup.data(), n);
  check_gradient(gate, dgate, loss, rng);
  check_gradient(up, dup, loss, rng);
}

TEST_CASE("linear input gradient is dY W") {
  std::mt19937 rng(4);
  const int T = 4, in = 6, out = 5;
  Vec X = random_vec(rng, T * in), W = random_vec(rng, out * in), G = random_vec(rng, T * out);
  Vec Y(T * out), dX(T * in);
  auto loss = [&] {
    linear_forward(X.data(), W.data(), Y.data(), T, in, out);
    return dot(Y, G);
  };
  loss();
  CHECK(Y[1 * out + 2] ==
        doctest::Approx(dot(Vec(X.begin() + in, X.begin() + 2 * in), Vec(W.begin() + 2 * in, W.begin() + 3 * in))));
  linear_backward_input(G.data(), W.data(), dX.data(), T, in, out);
  check_gradient(X, dX, loss, rng);
}

TEST_CASE("grouped-query causal attention backward matches finite differences") {
  std::mt19937 rng(5);
  const AttentionShape s{6, 0, 4, 2, 8};
  const int qd = s.n_heads * s.head_dim, kvd = s.n_kv_heads * s.head_dim;
  Vec q = random_vec(rng, s.T * qd), k = random_vec(rng, s.T * kvd), v = random_vec(rng, s.T * kvd),
      G = random_vec(rng, s.T * qd);
  Vec out(s.T * qd), probs(s.n_heads * s.T * s.T);
  auto loss = [&] {
    attention_forward(s, q.data(), k.data(), v.data(), out.data(), probs.data());
    return dot(out, G);
  };
  loss();
  Vec dq(q.size()), dk(k.size()), dv(v.size()), scratch(s.T * s.T);
  attention_backward(s, G.data(), q.data(), k.data(), v.data(), probs.data(), dq.data(), dk.data(), dv.data(),
                     scratch.data());
  check_gradient(q, dq, loss, rng);
  check_gradient(k, dk, loss, rng);
  check_gradient(v, dv, loss, rng);
  loss();
  // Causality: the first query sees only the first key, so its output is v row 0 of its group.
  for (int h = 0; h < s.n_heads; ++h)
    for (int i = 0; i < s.head_dim; ++i) CHECK(out[h * s.head_dim + i] == doctest::Approx(v[(h / 2) * s.head_dim + i]));
}

TEST_CASE("attention over a KV cache equals the last rows of the full pass") {
  std::mt19937 rng(6);
  const AttentionShape full{7, 0, 4, 2, 8}, tail{2, 5, 4, 2, 8};
  const int qd = 32, kvd = 16;
  Vec q = random_vec(rng, full.T * qd), k = random_vec(rng, full.T * kvd), v = random_vec(rng, full.T * kvd);
  Vec out_full(full.T * qd), probs_full(4 * 7 * 7), out_tail(tail.T * qd), probs_tail(4 * 2 * 7);
  attention_forward(full, q.data(), k.data(), v.data(), out_full.data(), probs_full.data());
  attention_forward(tail, q.data() + 5 * qd, k.data(), v.data(), out_tail.data(), probs_tail.data());
  for (int i = 0; i < tail.T * qd; ++i) CHECK(out_tail[i] == doctest::Approx(out_full[5 * qd + i]).epsilon(1e-5));
}

TEST_CASE("kl divergence: value, gradient and finite differences") {
  std::mt19937 rng(7);
  const int T = 3, V = 11;
  Vec zT = random_vec(rng, T * V, 3.0f), zS = random_vec(rng, T * V, 3.0f);
  for (float tau : {1.0f, 2.0f}) {
    Vec dzS(T * V);
    const double scale = 0.25;
    const double loss = kl_divergence(zT.data(), zS.data(), dzS.data(), T, V, tau, scale);
    // Direct double-precision evaluation of tau^2 KL(pT || pS), position by position.
    double expected = 0.0;
    for (int t = 0; t < T; ++t) {
      double sT = 0, sS = 0;
      for (int i = 0; i < V; ++i) {
        sT += std::exp(zT[t * V + i] / double(tau));
        sS += std::exp(zS[t * V + i] / double(tau));
      }
      for (int i = 0; i < V; ++i) {
        const double pt = std::exp(zT[t * V + i] / double(tau)) / sT;
        const double ps = std::exp(zS[t * V + i] / double(tau)) / sS;
        expected += double(tau) * tau * pt * std::log(pt / ps);
      }
    }
    CHECK(loss == doctest::Approx(expected).epsilon(1e-10));
    CHECK(kl_divergence(zT.data(), zT.data(), nullptr, T, V, tau, 1.0f) == doctest::Approx(0.0).epsilon(1e-12));
    auto scaled_loss = [&] { return scale * kl_divergence(zT.data(), zS.data(), nullptr, T, V, tau, 1.0f); };
    check_gradient(zS, dzS, scaled_loss, rng);
  }
}

TEST_CASE("kl divergence against cached teacher rows equals the direct one") {
  std::mt19937 rng(11);
  const int T = 4, V = 301;
  Vec zT = random_vec(rng, T * V, 6.0f), zS = random_vec(rng, T * V, 6.0f);
  for (float tau : {1.0f, 2.0f}) {
    const TeacherRows teacher = teacher_rows(zT.data(), T, V, tau);
    const float scale = 0.25f;
    Vec direct(T * V), cached(T * V);
    const double expected = kl_divergence(zT.data(), zS.data(), direct.data(), T, V, tau, scale);
    const double loss = teacher_kl_divergence(teacher, zS.data(), cached.data(), scale);
    // The teacher probabilities are rounded to float: agreement to float precision.
    CHECK(loss == doctest::Approx(expected).epsilon(1e-6));
    for (int i = 0; i < T * V; ++i) CHECK(cached[i] == doctest::Approx(direct[i]).epsilon(1e-5).scale(1e-6));
    CHECK(std::abs(teacher_kl_divergence(teacher, zT.data(), nullptr, 1.0f)) < 1e-6);
    auto scaled_loss = [&] { return double(scale) * teacher_kl_divergence(teacher, zS.data(), nullptr, 1.0f); };
    check_gradient(zS, cached, scaled_loss, rng);
  }
}

namespace {

// The attention pieces beyond LLaMA's, all at once so one model exercises each in the backward:
// q/k/v/o biases, Qwen3's q/k norm and llama3 RoPE frequencies (original context 8: at
// head_dim 4 the wavelengths 6.3 and 628 fall in the blended band and the scaled one).
void add_attention_extras(LlamaConfig& c) {
  c.qkv_bias = c.o_bias = c.qk_norm = true;
  c.rope_scaling = RopeScaling::Llama3;
  c.rope_factor = 8.0;
  c.low_freq_factor = 1.0;
  c.high_freq_factor = 4.0;
  c.original_max_position_embeddings = 8;
}

// A tiny random LLaMA: hidden 16, 2 layers, 4 query / 2 kv heads, vocab 32; with_extras adds
// add_attention_extras.
ModelWeights tiny_model(std::mt19937& rng, bool with_extras = false) {
  ModelWeights m;
  LlamaConfig& c = m.config;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 4;
  c.vocab_size = 32;
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-5f;
  const long H = 16, I = 24, V = 32, Q = 16, KV = 8;
  const long D = 4, extras = with_extras ? Q + 2 * KV + H + 2 * D : 0;
  const long per_layer = H + Q * H + 2 * KV * H + H * Q + H + 3 * I * H + extras;
  if (with_extras) add_attention_extras(c);
  m.storage = random_vec(rng, 2 * V * H + H + 2 * per_layer, 0.4f);
  float* p = m.storage.data();
  auto take = [&](long n) {
    float* q = p;
    p += n;
    return q;
  };
  auto norm_weight = [&](long n) {
    float* w = take(n);
    for (long i = 0; i < n; ++i) w[i] = 1.0f + 0.2f * w[i];
    return w;
  };
  m.embed_tokens = take(V * H);
  m.lm_head = take(V * H);
  m.norm = norm_weight(H);
  for (int l = 0; l < 2; ++l) {
    LayerWeights w{};
    w.input_layernorm = norm_weight(H);
    w.q_proj = take(Q * H);
    w.k_proj = take(KV * H);
    w.v_proj = take(KV * H);
    w.o_proj = take(H * Q);
    w.post_attention_layernorm = norm_weight(H);
    w.gate_proj = take(I * H);
    w.up_proj = take(I * H);
    w.down_proj = take(H * I);
    if (with_extras) {
      w.q_bias = take(Q);
      w.k_bias = take(KV);
      w.v_bias = take(KV);
      w.o_bias = take(H);
      w.q_norm = norm_weight(D);
      w.k_norm = norm_weight(D);
    }
    m.layers.push_back(w);
  }
  return m;
}

// A dense operator whose weight trains: accumulates dW += dY^T X, to check that the
// transformer hands LinearOperator::backward the right X and dY.
class TrainableDense : public LinearOperator {
 public:
  TrainableDense(Vec w, int out, int in) : W(std::move(w)), dW(W.size(), 0.0f), out_(out), in_(in) {}
  int in_features() const override { return in_; }
  int out_features() const override { return out_; }
  void forward(const float* X, float* Y, int T) override { linear_forward(X, W.data(), Y, T, in_, out_); }
  void backward(const float* X, const float* dY, float* dX, int T) override {
    if (dX) linear_backward_input(dY, W.data(), dX, T, in_, out_);
    for (int t = 0; t < T; ++t)
      for (int o = 0; o < out_; ++o)
        for (int i = 0; i < in_; ++i) dW[o * in_ + i] += dY[t * out_ + o] * X[t * in_ + i];
  }
  Vec W, dW;

 private:
  int out_, in_;
};

// L = sum(logits . G) of forward_from(first, hidden): the loss the transformer checks differentiate.
std::function<double()> logits_loss(Transformer& net, int first, const Vec& hidden, const Vec& G) {
  return [&net, first, &hidden, &G] {
    const int T = static_cast<int>(hidden.size()) / net.config().hidden_size;
    const float* logits = net.forward_from(first, hidden.data(), T);
    return dot(Vec(logits, logits + G.size()), G);
  };
}

}  // namespace

TEST_CASE("transformer backward matches finite differences on a tiny random model") {
  std::mt19937 rng(8);
  const ModelWeights model = tiny_model(rng);
  Transformer net(model);
  const int T = 5, H = 16, V = 32;
  Vec hidden = random_vec(rng, T * H), G = random_vec(rng, T * V);
  for (int first : {0, 1}) {
    CAPTURE(first);
    const auto loss = logits_loss(net, first, hidden, G);
    loss();
    net.backward(G.data());
    const Vec dhidden(net.hidden_gradient(), net.hidden_gradient() + T * H);
    check_gradient(hidden, dhidden, loss, rng, 2e-3, 2e-3f);
  }
  SUBCASE("parameter gradients of swapped operators accumulate through the whole model") {
    TrainableDense gate(Vec(model.layers[0].gate_proj.float32(), model.layers[0].gate_proj.float32() + 24 * 16), 24,
                        16);
    TrainableDense down(Vec(model.layers[1].down_proj.float32(), model.layers[1].down_proj.float32() + 16 * 24), 16,
                        24);
    net.set_mlp_operator(0, Projection::Gate, &gate);
    net.set_mlp_operator(1, Projection::Down, &down);
    const auto loss = logits_loss(net, 0, hidden, G);
    loss();
    net.backward(G.data());
    check_gradient(gate.W, gate.dW, loss, rng, 2e-3, 2e-3f);
    check_gradient(down.W, down.dW, loss, rng, 2e-3, 2e-3f);
    // Calibration's backward stops at the bottom MLP: the same parameter gradients, bit for bit.
    for (TrainableDense* op : {&gate, &down}) std::fill(op->dW.begin(), op->dW.end(), 0.0f);
    loss();
    net.backward(G.data());
    const Vec gate_full = gate.dW, down_full = down.dW;
    for (TrainableDense* op : {&gate, &down}) std::fill(op->dW.begin(), op->dW.end(), 0.0f);
    loss();
    net.backward(G.data(), /*input_gradient=*/false);
    CHECK(gate.dW == gate_full);
    CHECK(down.dW == down_full);
    net.set_mlp_operator(0, Projection::Gate, nullptr);
    net.set_mlp_operator(1, Projection::Down, nullptr);
  }
}

TEST_CASE("transformer backward through biases, q/k norm and llama3 RoPE matches finite differences") {
  std::mt19937 rng(12);
  const ModelWeights model = tiny_model(rng, true);
  Transformer net(model);
  const int T = 6, H = 16, V = 32;
  Vec hidden = random_vec(rng, T * H), G = random_vec(rng, T * V);
  TrainableDense gate(Vec(model.layers[0].gate_proj.float32(), model.layers[0].gate_proj.float32() + 24 * 16), 24, 16);
  net.set_mlp_operator(0, Projection::Gate, &gate);
  const auto loss = logits_loss(net, 0, hidden, G);
  loss();
  net.backward(G.data());
  const Vec dhidden(net.hidden_gradient(), net.hidden_gradient() + T * H);
  check_gradient(hidden, dhidden, loss, rng, 2e-3, 2e-3f);
  check_gradient(gate.W, gate.dW, loss, rng, 2e-3, 2e-3f);
  // Recomputed activations (q/k before their norm included) give the same gradient, bit for bit.
  net.set_recompute(true);
  loss();
  net.backward(G.data());
  CHECK(Vec(net.hidden_gradient(), net.hidden_gradient() + T * H) == dhidden);
  net.set_mlp_operator(0, Projection::Gate, nullptr);
}

TEST_CASE("linear with a bias: the bias is added to every row and leaves the input gradient alone") {
  std::mt19937 rng(13);
  const int T = 3, in = 5, out = 4;
  Vec X = random_vec(rng, T * in), W = random_vec(rng, out * in), b = random_vec(rng, out),
      G = random_vec(rng, T * out);
  Vec Y(T * out), Y0(T * out), dX(T * in);
  auto loss = [&] {
    linear_forward(X.data(), W.data(), Y.data(), T, in, out, b.data());
    return dot(Y, G);
  };
  loss();
  linear_forward(X.data(), W.data(), Y0.data(), T, in, out);
  for (int i = 0; i < T * out; ++i) CHECK(Y[i] == doctest::Approx(Y0[i] + b[i % out]));
  Vec y1(out);
  linear_forward(X.data(), W.data(), y1.data(), 1, in, out, b.data());  // the sgemv path
  for (int j = 0; j < out; ++j) CHECK(y1[j] == doctest::Approx(Y[j]));
  linear_backward_input(G.data(), W.data(), dX.data(), T, in, out);
  check_gradient(X, dX, loss, rng);
}

TEST_CASE("q/k norm: rmsnorm over head rows matches finite differences") {
  std::mt19937 rng(14);
  const int T = 3, heads = 4, d = 8;
  Vec x = random_vec(rng, T * heads * d), w = random_vec(rng, d), G = random_vec(rng, x.size());
  Vec y(x.size()), inv(T * heads), dx(x.size(), 0.0f);
  auto loss = [&] {
    rmsnorm_forward(x.data(), w.data(), y.data(), inv.data(), T * heads, d, 1e-6f);
    return dot(y, G);
  };
  loss();
  // Each head row has unit RMS before the weight, whatever the row's scale.
  for (int r = 0; r < T * heads; ++r) {
    double sum = 0;
    for (int i = 0; i < d; ++i) sum += std::pow(y[r * d + i] / w[i], 2);
    CHECK(sum / d == doctest::Approx(1.0).epsilon(1e-4));
  }
  rmsnorm_backward(G.data(), x.data(), w.data(), inv.data(), dx.data(), T * heads, d);
  check_gradient(x, dx, loss, rng);
}

TEST_CASE("greedy decoding with the KV cache equals repeated full forwards") {
  for (const bool with_extras : {false, true}) {
    CAPTURE(with_extras);
    std::mt19937 rng(9);
    const ModelWeights model = tiny_model(rng, with_extras);
    Transformer net(model);
    const std::vector<int> prompt{1, 7, 3, 20};
    const std::vector<int> cached = net.generate_greedy(prompt, 6);
    std::vector<int> seq = prompt, expected;
    for (int step = 0; step < 6; ++step) {
      const float* logits = net.forward(seq);
      const float* row = logits + (seq.size() - 1) * 32;
      const int next = static_cast<int>(std::max_element(row, row + 32) - row);
      expected.push_back(next);
      seq.push_back(next);
    }
    CHECK(cached == expected);
  }
}

TEST_CASE("next-token nll: value against its definition, gradient against finite differences") {
  std::mt19937 rng(21);
  const int T = 4, V = 9;
  Vec z = random_vec(rng, T * V, 2.0f), dz(T * V, 1.0f);
  const std::vector<int> tokens{1, 5, 0, 8};
  auto loss = [&] { return next_token_nll(z.data(), tokens.data(), nullptr, T, V, 1.0f); };
  double expected = 0.0;
  for (int t = 0; t + 1 < T; ++t) {
    double sum = 0.0;
    for (int i = 0; i < V; ++i) sum += std::exp(double(z[t * V + i]));
    expected += std::log(sum) - z[t * V + tokens[t + 1]];
  }
  CHECK(next_token_nll(z.data(), tokens.data(), dz.data(), T, V, 1.0f) == doctest::Approx(expected).epsilon(1e-12));
  for (int i = 0; i < V; ++i) CHECK(dz[(T - 1) * V + i] == 0.0f);  // the last row predicts nothing
  check_gradient(z, dz, loss, rng);
}

namespace {

// A dense matrix whose output row t, channel o is moved by delta: d NLL / d y_to by central
// differences.
class NudgedDense : public DenseLinear {
 public:
  using DenseLinear::DenseLinear;
  void forward(const float* X, float* Y, int T) override {
    DenseLinear::forward(X, Y, T);
    if (row >= 0) Y[row * out_features() + channel] += delta;
  }
  int row = -1, channel = 0;
  float delta = 0.0f;
};

}  // namespace

TEST_CASE("output fisher: mean squared nll gradient per output channel, against finite differences") {
  std::mt19937 rng(22);
  const ModelWeights model = tiny_model(rng, true);
  const std::vector<std::vector<int>> prompts{{1, 7, 3, 20, 11, 4}, {1, 30, 2, 9, 9}};
  Transformer net(model);
  DenseLinear gate(24, 16, model.layers[0].gate_proj.float32()), down(16, 24, model.layers[1].down_proj.float32());
  FisherProbe gate_probe(gate), down_probe(down);
  net.set_mlp_operator(0, Projection::Gate, &gate_probe);
  net.set_mlp_operator(1, Projection::Down, &down_probe);
  for (const auto& p : prompts) add_prompt_to_fisher(net, p);
  CHECK(gate_probe.tokens() == 11);
  const std::vector<double> fisher_gate = gate_probe.fisher(), fisher_down = down_probe.fisher();

  // The twin: every token's gradient at a few channels by central differences, squared, averaged.
  struct Probed {
    int layer;
    Projection projection;
    NudgedDense op;
    const std::vector<double>& fisher;
  };
  Probed probed[] = {{0, Projection::Gate, NudgedDense(24, 16, model.layers[0].gate_proj.float32()), fisher_gate},
                     {1, Projection::Down, NudgedDense(16, 24, model.layers[1].down_proj.float32()), fisher_down}};
  Transformer twin(model);
  const float eps = 1e-2f;
  for (Probed& p : probed) {
    twin.set_mlp_operator(p.layer, p.projection, &p.op);
    for (int o : {0, 3, 7}) {
      double squares = 0.0;
      for (const auto& tokens : prompts) {
        const int T = static_cast<int>(tokens.size());
        for (int t = 0; t < T; ++t) {
          auto nll = [&](float delta) {
            p.op.row = t, p.op.channel = o, p.op.delta = delta;
            return next_token_nll(twin.forward(tokens), tokens.data(), nullptr, T, 32, 1.0f);
          };
          const double g = (nll(eps) - nll(-eps)) / (2.0 * eps);
          squares += g * g;
        }
      }
      p.op.row = -1;
      CAPTURE(o);
      // Relative (scale 0): a gradient 1% off is F 2% off.
      CHECK(p.fisher[o] == doctest::Approx(squares / 11).epsilon(1e-2).scale(0.0));
    }
    twin.set_mlp_operator(p.layer, p.projection, nullptr);
  }
}

TEST_CASE("kl estimate: 1/2 E[(g . delta)^2] with sampled targets equals the KL of a small move") {
  std::mt19937 rng(23);
  const ModelWeights model = tiny_model(rng, true);
  const std::vector<std::vector<int>> prompts{{1, 7, 3, 20, 11, 4}, {1, 30, 2, 9, 9}};
  // The move: layer 1's up_proj W -> W + 0.02 D, D random: a KL of 1.1e-3 a position, where the
  // quadratic term is all but the whole of it.
  const float* W = model.layers[1].up_proj.float32();
  Vec moved(W, W + 24 * 16);
  for (float& w : moved) w += 0.02f * std::normal_distribution<float>()(rng);
  DenseLinear teacher_op(24, 16, W), student_op(24, 16, moved.data());
  // Exact: the mean over positions of KL(teacher || student) by two forwards.
  Transformer teacher(model), student(model);
  student.set_mlp_operator(1, Projection::Up, &student_op);
  double kl = 0;
  long positions = 0;
  for (const auto& p : prompts) {
    const int T = int(p.size());
    const float* zT = teacher.forward(p);
    const Vec kept(zT, zT + T * 32);
    kl += kl_divergence(kept.data(), student.forward(p), nullptr, T, 32, 1.0f, 1.0f);
    positions += T;
  }
  kl /= double(positions);
  // Estimated from 1000 sampled passes a prompt (a mean of (g . delta)^2, chi-square-like: 3%
  // standard error), and the empirical variant, whose targets are the prompt's own tokens.
  FisherProbe probe(teacher_op);
  probe.keep_rows(true);
  teacher.set_mlp_operator(1, Projection::Up, &probe);
  std::mt19937_64 sample(7);
  for (const auto& p : prompts)
    for (int s = 0; s < 1000; ++s) add_prompt_to_fisher(teacher, p, &sample);
  const KlEstimate estimate = estimate_kl(probe.kept(), teacher_op, student_op);
  MESSAGE("KL ", kl, ", Gauss-Newton estimate ", estimate.gauss_newton, ", its diagonal ", estimate.diagonal);
  CHECK(kl > 1e-4);
  CHECK(estimate.gauss_newton == doctest::Approx(kl).epsilon(0.1).scale(0.0));
}

TEST_CASE("move probe: the streamed g . delta give estimate_kl's Gauss-Newton estimate bit for bit") {
  std::mt19937 rng(29);
  const ModelWeights model = tiny_model(rng, true);
  const std::vector<std::vector<int>> prompts{{1, 7, 3, 20, 11, 4}, {1, 30, 2, 9, 9}};
  const float* W = model.layers[0].down_proj.float32();
  Vec moved_a(W, W + 16 * 24), moved_b(W, W + 16 * 24);
  for (float& w : moved_a) w += 0.05f * std::normal_distribution<float>()(rng);
  for (float& w : moved_b) w *= 0.9f;
  DenseLinear teacher_op(16, 24, W), a(16, 24, moved_a.data()), b(16, 24, moved_b.data());
  // The slow twin inside the fast path: the FisherProbe keeps every pass's rows while the
  // MoveProbe around it streams the dot products.
  FisherProbe kept(teacher_op);
  kept.keep_rows(true);
  MoveProbe streamed(kept, {&a, &b});
  Transformer teacher(model);
  teacher.set_mlp_operator(0, Projection::Down, &streamed);
  std::mt19937_64 sample(3);
  long positions = 0;
  for (const auto& p : prompts)
    for (int s = 0; s < 20; ++s) add_prompt_to_fisher(teacher, p, &sample), positions += long(p.size());
  const std::vector<double> dots = streamed.take_dots();
  REQUIRE(dots.size() == 2 * 40);  // pass-major, two candidates
  std::vector<double> dots_a, dots_b;
  for (size_t k = 0; k < dots.size(); k += 2) dots_a.push_back(dots[k]), dots_b.push_back(dots[k + 1]);
  const double estimate_a = estimate_kl(kept.kept(), teacher_op, a).gauss_newton;
  CHECK(estimate_a > 0.0);
  CHECK(gauss_newton_estimate(dots_a, positions) == estimate_a);
  CHECK(gauss_newton_estimate(dots_b, positions) == estimate_kl(kept.kept(), teacher_op, b).gauss_newton);
  CHECK(streamed.take_dots().empty());
}

#include "pipeline/model/output_fisher.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "pipeline/model/ops/next_token_nll.hpp"

namespace circal {

void FisherProbe::backward(const float* X, const float* dY, float* dX, int T) {
  const int m = out_features();
  for (long t = 0; t < T; ++t)
    for (int o = 0; o < m; ++o) {
      const double g = dY[t * m + o];
      squares_[o] += g * g;
    }
  tokens_ += T;
  if (keep_rows_)
    kept_.push_back({std::vector<float>(X, X + long(T) * in_features()), std::vector<float>(dY, dY + long(T) * m), T});
  inner_.backward(X, dY, dX, T);
}

std::vector<double> FisherProbe::fisher() const {
  std::vector<double> f(squares_);
  if (tokens_ > 0)
    for (double& x : f) x /= double(tokens_);
  return f;
}

namespace {

// dz = softmax(z_t) - onehot(y_t) for every row t (the last one included: the model has a
// distribution there too), y_t drawn from softmax(z_t) by inverse CDF of one uniform double.
// Returns the summed -log p_t(y_t).
double sampled_nll_gradient(const float* logits, float* dz, int T, int V, std::mt19937_64& rng) {
  std::vector<double> p(V);
  double nll = 0;
  for (long t = 0; t < T; ++t) {
    const float* z = logits + t * V;
    const double peak = *std::max_element(z, z + V);
    double sum = 0;
    for (int i = 0; i < V; ++i) sum += p[i] = std::exp(double(z[i]) - peak);
    double u = std::generate_canonical<double, 53>(rng) * sum;
    int drawn = V - 1;
    for (int i = 0; i < V; ++i)
      if ((u -= p[i]) < 0) {
        drawn = i;
        break;
      }
    nll -= std::log(p[drawn] / sum);
    for (int i = 0; i < V; ++i) dz[t * V + i] = float(p[i] / sum - (i == drawn ? 1.0 : 0.0));
  }
  return nll;
}

}  // namespace

double add_prompt_to_fisher(Transformer& net, const std::vector<int>& tokens, std::mt19937_64* sample) {
  const int T = static_cast<int>(tokens.size()), V = net.config().vocab_size;
  const float* logits = net.forward(tokens);
  std::vector<float> dlogits(static_cast<std::size_t>(T) * V);
  const double nll = sample ? sampled_nll_gradient(logits, dlogits.data(), T, V, *sample)
                            : next_token_nll(logits, tokens.data(), dlogits.data(), T, V, 1.0f);
  net.backward(dlogits.data(), /*input_gradient=*/false);
  return nll;
}

namespace {

// sum over a pass's rows of g . (y - moved), and optionally of (g (y - moved))^2.
double pass_dot(const std::vector<float>& y, const std::vector<float>& moved, const float* g, double* diagonal) {
  double dot = 0;
  for (size_t k = 0; k < y.size(); ++k) {
    const double delta = double(y[k]) - moved[k], gk = g[k];
    dot += gk * delta;
    if (diagonal) *diagonal += gk * gk * delta * delta;
  }
  return dot;
}

}  // namespace

void MoveProbe::backward(const float* X, const float* dY, float* dX, int T) {
  y_.resize(size_t(T) * out_features());
  moved_.resize(y_.size());
  inner_.forward(X, y_.data(), T);
  for (LinearOperator* candidate : candidates_) {
    candidate->forward(X, moved_.data(), T);
    dots_.push_back(pass_dot(y_, moved_, dY, nullptr));
  }
  inner_.backward(X, dY, dX, T);
}

std::vector<double> MoveProbe::take_dots() { return std::exchange(dots_, {}); }

double gauss_newton_estimate(const std::vector<double>& dots, long positions) {
  double sum = 0;
  for (double dot : dots) sum += dot * dot;
  return positions > 0 ? sum * (0.5 / double(positions)) : 0.0;
}

KlEstimate estimate_kl(const std::vector<FisherProbe::Rows>& rows, LinearOperator& teacher, LinearOperator& student) {
  const int m = teacher.out_features();
  KlEstimate estimate;
  long positions = 0;
  std::vector<float> y, moved;
  for (const FisherProbe::Rows& r : rows) {
    y.resize(size_t(r.T) * m);
    moved.resize(y.size());
    teacher.forward(r.X.data(), y.data(), r.T);
    student.forward(r.X.data(), moved.data(), r.T);
    const double dot = pass_dot(y, moved, r.dY.data(), &estimate.diagonal);
    estimate.gauss_newton += dot * dot;
    positions += r.T;
  }
  if (positions > 0) {
    estimate.gauss_newton *= 0.5 / double(positions);
    estimate.diagonal *= 0.5 / double(positions);
  }
  return estimate;
}

}  // namespace circal

#include "pipeline/model/output_fisher.hpp"

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
  inner_.backward(X, dY, dX, T);
}

std::vector<double> FisherProbe::fisher() const {
  std::vector<double> f(squares_);
  if (tokens_ > 0)
    for (double& x : f) x /= double(tokens_);
  return f;
}

double add_prompt_to_fisher(Transformer& net, const std::vector<int>& tokens) {
  const int T = static_cast<int>(tokens.size()), V = net.config().vocab_size;
  const float* logits = net.forward(tokens);
  std::vector<float> dlogits(static_cast<std::size_t>(T) * V);
  const double nll = next_token_nll(logits, tokens.data(), dlogits.data(), T, V, 1.0f);
  net.backward(dlogits.data(), /*input_gradient=*/false);
  return nll;
}

}  // namespace circal

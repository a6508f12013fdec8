#include "pipeline/model/ops/next_token_nll.hpp"

#include <algorithm>
#include <vector>

#include "pipeline/model/ops/log_softmax.hpp"

namespace circal {

double next_token_nll(const float* z, const int* tokens, float* dz, int T, int V, float grad_scale) {
  std::vector<double> log_p(V), p(V);
  double total = 0.0;
  for (int t = 0; t + 1 < T; ++t) {
    const long row = static_cast<long>(t) * V;
    softmax_and_log(z + row, log_p.data(), p.data(), V, 1.0);
    const int next = tokens[t + 1];
    total -= log_p[next];
    if (!dz) continue;
    for (int i = 0; i < V; ++i) dz[row + i] = static_cast<float>(grad_scale * (p[i] - (i == next ? 1.0 : 0.0)));
  }
  if (dz && T > 0) std::fill(dz + static_cast<long>(T - 1) * V, dz + static_cast<long>(T) * V, 0.0f);
  return total;
}

}  // namespace circal

#include "pipeline/model/ops/attention.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

namespace circal {

namespace {

// Row t of the block may see keys 0 .. pos0 + t.
void masked_softmax_rows(float* p, const AttentionShape& s, float scale) {
  const int S = s.keys();
  for (int t = 0; t < s.T; ++t) {
    float* row = p + static_cast<long>(t) * S;
    const int visible = s.pos0 + t + 1;
    float peak = row[0] * scale;
    for (int j = 0; j < visible; ++j) peak = std::max(peak, row[j] * scale);
    double sum = 0.0;
    for (int j = 0; j < visible; ++j) {
      row[j] = std::exp(row[j] * scale - peak);
      sum += row[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int j = 0; j < visible; ++j) row[j] *= inv;
    std::fill(row + visible, row + S, 0.0f);
  }
}

// dS = P . (dP - rowsum(P . dP)), times the score scale.
void softmax_backward_rows(const float* p, float* dp, int T, int S, float scale) {
  for (int t = 0; t < T; ++t) {
    const float* pr = p + static_cast<long>(t) * S;
    float* dr = dp + static_cast<long>(t) * S;
    double dot = 0.0;
    for (int j = 0; j < S; ++j) dot += static_cast<double>(pr[j]) * dr[j];
    const float d = static_cast<float>(dot);
    for (int j = 0; j < S; ++j) dr[j] = pr[j] * (dr[j] - d) * scale;
  }
}

}  // namespace

void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, float* out,
                       float* probs) {
  const int D = s.head_dim, S = s.keys();
  const int q_stride = s.n_heads * D, kv_stride = s.n_kv_heads * D;
  const int group = s.n_heads / s.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (int h = 0; h < s.n_heads; ++h) {
    const int g = h / group;
    float* p = probs + static_cast<long>(h) * s.T * S;
    // One query (a decode step): sgemv reads the cached keys/values once without packing.
    if (s.T == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, S, D, 1.0f, k + g * D, kv_stride, q + h * D, 1, 0.0f, p, 1);
      masked_softmax_rows(p, s, scale);
      cblas_sgemv(CblasRowMajor, CblasTrans, S, D, 1.0f, v + g * D, kv_stride, p, 1, 0.0f, out + h * D, 1);
      continue;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.T, S, D, 1.0f, q + h * D, q_stride, k + g * D, kv_stride,
                0.0f, p, S);
    masked_softmax_rows(p, s, scale);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.T, D, S, 1.0f, p, S, v + g * D, kv_stride, 0.0f,
                out + h * D, q_stride);
  }
}

void attention_backward(const AttentionShape& s, const float* dout, const float* q, const float* k, const float* v,
                        const float* probs, float* dq, float* dk, float* dv, float* scratch) {
  const int D = s.head_dim, S = s.keys();
  const int q_stride = s.n_heads * D, kv_stride = s.n_kv_heads * D;
  const int group = s.n_heads / s.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  std::fill(dk, dk + static_cast<long>(S) * kv_stride, 0.0f);
  std::fill(dv, dv + static_cast<long>(S) * kv_stride, 0.0f);
  for (int h = 0; h < s.n_heads; ++h) {
    const int g = h / group;
    const float* p = probs + static_cast<long>(h) * s.T * S;
    // dV_g += P^T dO_h and dP = dO_h V_g^T
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, D, s.T, 1.0f, p, S, dout + h * D, q_stride, 1.0f,
                dv + g * D, kv_stride);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.T, S, D, 1.0f, dout + h * D, q_stride, v + g * D, kv_stride,
                0.0f, scratch, S);
    softmax_backward_rows(p, scratch, s.T, S, scale);
    // dQ_h = dS K_g and dK_g += dS^T Q_h
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.T, D, S, 1.0f, scratch, S, k + g * D, kv_stride, 0.0f,
                dq + h * D, q_stride);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, D, s.T, 1.0f, scratch, S, q + h * D, q_stride, 1.0f,
                dk + g * D, kv_stride);
  }
}

}  // namespace circal

#include "pipeline/lowrank/lowrank_linear.hpp"

#include <cblas.h>

#include <string>

#include "pipeline/base/errors.hpp"

namespace circal {

int lowrank_rank(int m, int n, int b) {
  if (m < 1 || n < 1 || b < 1) return 0;
  return int((long long)m * n / ((long long)b * (m + n)));
}

LowRankLinear::LowRankLinear(int m, int n, int r, const float* params, float* grads)
    : m_(m), n_(n), r_(r), params_(params), grads_(grads) {
  if (m < 1 || n < 1 || r < 1)
    fail(kExitUsage, "low-rank operator: shape " + std::to_string(m) + "x" + std::to_string(n) + " at rank " +
                         std::to_string(r) + " is empty");
}

void LowRankLinear::project_inputs(const float* X, int T) {
  z_.resize(std::size_t(T) * r_);
  // Z [T, r] = X [T, n] V^T (V is [r, n] row-major).
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, r_, n_, 1.f, X, n_, V(), n_, 0.f, z_.data(), r_);
  z_rows_of_ = X;
  z_rows_ = T;
}

void LowRankLinear::forward(const float* X, float* Y, int T) {
  if (T <= 0) return;
  project_inputs(X, T);
  // Y [T, m] = Z [T, r] U^T (U is [m, r] row-major).
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, m_, r_, 1.f, z_.data(), r_, U(), r_, 0.f, Y, m_);
}

void LowRankLinear::backward(const float* X, const float* dY, float* dX, int T) {
  if (T <= 0) return;
  dz_.resize(std::size_t(T) * r_);
  // dZ [T, r] = dY [T, m] U [m, r].
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, r_, m_, 1.f, dY, m_, U(), r_, 0.f, dz_.data(), r_);
  if (grads_) {
    // The saved-input contract (linear_operator.hpp): Z of the latest forward's X is reused;
    // recomputing it gives the same bits (the same GEMM on the same operands).
    if (!(X == z_rows_of_ && T == z_rows_)) project_inputs(X, T);
    float* dU = grads_;
    float* dV = grads_ + std::size_t(m_) * r_;
    // dU [m, r] += dY^T [m, T] Z [T, r]; dV [r, n] += dZ^T [r, T] X [T, n].
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m_, r_, T, 1.f, dY, m_, z_.data(), r_, 1.f, dU, r_);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r_, n_, T, 1.f, dz_.data(), r_, X, n_, 1.f, dV, n_);
  }
  // dX [T, n] = dZ [T, r] V [r, n].
  if (dX) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, n_, r_, 1.f, dz_.data(), r_, V(), n_, 0.f, dX, n_);
}

std::vector<float> LowRankLinear::to_dense() const {
  std::vector<float> W(std::size_t(m_) * n_);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m_, n_, r_, 1.f, U(), r_, V(), n_, 0.f, W.data(), n_);
  return W;
}

}  // namespace circal

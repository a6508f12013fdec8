#pragma once
// kl_divergence (ops/kl_divergence.hpp) against a teacher whose side is computed once: in
// calibration the teacher logits never change, so their softmax and entropy need not be
// recomputed every step. Per entry that leaves one exp (the student's) instead of two.
#include <vector>

namespace circal {

// softmax(zT / tau) of each of T rows (rounded to float), and per row, in double, the sum of
// those rounded probabilities (1 up to rounding) and the sum of p log p over them.
struct TeacherRows {
  int T = 0, V = 0;
  float tau = 1.0f;
  std::vector<float> probs;     // [T, V]
  std::vector<double> mass;     // [T]
  std::vector<double> p_log_p;  // [T]
};

TeacherRows teacher_rows(const float* zT, int T, int V, float tau);

// Same contract as kl_divergence (the sum over the rows of tau^2 KL(pT || softmax(zS/tau)),
// dzS = grad_scale * d(sum)/dzS, dzS may be null), with pT the rounded teacher probabilities.
double teacher_kl_divergence(const TeacherRows& teacher, const float* zS, float* dzS, float grad_scale);

}  // namespace circal

#pragma once
// Teacher-vs-student comparison of the next-token logits at one position. Everything is
// accumulated in double so that identical logits give exactly KL 0, cosine 1 and L2 0.
#include <vector>

namespace circal {

struct PositionMetrics {
  double kl = 0;                     // KL(pT || pS), natural log
  double cosine = 0;                 // cosine similarity of the raw logit vectors
  double l2 = 0;                     // ||zT - zS||_2
  double mse = 0;                    // ||zT - zS||^2 / vocab
  double top1 = 0;                   // 1 when argmax(zT) == argmax(zS), else 0
  std::vector<double> topk_overlap;  // |topk(T) ∩ topk(S)| / k, one per requested k
  double delta_p = 0;                // pS(y) - pT(y) for the reference token y
  double teacher_nll = 0;            // -log pT(y)
  double student_nll = 0;            // -log pS(y)
};

// log softmax(z) in double, computed as z - max - log(sum exp(z - max)).
std::vector<double> log_softmax(const float* z, int vocab);

// Index of the largest logit; ties go to the lowest index.
int argmax(const float* z, int vocab);

// The k largest logits' indices, ordered by value descending and, among equal values, by
// index ascending (so ties are deterministic). k is clamped to [0, vocab].
std::vector<int> top_k_indices(const float* z, int vocab, int k);

// zT, zS: [vocab] logits of teacher and student at one position. `reference_token` is the
// token y for delta_p and the NLLs: the actual next token, or the teacher's argmax where
// there is none (the caller decides). ks: the top-k overlaps wanted.
PositionMetrics compare_logits(const float* zT, const float* zS, int vocab, const std::vector<int>& ks,
                               int reference_token);

}  // namespace circal

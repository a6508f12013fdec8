#pragma once
// What calibration reads from capture.h5 (stages/FILES.md): per prompt the hidden state
// entering the first patched layer and the teacher's logits (full, or top-k + logsumexp).
// Prompts are read on use and kept within a memory budget (least recently used dropped), so
// memory per rank does not grow with the number of calibration windows. When capture did not
// store /hidden_in (the first patched layer is 0), the hidden state is the embedding lookup
// of /tokens.
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/resident_tensor.hpp"
#include "pipeline/model/ops/teacher_kl.hpp"

namespace circal {

class CalibrationData {
 public:
  // Opens capture.h5 (stage "capture", with `fingerprint` when non-empty) and checks that its
  // hidden state enters `first_layer`. The distillation temperature tau decides whether a
  // top-k capture is usable (its logsumexp is of the tau = 1 distribution).
  // embed_tokens [vocab, hidden] (rows converted on use) serves layer 0 when capture.h5 has no
  // /hidden_in.
  CalibrationData(const std::string& capture_path, const std::string& fingerprint, int first_layer, int hidden_size,
                  float tau, ResidentTensor embed_tokens = {}, int vocab = 0, size_t budget_bytes = size_t(1) << 30);

  // Indices (into the capture's prompt list) of the calibration / validation prompts.
  const std::vector<int>& calibration() const { return calibration_; }
  const std::vector<int>& validation() const { return validation_; }
  int tokens(int prompt) const { return int(offsets_[prompt + 1] - offsets_[prompt]); }
  int64_t total_tokens(const std::vector<int>& prompts) const;

  // Hidden state [T, hidden] entering the first patched layer; valid until the next call.
  const float* hidden(int prompt);
  // Bytes of capture rows held now (for tests of the budget).
  size_t held_bytes() const { return held_bytes_; }
  // Sum over the prompt's positions of tau^2 KL(teacher || student); writes
  // dlogits = grad_scale * d(sum)/d(student logits) unless dlogits is null.
  double distillation_loss(int prompt, const float* student_logits, float* dlogits, int vocab, float grad_scale);

 private:
  struct Prompt {
    bool loaded = false;
    std::vector<float> hidden;
    TeacherRows teacher;            // full logits: their softmax, computed once
    std::vector<float> logits;      // top-k values [T, k]
    std::vector<int32_t> topk_ids;  // [T, k]
    std::vector<float> logsumexp;   // [T]
    size_t bytes = 0;
    uint64_t last_use = 0;
  };
  Prompt& load(int prompt);
  void evict_beyond_budget(int keep);
  void check_layout(const std::string& path);

  CheckpointReader file_;
  float tau_;
  bool topk_ = false;
  int k_ = 0;      // top-k width
  int vocab_ = 0;  // full logits width
  int hidden_size_;
  std::vector<int64_t> offsets_;
  std::vector<int> calibration_, validation_;
  std::vector<Prompt> prompts_;
  ResidentTensor embed_tokens_;
  int embed_vocab_ = 0;
  size_t budget_bytes_, held_bytes_ = 0;
  uint64_t clock_ = 0;
};

// tau = 1 KL of a teacher known by its top-k (ids, logits) and logsumexp: the kept tokens and
// the tail mass as one more outcome. Same contract as kl_divergence (sum over T positions).
double topk_kl_divergence(const int32_t* ids, const float* topk_logits, const float* logsumexp, int k, const float* zS,
                          float* dzS, int T, int V, float grad_scale);

}  // namespace circal

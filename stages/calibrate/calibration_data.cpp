#include "stages/calibrate/calibration_data.hpp"

#include <algorithm>
#include <climits>
#include <cmath>

#include "pipeline/base/errors.hpp"

namespace circal {

namespace {

void require(bool holds, const std::string& path, const std::string& what) {
  if (!holds) fail(kExitCheckpoint, path + ": " + what + " (corrupt or not a capture file)");
}

}  // namespace

CalibrationData::CalibrationData(const std::string& capture_path, const std::string& fingerprint, int first_layer,
                                 int hidden_size, float tau, ResidentTensor embed_tokens, int vocab,
                                 size_t budget_bytes)
    : file_(CheckpointReader::open(capture_path, "capture", fingerprint)),
      tau_(tau),
      hidden_size_(hidden_size),
      budget_bytes_(budget_bytes) {
  if (file_.exists("/hidden_in")) {
    const int64_t layer = file_.attr_int("/hidden_in", "layer");
    if (layer != first_layer)
      fail(kExitCheckpoint, capture_path + ": /hidden_in enters layer " + std::to_string(layer) +
                                ", the config's first patched layer is " + std::to_string(first_layer));
  } else {
    if (first_layer != 0)
      fail(kExitCheckpoint, capture_path + ": no /hidden_in, but the config's first patched layer is " +
                                std::to_string(first_layer) + " (rerun capture)");
    if (!embed_tokens) fail(kExitInternal, capture_path + ": no /hidden_in and no embedding table given");
    embed_tokens_ = embed_tokens;
    embed_vocab_ = vocab;
  }
  topk_ = !file_.exists("/teacher/logits");
  offsets_ = file_.read_int64("/prompts/offsets");
  const std::vector<int32_t> split = file_.read_int32("/prompts/split");
  for (int i = 0; i < int(split.size()); ++i) (split[i] == 0 ? calibration_ : validation_).push_back(i);
  prompts_.resize(split.size());
  check_layout(capture_path);
  if (topk_ && tau != 1.0f)
    fail(kExitUsage, "config: calibrate.temperature: " + std::to_string(tau) +
                         " needs full teacher logits (capture.logits_format = full); " + capture_path +
                         " holds only the top-" + std::to_string(k_) + " of the tau = 1 distribution");
}

// Every later read indexes by these shapes and offsets, so a file that breaks them is refused
// here rather than read out of bounds (stages/FILES.md has the layout).
void CalibrationData::check_layout(const std::string& path) {
  const uint64_t rows = file_.shape("/tokens").at(0);
  require(rows <= uint64_t(INT32_MAX), path, "/tokens has too many rows");
  if (!embed_tokens_)
    require(file_.shape("/hidden_in") == std::vector<uint64_t>{rows, uint64_t(hidden_size_)}, path,
            "/hidden_in is not [tokens, " + std::to_string(hidden_size_) + "]");
  require(offsets_.size() == prompts_.size() + 1 && offsets_.front() == 0 &&
              std::is_sorted(offsets_.begin(), offsets_.end()) && uint64_t(offsets_.back()) == rows,
          path,
          "/prompts/offsets does not split the " + std::to_string(rows) + " token rows into " +
              std::to_string(prompts_.size()) + " prompts");
  const auto shape_is = [&](const char* name, std::vector<uint64_t> expected) {
    require(file_.shape(name) == expected, path, std::string(name) + " does not have one row per token");
  };
  if (topk_) {
    const std::vector<uint64_t> ids = file_.shape("/teacher/topk_ids");
    require(ids.size() == 2 && ids[1] > 0 && ids[1] <= uint64_t(INT32_MAX), path,
            "/teacher/topk_ids is not [tokens, k]");
    k_ = int(ids[1]);
    shape_is("/teacher/topk_ids", {rows, ids[1]});
    shape_is("/teacher/topk_logits", {rows, ids[1]});
    shape_is("/teacher/logsumexp", {rows});
  } else {
    const std::vector<uint64_t> logits = file_.shape("/teacher/logits");
    require(logits.size() == 2 && logits[0] == rows && logits[1] <= uint64_t(INT32_MAX), path,
            "/teacher/logits is not [tokens, vocab]");
    vocab_ = int(logits[1]);
  }
}

int64_t CalibrationData::total_tokens(const std::vector<int>& prompts) const {
  int64_t total = 0;
  for (int p : prompts) total += tokens(p);
  return total;
}

CalibrationData::Prompt& CalibrationData::load(int prompt) {
  Prompt& entry = prompts_.at(prompt);
  entry.last_use = ++clock_;
  if (entry.loaded) return entry;
  const uint64_t row0 = offsets_[prompt], rows = tokens(prompt);
  if (embed_tokens_) {
    const std::vector<int32_t> ids = file_.read_int32_rows("/tokens", row0, rows);
    entry.hidden.resize(rows * size_t(hidden_size_));
    for (uint64_t t = 0; t < rows; ++t) {
      require(ids[t] >= 0 && ids[t] < embed_vocab_, file_.path(),
              "/tokens holds token " + std::to_string(ids[t]) + ", outside the model's vocabulary");
      embed_tokens_.to_float32(int64_t(ids[t]) * hidden_size_, hidden_size_, entry.hidden.data() + t * hidden_size_);
    }
  } else {
    entry.hidden = file_.read_float_rows("/hidden_in", row0, rows);
  }
  if (topk_) {
    entry.logits = file_.read_float_rows("/teacher/topk_logits", row0, rows);
    entry.topk_ids = file_.read_int32_rows("/teacher/topk_ids", row0, rows);
    entry.logsumexp = file_.read_float_rows("/teacher/logsumexp", row0, rows);
  } else {
    const std::vector<float> logits = file_.read_float_rows("/teacher/logits", row0, rows);
    entry.teacher = teacher_rows(logits.data(), int(rows), int(logits.size() / rows), tau_);
  }
  entry.loaded = true;
  entry.bytes = entry.hidden.size() * sizeof(float) + entry.logits.size() * sizeof(float) +
                entry.topk_ids.size() * sizeof(int32_t) + entry.logsumexp.size() * sizeof(float) +
                entry.teacher.probs.size() * sizeof(float) +
                (entry.teacher.mass.size() + entry.teacher.p_log_p.size()) * sizeof(double);
  held_bytes_ += entry.bytes;
  evict_beyond_budget(prompt);
  return entry;
}

void CalibrationData::evict_beyond_budget(int keep) {
  while (held_bytes_ > budget_bytes_) {
    int oldest = -1;
    for (int i = 0; i < int(prompts_.size()); ++i)
      if (prompts_[i].loaded && i != keep && (oldest < 0 || prompts_[i].last_use < prompts_[oldest].last_use))
        oldest = i;
    if (oldest < 0) return;  // the one prompt in use exceeds the budget alone
    held_bytes_ -= prompts_[oldest].bytes;
    prompts_[oldest] = Prompt{};
  }
}

const float* CalibrationData::hidden(int prompt) { return load(prompt).hidden.data(); }

double CalibrationData::distillation_loss(int prompt, const float* student_logits, float* dlogits, int vocab,
                                          float grad_scale) {
  const Prompt& entry = load(prompt);
  const int T = tokens(prompt);
  // The ids and widths come from the file, the vocabulary from the model: they must agree
  // before either indexes the other.
  if (topk_) {
    for (int32_t id : entry.topk_ids)
      require(id >= 0 && id < vocab, file_.path(),
              "/teacher/topk_ids holds token " + std::to_string(id) + ", outside the model's vocabulary of " +
                  std::to_string(vocab));
    return topk_kl_divergence(entry.topk_ids.data(), entry.logits.data(), entry.logsumexp.data(), k_, student_logits,
                              dlogits, T, vocab, grad_scale);
  }
  require(entry.teacher.V == vocab, file_.path(),
          "/teacher/logits has " + std::to_string(entry.teacher.V) + " columns, the model's vocabulary " +
              std::to_string(vocab));
  return teacher_kl_divergence(entry.teacher, student_logits, dlogits, grad_scale);
}

double topk_kl_divergence(const int32_t* ids, const float* topk_logits, const float* logsumexp, int k, const float* zS,
                          float* dzS, int T, int V, float grad_scale) {
  std::vector<double> log_ps(V);
  std::vector<char> kept(V);
  double total = 0.0;
  for (int t = 0; t < T; ++t) {
    const float* z = zS + long(t) * V;
    const double peak = *std::max_element(z, z + V);
    double sum = 0.0;
    for (int i = 0; i < V; ++i) sum += std::exp(z[i] - peak);
    const double log_sum = peak + std::log(sum);
    for (int i = 0; i < V; ++i) log_ps[i] = z[i] - log_sum;
    std::fill(kept.begin(), kept.end(), 0);
    double kl = 0.0, kept_teacher = 0.0, kept_student = 0.0;
    for (int j = 0; j < k; ++j) {
      const int id = ids[long(t) * k + j];
      const double log_pt = topk_logits[long(t) * k + j] - double(logsumexp[t]);
      kl += std::exp(log_pt) * (log_pt - log_ps[id]);
      kept_teacher += std::exp(log_pt);
      kept_student += std::exp(log_ps[id]);
      kept[id] = 1;
    }
    // The tail: every token outside the top-k lumped into one outcome.
    // Below float32 rounding of the stored logsumexp the tail is noise, not mass.
    const double tail_teacher = kept_teacher < 1.0 - 1e-6 ? 1.0 - kept_teacher : 0.0;
    const double tail_student = std::max(1e-300, 1.0 - kept_student);
    if (tail_teacher > 0.0) kl += tail_teacher * (std::log(tail_teacher) - std::log(tail_student));
    total += kl;
    if (!dzS) continue;
    // d/dz_j = pS_j - (pT_j for a kept j, else tail_teacher * pS_j / tail_student).
    float* d = dzS + long(t) * V;
    for (int i = 0; i < V; ++i) {
      const double ps = std::exp(log_ps[i]);
      d[i] = kept[i] ? float(grad_scale * ps) : float(grad_scale * (ps - tail_teacher * ps / tail_student));
    }
    for (int j = 0; j < k; ++j) {
      const int id = ids[long(t) * k + j];
      d[id] -= float(grad_scale * std::exp(topk_logits[long(t) * k + j] - double(logsumexp[t])));
    }
  }
  return total;
}

}  // namespace circal

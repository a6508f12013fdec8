// The distillation loss and every circulant gradient against tests/reference/klgrad.h5
// (float64 PyTorch autograd through dense materialisations): student = teacher with
// gate/up/down of the listed layers block-circulant; loss = mean over all positions of both
// prompts of tau^2 KL(pT || pS). Runs the calibrate path: forward_from the first patched
// layer, KL, backward.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/config/names.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/ops/kl_divergence.hpp"
#include "pipeline/model/transformer.hpp"
#include "tests/reference_files.hpp"

using namespace circal;

namespace {

const std::string kModelDir = std::string(CIRCAL_SOURCE_DIR) + "/data/models/manpages-llama-5m";
const std::string kKlFile = circal::test::reference_file("klgrad.h5");

struct PatchedMatrix {
  std::string name;  // layers/{l}/{proj}
  std::vector<float> c, dc;
  std::unique_ptr<CirculantLinear> op;
};

// What calibration caches from capture: teacher logits and the hidden state entering the
// first patched layer.
struct CachedPrompt {
  int T;
  std::vector<float> teacher_logits, hidden;
};

double norm_relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  double diff = 0.0, ref = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    ref += want[i] * want[i];
  }
  return std::sqrt(diff / ref);
}

}  // namespace

TEST_CASE("KL loss and circulant gradients match klgrad.h5 for both temperatures") {
  const ModelWeights model = load_model(kModelDir);
  const LlamaConfig& cfg = model.config;
  Transformer net(model);
  const CheckpointReader ref(kKlFile);
  const int b = static_cast<int>(ref.attr_int("/", "block_size"));
  std::vector<int> layers;
  for (const std::string& l : ref.children("/tau1/layers")) layers.push_back(std::stoi(l));
  REQUIRE(!layers.empty());
  const int first = *std::min_element(layers.begin(), layers.end());

  std::vector<CachedPrompt> prompts;
  int positions = 0;
  for (const char* name : {"tokens0", "tokens1"}) {
    const std::vector<int32_t> ids = ref.read_int32(name);
    const std::vector<int> tokens(ids.begin(), ids.end());
    const int T = static_cast<int>(tokens.size());
    const float* logits = net.forward(tokens);
    prompts.push_back(
        {T, std::vector<float>(logits, logits + static_cast<size_t>(T) * cfg.vocab_size),
         std::vector<float>(net.hidden_in(first), net.hidden_in(first) + static_cast<size_t>(T) * cfg.hidden_size)});
    positions += T;
  }

  for (const std::string tau_group : {"tau1", "tau2"}) {
    CAPTURE(tau_group);
    const float tau = static_cast<float>(ref.attr_double(tau_group, "tau"));
    std::vector<PatchedMatrix> patched;
    for (int l : layers)
      for (Projection proj : kProjections) {
        PatchedMatrix pm;
        pm.name = "layers/" + std::to_string(l) + "/" + name_of(proj);
        pm.c = ref.read_float(tau_group + "/" + pm.name + "/c");
        pm.dc.assign(pm.c.size(), 0.0f);
        patched.push_back(std::move(pm));
      }
    size_t k = 0;
    for (int l : layers)
      for (Projection proj : kProjections) {
        PatchedMatrix& pm = patched[k++];
        pm.op = std::make_unique<CirculantLinear>(mlp_out_features(cfg, proj), mlp_in_features(cfg, proj), b,
                                                  pm.c.data(), pm.dc.data());
        net.set_mlp_operator(l, proj, pm.op.get());
      }

    double loss = 0.0;
    std::vector<float> dlogits;
    for (const CachedPrompt& p : prompts) {
      const float* student = net.forward_from(first, p.hidden.data(), p.T);
      dlogits.resize(static_cast<size_t>(p.T) * cfg.vocab_size);
      loss +=
          kl_divergence(p.teacher_logits.data(), student, dlogits.data(), p.T, cfg.vocab_size, tau, 1.0f / positions);
      net.backward(dlogits.data());
    }
    loss /= positions;
    const double expected = ref.read_double(tau_group + "/loss").at(0);
    CHECK(std::abs(loss - expected) <= 1e-4 * expected);
    double worst_dc = 0.0;
    for (const PatchedMatrix& pm : patched) {
      CAPTURE(pm.name);
      const double error = norm_relative_error(pm.dc, ref.read_double(tau_group + "/" + pm.name + "/dc"));
      worst_dc = std::max(worst_dc, error);
      CHECK(error < 1e-4);
    }
    MESSAGE(tau_group << ": loss " << loss << " (reference " << expected << "), worst dc error " << worst_dc);
    for (int l : layers)
      for (Projection proj : kProjections) net.set_mlp_operator(l, proj, nullptr);
  }
}

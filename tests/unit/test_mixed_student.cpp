// A student whose matrices have different block sizes (project.block_size auto): the layout's
// slices and shapes, block size 1 as the teacher's own matrix (left out of the student), and a
// mixed student's gradient against finite differences through the whole model.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_allocation.hpp"
#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/transformer.hpp"
#include "stages/common/student.hpp"

using namespace circal;

namespace {

const ModelWeights& teacher() {
  static const ModelWeights weights = load_model(CIRCAL_SOURCE_DIR "/data/models/manpages-llama-5m");
  return weights;
}

Config mixed_config() {
  Config config;
  config.patch.all_layers = false;
  config.patch.layers = {1};
  config.project.allocate_blocks = true;
  return config;
}

// sum of logits * G: a loss linear in the logits, so its finite differences are clean.
double weighted_logits(Transformer& net, const std::vector<int>& tokens, const std::vector<float>& G) {
  const float* z = net.forward(tokens);
  double total = 0;
  for (size_t k = 0; k < G.size(); ++k) total += double(z[k]) * G[k];
  return total;
}

}  // namespace

TEST_CASE("a mixed layout: each matrix its block size, b = 1 kept dense out of the student") {
  const StudentLayout layout = StudentLayout::from_config(mixed_config(), teacher().config, {4, 1, 16});
  REQUIRE(layout.matrices.size() == 2);  // up_proj stays the teacher's
  CHECK(layout.block_size == 0);
  CHECK(layout.matrices[0].projection == Projection::Gate);
  CHECK(layout.matrices[1].projection == Projection::Down);
  const int m = 768, n = 256;  // gate_proj [768, 256]; down_proj [256, 768]
  CHECK(layout.matrices[0].size == size_t(block_parameters(m, n, 4)));
  CHECK(layout.matrices[1].size == size_t(block_parameters(n, m, 16)));
  CHECK(layout.matrices[1].offset == layout.matrices[0].size);
  CHECK(layout.total_size == layout.circulant_parameters());
  CHECK(layout.dense_parameters() == 2 * size_t(m) * n);
  CHECK(parameter_shapes(layout, layout.matrices[0]).front() == std::vector<uint64_t>{192, 64, 4});
  CHECK(parameter_shapes(layout, layout.matrices[1]).front() == std::vector<uint64_t>{16, 48, 16});
  // The uniform layout is unchanged: every matrix at project.block_size.
  Config uniform = mixed_config();
  uniform.project.allocate_blocks = false;
  const StudentLayout same = StudentLayout::from_config(uniform, teacher().config, {4, 1, 16});
  REQUIRE(same.matrices.size() == 3);
  for (const PatchedMatrix& matrix : same.matrices) CHECK(matrix.block_size == 16);
  CHECK(same.block_size == 16);
  // Every matrix kept dense leaves nothing to compress: refused.
  CHECK_THROWS_AS(StudentLayout::from_config(mixed_config(), teacher().config, {1, 1, 1}), CircalError);
}

TEST_CASE("kept-dense matrices are the teacher's: the student equals the teacher with only its circulant installed") {
  const ModelWeights& model = teacher();
  const StudentLayout layout = StudentLayout::from_config(mixed_config(), model.config, {1, 1, 16});
  REQUIRE(layout.matrices.size() == 1);
  std::vector<float> params(layout.total_size);
  for (float& p : params) p = 0.01f;
  const std::vector<int> tokens = {1, 52, 9, 300, 17, 4};
  Transformer net(model), twin(model);
  StudentModel student(net, layout, params.data(), nullptr);
  // The twin installs only the down_proj circulant by hand: the kept matrices are the teacher's.
  CirculantLinear down(layout.matrices[0].out_features, layout.matrices[0].in_features, 16, params.data(), nullptr);
  twin.set_mlp_operator(1, Projection::Down, &down);
  const int V = model.config.vocab_size, T = int(tokens.size());
  const float* z = net.forward(tokens);
  const std::vector<float> got(z, z + size_t(T) * V);
  const float* w = twin.forward(tokens);
  CHECK(got == std::vector<float>(w, w + size_t(T) * V));
}

TEST_CASE("a mixed student's gradient (b = 16 and 4 in one buffer, one matrix kept) matches finite differences") {
  const ModelWeights& model = teacher();
  const StudentLayout layout = StudentLayout::from_config(mixed_config(), model.config, {16, 4, 1});
  std::mt19937 rng(8);
  std::vector<float> params(layout.total_size), grads(layout.total_size, 0.0f);
  for (float& p : params) p = 0.05f * std::normal_distribution<float>()(rng);
  const std::vector<int> tokens = {1, 40, 7, 211, 3};
  const int V = model.config.vocab_size, T = int(tokens.size());
  Transformer net(model);
  StudentModel student(net, layout, params.data(), grads.data());
  std::vector<float> G(size_t(T) * V);
  for (float& g : G) g = std::normal_distribution<float>()(rng);
  weighted_logits(net, tokens, G);
  net.backward(G.data(), false);
  for (const PatchedMatrix& matrix : layout.matrices) {
    CAPTURE(matrix.block_size);
    int checked = 0;
    for (size_t k = matrix.offset; k < matrix.offset + matrix.size && checked < 3; k += matrix.size / 7 + 1) {
      if (std::abs(grads[k]) < 1e-2f) continue;
      const float kept = params[k], eps = 1e-2f;
      params[k] = kept + eps;
      student.parameters_changed();
      const double up = weighted_logits(net, tokens, G);
      params[k] = kept - eps;
      student.parameters_changed();
      const double down = weighted_logits(net, tokens, G);
      params[k] = kept;
      student.parameters_changed();
      CHECK(grads[k] == doctest::Approx((up - down) / (2.0 * eps)).epsilon(2e-2));
      ++checked;
    }
    CHECK(checked > 0);
  }
}

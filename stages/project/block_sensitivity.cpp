#include "stages/project/block_sensitivity.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <random>

#include "pipeline/base/errors.hpp"
#include "pipeline/base/number_text.hpp"
#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/circulant/projection_statistics.hpp"
#include "pipeline/model/dense_linear.hpp"
#include "pipeline/model/output_fisher.hpp"
#include "pipeline/model/transformer.hpp"
#include "pipeline/runtime/dealt_work.hpp"
#include "pipeline/runtime/stop_signal.hpp"
#include "stages/common/capture_layout.hpp"
#include "stages/common/capture_statistics.hpp"

namespace circal {

namespace {

// Seeds the target draws of pass k (with the pass index: the same draws at any rank count).
constexpr unsigned kSensitivitySeed = 20261207;

std::vector<int> candidate_block_sizes(const Config& config) {
  std::vector<int> candidates = statistics_block_sizes(config);
  candidates.push_back(1);
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  return candidates;
}

bool fits(const PatchedMatrix& matrix, int b) { return b <= std::min(matrix.out_features, matrix.in_features); }

// A matrix's least-squares projection at every candidate block size above 1 that fits it.
DealtResult solve_candidates(const StageContext& context, const CheckpointReader& capture, const PatchedMatrix& matrix,
                             const std::vector<int>& candidates) {
  const int m = matrix.out_features, n = matrix.in_features;
  DealtResult result;
  for (int b : candidates) {
    if (b == 1 || !fits(matrix, b)) continue;
    const InputStatistics input =
        read_input_statistics(capture, b, matrix.layer, capture_input_source(matrix.projection), n);
    const OutputStatistics output = read_output_statistics(capture, b, matrix.layer, matrix.projection, m, n);
    result.arrays.push_back(
        solve_least_squares(input, output, context.config.project.ridge * input.mean_gram_diagonal()));
  }
  return result;
}

// The teacher with a MoveProbe on every patched matrix, its candidates the projections.
struct ProbedTeacher {
  ProbedTeacher(const ModelWeights& model, const StudentLayout& matrices, const std::vector<int>& candidates,
                const std::vector<DealtResult>& solved)
      : net(model) {
    for (std::size_t i = 0; i < matrices.matrices.size(); ++i) {
      const PatchedMatrix& m = matrices.matrices[i];
      dense.push_back(std::make_unique<DenseLinear>(m.out_features, m.in_features,
                                                    mlp_weight(model, m.layer, m.projection), &weights32));
      std::vector<LinearOperator*> moves;
      std::size_t k = 0;
      for (int b : candidates) {
        if (b == 1 || !fits(m, b)) continue;
        ops.push_back(
            std::make_unique<CirculantLinear>(m.out_features, m.in_features, b, solved[i].arrays[k++].data(), nullptr));
        moves.push_back(ops.back().get());
      }
      probes.push_back(std::make_unique<MoveProbe>(*dense.back(), moves));
      net.set_mlp_operator(m.layer, m.projection, probes.back().get());
    }
  }
  Float32Scratch weights32;  // the probed matrices, when the teacher is kept in file dtype
  Transformer net;
  std::vector<std::unique_ptr<DenseLinear>> dense;
  std::vector<std::unique_ptr<CirculantLinear>> ops;
  std::vector<std::unique_ptr<MoveProbe>> probes;
};

// The validation prompts of capture.h5.
std::vector<std::vector<int>> validation_prompts(const CheckpointReader& capture) {
  const std::vector<int64_t> offsets = capture.read_int64("/prompts/offsets");
  const std::vector<int32_t> split = capture.read_int32("/prompts/split");
  const std::vector<int32_t> tokens = capture.read_int32("/tokens");
  std::vector<std::vector<int>> prompts;
  for (std::size_t p = 0; p < split.size(); ++p)
    if (split[p] == 1) prompts.emplace_back(tokens.begin() + offsets[p], tokens.begin() + offsets[p + 1]);
  if (prompts.empty()) fail(kExitCheckpoint, capture.path() + ": has no validation prompts to estimate sensitivity on");
  return prompts;
}

// Pass k: prompt k / samples with its own draw of targets; returns every probe's g . delta
// (matrix-major, candidates in order), then the pass's positions.
DealtResult sensitivity_pass(ProbedTeacher& teacher, const std::vector<int>& prompt, std::size_t k) {
  std::seed_seq seed{kSensitivitySeed, unsigned(k)};
  std::mt19937_64 rng(seed);
  add_prompt_to_fisher(teacher.net, prompt, &rng);
  DealtResult result;
  for (const auto& probe : teacher.probes) {
    const std::vector<double> dots = probe->take_dots();
    result.values.insert(result.values.end(), dots.begin(), dots.end());
  }
  result.values.push_back(double(prompt.size()));
  return result;
}

}  // namespace

std::vector<int> BlockSizeChoice::block_sizes() const {
  std::vector<int> sizes;
  for (std::size_t i = 0; i < options.size(); ++i) sizes.push_back(options[i][allocation.option[i]].block_size);
  return sizes;
}

BlockSizeChoice choose_block_sizes(const StageContext& context, const CheckpointReader& capture,
                                   const StudentLayout& matrices) {
  const MpiContext& mpi = context.mpi;
  const auto start = std::chrono::steady_clock::now();
  BlockSizeChoice choice;
  choice.candidates = candidate_block_sizes(context.config);
  for (int b : choice.candidates)
    if (b > 1 && !has_statistics(capture, b))
      fail(kExitCheckpoint, capture.path() + ": has no projection statistics for block size " + std::to_string(b) +
                                " (project.block_size auto); rerun capture");
  const std::size_t N = matrices.matrices.size();
  const std::vector<DealtResult> solved = solve_dealt(
      mpi.comm(), N,
      [&](std::size_t i) { return solve_candidates(context, capture, matrices.matrices[i], choice.candidates); },
      [&](std::size_t, std::size_t end, std::vector<DealtResult>&) {
        stop_if_signalled(mpi.comm(), "project", "while projecting the candidates, project.h5 not written; rerun");
        if (end == N) mpi.log("project: " + std::to_string(N) + " matrices projected at every candidate block size");
      });

  ProbedTeacher teacher(context.model, matrices, choice.candidates, solved);
  const std::vector<std::vector<int>> prompts = validation_prompts(capture);
  const int samples = context.config.project.sensitivity_samples;
  const std::size_t passes = prompts.size() * samples;
  const std::vector<DealtResult> dots = solve_dealt(
      mpi.comm(), passes, [&](std::size_t k) { return sensitivity_pass(teacher, prompts[k / samples], k); },
      [&](std::size_t, std::size_t end, std::vector<DealtResult>&) {
        stop_if_signalled(mpi.comm(), "project", "during the sensitivity passes, project.h5 not written; rerun");
        if (end == passes || end % std::max<std::size_t>(1, passes / 4) < std::size_t(mpi.size()))
          mpi.log("project: sensitivity pass " + std::to_string(end) + " of " + std::to_string(passes));
      });

  for (const DealtResult& pass : dots) choice.positions += long(pass.values.back());
  choice.passes = long(passes);
  std::size_t column = 0;  // this (matrix, candidate)'s place in a pass's values
  for (const PatchedMatrix& m : matrices.matrices) {
    std::vector<BlockOption> options;
    for (int b : choice.candidates) {
      if (!fits(m, b)) continue;
      double loss = 0;
      if (b > 1) {
        std::vector<double> column_dots;
        for (const DealtResult& pass : dots) column_dots.push_back(pass.values[column]);
        loss = gauss_newton_estimate(column_dots, choice.positions);
        ++column;
      }
      options.push_back({b, block_parameters(m.out_features, m.in_features, b), loss});
    }
    choice.options.push_back(std::move(options));
  }
  choice.budget = std::int64_t(std::floor(double(matrices.dense_parameters()) / context.config.project.compression));
  choice.allocation = allocate_block_sizes(choice.options, choice.budget);
  choice.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return choice;
}

void write_block_size_choice(CheckpointWriter& file, const BlockSizeChoice& choice, const Config& config) {
  const std::size_t N = choice.options.size(), B = choice.candidates.size();
  std::vector<double> predicted(N * B, std::numeric_limits<double>::quiet_NaN());
  std::vector<int64_t> parameters(N * B, 0);
  for (std::size_t i = 0; i < N; ++i)
    for (const BlockOption& option : choice.options[i]) {
      const std::size_t j =
          std::find(choice.candidates.begin(), choice.candidates.end(), option.block_size) - choice.candidates.begin();
      predicted[i * B + j] = option.loss;
      parameters[i * B + j] = option.parameters;
    }
  const std::vector<int> chosen = choice.block_sizes();
  const std::vector<int32_t> candidates(choice.candidates.begin(), choice.candidates.end()),
      block_sizes(chosen.begin(), chosen.end());
  file.write("/allocation/candidates", {B}, candidates.data());
  file.write("/allocation/block_size", {N}, block_sizes.data());
  file.write("/allocation/predicted_kl", {N, B}, predicted.data());
  file.write("/allocation/parameters", {N, B}, parameters.data());
  file.set_attr("/allocation", "compression", config.project.compression);
  file.set_attr("/allocation", "budget", int64_t(choice.budget));
  file.set_attr("/allocation", "allocated_parameters", int64_t(choice.allocation.parameters));
  file.set_attr("/allocation", "predicted_kl", choice.allocation.loss);
  file.set_attr("/allocation", "passes", int64_t(choice.passes));
  file.set_attr("/allocation", "positions", int64_t(choice.positions));
}

}  // namespace circal

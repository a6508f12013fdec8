#include "bench/bench_sensitivity.hpp"

#include <nlohmann/json.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/circulant/projection_statistics.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/metrics/statistics.hpp"
#include "pipeline/model/dense_linear.hpp"
#include "pipeline/model/ops/kl_divergence.hpp"
#include "pipeline/model/output_fisher.hpp"
#include "stages/common/capture_layout.hpp"
#include "stages/common/capture_statistics.hpp"
#include "stages/common/student.hpp"
#include "stages/evaluate/test_prompts.hpp"
#include "stages/runner/stage_runner.hpp"

namespace circal {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The teacher with a FisherProbe on every patched matrix.
struct ProbedTeacher {
  ProbedTeacher(const ModelWeights& model, const StudentLayout& layout, bool keep_rows) : net(model) {
    for (const PatchedMatrix& m : layout.matrices) {
      dense.push_back(std::make_unique<DenseLinear>(m.out_features, m.in_features,
                                                    mlp_weight(model, m.layer, m.projection), &weights32));
      probes.push_back(std::make_unique<FisherProbe>(*dense.back()));
      probes.back()->keep_rows(keep_rows);
      net.set_mlp_operator(m.layer, m.projection, probes.back().get());
    }
  }
  Float32Scratch weights32;  // the probed matrices, when the teacher is kept in file dtype
  Transformer net;
  std::vector<std::unique_ptr<DenseLinear>> dense;
  std::vector<std::unique_ptr<FisherProbe>> probes;
};

// F_i: the teacher's NLL Fisher at matrix i's outputs over the validation prompts, averaged
// over its output channels.
std::vector<double> mean_output_fisher(const ModelWeights& model, const StudentLayout& layout,
                                       const std::vector<std::vector<int>>& prompts) {
  ProbedTeacher teacher(model, layout, false);
  for (const auto& p : prompts) add_prompt_to_fisher(teacher.net, p);
  std::vector<double> mean;
  for (const auto& probe : teacher.probes) {
    double sum = 0;
    for (double f : probe->fisher()) sum += f;
    mean.push_back(sum / probe->out_features());
  }
  return mean;
}

// Matrix i's validation rows under sampled targets (`samples` backward passes a prompt): its
// inputs X and the gradients g at its outputs.
std::vector<std::vector<FisherProbe::Rows>> sampled_rows(const ModelWeights& model, const StudentLayout& layout,
                                                         const std::vector<std::vector<int>>& prompts, int samples) {
  ProbedTeacher teacher(model, layout, true);
  std::mt19937_64 rng(20261207);
  for (const auto& p : prompts)
    for (int s = 0; s < samples; ++s) add_prompt_to_fisher(teacher.net, p, &rng);
  std::vector<std::vector<FisherProbe::Rows>> rows;
  for (const auto& probe : teacher.probes) rows.push_back(probe->kept());
  return rows;
}

// The mean over the test positions of KL(teacher || net), the teacher's logits given.
double mean_test_kl(Transformer& net, const TestSplit& test, const std::vector<std::vector<float>>& teacher_logits,
                    int V) {
  double total = 0;
  long positions = 0;
  for (int i = 0; i < test.size(); ++i) {
    const int T = int(test.tokens[i].size());
    total += kl_divergence(teacher_logits[i].data(), net.forward(test.tokens[i]), nullptr, T, V, 1.0f, 1.0f);
    positions += T;
  }
  return total / double(positions);
}

struct MatrixAtBlock {
  double measured = 0;      // mean test KL with only this matrix projected
  double gauss_newton = 0;  // the proxy: 1/2 E[(g . delta)^2]
  double diagonal = 0;      // its diagonal: 1/2 E[sum g^2 delta^2]
  double channel_mean = 0;  // 1/2 F_i E_i(b): channels and tokens averaged apart
  double relative_output_error = 0;
};

constexpr std::pair<const char*, double MatrixAtBlock::*> kEstimates[] = {
    {"gauss_newton", &MatrixAtBlock::gauss_newton},
    {"diagonal", &MatrixAtBlock::diagonal},
    {"channel_mean", &MatrixAtBlock::channel_mean}};

// Per matrix and b: the proxy against the measured KL.
void print_table(const StudentLayout& layout, const std::vector<int>& blocks,
                 const std::vector<std::vector<MatrixAtBlock>>& table) {
  std::printf("\nKL per test position, Gauss-Newton estimate / measured, one matrix projected at a time:\n%-14s",
              "matrix");
  for (int b : blocks) std::printf(" %19s", ("b = " + std::to_string(b)).c_str());
  std::printf("\n");
  for (size_t i = 0; i < table.size(); ++i) {
    const PatchedMatrix& m = layout.matrices[i];
    std::printf("%-14s", (std::to_string(m.layer) + " " + name_of(m.projection)).c_str());
    for (const MatrixAtBlock& cell : table[i]) std::printf("  %.2e / %.2e", cell.gauss_newton, cell.measured);
    std::printf("\n");
  }
}

}  // namespace

void run_sensitivity_bench(MpiContext& mpi, Config config, const SensitivityBenchOptions& options) {
  if (!options.block_sizes.empty()) config.capture.block_sizes = options.block_sizes;
  const std::vector<int> blocks = statistics_block_sizes(config);
  RunOptions inputs;
  inputs.stages = {Stage::Capture};
  run_stages(mpi, config, inputs);  // skipped when run_dir holds a current capture
  const Teacher teacher = load_teacher(mpi, config);
  if (!mpi.is_root()) return;
  const ModelWeights& model = teacher.weights;
  resolve_layers(config, model.config.num_hidden_layers);
  const StageContext context{mpi, config, model, teacher.tokenizer};
  const StudentLayout layout = StudentLayout::from_config(config, model.config);
  const auto capture =
      CheckpointReader::open(context.output_path(Stage::Capture), "capture", context.fingerprint(Stage::Capture));
  const int V = model.config.vocab_size;

  const Clock::time_point start = Clock::now();
  const CapturePrompts prompts = tokenize_capture_prompts(config, teacher.tokenizer, model.config);
  std::vector<std::vector<int>> validation;
  for (size_t p = 0; p < prompts.tokens.size(); ++p)
    if (prompts.split[p] == 1) validation.push_back(prompts.tokens[p]);
  const std::vector<double> fisher = mean_output_fisher(model, layout, validation);
  const double fisher_seconds = seconds_since(start);
  std::printf("bench sensitivity: Fisher over %zu validation prompts in %.1f s\n", validation.size(), fisher_seconds);

  const std::vector<std::vector<FisherProbe::Rows>> rows = sampled_rows(model, layout, validation, options.samples);
  const TestSplit test = read_test_data(config, teacher.tokenizer, model.config);
  Transformer net(model);
  std::vector<std::vector<float>> teacher_logits;
  for (const auto& tokens : test.tokens) {
    const float* z = net.forward(tokens);
    teacher_logits.emplace_back(z, z + tokens.size() * size_t(V));
  }

  const size_t N = layout.matrices.size();
  std::vector<std::vector<MatrixAtBlock>> table(N, std::vector<MatrixAtBlock>(blocks.size()));
  double solve_seconds = 0;
  for (size_t k = 0; k < blocks.size(); ++k) {
    const int b = blocks[k];
    for (size_t i = 0; i < N; ++i) {
      const PatchedMatrix& m = layout.matrices[i];
      const Clock::time_point solve_start = Clock::now();
      const InputStatistics input =
          read_input_statistics(capture, b, m.layer, capture_input_source(m.projection), m.in_features);
      const OutputStatistics output =
          read_output_statistics(capture, b, m.layer, m.projection, m.out_features, m.in_features);
      const std::vector<float> c =
          solve_least_squares(input, output, config.project.ridge * input.mean_gram_diagonal());
      const double error = statistics_output_error(input, output, c.data());
      solve_seconds += seconds_since(solve_start);
      MatrixAtBlock& cell = table[i][k];
      cell.relative_output_error = error;
      cell.channel_mean = 0.5 * fisher[i] * error * error * output.sum_squares() / input.tokens();
      CirculantLinear op(m.out_features, m.in_features, b, c.data(), nullptr);
      Float32Scratch scratch;
      DenseLinear dense(m.out_features, m.in_features, mlp_weight(model, m.layer, m.projection), &scratch);
      const KlEstimate estimate = estimate_kl(rows[i], dense, op);
      cell.gauss_newton = estimate.gauss_newton;
      cell.diagonal = estimate.diagonal;
      net.set_mlp_operator(m.layer, m.projection, &op);
      cell.measured = mean_test_kl(net, test, teacher_logits, V);
      net.set_mlp_operator(m.layer, m.projection, nullptr);
    }
    std::printf("bench sensitivity: b = %d done (%.0f s)\n", b, seconds_since(start));
  }

  nlohmann::json result = {
      {"block_sizes", blocks},       {"validation_prompts", validation.size()}, {"samples_per_prompt", options.samples},
      {"test_prompts", test.size()}, {"fisher_seconds", fisher_seconds},        {"solve_seconds", solve_seconds}};
  print_table(layout, blocks, table);
  for (size_t i = 0; i < N; ++i) {
    const PatchedMatrix& m = layout.matrices[i];
    nlohmann::json row = {{"layer", m.layer}, {"projection", name_of(m.projection)}, {"mean_fisher", fisher[i]}};
    for (const MatrixAtBlock& cell : table[i]) {
      row["measured_kl"].push_back(cell.measured);
      row["gauss_newton"].push_back(cell.gauss_newton);
      row["diagonal"].push_back(cell.diagonal);
      row["channel_mean"].push_back(cell.channel_mean);
      row["relative_output_error"].push_back(cell.relative_output_error);
    }
    result["matrices"].push_back(row);
  }
  std::printf("\nSpearman rank correlation with the measured KL, across matrices at each b, and overall:\n");
  for (const auto& [name, estimate] : kEstimates) {
    std::vector<double> all_estimates, all_measured;
    std::printf("  %-13s", name);
    for (size_t k = 0; k < blocks.size(); ++k) {
      std::vector<double> estimates, measured;
      for (size_t i = 0; i < N; ++i)
        estimates.push_back(table[i][k].*estimate), measured.push_back(table[i][k].measured);
      all_estimates.insert(all_estimates.end(), estimates.begin(), estimates.end());
      all_measured.insert(all_measured.end(), measured.begin(), measured.end());
      const double rho = spearman_correlation(estimates, measured);
      std::printf(" b=%d %.3f", blocks[k], rho);
      result["spearman"][name]["per_block_size"].push_back(rho);
    }
    const double overall = spearman_correlation(all_estimates, all_measured);
    result["spearman"][name]["overall"] = overall;
    std::printf("  overall %.3f\n", overall);
  }
  const std::string path = options.json_path.empty() ? config.run_dir + "/bench_sensitivity.json" : options.json_path;
  std::ofstream(path) << result.dump(1) << "\n";
  std::printf("bench sensitivity: %s\n", path.c_str());
}

}  // namespace circal

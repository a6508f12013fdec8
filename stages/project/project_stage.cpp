// project: every patched matrix onto block-circulant form, both by Frobenius (data-free) and
// by data-aware least squares on the captured calibration inputs (DESIGN section 3); or,
// with project.structure = lowrank, onto rank-r products U V by truncated SVD (data-free)
// and whitened SVD on the full input Gram (DESIGN section 8.2). The Gram accumulation is
// distributed: rank r reads the inputs of calibration prompts i % R == r, and the sums are
// allreduced, so every rank solves alike.
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

#include "pipeline/io/checkpoint_store.hpp"
#include "pipeline/circulant/circulant_projection.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"
#include "pipeline/lowrank/lowrank_projection.hpp"
#include "pipeline/model/ops/linear.hpp"
#include "pipeline/model/ops/swiglu.hpp"
#include "pipeline/runtime/stop_signal.hpp"
#include "stages/common/capture_layout.hpp"
#include "stages/project/project_stage.hpp"
#include "stages/common/student.hpp"
#include "stages/common/student_checkpoint.hpp"

namespace circal {

namespace {

// The calibration token rows this rank owns: prompt i of the calibration split on rank i % R.
struct TokenShard {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // (row0, rows)
};

TokenShard calibration_shard(const CheckpointReader& capture, const MpiContext& mpi) {
  const std::vector<int64_t> offsets = capture.read_int64("/prompts/offsets");
  const int calibration = int(capture.attr_int("/prompts", "calibration_count"));
  TokenShard shard;
  for (int i : mpi.shard(calibration)) shard.ranges.push_back({uint64_t(offsets[i]), uint64_t(offsets[i + 1] - offsets[i])});
  return shard;
}

// Inputs of one matrix for one prompt's rows. down_proj inputs come from the teacher
// (captured) or, with project.down_inputs = student, from the already projected gate and up.
class ProjectionInputs {
 public:
  ProjectionInputs(const CheckpointReader& capture, const StageContext& context, const StudentLayout& layout,
                   const std::vector<std::vector<float>>& chosen)
      : capture_(capture), context_(context), layout_(layout), chosen_(chosen) {}

  std::vector<float> rows(const PatchedMatrix& matrix, uint64_t row0, uint64_t nrows) const {
    const bool student_down = matrix.projection == "down_proj" && context_.config.project.down_inputs == "student";
    if (!student_down) return capture_.read_float_rows(capture_input_dataset(matrix.layer, matrix.projection), row0, nrows);
    const std::vector<float> x = capture_.read_float_rows(capture_input_dataset(matrix.layer, "gate_proj"), row0, nrows);
    const int T = int(nrows), I = matrix.in_features;
    std::vector<float> gate(size_t(T) * I), up(size_t(T) * I), h(size_t(T) * I);
    apply(matrix.layer, "gate_proj", x.data(), gate.data(), T);
    apply(matrix.layer, "up_proj", x.data(), up.data(), T);
    swiglu_forward(gate.data(), up.data(), h.data(), long(T) * I);
    return h;
  }

 private:
  // The student's (projected) matrix where gate/up is patched, else the teacher's.
  void apply(int layer, const std::string& projection, const float* x, float* y, int T) const {
    const LlamaConfig& config = context_.model.config;
    const int m = mlp_out_features(config, projection), n = mlp_in_features(config, projection);
    for (size_t i = 0; i < layout_.matrices.size(); ++i) {
      const PatchedMatrix& matrix = layout_.matrices[i];
      if (matrix.layer != layer || matrix.projection != projection) continue;
      auto& op = operators_[i];
      PatchedMatrix own = matrix;
      own.offset = 0;  // chosen_[i] holds this matrix's parameters alone
      if (!op) op = make_student_operator(layout_, own, chosen_[i].data(), nullptr);
      op->forward(x, y, T);
      return;
    }
    linear_forward(x, mlp_matrix(context_.model, layer, projection), y, T, n, m);
  }

  const CheckpointReader& capture_;
  const StageContext& context_;
  const StudentLayout& layout_;
  const std::vector<std::vector<float>>& chosen_;
  // The student's gate/up operators, made once (their spectra are computed on first use).
  mutable std::map<size_t, std::unique_ptr<LinearOperator>> operators_;
};

// sum ||x W^T||^2 and sum ||x (W - C)^T||^2 over this rank's tokens, then over all ranks.
struct OutputError {
  double reference = 0, error = 0;
  void add(const float* W, CirculantLinear& circulant_op, const PatchedMatrix& matrix, const float* X, int T) {
    const int m = matrix.out_features, n = matrix.in_features;
    std::vector<float> dense(size_t(T) * m), circulant(size_t(T) * m);
    linear_forward(X, W, dense.data(), T, n, m);
    circulant_op.forward(X, circulant.data(), T);
    for (size_t i = 0; i < dense.size(); ++i) {
      reference += double(dense[i]) * dense[i];
      error += double(dense[i] - circulant[i]) * (dense[i] - circulant[i]);
    }
  }
  double relative(MPI_Comm comm) const {
    double sums[2] = {reference, error};
    MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, comm);
    return sums[0] > 0 ? std::sqrt(sums[1] / sums[0]) : 0.0;
  }
};

struct MatrixProjection {
  std::vector<float> frobenius, least_squares;
  double frobenius_error[2], least_squares_error[2];  // relative Frobenius, relative output
};

MatrixProjection project_matrix(const PatchedMatrix& matrix, const StageContext& context, const TokenShard& shard,
                                const ProjectionInputs& inputs) {
  const int b = context.config.project.block_size, m = matrix.out_features, n = matrix.in_features;
  const float* W = mlp_matrix(context.model, matrix.layer, matrix.projection);
  MatrixProjection result;
  result.frobenius = project_frobenius(W, m, n, b);
  LeastSquaresProjector projector(W, m, n, b, context.config.project.chunk_tokens);
  std::vector<std::vector<float>> local_inputs;
  for (const auto& [row0, rows] : shard.ranges) {
    local_inputs.push_back(inputs.rows(matrix, row0, rows));
    projector.accumulate(local_inputs.back().data(), long(rows));
  }
  projector.allreduce(context.mpi.comm());
  result.least_squares = projector.solve(context.config.project.ridge);
  OutputError frobenius_output, least_squares_output;
  CirculantLinear frobenius_op(m, n, b, result.frobenius.data(), nullptr);
  CirculantLinear least_squares_op(m, n, b, result.least_squares.data(), nullptr);
  for (size_t i = 0; i < shard.ranges.size(); ++i) {
    const int T = int(shard.ranges[i].second);
    frobenius_output.add(W, frobenius_op, matrix, local_inputs[i].data(), T);
    least_squares_output.add(W, least_squares_op, matrix, local_inputs[i].data(), T);
  }
  result.frobenius_error[0] = relative_frobenius_error(W, result.frobenius.data(), m, n, b);
  result.least_squares_error[0] = relative_frobenius_error(W, result.least_squares.data(), m, n, b);
  result.frobenius_error[1] = frobenius_output.relative(context.mpi.comm());
  result.least_squares_error[1] = least_squares_output.relative(context.mpi.comm());
  return result;
}

void write_projection(CheckpointWriter& file, const PatchedMatrix& matrix, int b, const std::string& method,
                      const MatrixProjection& projection) {
  const uint64_t p = block_count(matrix.out_features, b), q = block_count(matrix.in_features, b);
  const std::string base = matrix.dataset();
  const bool frobenius = method == "frobenius";
  const auto put = [&](const std::string& name, const std::vector<float>& c, const double* errors) {
    file.write(base + "/" + name, {p, q, uint64_t(b)}, c.data());
    file.set_attr(base + "/" + name, "rel_frobenius_error", errors[0]);
    file.set_attr(base + "/" + name, "rel_output_error", errors[1]);
  };
  put("c", frobenius ? projection.frobenius : projection.least_squares,
      frobenius ? projection.frobenius_error : projection.least_squares_error);
  put("c_frobenius", projection.frobenius, projection.frobenius_error);
  put("c_least_squares", projection.least_squares, projection.least_squares_error);
  file.set_attr(base + "/c", "block_size", int64_t(b));
  file.set_attr(base + "/c", "method", method);
  file.set_attr(base + "/c", "m", int64_t(matrix.out_features));
  file.set_attr(base + "/c", "n", int64_t(matrix.in_features));
  if (matrix.out_features % b != 0)
    file.set_attr(base + "/c_least_squares", "note", std::string("padded outputs of the last block row fitted as zeros"));
}

// The full input Gram H = sum_t x_t x_t^T [n, n] of one matrix's inputs over every
// calibration token, summed over the ranks: all the whitened SVD needs. The one place H is
// made, so capture statistics can later feed it instead (InputGram::add_gram).
InputGram input_gram(const PatchedMatrix& matrix, const TokenShard& shard, const ProjectionInputs& inputs, MPI_Comm comm) {
  InputGram gram(matrix.in_features);
  for (const auto& [row0, rows] : shard.ranges) {
    const std::vector<float> x = inputs.rows(matrix, row0, rows);
    gram.accumulate(x.data(), long(rows));
  }
  gram.allreduce(comm);
  return gram;
}

struct LowRankProjection {
  std::vector<float> svd, aware;
  double svd_error[2], aware_error[2];  // relative Frobenius, relative output (all tokens)
};

LowRankProjection project_lowrank(const PatchedMatrix& matrix, const StageContext& context, const InputGram& gram) {
  const int m = matrix.out_features, n = matrix.in_features, r = matrix.rank;
  const float* W = mlp_matrix(context.model, matrix.layer, matrix.projection);
  LowRankProjection result;
  result.svd = project_truncated_svd(W, m, n, r);
  result.aware = project_whitened_svd(W, m, n, r, gram, context.config.project.ridge);
  const std::vector<double> H = gram.matrix();
  result.svd_error[0] = lowrank_relative_frobenius_error(W, result.svd.data(), m, n, r);
  result.aware_error[0] = lowrank_relative_frobenius_error(W, result.aware.data(), m, n, r);
  result.svd_error[1] = lowrank_relative_output_error(W, result.svd.data(), m, n, r, H);
  result.aware_error[1] = lowrank_relative_output_error(W, result.aware.data(), m, n, r, H);
  return result;
}

void write_lowrank_projection(CheckpointWriter& file, const PatchedMatrix& matrix, int b, const std::string& method,
                              const LowRankProjection& projection) {
  const uint64_t m = matrix.out_features, n = matrix.in_features, r = matrix.rank;
  const std::string base = matrix.dataset();
  const bool frobenius = method == "frobenius";
  const auto put = [&](const std::string& suffix, const std::vector<float>& params, const double* errors) {
    file.write(base + "/U" + suffix, {m, r}, params.data());
    file.write(base + "/V" + suffix, {r, n}, params.data() + m * r);
    file.set_attr(base + "/U" + suffix, "rel_frobenius_error", errors[0]);
    file.set_attr(base + "/U" + suffix, "rel_output_error", errors[1]);
  };
  put("", frobenius ? projection.svd : projection.aware, frobenius ? projection.svd_error : projection.aware_error);
  put("_svd", projection.svd, projection.svd_error);
  put("_aware", projection.aware, projection.aware_error);
  file.set_attr(base + "/U", "block_size", int64_t(b));
  file.set_attr(base + "/U", "rank", int64_t(r));
  file.set_attr(base + "/U", "method", std::string(frobenius ? "svd" : "aware"));
  file.set_attr(base + "/U", "m", int64_t(m));
  file.set_attr(base + "/U", "n", int64_t(n));
  file.set_attr(base + "/U", "parameters", int64_t(matrix.size));
  file.set_attr(base + "/U", "circulant_parameters",
                int64_t(uint64_t(block_count(int(m), b)) * block_count(int(n), b) * b));
}

}  // namespace

void project_stage(const StageContext& context) {
  const MpiContext& mpi = context.mpi;
  const CheckpointReader capture = context.open_output(Stage::Capture);
  const StudentLayout layout = StudentLayout::from_config(context.config, context.model.config);
  const TokenShard shard = calibration_shard(capture, mpi);
  const std::string& method = context.config.project.method;
  const int b = layout.block_size;
  std::vector<std::vector<float>> chosen(layout.matrices.size());
  const ProjectionInputs inputs(capture, context, layout, chosen);

  CheckpointWriter file(mpi.comm(), context.output_path(Stage::Project),
                        {"project", context.fingerprint(Stage::Project), context.config_yaml()});
  // gate_proj and up_proj read the same inputs: their Gram is made once.
  std::string gram_source;
  std::unique_ptr<InputGram> gram;
  for (size_t i = 0; i < layout.matrices.size(); ++i) {
    const PatchedMatrix& matrix = layout.matrices[i];
    if (layout.structure == Structure::LowRank) {
      const bool student_down = matrix.projection == "down_proj" && context.config.project.down_inputs == "student";
      const std::string source = student_down ? "" : capture_input_dataset(matrix.layer, matrix.projection);
      if (!gram || source.empty() || source != gram_source)
        gram = std::make_unique<InputGram>(input_gram(matrix, shard, inputs, mpi.comm()));
      gram_source = source;
      const LowRankProjection projection = project_lowrank(matrix, context, *gram);
      chosen[i] = method == "frobenius" ? projection.svd : projection.aware;
      write_lowrank_projection(file, matrix, b, method, projection);
      char line[240];
      std::snprintf(line, sizeof line,
                    "project: layer %d %-9s %dx%d rank %d (%zu params)  svd: rel_err %.4f out_err %.4f | aware: rel_err %.4f out_err %.4f",
                    matrix.layer, matrix.projection.c_str(), matrix.out_features, matrix.in_features, matrix.rank,
                    matrix.size, projection.svd_error[0], projection.svd_error[1], projection.aware_error[0],
                    projection.aware_error[1]);
      mpi.log(line);
      stop_if_signalled(mpi.comm(), "project", "after " + std::to_string(i + 1) + " of " +
                                                   std::to_string(layout.matrices.size()) +
                                                   " matrices, project.h5 not written; rerun to resume");
      continue;
    }
    const MatrixProjection projection = project_matrix(matrix, context, shard, inputs);
    chosen[i] = method == "frobenius" ? projection.frobenius : projection.least_squares;
    write_projection(file, matrix, b, method, projection);
    char line[240];
    std::snprintf(line, sizeof line,
                  "project: layer %d %-9s %dx%d b=%d  frobenius: rel_err %.4f out_err %.4f | least_squares: rel_err %.4f out_err %.4f",
                  matrix.layer, matrix.projection.c_str(), matrix.out_features, matrix.in_features, b,
                  projection.frobenius_error[0], projection.frobenius_error[1], projection.least_squares_error[0],
                  projection.least_squares_error[1]);
    mpi.log(line);
    stop_if_signalled(mpi.comm(), "project", "after " + std::to_string(i + 1) + " of " +
                                                 std::to_string(layout.matrices.size()) +
                                                 " matrices, project.h5 not written; rerun to resume");
  }
  file.set_attr("/", "block_size", int64_t(b));
  file.set_attr("/", "method", method);
  file.set_attr("/", "mlp_params_dense", int64_t(layout.dense_parameters()));
  file.set_attr("/", "structure", std::string(structure_name(layout.structure)));
  file.set_attr("/", "mlp_params_student", int64_t(layout.total_size));
  file.set_attr("/", "mlp_params_circulant", int64_t(layout.circulant_parameters()));
  stamp_student_model(file, context.model);
  file.commit();
}

}  // namespace circal

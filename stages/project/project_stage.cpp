// project: every patched matrix onto block-circulant form, both by Frobenius (data-free) and
// by data-aware least squares (DESIGN section 3) solved from the per-frequency statistics
// that capture accumulated (stages/FILES.md): nothing here reads per-token inputs. With
// project.structure = lowrank, onto rank-r products U V instead, by truncated SVD (data-free)
// and whitened SVD on the full input Gram that capture stored (DESIGN section 8.2). With
// project.down_inputs = student, down_proj's statistics need the inputs the projected gate
// and up produce, which capture cannot know: project runs the teacher forward again over the
// calibration prompts (batches as in capture, summed in batch order on rank 0, then
// broadcast), so the result is the same at any rank count. The matrices are shared out: rank
// r solves matrices r, r + R, ... and the results are gathered bit for bit on every rank
// (pipeline/runtime/dealt_work), so project.h5 is the one-rank file at any rank count.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"
#include "pipeline/circulant/circulant_projection.hpp"
#include "pipeline/circulant/projection_statistics.hpp"
#include "pipeline/config/capture_requirements.hpp"
#include "pipeline/data/prompt_batches.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/lowrank/lowrank_projection.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/ops/linear.hpp"
#include "pipeline/model/ops/swiglu.hpp"
#include "pipeline/model/transformer.hpp"
#include "pipeline/runtime/dealt_work.hpp"
#include "pipeline/runtime/stop_signal.hpp"
#include "stages/common/capture_layout.hpp"
#include "stages/common/capture_statistics.hpp"
#include "stages/common/student.hpp"
#include "stages/common/student_checkpoint.hpp"
#include "stages/project/block_sensitivity.hpp"
#include "stages/project/project_stage.hpp"

namespace circal {

namespace {

// How far a projection lands from its dense matrix.
struct ProjectionError {
  double frobenius = 0;  // ||W - C||_F / ||W||_F
  double output = 0;     // the same of the outputs W x - C x over the calibration tokens
};

// A matrix's two projections: circulant by Frobenius and by least squares, low-rank by
// truncated SVD and by whitened SVD.
struct MatrixProjection {
  std::vector<float> data_free, data_aware;
  ProjectionError data_free_error, data_aware_error;

  const std::vector<float>& chosen(ProjectionMethod method) const {
    return method == ProjectionMethod::Frobenius ? data_free : data_aware;
  }
  const ProjectionError& chosen_error(ProjectionMethod method) const {
    return method == ProjectionMethod::Frobenius ? data_free_error : data_aware_error;
  }
};

DealtResult dealt(MatrixProjection projection) {
  const ProjectionError &f = projection.data_free_error, &a = projection.data_aware_error;
  return {{std::move(projection.data_free), std::move(projection.data_aware)},
          {f.frobenius, f.output, a.frobenius, a.output}};
}

MatrixProjection undealt(DealtResult result) {
  const std::vector<double>& v = result.values;
  return {std::move(result.arrays[0]), std::move(result.arrays[1]), {v[0], v[1]}, {v[2], v[3]}};
}

// The value last read, kept for the next matrix of the same key: gate_proj and up_proj read
// one input, and the layout lists them one after the other.
template <typename Value>
class KeptLast {
 public:
  template <typename Read>
  const Value& get(const std::string& key, Read read) {
    if (!value_ || key != key_) value_ = std::make_unique<Value>(read());
    key_ = key;
    return *value_;
  }

 private:
  std::string key_;
  std::unique_ptr<Value> value_;
};

// What a stop signal leaves behind when it comes `when`.
std::string unwritten(const std::string& when) { return when + ", project.h5 not written; rerun to resume"; }
std::string unwritten_after(size_t done, size_t total, const std::string& what) {
  return unwritten("after " + std::to_string(done) + " of " + std::to_string(total) + " " + what);
}

MatrixProjection project_matrix(const PatchedMatrix& matrix, const StageContext& context, const InputStatistics& input,
                                const OutputStatistics& output) {
  const int b = matrix.block_size, m = matrix.out_features, n = matrix.in_features;
  const MlpMatrixFloat32 teacher(context.model, matrix.layer, matrix.projection);
  const float* W = teacher.data();
  MatrixProjection result;
  result.data_free = project_frobenius(W, m, n, b);
  if (input.tokens() <= 0)
    fail(kExitInput, "project: no calibration tokens in capture.h5 for layer " + std::to_string(matrix.layer) + " " +
                         name_of(matrix.projection));
  result.data_aware = solve_least_squares(input, output, context.config.project.ridge * input.mean_gram_diagonal());
  result.data_free_error.frobenius = relative_frobenius_error(W, result.data_free.data(), m, n, b);
  result.data_aware_error.frobenius = relative_frobenius_error(W, result.data_aware.data(), m, n, b);
  result.data_free_error.output = statistics_output_error(input, output, result.data_free.data());
  result.data_aware_error.output = statistics_output_error(input, output, result.data_aware.data());
  return result;
}

// The MLP matrix (layer, projection) applied to x [T, n]: the student's projection where it
// is patched and already solved, else the teacher's weight.
void apply_matrix(const StageContext& context, const StudentLayout& layout,
                  const std::vector<std::vector<float>>& chosen, int layer, Projection projection, const float* x,
                  float* y, int T) {
  const LlamaConfig& config = context.model.config;
  const int m = mlp_out_features(config, projection), n = mlp_in_features(config, projection);
  for (size_t i = 0; i < layout.matrices.size(); ++i) {
    const PatchedMatrix& matrix = layout.matrices[i];
    if (matrix.layer != layer || matrix.projection != projection) continue;
    CirculantLinear op(m, n, matrix.block_size, chosen[i].data(), nullptr);
    op.forward(x, y, T);
    return;
  }
  linear_forward(x, MlpMatrixFloat32(context.model, layer, projection).data(), y, T, n, m);
}

// Statistics of down_proj fitted to the projected student's inputs silu(Cg x) * Cu x, for the
// matrices `downs` (indices into the layout), over the calibration prompts of capture.h5.
std::vector<std::pair<InputStatistics, OutputStatistics>> student_down_statistics(
    const StageContext& context, const CheckpointReader& capture, const StudentLayout& layout,
    const std::vector<std::vector<float>>& chosen, const std::vector<size_t>& downs) {
  const MpiContext& mpi = context.mpi;
  const int b = layout.block_size;
  const std::vector<int64_t> offsets = capture.read_int64("/prompts/offsets");
  const std::vector<int32_t> tokens = capture.read_int32("/tokens");
  const int C = int(capture.attr_int("/prompts", "calibration_count"));
  std::vector<std::vector<int>> prompts(C);
  size_t longest = 1;
  for (int i = 0; i < C; ++i) {
    prompts[i].assign(tokens.begin() + offsets[i], tokens.begin() + offsets[i + 1]);
    longest = std::max(longest, prompts[i].size());
  }
  const int batch_size = teacher_batch_prompts(context.config, context.model.config, longest);
  std::vector<std::pair<InputStatistics, OutputStatistics>> totals;
  for (size_t index : downs) {
    const PatchedMatrix& matrix = layout.matrices[index];
    totals.emplace_back(InputStatistics(matrix.in_features, b),
                        OutputStatistics(matrix.out_features, matrix.in_features, b));
  }
  Transformer teacher(context.model);
  std::vector<std::vector<int>> batch;
  for (const PromptRound& round : prompt_rounds(C, mpi.size(), mpi.rank(), batch_size)) {
    batch.assign(prompts.begin() + round.mine_begin, prompts.begin() + round.mine_end);
    if (!batch.empty()) teacher.forward_batch(batch);
    const int T = batch.empty() ? 0 : teacher.tokens();
    const int contributors = std::min(mpi.size(), (round.end - round.begin + batch_size - 1) / batch_size);
    for (size_t d = 0; d < downs.size(); ++d) {
      const PatchedMatrix& matrix = layout.matrices[downs[d]];
      const int I = matrix.in_features;
      InputStatistics input(I, b);
      OutputStatistics output(matrix.out_features, I, b);
      if (T > 0) {
        const float* x = teacher.mlp_input(matrix.layer, Projection::Gate);
        std::vector<float> gate(size_t(T) * I), up(size_t(T) * I), h(size_t(T) * I);
        apply_matrix(context, layout, chosen, matrix.layer, Projection::Gate, x, gate.data(), T);
        apply_matrix(context, layout, chosen, matrix.layer, Projection::Up, x, up.data(), T);
        swiglu_forward(gate.data(), up.data(), h.data(), long(T) * I);
        const MlpMatrixFloat32 down(context.model, matrix.layer, matrix.projection);
        accumulate_statistics(h.data(), T, context.config.project.chunk_tokens, &input, {down.data()}, {&output});
      }
      add_round_in_order(mpi.comm(), contributors, input.values.data(), totals[d].first.values.data(),
                         input.values.size());
      add_round_in_order(mpi.comm(), contributors, output.values.data(), totals[d].second.values.data(),
                         output.values.size());
    }
    stop_if_signalled(mpi.comm(), "project", unwritten("while recomputing down_proj inputs"));
  }
  for (auto& [input, output] : totals) {
    MPI_Bcast(input.values.data(), int(input.values.size()), MPI_DOUBLE, 0, mpi.comm());
    MPI_Bcast(output.values.data(), int(output.values.size()), MPI_DOUBLE, 0, mpi.comm());
  }
  return totals;
}

void write_projection(CheckpointWriter& file, const PatchedMatrix& matrix, ProjectionMethod method,
                      const MatrixProjection& projection) {
  const int b = matrix.block_size;
  const uint64_t p = block_count(matrix.out_features, b), q = block_count(matrix.in_features, b);
  const std::string base = matrix.dataset();
  const auto put = [&](const std::string& name, const std::vector<float>& c, const ProjectionError& errors) {
    file.write(base + "/" + name, {p, q, uint64_t(b)}, c.data());
    file.set_attr(base + "/" + name, "rel_frobenius_error", errors.frobenius);
    file.set_attr(base + "/" + name, "rel_output_error", errors.output);
  };
  put("c", projection.chosen(method), projection.chosen_error(method));
  put("c_frobenius", projection.data_free, projection.data_free_error);
  put("c_least_squares", projection.data_aware, projection.data_aware_error);
  file.set_attr(base + "/c", "block_size", int64_t(b));
  file.set_attr(base + "/c", "method", std::string(name_of(method)));
  file.set_attr(base + "/c", "m", int64_t(matrix.out_features));
  file.set_attr(base + "/c", "n", int64_t(matrix.in_features));
  if (matrix.out_features % b != 0)
    file.set_attr(base + "/c_least_squares", "note",
                  std::string("padded outputs of the last block row fitted as zeros"));
}

// The full input Gram of a matrix's inputs as capture summed it (capture.full_gram): all the
// whitened SVD needs.
InputGram captured_gram(const CheckpointReader& capture, const PatchedMatrix& matrix) {
  const std::string name = full_gram_dataset(matrix.layer, capture_input_source(matrix.projection));
  if (!capture.exists(name))
    fail(kExitCheckpoint,
         capture.path() + ": no " + name +
             ": a low-rank projection needs the full input Gram (capture.full_gram: true; rerun capture)");
  const std::vector<double> H = capture.read_double(name);
  if (H.size() != std::size_t(matrix.in_features) * matrix.in_features)
    fail(kExitCheckpoint, capture.path() + ": " + name + " has an unexpected shape");
  InputGram gram(matrix.in_features);
  gram.add_gram(H.data(), long(capture.attr_int(name, "tokens")));
  return gram;
}

// A matrix's full input Gram, kept for the next matrix of the same input.
const InputGram& kept_gram(KeptLast<InputGram>& kept, const CheckpointReader& capture, const PatchedMatrix& matrix) {
  return kept.get(capture_input_dataset(matrix.layer, matrix.projection),
                  [&] { return captured_gram(capture, matrix); });
}

// The output errors are over all tokens.
MatrixProjection project_lowrank(const PatchedMatrix& matrix, const StageContext& context, const InputGram& gram,
                                 bool with_svd = true) {
  const int m = matrix.out_features, n = matrix.in_features, r = matrix.rank;
  const MlpMatrixFloat32 teacher(context.model, matrix.layer, matrix.projection);
  const float* W = teacher.data();
  MatrixProjection result;
  const std::vector<double> H = gram.matrix();
  if (with_svd) {
    result.data_free = project_truncated_svd(W, m, n, r);
    result.data_free_error.frobenius = lowrank_relative_frobenius_error(W, result.data_free.data(), m, n, r);
    result.data_free_error.output = lowrank_relative_output_error(W, result.data_free.data(), m, n, r, H);
  }
  result.data_aware = project_whitened_svd(W, m, n, r, gram, context.config.project.ridge);
  result.data_aware_error.frobenius = lowrank_relative_frobenius_error(W, result.data_aware.data(), m, n, r);
  result.data_aware_error.output = lowrank_relative_output_error(W, result.data_aware.data(), m, n, r, H);
  return result;
}

// One projection's U{suffix} [m, r] and V{suffix} [r, n], errors and counts on U{suffix}.
void write_lowrank_factors(CheckpointWriter& file, const PatchedMatrix& matrix, int b, const std::string& suffix,
                           const std::vector<float>& params, const ProjectionError& errors) {
  const uint64_t m = matrix.out_features, n = matrix.in_features, r = matrix.rank;
  const std::string U = matrix.dataset() + "/U" + suffix;
  file.write(U, {m, r}, params.data());
  file.write(matrix.dataset() + "/V" + suffix, {r, n}, params.data() + m * r);
  file.set_attr(U, "rel_frobenius_error", errors.frobenius);
  file.set_attr(U, "rel_output_error", errors.output);
  file.set_attr(U, "block_size", int64_t(b));
  file.set_attr(U, "rank", int64_t(r));
  file.set_attr(U, "m", int64_t(m));
  file.set_attr(U, "n", int64_t(n));
  file.set_attr(U, "parameters", int64_t(lowrank_parameter_count(int(m), int(n), int(r))));
  file.set_attr(U, "circulant_parameters", int64_t(uint64_t(block_count(int(m), b)) * block_count(int(n), b) * b));
}

void write_lowrank_projection(CheckpointWriter& file, const PatchedMatrix& matrix, int b, ProjectionMethod method,
                              const MatrixProjection& projection) {
  write_lowrank_factors(file, matrix, b, "", projection.chosen(method), projection.chosen_error(method));
  write_lowrank_factors(file, matrix, b, "_svd", projection.data_free, projection.data_free_error);
  write_lowrank_factors(file, matrix, b, "_aware", projection.data_aware, projection.data_aware_error);
  file.set_attr(matrix.dataset() + "/U", "method", std::string(projection_variant(Structure::LowRank, method)));
}

void log_projection(const MpiContext& mpi, const PatchedMatrix& matrix, const MatrixProjection& projection) {
  const int b = matrix.block_size;
  char line[240];
  std::snprintf(
      line, sizeof line,
      "project: layer %d %-9s %dx%d b=%d  frobenius: rel_err %.4f out_err %.4f | least_squares: rel_err %.4f out_err %.4f",
      matrix.layer, name_of(matrix.projection), matrix.out_features, matrix.in_features, b,
      projection.data_free_error.frobenius, projection.data_free_error.output, projection.data_aware_error.frobenius,
      projection.data_aware_error.output);
  mpi.log(line);
}

void write_layout_attributes(CheckpointWriter& file, const StudentLayout& layout, ProjectionMethod method) {
  file.set_attr("/", "block_size", int64_t(layout.block_size));
  file.set_attr("/", "method", std::string(name_of(method)));
  file.set_attr("/", "structure", std::string(name_of(layout.structure)));
  file.set_attr("/", "mlp_params_dense", int64_t(layout.dense_parameters()));
  file.set_attr("/", "mlp_params_student", int64_t(layout.total_size));
  file.set_attr("/", "mlp_params_circulant", int64_t(layout.circulant_parameters()));
}

// The matrices `items` (indices into the layout) projected by `project`, shared out over the
// ranks (solve_dealt); `done` receives each one on every rank in layout order, round by round,
// and a stop signal is honoured between rounds.
using ProjectOne = std::function<MatrixProjection(std::size_t index)>;
using ProjectionDone = std::function<void(std::size_t index, MatrixProjection projection)>;
void project_shared(const MpiContext& mpi, const std::vector<std::size_t>& items, const std::string& what,
                    const ProjectOne& project, const ProjectionDone& done) {
  solve_dealt(
      mpi.comm(), items.size(), [&](std::size_t k) { return dealt(project(items[k])); },
      [&](std::size_t begin, std::size_t end, std::vector<DealtResult>& results) {
        for (std::size_t k = begin; k < end; ++k) done(items[k], undealt(std::move(results[k])));
        stop_if_signalled(mpi.comm(), "project", unwritten_after(end, items.size(), what));
      });
}

std::vector<std::size_t> all_matrices(const StudentLayout& layout) {
  std::vector<std::size_t> items(layout.matrices.size());
  for (std::size_t i = 0; i < items.size(); ++i) items[i] = i;
  return items;
}

// project.compare_lowrank: beside a circulant run's projections, the low-rank aware student
// of the same parameter count (U_aware, V_aware), so that evaluate can say which structure
// wins without a sweep. Only the whitened SVD: the truncated one is never the better start.
// Returns what the root attribute lowrank_comparison says: "aware", or why there is none.
std::string write_lowrank_comparison(CheckpointWriter& file, const StageContext& context,
                                     const CheckpointReader& capture) {
  const std::optional<StudentLayout> lowrank =
      StudentLayout::with_structure(context.config, context.model.config, Structure::LowRank);
  if (!lowrank) return "none: a matrix has no rank at this block size";
  for (const PatchedMatrix& matrix : lowrank->matrices)
    if (!capture.exists(full_gram_dataset(matrix.layer, capture_input_source(matrix.projection))))
      return "none: capture.h5 has no full input Gram for layer " + std::to_string(matrix.layer) + " " +
             name_of(matrix.projection) + " (width " + std::to_string(matrix.in_features) + "; capture.full_gram)";
  KeptLast<InputGram> grams;
  project_shared(
      context.mpi, all_matrices(*lowrank), "low-rank comparison matrices",
      [&](std::size_t i) {
        const PatchedMatrix& matrix = lowrank->matrices[i];
        return project_lowrank(matrix, context, kept_gram(grams, capture, matrix), /*with_svd=*/false);
      },
      [&](std::size_t i, const MatrixProjection& projection) {
        write_lowrank_factors(file, lowrank->matrices[i], lowrank->block_size, "_aware", projection.data_aware,
                              projection.data_aware_error);
      });
  file.set_attr("/", "mlp_params_lowrank", int64_t(lowrank->total_size));
  return "aware";
}

// The low-rank student: each matrix from the full input Gram capture stored.
void project_lowrank_stage(const StageContext& context, const CheckpointReader& capture, const StudentLayout& layout) {
  const MpiContext& mpi = context.mpi;
  const ProjectionMethod method = context.config.project.method;
  CheckpointWriter file(mpi.comm(), context.output_path(Stage::Project),
                        {"project", context.fingerprint(Stage::Project), context.config_yaml()});
  KeptLast<InputGram> grams;
  project_shared(
      mpi, all_matrices(layout), "matrices",
      [&](std::size_t i) {
        return project_lowrank(layout.matrices[i], context, kept_gram(grams, capture, layout.matrices[i]));
      },
      [&](std::size_t i, const MatrixProjection& projection) {
        const PatchedMatrix& matrix = layout.matrices[i];
        write_lowrank_projection(file, matrix, layout.block_size, method, projection);
        char line[240];
        std::snprintf(
            line, sizeof line,
            "project: layer %d %-9s %dx%d rank %d (%zu params)  svd: rel_err %.4f out_err %.4f | aware: rel_err %.4f out_err %.4f",
            matrix.layer, name_of(matrix.projection), matrix.out_features, matrix.in_features, matrix.rank, matrix.size,
            projection.data_free_error.frobenius, projection.data_free_error.output,
            projection.data_aware_error.frobenius, projection.data_aware_error.output);
        mpi.log(line);
      });
  write_layout_attributes(file, layout, method);
  stamp_student_model(file, context.model);
  file.commit();
}

// project.block_size auto: one block size a matrix, chosen by predicted sensitivity
// (stages/project/block_sensitivity.hpp), logged with what it predicts.
StudentLayout allocated_layout(const StageContext& context, const CheckpointReader& capture,
                               std::optional<BlockSizeChoice>& choice) {
  const Config& config = context.config;
  if (config.project.down_inputs == DownInputs::Student)
    fail(kExitUsage,
         "config: project.down_inputs: student is not supported with project.block_size auto (the "
         "sensitivities are of the teacher's inputs); use teacher");
  choice = choose_block_sizes(context, capture, StudentLayout::patched_matrices(config, context.model.config));
  const std::vector<int> sizes = choice->block_sizes();
  std::string counts;
  for (int b : choice->candidates) {
    const long chosen = std::count(sizes.begin(), sizes.end(), b);
    if (chosen) counts += (counts.empty() ? "" : ", ") + std::to_string(chosen) + " at b=" + std::to_string(b);
  }
  char line[320];
  std::snprintf(
      line, sizeof line,
      "project: block sizes for %gx: %s; %lld of %lld budget parameters, predicted KL %.4g (%ld passes, %ld positions, %.1f s)",
      config.project.compression, counts.c_str(), (long long)choice->allocation.parameters, (long long)choice->budget,
      choice->allocation.loss, choice->passes, choice->positions, choice->seconds);
  context.mpi.log(line);
  return StudentLayout::from_config(config, context.model.config, sizes);
}

}  // namespace

void project_stage(const StageContext& context) {
  refuse_capture_shortfall(context.config);
  const MpiContext& mpi = context.mpi;
  const CheckpointReader capture = context.open_output(Stage::Capture);
  const ProjectionMethod method = context.config.project.method;
  std::optional<BlockSizeChoice> choice;
  const StudentLayout layout = context.config.project.allocate_blocks
                                   ? allocated_layout(context, capture, choice)
                                   : StudentLayout::from_config(context.config, context.model.config);
  if (layout.structure == Structure::LowRank) return project_lowrank_stage(context, capture, layout);
  for (const PatchedMatrix& matrix : layout.matrices)
    if (matrix.block_size > 1 && !has_statistics(capture, matrix.block_size))
      fail(kExitCheckpoint, capture.path() + ": has no projection statistics for project.block_size " +
                                std::to_string(matrix.block_size) +
                                "; list it in capture.block_sizes and rerun capture");
  const bool student_down = context.config.project.down_inputs == DownInputs::Student;
  std::vector<MatrixProjection> projections(layout.matrices.size());
  std::vector<std::vector<float>> chosen(layout.matrices.size());
  std::vector<std::size_t> from_capture, downs;
  for (std::size_t i = 0; i < layout.matrices.size(); ++i)
    (student_down && layout.matrices[i].projection == Projection::Down ? downs : from_capture).push_back(i);
  const ProjectionDone keep = [&](std::size_t i, MatrixProjection projection) {
    log_projection(mpi, layout.matrices[i], projection);
    chosen[i] = projection.chosen(method);
    projections[i] = std::move(projection);
  };
  KeptLast<InputStatistics> inputs;
  project_shared(
      mpi, from_capture, "matrices",
      [&](std::size_t i) {
        const PatchedMatrix& matrix = layout.matrices[i];
        const int b = matrix.block_size;
        const Projection source = capture_input_source(matrix.projection);
        const std::string input_key = capture_input_dataset(matrix.layer, matrix.projection) + "@" + std::to_string(b);
        const InputStatistics& input = inputs.get(
            input_key, [&] { return read_input_statistics(capture, b, matrix.layer, source, matrix.in_features); });
        const OutputStatistics output = read_output_statistics(capture, b, matrix.layer, matrix.projection,
                                                               matrix.out_features, matrix.in_features);
        return project_matrix(matrix, context, input, output);
      },
      keep);
  if (!downs.empty()) {
    const auto statistics = student_down_statistics(context, capture, layout, chosen, downs);
    std::vector<std::size_t> slot(layout.matrices.size());  // a down matrix's place in `downs`
    for (std::size_t d = 0; d < downs.size(); ++d) slot[downs[d]] = d;
    project_shared(
        mpi, downs, "down_proj matrices",
        [&](std::size_t i) {
          const auto& [input, output] = statistics[slot[i]];
          return project_matrix(layout.matrices[i], context, input, output);
        },
        keep);
  }

  CheckpointWriter file(mpi.comm(), context.output_path(Stage::Project),
                        {"project", context.fingerprint(Stage::Project), context.config_yaml()});
  for (std::size_t i = 0; i < layout.matrices.size(); ++i)
    write_projection(file, layout.matrices[i], method, projections[i]);
  if (choice) write_block_size_choice(file, *choice, context.config);
  if (context.config.project.compare_lowrank) {
    const std::string comparison = write_lowrank_comparison(file, context, capture);
    file.set_attr("/", "lowrank_comparison", comparison);
    mpi.log("project: low-rank comparison at equal parameters: " + comparison);
  }
  write_layout_attributes(file, layout, method);
  stamp_student_model(file, context.model);
  file.commit();
}

}  // namespace circal

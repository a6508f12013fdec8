#pragma once
// The student: the teacher with chosen MLP matrices swapped for structured operators,
// block-circulant or low rank (`project.structure`). All parameters of a student live in ONE
// contiguous buffer (one allreduce, one checkpoint write); each patched matrix owns a slice
// of it: c [p, q, b] for a circulant, [U (m x r) | V (r x n)] for a low-rank matrix.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/config/config.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/lowrank/lowrank_linear.hpp"
#include "pipeline/model/transformer.hpp"

namespace circal {

struct PatchedMatrix {
  int layer;
  Projection projection;
  int out_features;             // m
  int in_features;              // n
  size_t offset;                // start of its parameters in the buffer
  size_t size;                  // circulant p * q * b; low rank r (m + n)
  int rank = 0;                 // low rank: r = lowrank_rank(m, n, b); 0 for a circulant
  int block_size = 0;           // b; low rank: the b its rank matches
  std::string dataset() const;  // "/layers/{layer}/{projection}"
};

// The layout of a student: which matrices, in which order (layer ascending, then gate, up,
// down), of which structure, at which block size each (a low-rank student takes the rank
// whose parameter count matches the circulant of that block size). Block sizes are one for
// all (project.block_size) or one a matrix (auto: allocated by project, read from project.h5);
// a matrix allocated block size 1 is kept dense: it is the teacher's, not in the layout.
struct StudentLayout {
  int block_size = 0;  // every matrix's, or 0 when they differ (allocated)
  Structure structure = Structure::Circulant;
  // Each matrix's slice is a whole [m, n] matrix applied densely: a quantized student's
  // dequantized weights (stages/common/quantized_student.hpp). `structure` is then unused.
  bool dense_slices = false;
  std::vector<PatchedMatrix> matrices;
  size_t total_size = 0;

  // block_sizes: one for each patched matrix (layer ascending, then gate, up, down), required
  // with project.block_size auto (else ignored: project.block_size for all); those of 1 are
  // left out (kept dense).
  static StudentLayout from_config(const Config& config, const LlamaConfig& model,
                                   const std::vector<int>& block_sizes = {});
  // The same matrices in `structure` at the same block size, when each has a place in it (a
  // low-rank one needs rank >= 1): the other structure a run compares itself with.
  static std::optional<StudentLayout> with_structure(const Config& config, const LlamaConfig& model,
                                                     Structure structure);
  // The patched matrices at project.block_size even when it is auto: for callers that need
  // only which matrices (capture, memory estimates) before project has allocated.
  static StudentLayout patched_matrices(const Config& config, const LlamaConfig& model);
  // The same matrices as whole dense slices (size m n each).
  static StudentLayout dense(const Config& config, const LlamaConfig& model);
  int first_layer() const;  // the lowest patched layer
  // Parameter counts of the patched matrices: dense m*n.
  size_t dense_parameters() const;
  // What the same matrices take as block-circulant students of their block sizes (p*q*b each,
  // m n at b = 1), whatever the structure: the count a low-rank student is matched to.
  size_t circulant_parameters() const;
};

struct StageContext;
// The run's student layout: at project.block_size, or with auto at the block sizes the run's
// project.h5 allocated (refused with kExitCheckpoint unless current).
StudentLayout run_student_layout(const StageContext& context);

// The block size of each patched matrix of an allocated student (project.block_size auto; 1 =
// kept dense), layer ascending then gate, up, down, as project.h5 records them
// (/allocation/block_size).
std::vector<int> allocated_block_sizes(const CheckpointReader& project);

// The datasets of one matrix's parameters under its group: circulant {"c"}, low rank
// {"U", "V"}; with a variant (a projection of project.h5: frobenius, least_squares, svd,
// aware) {"c_frobenius"}, {"U_svd", "V_svd"}.
std::vector<std::string> parameter_datasets(Structure structure, const std::string& variant = "");
// Their shapes, in the same order; the matrix's slice of the buffer is these, one after another.
std::vector<std::vector<uint64_t>> parameter_shapes(const StudentLayout& layout, const PatchedMatrix& matrix);

// Reads the parameter datasets (of `variant`) of every matrix of the layout into one buffer.
std::vector<float> read_student_parameters(const CheckpointReader& file, const StudentLayout& layout,
                                           const std::string& variant = "");
// Writes them back in the same layout (collective; every rank passes the same values):
// c [p, q, b], or U [m, r] and V [r, n].
void write_student_parameters(CheckpointWriter& file, const StudentLayout& layout, const float* params,
                              const std::string& variant = "");

// Why project.h5 holds no student of the other structure `kind`, or "" when it does: only the
// low-rank aware projection beside a circulant run (project.compare_lowrank).
std::string comparison_missing(const CheckpointReader& project, StudentKind kind);

// The matrix [m, n] a patched matrix stands for, from its slice of params: the circulant's
// entries placed by block_layout.hpp (copies, no arithmetic), or U V by one sgemm.
std::vector<float> student_dense_matrix(const StudentLayout& layout, const PatchedMatrix& matrix, const float* params);

// Installs the layout's operators (CirculantLinear or LowRankLinear) over `params` (and
// `grads`, may be null) into a Transformer; restores the dense teacher matrices when destroyed.
class StudentModel {
 public:
  StudentModel(Transformer& model, const StudentLayout& layout, float* params, float* grads);
  ~StudentModel();
  StudentModel(const StudentModel&) = delete;
  StudentModel& operator=(const StudentModel&) = delete;
  // Call after params changed so operators refresh their cached spectra.
  void parameters_changed();

 private:
  Transformer& model_;
  const StudentLayout& layout_;
  std::vector<std::unique_ptr<LinearOperator>> ops_;
  std::vector<CirculantLinear*> circulants_;  // those of ops_ with a cache to refresh
};

// The operator of one matrix of `layout` over its slice of params/grads (grads may be null).
std::unique_ptr<LinearOperator> make_student_operator(const StudentLayout& layout, const PatchedMatrix& matrix,
                                                      const float* params, float* grads);

}  // namespace circal

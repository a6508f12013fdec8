#pragma once
// The quantized students (DESIGN section 8.4): the teacher's patched matrices quantized by
// RTN or GPTQ at one bit width of quantize.bits, on quantize.group_size columns a group, and
// dequantized to float32, which the dense GEMM then runs (a simulation of the quantized
// model's quality, not of its speed). GPTQ reads each matrix's full input Gram from
// capture.h5 (capture.full_gram). calibrated_rtn is circulant and quantization combined: the
// calibrated circulant's parameters c [p, q, b], read as a [p, q b] matrix, RTN-quantized
// the same way and run through the FFT operator; recalibrated_rtn is the same codes and zero
// points with the scales calibrate re-calibrated (calibrate.h5). Evaluate and export build them here.
#include <cstddef>
#include <string>
#include <vector>

#include "pipeline/quantize/weight_quantization.hpp"
#include "stages/common/stage.hpp"
#include "stages/common/student.hpp"

namespace circal {

struct QuantizedStudent {
  StudentKind kind;  // Rtn | Gptq | CalibratedRtn | RecalibratedRtn
  int bits;
  StudentLayout layout;       // dense slices (rtn, gptq) or the run's circulant layout
  std::vector<float> params;  // the dequantized weights, or the dequantized c
  std::size_t stored_bytes;   // what the packed codes, scales, zero points (and map) take
  // 8 stored bytes / the patched matrices' weights (sum of m n).
  double bits_per_patched_weight() const { return 8.0 * double(stored_bytes) / double(layout.dense_parameters()); }
  std::string name() const { return quantized_student_name(kind, bits); }
  static std::string quantized_student_name(StudentKind kind, int bits);  // "gptq_4bit"
};

// The circulant's c of every matrix of `layout` (c [p, q, b] read as a [p, q b] matrix)
// RTN-quantized on `grid`, in the layout's order; what calibrated_rtn and recalibrated_rtn store.
std::vector<QuantizedMatrix> quantize_circulant(const StudentLayout& layout, const float* c,
                                                const QuantizationGrid& grid);
// Writes s (q - z) of every matrix into c (the layout's buffer).
void dequantize_circulant(const StudentLayout& layout, const std::vector<QuantizedMatrix>& quantized, float* c);
// calibrate.h5's re-calibrated half scales [p, groups] of one matrix at one width
// (recalibrated_rtn, DESIGN section 8.4): "/recalibrated_rtn/4bit/layers/3/gate_proj/scales".
std::string recalibrated_scales_dataset(int bits, const PatchedMatrix& matrix);

// The bytes of the student's stored form, without quantizing (shapes and options decide).
std::size_t quantized_student_bytes(const Config& config, const StudentLayout& layout, StudentKind kind, int bits);

// Collective over context.mpi: matrix k is quantized on rank k mod R (solve_dealt) and
// gathered, so every rank holds the whole student. GPTQ without a stored full Gram is a CircalError
// (kExitCheckpoint) naming capture.full_gram; calibrated_rtn and recalibrated_rtn need
// project.structure circulant (kExitUsage) and calibrate.h5 (recalibrated_rtn: with its
// re-calibrated scales, else kExitCheckpoint).
QuantizedStudent quantize_student(const StageContext& context, StudentKind kind, int bits);

}  // namespace circal

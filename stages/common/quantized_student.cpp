#include "stages/common/quantized_student.hpp"

#include <optional>

#include "pipeline/base/errors.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/quantize/gptq.hpp"
#include "pipeline/runtime/dealt_work.hpp"
#include "stages/common/capture_layout.hpp"
#include "stages/common/capture_statistics.hpp"

namespace circal {

namespace {

GptqOptions gptq_options(const Config& config, int bits) {
  return {{bits, config.quantize.group_size}, config.quantize.percdamp, config.quantize.act_order};
}

// H = X^T X of the matrix's inputs as capture summed them (the teacher's activations).
std::vector<double> captured_input_gram(const CheckpointReader& capture, const PatchedMatrix& matrix) {
  const std::string name = full_gram_dataset(matrix.layer, capture_input_source(matrix.projection));
  if (!capture.exists(name))
    fail(kExitCheckpoint, capture.path() + ": no " + name +
                              ": the gptq student needs the full input Gram (capture.full_gram: true; rerun capture)");
  std::vector<double> H = capture.read_double(name);
  if (H.size() != std::size_t(matrix.in_features) * matrix.in_features)
    fail(kExitCheckpoint, capture.path() + ": " + name + " has an unexpected shape");
  return H;
}

}  // namespace

std::string QuantizedStudent::quantized_student_name(StudentKind kind, int bits) {
  return std::string(name_of(kind)) + "_" + std::to_string(bits) + "bit";
}

std::size_t quantized_student_bytes(const Config& config, const StudentLayout& layout, StudentKind kind, int bits) {
  const QuantizationGrid grid{bits, config.quantize.group_size};
  const bool group_map = kind == StudentKind::Gptq && config.quantize.act_order;
  std::size_t bytes = 0;
  for (const PatchedMatrix& matrix : layout.matrices) {
    if (layout.dense_slices) {
      bytes += quantized_storage_bytes(matrix.out_features, matrix.in_features, grid, group_map);
    } else {
      const auto shape = parameter_shapes(layout, matrix).front();  // c [p, q, b]
      bytes += quantized_storage_bytes(int(shape[0]), int(shape[1] * shape[2]), grid, false);
    }
  }
  return bytes;
}

std::vector<QuantizedMatrix> quantize_circulant(const StudentLayout& layout, const float* c,
                                                const QuantizationGrid& grid) {
  std::vector<QuantizedMatrix> quantized;
  for (const PatchedMatrix& matrix : layout.matrices) {
    const auto shape = parameter_shapes(layout, matrix).front();
    quantized.push_back(quantize_rtn(c + matrix.offset, int(shape[0]), int(shape[1] * shape[2]), grid));
  }
  return quantized;
}

void dequantize_circulant(const StudentLayout& layout, const std::vector<QuantizedMatrix>& quantized, float* c) {
  for (std::size_t k = 0; k < layout.matrices.size(); ++k) {
    const std::vector<float> values = quantized[k].dequantized();
    std::copy(values.begin(), values.end(), c + layout.matrices[k].offset);
  }
}

std::string recalibrated_scales_dataset(int bits, const PatchedMatrix& matrix) {
  return "/" + std::string(name_of(StudentKind::RecalibratedRtn)) + "/" + std::to_string(bits) + "bit" +
         matrix.dataset() + "/scales";
}

namespace {

// The calibrated circulant's c, each matrix's [p, q, b] quantized as a [p, q b] matrix; with
// recalibrated_rtn the scales are calibrate's re-calibrated ones on the same codes.
QuantizedStudent quantize_calibrated(const StageContext& context, StudentKind kind, int bits) {
  const Config& config = context.config;
  StudentLayout layout = run_student_layout(context);
  if (layout.structure != Structure::Circulant)
    fail(kExitUsage, "student " + std::string(name_of(kind)) +
                         " quantizes the calibrated circulant's c: project.structure is " +
                         std::string(name_of(layout.structure)));
  const CheckpointReader calibrated = context.open_output(Stage::Calibrate);
  std::vector<float> c = read_student_parameters(calibrated, layout);
  std::vector<QuantizedMatrix> quantized = quantize_circulant(layout, c.data(), {bits, config.quantize.group_size});
  if (kind == StudentKind::RecalibratedRtn)
    for (std::size_t k = 0; k < layout.matrices.size(); ++k) {
      const std::string name = recalibrated_scales_dataset(bits, layout.matrices[k]);
      if (!calibrated.exists(name))
        fail(kExitCheckpoint,
             calibrated.path() + ": no " + name + ": rerun calibrate with recalibrated_rtn in evaluate.students");
      std::vector<float> scales = calibrated.read_float(name);
      if (scales.size() != quantized[k].scales.size())
        fail(kExitCheckpoint, calibrated.path() + ": " + name + " has an unexpected shape");
      quantized[k].scales = std::move(scales);
    }
  dequantize_circulant(layout, quantized, c.data());
  const std::size_t bytes = quantized_student_bytes(config, layout, kind, bits);
  return {kind, bits, std::move(layout), std::move(c), bytes};
}

}  // namespace

QuantizedStudent quantize_student(const StageContext& context, StudentKind kind, int bits) {
  if (!student_source(kind).quantized) fail(kExitInternal, std::string("not a quantized student: ") + name_of(kind));
  if (kind == StudentKind::CalibratedRtn || kind == StudentKind::RecalibratedRtn)
    return quantize_calibrated(context, kind, bits);
  const Config& config = context.config;
  QuantizedStudent student{kind, bits, StudentLayout::dense(config, context.model.config), {}, 0};
  student.params.resize(student.layout.total_size);
  student.stored_bytes = quantized_student_bytes(config, student.layout, kind, bits);
  std::optional<CheckpointReader> capture;
  if (kind == StudentKind::Gptq) capture.emplace(context.open_output(Stage::Capture));
  // Matrix k on rank k mod R, gathered everywhere; each round's results moved into params.
  solve_dealt(
      context.mpi.comm(), student.layout.matrices.size(),
      [&](std::size_t k) {
        const PatchedMatrix& matrix = student.layout.matrices[k];
        const int m = matrix.out_features, n = matrix.in_features;
        const MlpMatrixFloat32 teacher(context.model, matrix.layer, matrix.projection);
        const float* W = teacher.data();
        const QuantizedMatrix q =
            kind == StudentKind::Gptq
                ? quantize_gptq(W, m, n, captured_input_gram(*capture, matrix), gptq_options(config, bits))
                : quantize_rtn(W, m, n, {bits, config.quantize.group_size});
        return DealtResult{{q.dequantized()}, {}};
      },
      [&](std::size_t begin, std::size_t end, std::vector<DealtResult>& results) {
        for (std::size_t k = begin; k < end; ++k) {
          std::vector<float>& dequantized = results[k].arrays.front();
          std::copy(dequantized.begin(), dequantized.end(), student.params.data() + student.layout.matrices[k].offset);
          std::vector<float>().swap(dequantized);
        }
      });
  return student;
}

}  // namespace circal

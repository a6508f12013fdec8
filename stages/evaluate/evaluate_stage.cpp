// evaluate: teacher vs every student on the held-out test split (DESIGN section 5). Test
// prompt i runs on rank i % R: one teacher forward and greedy continuation, then each
// student's; per-position metrics go to evaluate.h5 (written in parallel), and rank 0 reads
// the committed file back to compute metrics.json, report.md and the plots, so the
// aggregates are by construction a function of the stored arrays.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/atomic_text_file.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/metrics/logit_metrics.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/runtime/stop_signal.hpp"
#include "stages/common/quantized_student.hpp"
#include "stages/common/student.hpp"
#include "stages/common/zeroed_student.hpp"
#include "stages/evaluate/evaluate_stage.hpp"
#include "stages/evaluate/evaluation_file.hpp"
#include "stages/evaluate/evaluation_markdown.hpp"
#include "stages/evaluate/evaluation_plots.hpp"

namespace circal {

namespace {

// The teacher's output on one prompt, computed once and compared against every student.
struct TeacherOutput {
  std::vector<float> logits;  // [T, vocab]
  std::vector<int> greedy;    // generate_tokens appended ids
};

// A student to evaluate: its name and, for structured students, its parameters and layout.
// A quantized one (rtn, gptq) has only its bit width here: it is built when its turn comes
// (quantize_student, collective), so one student's dense matrices are in memory at a time.
struct StudentSpec {
  StudentKind kind;
  std::vector<float> params;              // empty for dense, zeroed and quantized
  const StudentLayout* layout = nullptr;  // the run's, or the other structure's (a comparison)
  int bits = 0;                           // quantized: the bit width
  std::string name() const {
    return bits ? QuantizedStudent::quantized_student_name(kind, bits) : std::string(name_of(kind));
  }
};

std::vector<StudentSpec> load_students(const StageContext& context, const StudentLayout& layout,
                                       const std::optional<StudentLayout>& other) {
  const Config& config = context.config;
  // Evaluation depends on the projection even when no listed student uses it (fingerprints
  // chain through it), so a missing or stale project.h5 is refused up front.
  const CheckpointReader project = context.open_output(Stage::Project);
  std::vector<StudentSpec> students;
  const std::string calibrated_path = context.output_path(Stage::Calibrate);
  const bool calibrated_exists = config.calibrate.enabled && std::filesystem::exists(calibrated_path);
  const std::string no_calibrated =
      config.calibrate.enabled ? calibrated_path + " does not exist" : "calibrate.enabled is false";
  for (StudentKind kind : evaluated_students(config)) {
    const std::string name = name_of(kind);
    const StudentSource source = student_source(kind);
    if (source.quantized && source.calibrated && (layout.structure != source.structure || !calibrated_exists)) {
      context.mpi.log("evaluate: student " + name + " skipped (" +
                      (layout.structure != source.structure
                           ? "project.structure is " + std::string(name_of(layout.structure))
                           : no_calibrated) +
                      ")");
    } else if (source.quantized) {
      for (int bits : config.quantize.bits) students.push_back({kind, {}, &layout, bits});
    } else if (!source.has_parameters) {
      students.push_back({kind, {}, &layout});
    } else if (source.structure != layout.structure) {
      const std::string missing = other ? comparison_missing(project, kind) : "no such student at this block size";
      if (missing.empty()) {
        students.push_back({kind, read_student_parameters(project, *other, source.variant), &*other});
      } else {
        context.mpi.log("evaluate: student " + name + " skipped (project.structure is " + name_of(layout.structure) +
                        "; " + missing + ")");
      }
    } else if (!source.calibrated) {
      students.push_back({kind, read_student_parameters(project, layout, source.variant), &layout});
    } else {
      if (!calibrated_exists) {
        context.mpi.log("evaluate: student calibrated skipped (" + no_calibrated + ")");
        continue;
      }
      const CheckpointReader calibrated = context.open_output(Stage::Calibrate);
      students.push_back({kind, read_student_parameters(calibrated, layout), &layout});
    }
  }
  return students;
}

// Swaps the student's operators into the model for its lifetime (nothing for dense); a
// quantized student is built here (collective).
class InstalledStudent {
 public:
  InstalledStudent(const StageContext& context, Transformer& model, StudentSpec& spec) {
    if (spec.kind == StudentKind::Zeroed) {
      zeroed_ = std::make_unique<ZeroedStudent>(model, *spec.layout);
      bits_ = 0;
    } else if (spec.bits) {
      quantized_ = std::make_unique<QuantizedStudent>(quantize_student(context, spec.kind, spec.bits));
      student_ = std::make_unique<StudentModel>(model, quantized_->layout, quantized_->params.data(), nullptr);
      bits_ = quantized_->bits_per_patched_weight();
    } else if (!spec.params.empty()) {
      student_ = std::make_unique<StudentModel>(model, *spec.layout, spec.params.data(), nullptr);
      bits_ = 32.0 * double(spec.layout->total_size) / double(spec.layout->dense_parameters());
    }
  }
  // 8 x the bytes of the patched matrices / their weights, float32 parameters at 32 bits.
  double bits_per_patched_weight() const { return bits_; }

 private:
  std::unique_ptr<ZeroedStudent> zeroed_;
  std::unique_ptr<QuantizedStudent> quantized_;
  std::unique_ptr<StudentModel> student_;  // declared last: uninstalled first
  double bits_ = 32;
};

// Metrics of every position of one prompt: y is the next prompt token, or the teacher's
// argmax at the last position.
std::vector<std::vector<double>> position_metrics(const float* teacher, const float* student,
                                                  const std::vector<int>& tokens, int vocab,
                                                  const std::vector<int>& topk) {
  const size_t T = tokens.size();
  std::vector<std::vector<double>> columns(position_metric_names(topk).size(), std::vector<double>(T));
  for (size_t t = 0; t < T; ++t) {
    const float* zT = teacher + t * vocab;
    const float* zS = student + t * vocab;
    const int y = t + 1 < T ? tokens[t + 1] : argmax(zT, vocab);
    const PositionMetrics m = compare_logits(zT, zS, vocab, topk, y);
    std::vector<double> row = {m.kl, m.cosine, m.l2, m.mse, m.top1};
    row.insert(row.end(), m.topk_overlap.begin(), m.topk_overlap.end());
    row.insert(row.end(), {m.delta_p, m.teacher_nll, m.student_nll});
    for (size_t c = 0; c < row.size(); ++c) columns[c][t] = row[c];
  }
  return columns;
}

void set_drift(const std::vector<int>& teacher, const std::vector<int>& student, PromptEvaluation& result) {
  const size_t n = teacher.size();
  size_t matches = 0, first = n;
  for (size_t j = 0; j < n; ++j) {
    const bool same = j < student.size() && student[j] == teacher[j];
    matches += same;
    if (!same && first == n) first = j;
  }
  result.match_rate = n ? double(matches) / double(n) : 1.0;
  result.first_divergence = double(first);
}

// Each patched matrix's block size: the layout's, or 1 for one an allocation kept dense.
std::vector<CompressionCounts::PatchedBlock> patched_blocks(const Config& config, const LlamaConfig& model,
                                                            const StudentLayout& layout) {
  std::vector<CompressionCounts::PatchedBlock> blocks;
  for (const PatchedMatrix& matrix : StudentLayout::patched_matrices(config, model).matrices) {
    const auto in_layout = std::find_if(layout.matrices.begin(), layout.matrices.end(), [&](const PatchedMatrix& m) {
      return m.layer == matrix.layer && m.projection == matrix.projection;
    });
    blocks.push_back({matrix.layer, matrix.projection, in_layout == layout.matrices.end() ? 1 : in_layout->block_size});
  }
  return blocks;
}

CompressionCounts compression_counts(const Config& config, const LlamaConfig& model, const StudentLayout& layout,
                                     const std::optional<StudentLayout>& other) {
  uint64_t dense = 0;
  for (Projection projection : kProjections)
    dense +=
        uint64_t(model.num_hidden_layers) * mlp_out_features(model, projection) * mlp_in_features(model, projection);
  CompressionCounts counts{dense, dense - layout.dense_parameters() + layout.circulant_parameters()};
  counts.structure = layout.structure;
  counts.mlp_params_student = dense - layout.dense_parameters() + layout.total_size;
  const StudentLayout* lowrank = layout.structure == Structure::LowRank ? &layout : other ? &*other : nullptr;
  if (lowrank) counts.mlp_params_lowrank = dense - lowrank->dense_parameters() + lowrank->total_size;
  counts.allocated = config.project.allocate_blocks;
  counts.blocks = patched_blocks(config, model, layout);
  return counts;
}

LocalEvaluation evaluate_shard(const StageContext& context, const TestSplit& split, const StudentLayout& layout,
                               const std::optional<StudentLayout>& other, std::vector<StudentSpec>& students) {
  const EvaluateConfig& config = context.config.evaluate;
  Transformer model(context.model);
  const int vocab = model.config().vocab_size;
  std::map<int, TeacherOutput> teacher;
  for (int i : context.mpi.shard(split.size()))
    teacher[i].greedy = model.generate_greedy(split.tokens[i], config.generate_tokens, &teacher[i].logits);
  LocalEvaluation local{
      {}, config.topk, config.generate_tokens, {}, compression_counts(context.config, model.config(), layout, other)};
  std::vector<float> logits;
  for (StudentSpec& spec : students) {
    const InstalledStudent installed(context, model, spec);
    std::map<int, PromptEvaluation>& results = local.results.emplace_back();
    // The dense student is the teacher: its pass would repeat the teacher's bit for bit (a
    // pass is a function of the weights and tokens, tests/unit/test_forward_fast_paths.cpp),
    // so the teacher's output stands in for it: one model forward fewer at any scale.
    const bool is_teacher = spec.kind == StudentKind::Dense;
    for (const auto& [i, out] : teacher) {
      const std::vector<int> greedy =
          is_teacher ? out.greedy : model.generate_greedy(split.tokens[i], config.generate_tokens, &logits);
      PromptEvaluation& result = results[i];
      result.metrics = position_metrics(out.logits.data(), is_teacher ? out.logits.data() : logits.data(),
                                        split.tokens[i], vocab, config.topk);
      set_drift(out.greedy, greedy, result);
    }
    local.students.push_back(spec.name());
    local.bits_per_patched_weight.push_back(installed.bits_per_patched_weight());
    stop_if_signalled(context.mpi.comm(), "evaluate",
                      "after student " + spec.name() + ", evaluate.h5 not written; rerun to resume");
  }
  return local;
}

// Rank 0: aggregates from the committed evaluate.h5, writes metrics.json, report.md, plots.
void write_reports(const StageContext& context) {
  const std::string path = context.output_path(Stage::Evaluate);
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  const CheckpointReader file = CheckpointReader::open(path, "evaluate", context.fingerprint(Stage::Evaluate));
  const EvaluationTables tables = read_evaluation_tables(file);
  const EvaluateConfig& config = context.config.evaluate;
  const BootstrapOptions bootstrap{config.bootstrap_samples, config.seed, 0.95};
  const Json metrics = metrics_json(tables, read_compression(file), bootstrap, context.fingerprint(Stage::Evaluate));
  std::optional<CalibrationHistory> calibration;
  if (context.config.calibrate.enabled && std::filesystem::exists(context.output_path(Stage::Calibrate)))
    calibration = read_calibration_history(context.open_output(Stage::Calibrate));
  const std::vector<std::string> plots = write_evaluation_plots(tables, metrics, calibration ? &*calibration : nullptr,
                                                                (dir / "plots").string(), std::cerr);
  write_file_atomically((dir / "report.md").string(), report_markdown(metrics, plots));
  // Last: its fingerprint is what tells a rerun that every report of this evaluate.h5 exists.
  write_file_atomically((dir / "metrics.json").string(), metrics.dump(2) + "\n");
  std::cout << "\n"
            << headline_table(metrics) << "\n"
            << metrics["structure_comparison"]["sentence"].get<std::string>()
            << "\nreport: " << (dir / "report.md").string() << "\n"
            << std::flush;
}

std::string seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(b - a).count());
  return text;
}

}  // namespace

bool evaluation_reports_current(const std::string& evaluate_h5, const std::string& fingerprint) {
  std::ifstream in(std::filesystem::path(evaluate_h5).parent_path() / "metrics.json");
  const Json metrics = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  return metrics.is_object() && metrics.value("fingerprint", "") == fingerprint;
}

void evaluate_stage(const StageContext& context) {
  const LlamaConfig& model = context.model.config;
  const TestSplit split = read_test_data(context.config, context.tokenizer, model);
  const StudentLayout layout = run_student_layout(context);
  const std::optional<StudentLayout> other = StudentLayout::with_structure(
      context.config, model, layout.structure == Structure::LowRank ? Structure::Circulant : Structure::LowRank);
  std::vector<StudentSpec> students = load_students(context, layout, other);
  context.mpi.log("evaluate: " + std::to_string(split.size()) + " test prompts, " +
                  std::to_string(split.offsets.back()) + " positions, " + std::to_string(students.size()) +
                  " students");
  const auto start = std::chrono::steady_clock::now();
  const LocalEvaluation local = evaluate_shard(context, split, layout, other, students);
  const auto computed = std::chrono::steady_clock::now();
  {
    CheckpointWriter file(context.mpi.comm(), context.output_path(Stage::Evaluate),
                          {"evaluate", context.fingerprint(Stage::Evaluate), context.config_yaml()});
    write_evaluation_file(file, context.mpi, split, local);
    file.commit();
  }
  const auto written = std::chrono::steady_clock::now();
  context.mpi.log("evaluate: models " + seconds_between(start, computed) + ", evaluate.h5 " +
                  seconds_between(computed, written));
  run_on_root_and_agree(context.mpi.comm(), kExitIo, [&] { write_reports(context); });
}

}  // namespace circal

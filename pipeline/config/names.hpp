#pragma once
// The words the config and the command line speak, each fixed choice an enum with its names in
// ONE table (EnumNames<Enum> below). Inside circal choices travel as enums; only the config and
// command-line edges turn text into them (parse_name) and reports turn them back (name_of).
#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace circal {

// An enum's names: EnumNames<Enum>::names lists every value once, in the order lists and docs
// show them; `what` says what a value is, for messages ("unknown student structure 'x'").
template <class Enum>
struct EnumNames;
template <class Enum>
inline constexpr auto kNames = EnumNames<Enum>::names;

enum class Projection { Gate, Up, Down };  // in the order of the MLP's forward
template <>
struct EnumNames<Projection> {
  static constexpr const char* what = "MLP projection";
  static constexpr std::array names{std::pair{Projection::Gate, "gate_proj"}, std::pair{Projection::Up, "up_proj"},
                                    std::pair{Projection::Down, "down_proj"}};
};

// The structure of a student matrix (`project.structure`): block-circulant c [p, q, b], or
// low rank U [m, r] V [r, n] at the circulant's parameter count (DESIGN section 8.2).
enum class Structure { Circulant, LowRank };
template <>
struct EnumNames<Structure> {
  static constexpr const char* what = "student structure";
  static constexpr std::array names{std::pair{Structure::Circulant, "circulant"},
                                    std::pair{Structure::LowRank, "lowrank"}};
};

enum class StudentKind {
  Dense,
  Zeroed,
  Frobenius,
  LeastSquares,
  Calibrated,
  LowRankSvd,
  LowRankAware,
  LowRankCalibrated,
  Rtn,
  Gptq,
  CalibratedRtn,
  RecalibratedRtn
};
template <>
struct EnumNames<StudentKind> {
  static constexpr const char* what = "student";
  static constexpr std::array names{std::pair{StudentKind::Dense, "dense"},
                                    std::pair{StudentKind::Zeroed, "zeroed"},
                                    std::pair{StudentKind::Frobenius, "frobenius"},
                                    std::pair{StudentKind::LeastSquares, "least_squares"},
                                    std::pair{StudentKind::Calibrated, "calibrated"},
                                    std::pair{StudentKind::LowRankSvd, "lowrank_svd"},
                                    std::pair{StudentKind::LowRankAware, "lowrank_aware"},
                                    std::pair{StudentKind::LowRankCalibrated, "lowrank_calibrated"},
                                    std::pair{StudentKind::Rtn, "rtn"},
                                    std::pair{StudentKind::Gptq, "gptq"},
                                    std::pair{StudentKind::CalibratedRtn, "calibrated_rtn"},
                                    std::pair{StudentKind::RecalibratedRtn, "recalibrated_rtn"}};
};

// data.source: the prompt files (prompts.*) or windows of text corpora.
enum class DataSource { Prompts, Corpus };
template <>
struct EnumNames<DataSource> {
  static constexpr const char* what = "data source";
  static constexpr std::array names{std::pair{DataSource::Prompts, "prompts"}, std::pair{DataSource::Corpus, "corpus"}};
};

// data.test_source: as data.source, or one of its values for the test data alone.
enum class TestSource { Same, Prompts, Corpus };
template <>
struct EnumNames<TestSource> {
  static constexpr const char* what = "test data source";
  static constexpr std::array names{std::pair{TestSource::Same, "same"}, std::pair{TestSource::Prompts, "prompts"},
                                    std::pair{TestSource::Corpus, "corpus"}};
};

// capture.logits_format: every logit, or the top k per position.
enum class LogitsFormat { Full, TopK };
template <>
struct EnumNames<LogitsFormat> {
  static constexpr const char* what = "logits format";
  static constexpr std::array names{std::pair{LogitsFormat::Full, "full"}, std::pair{LogitsFormat::TopK, "topk"}};
};

// capture.full_gram: YAML's true/false, or auto (stores_full_gram in config.hpp decides).
enum class FullGramChoice { Auto, Yes, No };
template <>
struct EnumNames<FullGramChoice> {
  static constexpr const char* what = "full Gram choice";
  static constexpr std::array names{std::pair{FullGramChoice::Auto, "auto"}, std::pair{FullGramChoice::Yes, "true"},
                                    std::pair{FullGramChoice::No, "false"}};
};

// project.method: data-free, or least squares on captured inputs.
enum class ProjectionMethod { Frobenius, LeastSquares };
template <>
struct EnumNames<ProjectionMethod> {
  static constexpr const char* what = "projection method";
  static constexpr std::array names{std::pair{ProjectionMethod::Frobenius, "frobenius"},
                                    std::pair{ProjectionMethod::LeastSquares, "least_squares"}};
};

// project.down_inputs: whose activations the down_proj fit sees.
enum class DownInputs { Teacher, Student };
template <>
struct EnumNames<DownInputs> {
  static constexpr const char* what = "down_proj input";
  static constexpr std::array names{std::pair{DownInputs::Teacher, "teacher"},
                                    std::pair{DownInputs::Student, "student"}};
};

// calibrate.schedule: the learning rate after warm-up.
enum class ScheduleKind { Cosine, Constant };
template <>
struct EnumNames<ScheduleKind> {
  static constexpr const char* what = "learning-rate schedule";
  static constexpr std::array names{std::pair{ScheduleKind::Cosine, "cosine"},
                                    std::pair{ScheduleKind::Constant, "constant"}};
};

// calibrate.recompute: activation checkpointing of the backward.
enum class Recompute { Off, On, Auto };
template <>
struct EnumNames<Recompute> {
  static constexpr const char* what = "recompute choice";
  static constexpr std::array names{std::pair{Recompute::Off, "off"}, std::pair{Recompute::On, "on"},
                                    std::pair{Recompute::Auto, "auto"}};
};

// runtime.fftw_planner: FFTW_ESTIMATE or FFTW_MEASURE.
enum class FftPlanner { Estimate, Measure };
template <>
struct EnumNames<FftPlanner> {
  static constexpr const char* what = "FFTW planner";
  static constexpr std::array names{std::pair{FftPlanner::Estimate, "estimate"},
                                    std::pair{FftPlanner::Measure, "measure"}};
};

// cluster.launcher: how Slurm jobs start ranks.
enum class Launcher { Mpirun, Srun };
template <>
struct EnumNames<Launcher> {
  static constexpr const char* what = "launcher";
  static constexpr std::array names{std::pair{Launcher::Mpirun, "mpirun"}, std::pair{Launcher::Srun, "srun"}};
};

// `circal export --format`: a Hugging Face folder of the teacher's architecture with the
// student's matrices expanded to dense, or the compact one holding their parameters instead.
enum class ExportFormat { Dense, Circulant };
template <>
struct EnumNames<ExportFormat> {
  static constexpr const char* what = "export format";
  static constexpr std::array names{std::pair{ExportFormat::Dense, "dense"},
                                    std::pair{ExportFormat::Circulant, "circulant"}};
};

// `circal export --dtype`: the floating-point type of the written weights.
enum class WeightDtype { F32, BF16, F16 };
template <>
struct EnumNames<WeightDtype> {
  static constexpr const char* what = "weight dtype";
  static constexpr std::array names{std::pair{WeightDtype::F32, "f32"}, std::pair{WeightDtype::BF16, "bf16"},
                                    std::pair{WeightDtype::F16, "f16"}};
};

// model.resident_dtype: the teacher's matrices kept as float32, or in their file dtype
// (BF16/F16) and converted a matrix at a time just before each GEMM; auto picks file when
// float32 would not fit runtime.node_memory_gb.
enum class ResidentDtype { Auto, Float32, File };
template <>
struct EnumNames<ResidentDtype> {
  static constexpr const char* what = "resident dtype";
  static constexpr std::array names{std::pair{ResidentDtype::Auto, "auto"},
                                    std::pair{ResidentDtype::Float32, "float32"},
                                    std::pair{ResidentDtype::File, "file"}};
};

// Every value of Enum, in table order.
template <class Enum>
constexpr auto all_of() {
  std::array<Enum, kNames<Enum>.size()> values{};
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = kNames<Enum>[i].first;
  return values;
}

template <class Enum>
constexpr const char* name_of(Enum value) {
  for (const auto& [v, name] : kNames<Enum>)
    if (v == value) return name;
  return "?";
}

// The value called `text`, or false.
template <class Enum>
constexpr bool find_name(std::string_view text, Enum& value) {
  for (const auto& [v, name] : kNames<Enum>)
    if (text == name) {
      value = v;
      return true;
    }
  return false;
}

// Every name of Enum, in table order.
template <class Enum>
std::vector<std::string> names_of() {
  std::vector<std::string> names;
  for (const auto& entry : kNames<Enum>) names.push_back(entry.second);
  return names;
}

// "a, b, c": the valid names, for messages.
template <class Enum>
std::string names_text() {
  std::string text;
  for (const auto& entry : kNames<Enum>) text += (text.empty() ? "" : ", ") + std::string(entry.second);
  return text;
}

[[noreturn]] void fail_unknown_name(std::string_view text, const char* what, const std::string& valid);

// The value called `text`; an unknown name is a usage error naming the valid ones.
template <class Enum>
Enum parse_name(std::string_view text) {
  Enum value{};
  if (!find_name(text, value)) fail_unknown_name(text, EnumNames<Enum>::what, names_text<Enum>());
  return value;
}

inline constexpr auto kProjections = all_of<Projection>();
inline constexpr auto kStructures = all_of<Structure>();
inline constexpr auto kStudentKinds = all_of<StudentKind>();

// Where a student's parameters come from. Dense and zeroed have none; the others are one
// projection of project.h5 (`variant`, e.g. "frobenius": datasets c_frobenius, or U_svd and
// V_svd) or calibrate.h5's result, of one structure: a run evaluates the students of its
// project.structure. The quantized ones (rtn, gptq: the teacher's patched matrices quantized
// at each of quantize.bits; calibrated_rtn: the calibrated circulant's c quantized;
// recalibrated_rtn: the same codes with the scales re-calibrated by calibrate; DESIGN
// section 8.4) are made where they are used, and evaluated only when evaluate.students lists
// them.
struct StudentSource {
  bool has_parameters = false;
  Structure structure = Structure::Circulant;
  bool calibrated = false;
  const char* variant = "";  // the projection's dataset suffix (not calibrated)
  bool quantized = false;
};
StudentSource student_source(StudentKind kind);
// The projection variants project.h5 holds for a structure, by method: frobenius picks the
// first ("frobenius" | "svd"), least_squares the second ("least_squares" | "aware").
std::array<const char*, 2> projection_variants(Structure structure);
const char* projection_variant(Structure structure, ProjectionMethod method);

}  // namespace circal

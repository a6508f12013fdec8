#pragma once
// The words the config speaks, each list in one table: the MLP projections a student can
// replace and the students evaluate can compare. Config validation, the model and the stages
// all read these tables.
#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace circal {

enum class Projection { Gate, Up, Down };  // in the order of the MLP's forward
inline constexpr std::array<Projection, 3> kProjections = {Projection::Gate, Projection::Up, Projection::Down};

const char* projection_name(Projection projection);  // "gate_proj", "up_proj", "down_proj"
// The projection called `name`; an unknown name is a usage error naming the valid ones.
Projection parse_projection(std::string_view name);
std::vector<std::string> projection_names();

// The structure of a student matrix (`project.structure`): block-circulant c [p, q, b], or
// low rank U [m, r] V [r, n] at the circulant's parameter count (DESIGN section 8.2).
enum class Structure { Circulant, LowRank };
inline constexpr std::array<Structure, 2> kStructures = {Structure::Circulant, Structure::LowRank};

const char* structure_name(Structure structure);  // "circulant", "lowrank"
Structure parse_structure(std::string_view name);
std::vector<std::string> structure_names();

enum class StudentKind { Dense, Zeroed, Frobenius, LeastSquares, Calibrated, LowRankSvd, LowRankAware, LowRankCalibrated };
inline constexpr std::array<StudentKind, 8> kStudentKinds = {
    StudentKind::Dense,      StudentKind::Zeroed,       StudentKind::Frobenius,         StudentKind::LeastSquares,
    StudentKind::Calibrated, StudentKind::LowRankSvd,   StudentKind::LowRankAware,      StudentKind::LowRankCalibrated};

const char* student_kind_name(StudentKind kind);
StudentKind parse_student_kind(std::string_view name);
std::vector<std::string> student_kind_names();

// Where a student's parameters come from. Dense and zeroed have none; the others are one
// projection of project.h5 (`variant`, e.g. "frobenius": datasets c_frobenius, or U_svd and
// V_svd) or calibrate.h5's result, of one structure: a run evaluates the students of its
// project.structure.
struct StudentSource {
  bool has_parameters = false;
  Structure structure = Structure::Circulant;
  bool calibrated = false;
  const char* variant = "";  // the projection's dataset suffix (not calibrated)
};
StudentSource student_source(StudentKind kind);
// The projection variants project.h5 holds for a structure, the configured method's first
// ("frobenius", "least_squares" | "svd", "aware"); project.method frobenius picks the first.
std::array<const char*, 2> projection_variants(Structure structure);

}  // namespace circal

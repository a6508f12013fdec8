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

enum class StudentKind { Dense, Zeroed, Frobenius, LeastSquares, Calibrated };
inline constexpr std::array<StudentKind, 5> kStudentKinds = {
    StudentKind::Dense, StudentKind::Zeroed, StudentKind::Frobenius, StudentKind::LeastSquares,
    StudentKind::Calibrated};

const char* student_kind_name(StudentKind kind);
StudentKind parse_student_kind(std::string_view name);
std::vector<std::string> student_kind_names();

}  // namespace circal

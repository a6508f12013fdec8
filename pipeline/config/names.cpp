#include "pipeline/config/names.hpp"

#include "pipeline/base/errors.hpp"

namespace circal {

namespace {

template <typename Enum, std::size_t N>
std::vector<std::string> names_of(const std::array<Enum, N>& values, const char* (*name)(Enum)) {
  std::vector<std::string> names;
  for (Enum value : values) names.push_back(name(value));
  return names;
}

template <typename Enum, std::size_t N>
Enum parse_name(std::string_view text, const std::array<Enum, N>& values, const char* (*name)(Enum),
                const char* what) {
  for (Enum value : values)
    if (text == name(value)) return value;
  std::string valid;
  for (Enum value : values) valid += (valid.empty() ? "" : ", ") + std::string(name(value));
  fail(kExitUsage, "unknown " + std::string(what) + " '" + std::string(text) + "' (expected one of " + valid + ")");
}

}  // namespace

const char* projection_name(Projection projection) {
  switch (projection) {
    case Projection::Gate: return "gate_proj";
    case Projection::Up: return "up_proj";
    case Projection::Down: return "down_proj";
  }
  return "?";
}

Projection parse_projection(std::string_view name) {
  return parse_name(name, kProjections, projection_name, "MLP projection");
}

std::vector<std::string> projection_names() { return names_of(kProjections, projection_name); }

const char* structure_name(Structure structure) {
  switch (structure) {
    case Structure::Circulant: return "circulant";
    case Structure::LowRank: return "lowrank";
  }
  return "?";
}

Structure parse_structure(std::string_view name) {
  return parse_name(name, kStructures, structure_name, "student structure");
}

std::vector<std::string> structure_names() { return names_of(kStructures, structure_name); }

const char* student_kind_name(StudentKind kind) {
  switch (kind) {
    case StudentKind::Dense: return "dense";
    case StudentKind::Zeroed: return "zeroed";
    case StudentKind::Frobenius: return "frobenius";
    case StudentKind::LeastSquares: return "least_squares";
    case StudentKind::Calibrated: return "calibrated";
    case StudentKind::LowRankSvd: return "lowrank_svd";
    case StudentKind::LowRankAware: return "lowrank_aware";
    case StudentKind::LowRankCalibrated: return "lowrank_calibrated";
  }
  return "?";
}

StudentKind parse_student_kind(std::string_view name) {
  return parse_name(name, kStudentKinds, student_kind_name, "student");
}

std::vector<std::string> student_kind_names() { return names_of(kStudentKinds, student_kind_name); }

StudentSource student_source(StudentKind kind) {
  switch (kind) {
    case StudentKind::Dense:
    case StudentKind::Zeroed: return {};
    case StudentKind::Frobenius: return {true, Structure::Circulant, false, "frobenius"};
    case StudentKind::LeastSquares: return {true, Structure::Circulant, false, "least_squares"};
    case StudentKind::Calibrated: return {true, Structure::Circulant, true, ""};
    case StudentKind::LowRankSvd: return {true, Structure::LowRank, false, "svd"};
    case StudentKind::LowRankAware: return {true, Structure::LowRank, false, "aware"};
    case StudentKind::LowRankCalibrated: return {true, Structure::LowRank, true, ""};
  }
  return {};
}

std::array<const char*, 2> projection_variants(Structure structure) {
  if (structure == Structure::LowRank) return {"svd", "aware"};
  return {"frobenius", "least_squares"};
}

}  // namespace circal

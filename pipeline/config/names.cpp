#include "pipeline/config/names.hpp"

#include "pipeline/base/errors.hpp"

namespace circal {

void fail_unknown_name(std::string_view text, const char* what, const std::string& valid) {
  fail(kExitUsage, "unknown " + std::string(what) + " '" + std::string(text) + "' (expected one of " + valid + ")");
}

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
    case StudentKind::Rtn:
    case StudentKind::Gptq: return {false, Structure::Circulant, false, "", true};
    case StudentKind::CalibratedRtn:
    case StudentKind::RecalibratedRtn: return {false, Structure::Circulant, true, "", true};
  }
  return {};
}

std::array<const char*, 2> projection_variants(Structure structure) {
  if (structure == Structure::LowRank) return {"svd", "aware"};
  return {"frobenius", "least_squares"};
}

const char* projection_variant(Structure structure, ProjectionMethod method) {
  return projection_variants(structure)[method == ProjectionMethod::Frobenius ? 0 : 1];
}

}  // namespace circal

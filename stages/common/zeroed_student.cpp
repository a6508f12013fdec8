#include "stages/common/zeroed_student.hpp"

#include <algorithm>

namespace circal {

void ZeroLinear::forward(const float*, float* Y, int T) { std::fill(Y, Y + size_t(T) * out_, 0.0f); }

void ZeroLinear::backward(const float*, const float*, float* dX, int T) {
  if (dX) std::fill(dX, dX + size_t(T) * in_, 0.0f);
}

ZeroedStudent::ZeroedStudent(Transformer& model, const StudentLayout& layout) : model_(model), layout_(layout) {
  for (const auto& matrix : layout.matrices) {
    ops_.push_back(std::make_unique<ZeroLinear>(matrix.out_features, matrix.in_features));
    model_.set_mlp_operator(matrix.layer, matrix.projection, ops_.back().get());
  }
}

ZeroedStudent::~ZeroedStudent() {
  for (const auto& matrix : layout_.matrices) model_.set_mlp_operator(matrix.layer, matrix.projection, nullptr);
}

}  // namespace circal

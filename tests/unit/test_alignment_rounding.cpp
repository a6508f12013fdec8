// The simd loops (vector exp, sigmoid, the distillation loss, RMSNorm) round the same way at
// any buffer alignment. Were a loop peeled to align its accesses, a peeled element would take
// scalar expf and a scalar step of the reduction instead of libmvec's vector expf and a vector
// lane, and how a buffer happens to be aligned (a process's allocation history) would change
// the last bits. It was the first suspect for two `circal bench calibrate` runs at the 1.1B
// shape whose first-step losses differed in the 9th digit (the cause was FFTW_MEASURE's timed
// plans: tests/e2e/bench_calibrate.sh); this keeps the loops out of it. Every result at every
// float offset from a 64-byte boundary must equal the offset-0 result bit for bit.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "pipeline/model/ops/rmsnorm.hpp"
#include "pipeline/model/ops/teacher_kl.hpp"
#include "pipeline/model/ops/vector_exp.hpp"

namespace {

constexpr int kOffsets = 16;  // floats: every alignment up to 64 bytes

// `n` floats at `offset` floats past a 64-byte boundary, holding `values`.
class OffsetBuffer {
 public:
  OffsetBuffer(const std::vector<float>& values, int offset)
      : memory_(static_cast<float*>(std::aligned_alloc(64, ((values.size() + kOffsets) * 4 + 63) / 64 * 64)),
                &std::free),
        data_(memory_.get() + offset) {
    std::memcpy(data_, values.data(), values.size() * sizeof(float));
  }
  float* data() { return data_; }

 private:
  std::unique_ptr<float, decltype(&std::free)> memory_;
  float* data_;
};

std::vector<float> random_floats(std::size_t n, unsigned seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

bool same_bits(const float* a, const float* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }
bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("exp_shifted_sum and sigmoid give the same bits at every buffer alignment") {
  const long n = 1003;  // not a multiple of any vector width
  const std::vector<float> x = random_floats(n, 3, 4.0f);
  OffsetBuffer x0(x, 0), e0(std::vector<float>(n), 0), s0(std::vector<float>(n), 0);
  const double sum0 = circal::exp_shifted_sum(x0.data(), 9.5f, 0.7f, e0.data(), n);
  circal::sigmoid(x0.data(), s0.data(), n);
  for (int in = 0; in < kOffsets; ++in)
    for (int out : {0, 1, 3, 4, 8, 13}) {
      CAPTURE(in);
      CAPTURE(out);
      OffsetBuffer xk(x, in), ek(std::vector<float>(n), out), sk(std::vector<float>(n), out);
      CHECK(same_bits(circal::exp_shifted_sum(xk.data(), 9.5f, 0.7f, ek.data(), n), sum0));
      CHECK(same_bits(ek.data(), e0.data(), n));
      circal::sigmoid(xk.data(), sk.data(), n);
      CHECK(same_bits(sk.data(), s0.data(), n));
    }
}

TEST_CASE("RMSNorm forward and backward give the same bits at every buffer alignment") {
  const int T = 3, d = 517;
  const std::vector<float> x = random_floats(std::size_t(T) * d, 5, 1.0f), w = random_floats(d, 6, 1.0f),
                           dy = random_floats(std::size_t(T) * d, 7, 1.0f);
  const auto run = [&](int offset, std::vector<float>& y, std::vector<float>& dx) {
    OffsetBuffer xb(x, offset), wb(w, offset), dyb(dy, offset), yb(std::vector<float>(x.size()), offset),
        dxb(std::vector<float>(x.size()), offset);
    std::vector<float> inv_rms(T);
    circal::rmsnorm_forward(xb.data(), wb.data(), yb.data(), inv_rms.data(), T, d, 1e-5f);
    circal::rmsnorm_backward(dyb.data(), xb.data(), wb.data(), inv_rms.data(), dxb.data(), T, d);
    y.assign(yb.data(), yb.data() + x.size());
    dx.assign(dxb.data(), dxb.data() + x.size());
  };
  std::vector<float> y0, dx0;
  run(0, y0, dx0);
  for (int offset = 1; offset < kOffsets; ++offset) {
    CAPTURE(offset);
    std::vector<float> y, dx;
    run(offset, y, dx);
    CHECK(same_bits(y.data(), y0.data(), y0.size()));
    CHECK(same_bits(dx.data(), dx0.data(), dx0.size()));
  }
}

TEST_CASE("the distillation loss and its gradient give the same bits at every buffer alignment") {
  const int T = 2, V = 2053;
  const std::vector<float> zT = random_floats(std::size_t(T) * V, 8, 3.0f),
                           zS = random_floats(std::size_t(T) * V, 9, 3.0f);
  const circal::TeacherRows teacher = circal::teacher_rows(zT.data(), T, V, 2.0f);
  OffsetBuffer z0(zS, 0), d0(std::vector<float>(zS.size()), 0);
  const double loss0 = circal::teacher_kl_divergence(teacher, z0.data(), d0.data(), 0.25f);
  for (int offset = 1; offset < kOffsets; ++offset) {
    CAPTURE(offset);
    OffsetBuffer z(zS, offset), d(std::vector<float>(zS.size()), (offset * 5) % kOffsets);
    CHECK(same_bits(circal::teacher_kl_divergence(teacher, z.data(), d.data(), 0.25f), loss0));
    CHECK(same_bits(d.data(), d0.data(), zS.size()));
  }
}

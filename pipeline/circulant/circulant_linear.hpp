#pragma once
// Block-circulant linear map (DESIGN.md section 2): W [m, n] is replaced by p x q circulant
// blocks of size b, block (i, j) defined by its first column c_ij, C_ij[r, s] =
// c_ij[(r - s) mod b]. Multiplied through FFTs: batched real FFTs of the input blocks
// written straight into a frequency-major layout, one complex GEMM per frequency, batched
// inverse FFTs. The parameters c and their gradient dc live in caller-owned buffers, so a
// calibrator can keep every circulant of the model in one buffer (one allreduce).
#include <mpi.h>

#include <complex>
#include <cstddef>
#include <vector>

#include "pipeline/circulant/fft_plans.hpp"
#include "pipeline/model/linear_operator.hpp"

namespace circal {

class CirculantLinear : public LinearOperator {
 public:
  // m = out features, n = in features (any; padded to multiples of b), b even >= 2.
  // c: [p, q, b] time-domain parameters, read only, not owned. dc: gradient [p, q, b] that
  // backward accumulates into (+=), may be nullptr (no parameter gradient); not owned.
  CirculantLinear(int m, int n, int b, const float* c, float* dc);

  int in_features() const override { return n_; }
  int out_features() const override { return m_; }
  int block_size() const { return b_; }
  int block_rows() const { return p_; }  // p = ceil(m / b)
  int block_cols() const { return q_; }  // q = ceil(n / b)
  std::size_t parameter_count() const { return std::size_t(p_) * q_ * b_; }

  // The spectrum of c is cached: whoever writes c (the optimiser) calls this afterwards.
  void parameters_changed() { spectrum_stale_ = true; }

  void forward(const float* X, float* Y, int T) override;
  void backward(const float* X, const float* dY, float* dX, int T) override;

  // The materialised matrix [m, n] (tests and error metrics).
  std::vector<float> to_dense() const;

 private:
  using cfloat = std::complex<float>;
  int bins() const { return b_ / 2 + 1; }
  void refresh_spectrum();
  // Spectrum [bins][T][blocks] of the rows of A [T, width] (blocks = ceil(width / b)), by
  // `plan` (refitted to T).
  void spectrum_of_rows(FftPlan& plan, const float* A, int width, int blocks, int T, cfloat* out);
  // Rows [T, width] from a spectrum [bins][T][blocks] (which it destroys).
  void rows_from_spectrum(FftPlan& plan, cfloat* spectrum, int width, int blocks, int T, float* out);
  void accumulate_parameter_gradient(const cfloat* dyf, const cfloat* xf, int T);

  int m_, n_, b_, p_, q_;
  const float* c_;
  float* dc_;
  bool spectrum_stale_ = true;
  FftwArray<cfloat> cf_;  // [bins][q][p]: per bin a column-major p x q matrix
  // Plans made at first use and kept. Those of the rows follow the token count of the latest
  // call: one plan per role bounds the memory of a model's operators whatever lengths a run
  // sees, and forward, backward and a recomputed forward of one batch share T.
  FftPlan parameter_plan_;    // c -> cf_
  FftPlan gradient_plan_;     // gradient spectrum -> dc
  FftPlan input_rows_plan_;   // X -> its spectrum
  FftPlan output_rows_plan_;  // dY -> its spectrum
  FftPlan output_plan_;       // spectrum -> Y
  FftPlan input_plan_;        // spectrum -> dX
  // The T-sized work buffers are one set per process, shared by every operator (a model's
  // operators run one after the other): memory of one operator's pass, not of all of them
  // (docs/DESIGN.md section 8.3). The input spectrum stays valid for this operator's backward
  // only while no other operator has used the buffers since its forward; otherwise backward
  // transforms X again (the same bits).
  struct Scratch {
    FftwArray<cfloat> in_spec;    // [bins][T][q]
    FftwArray<cfloat> out_spec;   // [bins][T][p]
    FftwArray<cfloat> grad_spec;  // [bins][q][p]
    FftwArray<float> staging;     // padded or realigned rows
    FftwArray<float> dc_block;    // [p, q, b]
    // in_spec holds the spectrum of these rows (a forward's X) of this operator.
    const CirculantLinear* spectrum_owner = nullptr;
    const float* spectrum_rows_of = nullptr;
    int spectrum_rows = 0;
  };
  static Scratch& scratch();

 public:
  ~CirculantLinear() override;
};

// A shape a run will use, for planning ahead.
struct CirculantShape {
  int m, n, b, tokens;
};
// Collective over comm: plans every transform forward and backward need for these shapes,
// measured once on rank 0, into every rank's wisdom, from which the operators made afterwards
// plan identically on every rank (see plan_collectively).
void prepare_circulant_plans(MPI_Comm comm, const std::vector<CirculantShape>& shapes);

}  // namespace circal

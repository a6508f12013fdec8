#pragma once
// The statistics the least-squares projection needs (DESIGN sections 3 and 8.1), accumulated
// by streaming over tokens: for one input stream x_t of width n at block size b the
// per-frequency Gram G[k] = sum_t Xf_t[k] Xf_t[k]^H [q, q], and for each matrix W [m, n]
// reading that input the cross term R[k] = sum_t Yf_t[k] Xf_t[k]^H [p, q] with y_t = W x_t.
// Each lives in one flat float64 buffer so that callers can add partial sums in a fixed
// order (add_round_in_order in stages/common/capture_statistics.hpp) and write them whole.
#include <complex>
#include <memory>
#include <vector>

namespace circal {

using cdouble = std::complex<double>;

// values: [bins][q][q] complex, column-major per bin, lower triangle filled; then
// sum_t ||x_t||^2; then the token count.
struct InputStatistics {
  InputStatistics(int n, int b);
  int n, b, q;
  std::vector<double> values;
  int bins() const { return b / 2 + 1; }
  cdouble* gram() { return reinterpret_cast<cdouble*>(values.data()); }
  const cdouble* gram() const { return reinterpret_cast<const cdouble*>(values.data()); }
  std::size_t gram_size() const { return std::size_t(bins()) * q * q; }
  double& sum_squares() { return values[2 * gram_size()]; }
  double sum_squares() const { return values[2 * gram_size()]; }
  double& tokens() { return values[2 * gram_size() + 1]; }
  double tokens() const { return values[2 * gram_size() + 1]; }
  double mean_gram_diagonal() const { return sum_squares() / n; }
};

// values: [bins][q][p] complex (per bin column-major p x q); then sum_t ||W x_t||^2.
struct OutputStatistics {
  OutputStatistics(int m, int n, int b);
  int m, n, b, p, q;
  std::vector<double> values;
  int bins() const { return b / 2 + 1; }
  cdouble* cross() { return reinterpret_cast<cdouble*>(values.data()); }
  const cdouble* cross() const { return reinterpret_cast<const cdouble*>(values.data()); }
  std::size_t cross_size() const { return std::size_t(bins()) * p * q; }
  double& sum_squares() { return values[2 * cross_size()]; }
  double sum_squares() const { return values[2 * cross_size()]; }
};

// The full input Gram H = sum_t x_t x_t^T [n, n] (symmetric, both triangles filled by
// finish()), then the token count: serves every block size and the low-rank fits.
struct FullGram {
  explicit FullGram(int n);
  int n;
  std::vector<double> values;
  double& tokens() { return values[std::size_t(n) * n]; }
  double tokens() const { return values[std::size_t(n) * n]; }
  void accumulate(const float* X, long T, int chunk);  // lower triangle only
  void finish();                                       // mirrors the lower triangle
};

// Grow-only work buffers of the accumulation (the chunk's rows in float64 and their spectra),
// for a caller accumulating many chunks: fresh buffers of tens of MB each time cost zeroing
// and page faults (a quarter of capture's time at the 1.1B shape). Without one, each call
// makes its own.
// It also keeps the FFTW plans of the chunks' transforms, one per (b, blocks), so that a stream
// of chunks plans once rather than once a chunk.
struct StatisticsPlans;
struct StatisticsScratch {
  StatisticsScratch();
  ~StatisticsScratch();
  StatisticsScratch(const StatisticsScratch&) = delete;
  StatisticsScratch& operator=(const StatisticsScratch&) = delete;
  std::vector<double> rows;
  std::vector<cdouble> xf, yf;
  std::unique_ptr<StatisticsPlans> plans;
};

// Adds the tokens X [T, n] to `input` and, for every j, y = W_j x to outputs[j]
// (W_j [outputs[j].m, n] row-major), chunk rows at a time (chunk bounds memory; the float
// rounding depends on it, so fixed chunks give fixed bits).
void accumulate_statistics(const float* X, long T, int chunk, InputStatistics* input,
                           const std::vector<const float*>& weights, std::vector<OutputStatistics*> outputs,
                           StatisticsScratch* scratch = nullptr);
// The same with the outputs given: Y[j] [T, outputs[j].m] row-major holds y = W_j x for every
// token (a forward pass computed them already; capture saves one MLP forward a token).
void accumulate_statistics_of_outputs(const float* X, long T, int chunk, InputStatistics* input,
                                      const std::vector<const float*>& Y, std::vector<OutputStatistics*> outputs,
                                      StatisticsScratch* scratch = nullptr);

// Cf[k] = R[k] (G[k] + b ridge_abs I)^-1, back to time-domain vectors c [p, q, b].
std::vector<float> solve_least_squares(const InputStatistics& input, const OutputStatistics& output, double ridge_abs);

// ||X (W - C)^T||_F / ||X W^T||_F over the accumulated tokens, from the statistics alone:
// sum_t ||y_t - C x_t||^2 = sum_t ||y_t||^2 + (1/b) sum_k w_k [tr(Cf G Cf^H) - 2 Re tr(Cf^H R)]
// (Parseval; w_k = 1 at bins 0 and b/2, else 2).
double statistics_output_error(const InputStatistics& input, const OutputStatistics& output, const float* c);

}  // namespace circal

#include "bench/bench_circulant.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "bench/machine_load.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"
#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/circulant/fft_plans.hpp"
#include "pipeline/lowrank/lowrank_linear.hpp"
#include "pipeline/model/dense_linear.hpp"
#include "pipeline/runtime/blas_runtime.hpp"

namespace circal {
namespace {

struct BenchCase {
  int m, n, b, T;
};

struct BenchRow {
  BenchCase shape;
  double dense_ms, forward_ms, backward_ms, refresh_forward_ms;
  double dense_flops, circulant_flops, rel_error;
  int lowrank_rank = 0;  // the low-rank student of (at most) the circulant's parameters
  double lowrank_forward_ms = 0;
};

// Cheap deterministic fill: a 45M-entry weight must not take seconds to draw.
void fill_uniform(float* data, std::size_t count, unsigned seed) {
  std::uint32_t state = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < count; ++i) {
    state = state * 1664525u + 1013904223u;
    data[i] = static_cast<float>(state >> 8) / 16777216.f - 0.5f;
  }
}

// How many calls make one sample of >= 2 ms (after a warm-up call: plans, caches, page
// faults), so microsecond calls are not clock noise.
int inner_repeats(const std::function<void()>& call) {
  const auto start = std::chrono::steady_clock::now();
  call();
  const double once = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return std::max(1, static_cast<int>(std::ceil(2.0 / std::max(once, 1e-4))));
}

// Milliseconds per call over `inner` calls.
double sample_ms(const std::function<void()>& call, int inner) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < inner; ++i) call();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / inner;
}

double median(std::vector<double> samples) {
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  return samples[samples.size() / 2];
}

// Median milliseconds of one call over `reps` samples.
double median_ms(int reps, const std::function<void()>& call) {
  const int inner = inner_repeats(call);
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) samples.push_back(sample_ms(call, inner));
  return median(samples);
}

// Real FFT of length b ~ 2.5 b log2 b flops (half a complex FFT); complex MAC = 8 flops.
double circulant_forward_flops(const BenchCase& s) {
  const double p = block_count(s.m, s.b), q = block_count(s.n, s.b), bins = s.b / 2 + 1;
  const double fft = 2.5 * s.b * std::log2(s.b);
  return 8.0 * p * q * s.T * bins + (p + q) * s.T * fft;
}

double relative_difference(const float* got, const float* want, std::size_t count) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < count; ++i) {
    diff += double(got[i] - want[i]) * (got[i] - want[i]);
    norm += double(want[i]) * want[i];
  }
  return std::sqrt(diff / norm);
}

// All rows of one (shape, b): the dense baseline is the materialised circulant matrix, so
// dense and circulant outputs must agree (this also checks the OpenBLAS kernel).
void bench_shape(int m, int n, int b, const std::vector<int>& tokens, int reps, std::vector<BenchRow>& rows) {
  CirculantLinear probe(m, n, b, nullptr, nullptr);
  std::vector<float> c(probe.parameter_count()), dc(c.size(), 0.f);
  fill_uniform(c.data(), c.size(), 7u + b);
  CirculantLinear circulant(m, n, b, c.data(), dc.data());
  const std::vector<float> W = circulant.to_dense();
  DenseLinear dense(m, n, W.data());
  const int max_T = *std::max_element(tokens.begin(), tokens.end());
  FftwArray<float> X, Y, Y_dense, dY, dX;
  fill_uniform(X.ensure(std::size_t(max_T) * n), std::size_t(max_T) * n, 11);
  fill_uniform(dY.ensure(std::size_t(max_T) * m), std::size_t(max_T) * m, 13);
  Y.ensure(std::size_t(max_T) * m);
  Y_dense.ensure(std::size_t(max_T) * m);
  dX.ensure(std::size_t(max_T) * n);
  const int rank = lowrank_rank(m, n, b);
  std::vector<float> factors(lowrank_parameter_count(m, n, std::max(rank, 1)));
  fill_uniform(factors.data(), factors.size(), 17u + b);
  for (int T : tokens) {
    BenchRow row{{m, n, b, T}, 0, 0, 0, 0, 0, 0, 0, rank, 0};
    if (rank > 0) {
      LowRankLinear lowrank(m, n, rank, factors.data(), nullptr);
      row.lowrank_forward_ms = median_ms(reps, [&] { lowrank.forward(X.data(), Y.data(), T); });
    }
    row.dense_ms = median_ms(reps, [&] { dense.forward(X.data(), Y_dense.data(), T); });
    row.forward_ms = median_ms(reps, [&] { circulant.forward(X.data(), Y.data(), T); });
    row.backward_ms = median_ms(reps, [&] { circulant.backward(X.data(), dY.data(), dX.data(), T); });
    row.refresh_forward_ms = median_ms(reps, [&] {
      circulant.parameters_changed();
      circulant.forward(X.data(), Y.data(), T);
    });
    row.dense_flops = 2.0 * m * n * T;
    row.circulant_flops = circulant_forward_flops(row.shape);
    row.rel_error = relative_difference(Y.data(), Y_dense.data(), std::size_t(T) * m);
    rows.push_back(row);
    std::printf(
        "%6d x %-6d b=%-4d T=%-4d dense %9.3f ms  fwd %8.3f ms  bwd %8.3f ms  "
        "fwd+refresh %8.3f ms  speedup %6.1fx  bwd %6.1fx  dense %6.1f GF/s  "
        "circ %6.1f GF/s  flop ratio %6.1f  rel.err %.1e  lowrank r=%d fwd %8.3f ms (%.0f vs %.0f tok/s)\n",
        m, n, b, T, row.dense_ms, row.forward_ms, row.backward_ms, row.refresh_forward_ms,
        row.dense_ms / row.forward_ms, row.dense_ms / row.backward_ms, row.dense_flops / row.dense_ms * 1e-6,
        row.circulant_flops / row.forward_ms * 1e-6, row.dense_flops / row.circulant_flops, row.rel_error,
        row.lowrank_rank, row.lowrank_forward_ms, T / (row.forward_ms * 1e-3),
        row.lowrank_forward_ms > 0 ? T / (row.lowrank_forward_ms * 1e-3) : 0.0);
    std::fflush(stdout);
  }
}

void write_csv(const std::string& path, const std::vector<BenchRow>& rows) {
  std::ofstream out(path);
  if (!out) fail(kExitIo, "circal bench: cannot write " + path);
  out << "out,in,b,T,dense_ms,circ_fwd_ms,circ_bwd_ms,circ_fwd_refresh_ms,speedup_fwd,"
         "speedup_bwd,dense_gflops,circ_fwd_gflops,flop_ratio,rel_error,lowrank_rank,lowrank_fwd_ms,"
         "openblas_core\n";
  for (const BenchRow& r : rows)
    out << r.shape.m << ',' << r.shape.n << ',' << r.shape.b << ',' << r.shape.T << ',' << r.dense_ms << ','
        << r.forward_ms << ',' << r.backward_ms << ',' << r.refresh_forward_ms << ',' << r.dense_ms / r.forward_ms
        << ',' << r.dense_ms / r.backward_ms << ',' << r.dense_flops / r.dense_ms * 1e-6 << ','
        << r.circulant_flops / r.forward_ms * 1e-6 << ',' << r.dense_flops / r.circulant_flops << ',' << r.rel_error
        << ',' << r.lowrank_rank << ',' << r.lowrank_forward_ms << ',' << openblas_core_name() << '\n';
  if (!out) fail(kExitIo, "circal bench: cannot write " + path);
}

// --lowrank: the forward of a circulant matrix and of the low-rank one of equal parameters,
// timed in alternating rounds (circulant sample, low-rank sample, again) so that a change of
// load on a shared machine hits both alike; each figure is the median over the rounds.
void bench_lowrank_pairs(const CirculantBenchOptions& options) {
  const int shapes[2][2] = {{5632, 2048}, {2048, 5632}};  // TinyLlama-1.1B gate/up, down
  std::vector<std::string> csv = {
      "out,in,b,rank,T,rounds,circulant_fwd_ms,lowrank_fwd_ms,circulant_tok_s,lowrank_tok_s,openblas_core"};
  const double load_before = load_average_1min();
  std::printf(
      "circulant vs low rank at equal parameters, forward, 1 thread, median of %d alternating rounds; "
      "load average %.2f\n",
      options.reps, load_before);
  std::printf("%5s x %-5s %4s %5s %4s %12s %12s %12s %12s %7s\n", "out", "in", "b", "rank", "T", "circ ms",
              "lowrank ms", "circ tok/s", "lowrank tok/s", "lr/circ");
  for (const auto& shape : shapes) {
    const int m = shape[0], n = shape[1];
    FftwArray<float> X, Y;
    fill_uniform(X.ensure(std::size_t(128) * n), std::size_t(128) * n, 11);
    Y.ensure(std::size_t(128) * m);
    for (int b : {4, 8, 16, 32, 64}) {
      CirculantLinear probe(m, n, b, nullptr, nullptr);
      std::vector<float> c(probe.parameter_count());
      fill_uniform(c.data(), c.size(), 7u + b);
      CirculantLinear circulant(m, n, b, c.data(), nullptr);
      const int rank = lowrank_rank(m, n, b);
      std::vector<float> factors(lowrank_parameter_count(m, n, rank));
      fill_uniform(factors.data(), factors.size(), 17u + b);
      LowRankLinear lowrank(m, n, rank, factors.data(), nullptr);
      for (int T : {1, 128}) {
        const std::function<void()> circ = [&] { circulant.forward(X.data(), Y.data(), T); };
        const std::function<void()> low = [&] { lowrank.forward(X.data(), Y.data(), T); };
        const int inner_c = inner_repeats(circ), inner_l = inner_repeats(low);
        std::vector<double> sc, sl;
        for (int r = 0; r < options.reps; ++r) {
          sc.push_back(sample_ms(circ, inner_c));
          sl.push_back(sample_ms(low, inner_l));
        }
        const double mc = median(sc), ml = median(sl);
        std::printf("%5d x %-5d %4d %5d %4d %12.4f %12.4f %12.0f %12.0f %7.2f\n", m, n, b, rank, T, mc, ml,
                    T / (mc * 1e-3), T / (ml * 1e-3), mc / ml);
        std::fflush(stdout);
        char line[256];
        std::snprintf(line, sizeof line, "%d,%d,%d,%d,%d,%d,%.6g,%.6g,%.6g,%.6g,%s", m, n, b, rank, T, options.reps, mc,
                      ml, T / (mc * 1e-3), T / (ml * 1e-3), openblas_core_name().c_str());
        csv.push_back(line);
      }
    }
  }
  std::printf("load average before %.2f, after %.2f\n", load_before, load_average_1min());
  if (options.csv.empty()) return;
  std::ofstream out(options.csv);
  for (const std::string& line : csv) out << line << "\n";
  if (!out) fail(kExitIo, "circal bench: cannot write " + options.csv);
}

}  // namespace

void run_circulant_bench(const CirculantBenchOptions& options) {
  set_blas_threads(1);
  std::printf("OpenBLAS core: %s, threads: %d\n", openblas_core_name().c_str(), blas_threads());
  if (const std::string better = better_openblas_core(); !better.empty())
    std::printf(
        "warning: OpenBLAS fell back to a generic kernel; the dense baseline is slow "
        "and the speedups overstated. Rerun with OPENBLAS_CORETYPE=%s\n",
        better.c_str());
  if (options.lowrank) return bench_lowrank_pairs(options);
  std::printf(
      "speedup = dense sgemm / circulant forward; bwd = dense sgemm / circulant "
      "backward (dX and dc); flop ratio = dense flops / circulant forward flops\n");
  struct Shape {
    int m, n;
  };
  std::vector<Shape> shapes = {{256, 768}, {768, 256}, {2048, 5632}, {5632, 2048}, {4096, 11008}, {11008, 4096}};
  std::vector<int> blocks = {16, 32, 64, 128, 256}, tokens = {1, 16, 128, 512};
  if (options.quick) {
    shapes = {{256, 768}, {11008, 4096}};
    blocks = {64, 256};
    tokens = {1, 128};
  }
  std::vector<BenchRow> rows;
  for (const Shape& s : shapes)
    for (int b : blocks) bench_shape(s.m, s.n, b, tokens, options.reps, rows);
  if (!options.csv.empty()) write_csv(options.csv, rows);
}

}  // namespace circal

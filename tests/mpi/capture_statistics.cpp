// capture's streamed projection statistics against the slow twin: today's projection from
// the raw MLP inputs (capture.store_inputs keeps them), accumulated by LeastSquaresProjector
// over prompts sharded i % R and allreduced. Run at 1, 2 and 4 ranks: the statistics are
// summed batch by batch in batch order, the twin in whatever order MPI_Allreduce picks.
#include <doctest/doctest.h>
#include <mpi.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/circulant/circulant_projection.hpp"
#include "pipeline/circulant/projection_statistics.hpp"
#include "pipeline/config/config.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/runtime/mpi_context.hpp"
#include "stages/common/capture_layout.hpp"
#include "stages/common/capture_statistics.hpp"
#include "stages/runner/stage_runner.hpp"
#include "tests/unit/circulant_test_support.hpp"

namespace {

using namespace circal;
using circal_test::relative_error;

std::string shared_temp_dir(MPI_Comm comm) {
  char path[256] = "/tmp/circal-capture-stats.XXXXXX";
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0 && !mkdtemp(path)) path[0] = 0;
  MPI_Bcast(path, sizeof path, MPI_CHAR, 0, comm);
  return path;
}

}  // namespace

TEST_CASE("least squares from capture's streamed statistics equals the projection from raw inputs") {
  MpiContext mpi;
  const std::string dir = shared_temp_dir(mpi.comm());
  REQUIRE(!dir.empty());
  const std::string source = CIRCAL_SOURCE_DIR;
  Config config =
      load_config("", {"run_dir=" + dir, "model.path=" + source + "/data/models/manpages-llama-5m",
                       "prompts.calibration=" + source + "/data/splits/calibration.txt",
                       "prompts.validation=" + source + "/data/splits/validation.txt",
                       "prompts.test=" + source + "/data/splits/test.txt", "patch.layers=[1]",
                       "capture.block_sizes=[16, 32]", "capture.store_inputs=true", "capture.full_gram=true",
                       "capture.batch_tokens=100", "runtime.fftw_planner=estimate"});
  run_stages(mpi, config, {{Stage::Capture}, std::nullopt, true});

  const ModelWeights model = load_model(config.model.path);
  const CheckpointReader capture(dir + "/capture.h5");
  const std::vector<int64_t> offsets = capture.read_int64("/prompts/offsets");
  const int calibration = int(capture.attr_int("/prompts", "calibration_count"));
  const double ridge = 1e-4;
  for (Projection projection : kProjections) {
    const int m = mlp_out_features(model.config, projection), n = mlp_in_features(model.config, projection);
    const float* W = mlp_matrix(model, 1, projection);
    const std::string inputs = capture_input_dataset(1, projection);
    for (int b : {16, 32}) {
      CAPTURE(name_of(projection));
      CAPTURE(b);
      LeastSquaresProjector twin(W, m, n, b, 64);
      for (int i = mpi.rank(); i < calibration; i += mpi.size()) {
        const std::vector<float> X = capture.read_float_rows(inputs, offsets[i], offsets[i + 1] - offsets[i]);
        twin.accumulate(X.data(), offsets[i + 1] - offsets[i]);
      }
      twin.allreduce(mpi.comm());
      const InputStatistics input = read_input_statistics(capture, b, 1, capture_input_source(projection), n);
      const OutputStatistics output = read_output_statistics(capture, b, 1, projection, m, n);
      CHECK(long(input.tokens()) == offsets[calibration]);
      CHECK(input.tokens() == double(twin.tokens()));
      CHECK(input.mean_gram_diagonal() == doctest::Approx(twin.mean_gram_diagonal()).epsilon(1e-12));
      const std::vector<float> streamed = solve_least_squares(input, output, ridge * input.mean_gram_diagonal());
      const std::vector<float> raw = twin.solve(ridge);
      CHECK(relative_error(streamed, raw) < 1e-5);
      // The output error from the statistics alone against the one measured on the rows.
      const std::vector<float> X = capture.read_float_rows(inputs, 0, offsets[calibration]);
      const double measured = relative_output_error(W, streamed.data(), m, n, b, X.data(), offsets[calibration]);
      CHECK(statistics_output_error(input, output, streamed.data()) == doctest::Approx(measured).epsilon(1e-5));
      const std::vector<float> frobenius = project_frobenius(W, m, n, b);
      CHECK(statistics_output_error(input, output, frobenius.data()) ==
            doctest::Approx(relative_output_error(W, frobenius.data(), m, n, b, X.data(), offsets[calibration]))
                .epsilon(1e-5));
    }
    if (projection == Projection::Up) continue;  // shares gate_proj's input
    // The full Gram against X^T X in float64 from the raw rows.
    const std::vector<float> X = capture.read_float_rows(inputs, 0, offsets[calibration]);
    const std::vector<double> H = capture.read_double(full_gram_dataset(1, capture_input_source(projection)));
    REQUIRE(H.size() == size_t(n) * n);
    double diff = 0, norm = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j <= i; ++j) {
        double sum = 0;
        for (int64_t t = 0; t < offsets[calibration]; ++t) sum += double(X[t * n + i]) * X[t * n + j];
        diff += (H[size_t(i) * n + j] - sum) * (H[size_t(i) * n + j] - sum);
        diff += (H[size_t(j) * n + i] - sum) * (H[size_t(j) * n + i] - sum);
        norm += 2 * sum * sum;
      }
    CHECK(std::sqrt(diff / norm) < 1e-12);
  }
  MPI_Barrier(mpi.comm());
  if (mpi.is_root()) std::filesystem::remove_all(dir);
}

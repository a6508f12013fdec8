// Optimizer pieces of calibration: Adam against values worked out by hand (python, float64),
// the learning-rate schedule at its corner points, global-norm clipping, the data order, and
// the checkpointed calibration state (exact round trip, skipping of unusable files, pruning).
#include <doctest/doctest.h>
#include <mpi.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <set>
#include <sstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/base/progress_log.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/optim/adam_optimizer.hpp"
#include "pipeline/optim/gradient_clipping.hpp"
#include "pipeline/optim/lr_schedule.hpp"
#include "stages/calibrate/calibration_batches.hpp"
#include "stages/calibrate/calibration_checkpoint.hpp"

using namespace circal;
namespace fs = std::filesystem;

TEST_CASE("adam: two steps match the hand-computed update, with and without weight decay") {
  struct Case {
    double weight_decay, after_first, after_second;
  };
  for (const Case& c : {Case{0.0, 0.900000002, 0.9366103542405654}, Case{0.01, 0.899000002, 0.9347113542385653}}) {
    AdamOptimizer adam(2, AdamSettings{0.9, 0.999, 1e-8, c.weight_decay});
    std::vector<float> params = {1.0f, -2.0f};
    std::vector<float> grads = {0.5f, 0.0f};
    adam.step(params.data(), grads.data(), 0.1);
    CHECK(params[0] == doctest::Approx(c.after_first).epsilon(1e-7));
    CHECK(adam.first_moment()[0] == doctest::Approx(0.05).epsilon(1e-7));
    CHECK(adam.second_moment()[0] == doctest::Approx(0.00025).epsilon(1e-7));
    grads = {-1.0f, 0.0f};
    adam.step(params.data(), grads.data(), 0.1);
    CHECK(params[0] == doctest::Approx(c.after_second).epsilon(1e-7));
    // A zero gradient moves a parameter only through weight decay.
    CHECK(params[1] == doctest::Approx(-2.0 * std::pow(1.0 - 0.1 * c.weight_decay, 2)).epsilon(1e-7));
    CHECK(adam.updates() == 2);
  }
}

TEST_CASE("adam: restoring a saved state continues identically") {
  AdamOptimizer first(3, AdamSettings{});
  std::vector<float> params = {0.1f, 0.2f, 0.3f}, grads = {0.3f, -0.7f, 1.1f};
  first.step(params.data(), grads.data(), 1e-2);
  AdamOptimizer second(3, AdamSettings{});
  second.restore(first.updates(), first.first_moment(), first.second_moment());
  std::vector<float> params2 = params;
  first.step(params.data(), grads.data(), 1e-2);
  second.step(params2.data(), grads.data(), 1e-2);
  CHECK(params == params2);
  CHECK_THROWS_AS(second.restore(1, {0.0f}, {0.0f}), CircalError);
}

TEST_CASE("lr schedule: warm-up ramp, cosine half-way and end, constant") {
  const LrSchedule cosine(1e-3, ScheduleKind::Cosine, 10, 110, 0.1);
  CHECK(cosine.at(0) == doctest::Approx(1e-4));
  CHECK(cosine.at(4) == doctest::Approx(5e-4));
  CHECK(cosine.at(9) == doctest::Approx(1e-3));
  CHECK(cosine.at(10) == doctest::Approx(1e-3));
  CHECK(cosine.at(35) == doctest::Approx(0.0008681980515339464));
  CHECK(cosine.at(60) == doctest::Approx(5.5e-4));
  CHECK(cosine.at(110) == doctest::Approx(1e-4));
  for (int s = 11; s < 110; ++s) CHECK(cosine.at(s) < cosine.at(s - 1));

  const LrSchedule constant(1e-3, ScheduleKind::Constant, 5, 100, 0.1);
  CHECK(constant.at(1) == doctest::Approx(4e-4));
  CHECK(constant.at(5) == doctest::Approx(1e-3));
  CHECK(constant.at(99) == doctest::Approx(1e-3));
  const LrSchedule no_warmup(2e-3, ScheduleKind::Cosine, 0, 50, 0.0);
  CHECK(no_warmup.at(0) == doctest::Approx(2e-3));
  CHECK(no_warmup.at(25) == doctest::Approx(1e-3));
}

TEST_CASE("global-norm clipping scales only above the threshold") {
  std::vector<float> g = {3.0f, 4.0f};
  CHECK(clip_global_norm(g.data(), 2, 10.0) == doctest::Approx(5.0));
  CHECK(g == std::vector<float>{3.0f, 4.0f});
  CHECK(clip_global_norm(g.data(), 2, 0.0) == doctest::Approx(5.0));
  CHECK(g == std::vector<float>{3.0f, 4.0f});
  CHECK(clip_global_norm(g.data(), 2, 1.0) == doctest::Approx(5.0));
  CHECK(g[0] == doctest::Approx(0.6));
  CHECK(g[1] == doctest::Approx(0.8));
  CHECK(global_norm(g.data(), 2) == doctest::Approx(1.0));
}

TEST_CASE("data order: seeded permutations, batches continue across epochs, rank shares") {
  const auto p0 = epoch_permutation(10, 7, 0);
  CHECK(p0 == epoch_permutation(10, 7, 0));
  CHECK(p0 != epoch_permutation(10, 7, 1));
  CHECK(p0 != epoch_permutation(10, 8, 0));
  CHECK(std::set<int>(p0.begin(), p0.end()).size() == 10);

  BatchCursor cursor;
  const auto b1 = next_global_batch(10, 7, 4, cursor);
  const auto b2 = next_global_batch(10, 7, 4, cursor);
  const auto b3 = next_global_batch(10, 7, 4, cursor);
  CHECK(std::vector<int>(b1.begin(), b1.end()) == std::vector<int>(p0.begin(), p0.begin() + 4));
  CHECK(b3[1] == p0[9]);
  const auto p1 = epoch_permutation(10, 7, 1);
  CHECK(b3[2] == p1[0]);
  CHECK(b3[3] == p1[1]);
  CHECK(cursor.epoch == 1);
  CHECK(cursor.position == 2);
  (void)b2;

  CHECK(rank_share({5, 6, 7, 8, 9}, 0, 2) == std::vector<int>{5, 7, 9});
  CHECK(rank_share({5, 6, 7, 8, 9}, 1, 2) == std::vector<int>{6, 8});
  CHECK(rank_share({5, 6}, 3, 4).empty());
}

namespace {

CalibrationState sample_state(int64_t step) {
  CalibrationState s;
  s.step = step;
  s.params = {1.5f, -2.25f, 3.0e-7f};
  s.adam_m = {0.1f, 0.2f, 0.3f};
  s.adam_v = {1e-8f, 2e-8f, 3e-8f};
  s.best_params = {1.0f, -2.0f, 3.0f};
  s.epoch = 2;
  s.epoch_position = 5;
  s.best_validation = 0.123456789012345;
  s.best_step = 2;
  s.evaluations_without_improvement = 1;
  s.train_loss.assign(step, 0.0);
  for (int64_t i = 0; i < step; ++i) s.train_loss[i] = 1.0 / (i + 3.0);
  s.validation_step = {2};
  s.validation_kl = {0.123456789012345};
  return s;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("circal_calib_ckpt_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("calibration checkpoint: exact round trip, unusable newest skipped, pruning") {
  TempDir dir;
  const CheckpointMeta meta{kCalibrationCheckpointStage, "fp-1", "calibrate: {}\n"};
  for (int64_t step : {2, 4, 6})
    save_calibration_checkpoint(MPI_COMM_SELF, calibration_checkpoint_path(dir.path, step), meta, sample_state(step));
  CHECK(fs::exists(dir.path / "step-000004.h5"));

  const auto loaded = load_calibration_checkpoint(calibration_checkpoint_path(dir.path, 4), "fp-1");
  CHECK(loaded == sample_state(4));
  CHECK_THROWS_AS(load_calibration_checkpoint(calibration_checkpoint_path(dir.path, 4), "fp-2"), CircalError);

  // Truncate the newest: it is reported and the previous one is used.
  const auto newest = calibration_checkpoint_path(dir.path, 6);
  fs::resize_file(newest, fs::file_size(newest) / 2);
  std::vector<std::string> reports;
  auto resumed =
      newest_calibration_checkpoint(dir.path, "fp-1", 3, [&](const std::string& l) { reports.push_back(l); });
  REQUIRE(resumed.has_value());
  CHECK(resumed->step == 4);
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].find("step-000006.h5") != std::string::npos);
  // Another fingerprint or parameter count: nothing usable.
  CHECK_FALSE(newest_calibration_checkpoint(dir.path, "fp-other", 3, [](const std::string&) {}));
  CHECK_FALSE(newest_calibration_checkpoint(dir.path, "fp-1", 4, [](const std::string&) {}));

  prune_calibration_checkpoints(dir.path, 2);
  CHECK_FALSE(fs::exists(calibration_checkpoint_path(dir.path, 2)));
  CHECK(fs::exists(calibration_checkpoint_path(dir.path, 4)));
  CHECK(fs::exists(calibration_checkpoint_path(dir.path, 6)));
}

TEST_CASE("progress log: every step as JSON, resumed log keeps each step once") {
  TempDir dir;
  const std::string path = (dir.path / "calibrate" / "log.jsonl").string();
  std::ostringstream console;
  {
    ProgressLog log(true, path, 2, 4, 0, console);
    for (int step = 1; step <= 3; ++step) log.record(StepRecord{step, 1.0 / step, 1e-3, 0.5, 100, 0.25, {}});
  }
  CHECK(console.str().find("step 2/4") != std::string::npos);
  CHECK(console.str().find("400 tok/s") != std::string::npos);
  CHECK(console.str().find("step 1/4") == std::string::npos);
  {
    // Killed after step 3, resumed from the checkpoint of step 2: step 3 is logged again.
    ProgressLog log(true, path, 2, 4, 2, console);
    log.record(StepRecord{3, 0.3, 1e-3, 0.5, 100, 0.25, 0.7});
  }
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 3);
  CHECK(lines[2].find("\"validation_kl\":0.7") != std::string::npos);
  CHECK(lines[2].find("\"step\":3") != std::string::npos);
}

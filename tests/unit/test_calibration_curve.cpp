// The calibration curve: calibrate.h5's /history read back as written, gnuplot's data blocks
// (train loss by step from 1, validation KL at its steps, the best step's point alone), and
// the PNG itself when gnuplot is there.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/plots/calibration_curve.hpp"
#include "pipeline/plots/gnuplot.hpp"
#include "tests/unit/scratch_dir.hpp"

using namespace circal;

namespace {

std::string write_history(const testing::ScratchDir& dir) {
  const std::string path = dir.file("calibrate.h5");
  CheckpointWriter file(MPI_COMM_SELF, path, {"calibrate", "f", "c"});
  const std::vector<double> loss = {2.5, 1.25, 0.75, 0.5}, kl = {3.0, 1.5, 1.0};
  const std::vector<int64_t> steps = {0, 2, 4};
  file.write("/history/train_loss", {loss.size()}, loss.data());
  file.write("/history/validation_step", {steps.size()}, steps.data());
  file.write("/history/validation_kl", {kl.size()}, kl.data());
  file.set_attr("/history", "best_step", int64_t(4));
  file.commit();
  return path;
}

}  // namespace

TEST_CASE("calibration curve: the history read back and its gnuplot data blocks") {
  testing::ScratchDir dir("curve");
  const CalibrationHistory history = read_calibration_history(CheckpointReader::open(write_history(dir), "calibrate"));
  CHECK(history.train_loss == std::vector<double>{2.5, 1.25, 0.75, 0.5});
  CHECK(history.validation_step == std::vector<int64_t>{0, 2, 4});
  CHECK(history.validation_kl == std::vector<double>{3.0, 1.5, 1.0});
  CHECK(history.best_step == 4);
  CHECK(calibration_curve_data(history) == "1 2.5\n2 1.25\n3 0.75\n4 0.5\n\n\n0 3\n2 1.5\n4 1\n\n\n4 1\n");

  const std::filesystem::path png = dir.path / "calibration.png";
  std::ostringstream warnings;
  if (gnuplot_available()) {
    REQUIRE(write_calibration_curve(history, "t", dir.path, png, warnings));
    CHECK(std::filesystem::file_size(png) > 1000);
    CHECK(warnings.str().empty());
  } else {
    // Under CI gnuplot is installed by `make deps`; elsewhere the plot is skipped with a warning.
    CHECK(std::getenv("CI") == nullptr);
    CHECK_FALSE(write_calibration_curve(history, "t", dir.path, png, warnings));
  }
  CHECK_FALSE(write_calibration_curve(CalibrationHistory{}, "t", dir.path, dir.path / "none.png", warnings));
}

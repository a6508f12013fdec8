#include "pipeline/plots/calibration_curve.hpp"

#include <fstream>
#include <sstream>

#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/plots/gnuplot.hpp"

namespace circal {

namespace fs = std::filesystem;

CalibrationHistory read_calibration_history(const CheckpointReader& calibrate) {
  CalibrationHistory history;
  // A calibration stopped before its first step or validation has no dataset for it.
  if (calibrate.exists("/history/train_loss")) history.train_loss = calibrate.read_double("/history/train_loss");
  if (calibrate.exists("/history/validation_kl")) {
    history.validation_kl = calibrate.read_double("/history/validation_kl");
    history.validation_step = calibrate.read_int64("/history/validation_step");
  }
  if (calibrate.has_attr("/history", "best_step")) history.best_step = calibrate.attr_int("/history", "best_step");
  return history;
}

std::string calibration_curve_data(const CalibrationHistory& history) {
  std::ostringstream data;
  data.precision(17);
  for (size_t i = 0; i < history.train_loss.size(); ++i) data << i + 1 << " " << history.train_loss[i] << "\n";
  data << "\n\n";
  for (size_t i = 0; i < history.validation_kl.size(); ++i)
    data << history.validation_step[i] << " " << history.validation_kl[i] << "\n";
  data << "\n\n";
  for (size_t i = 0; i < history.validation_kl.size(); ++i)
    if (history.validation_step[i] == history.best_step)
      data << history.validation_step[i] << " " << history.validation_kl[i] << "\n";
  return data.str();
}

namespace {

std::string curve_script(const CalibrationHistory& history, const std::string& title, const fs::path& dat,
                         const fs::path& png) {
  const std::string d = gnuplot_quoted(dat.string());
  std::string plot = "plot " + d + " index 0 using 1:2 with lines lw 1 title 'train loss (KL, per step)'";
  if (!history.validation_kl.empty()) {
    plot += ", " + d + " index 1 using 1:2 with linespoints lw 2 pt 7 title 'validation KL'";
    plot += ", " + d + " index 2 using 1:2 with points pt 6 ps 3 lw 2 title 'best step " +
            std::to_string(history.best_step) + "'";
  }
  return "set terminal pngcairo size 900,560 noenhanced\nset output " + gnuplot_quoted(png.string()) + "\nset title " +
         gnuplot_quoted(title) +
         "\nset xlabel 'step'\nset ylabel 'KL (nats)'\nset logscale y\nset grid\nset key top right\n" + plot + "\n";
}

}  // namespace

bool write_calibration_curve(const CalibrationHistory& history, const std::string& title, const fs::path& work,
                             const fs::path& png, std::ostream& warnings) {
  if (history.train_loss.empty()) return false;
  const std::string name = png.stem().string();
  const fs::path dat = work / (name + ".dat"), tmp_png = work / (name + ".png");
  std::ofstream(dat) << calibration_curve_data(history);
  return run_gnuplot(curve_script(history, title, dat, tmp_png), work, name, tmp_png, png, warnings);
}

}  // namespace circal

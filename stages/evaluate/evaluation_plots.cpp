#include "stages/evaluate/evaluation_plots.hpp"

#include <unistd.h>
#include <cmath>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <utility>

#include "pipeline/plots/gnuplot.hpp"

namespace circal {

namespace fs = std::filesystem;

namespace {

// Empirical CDF of each student's KL: one data block per student, separated by two blank
// lines so gnuplot addresses them as `index i`.
std::string kl_cdf_script(const EvaluationTables& tables, const fs::path& work, const fs::path& png) {
  std::ofstream data(work / "kl_cdf.dat");
  std::string plot = "plot ";
  for (size_t s = 0; s < tables.students.size(); ++s) {
    std::vector<double> kl = tables.students[s].positions.at("kl");
    std::sort(kl.begin(), kl.end());
    for (size_t i = 0; i < kl.size(); ++i) data << kl[i] << " " << double(i + 1) / double(kl.size()) << "\n";
    data << "\n\n";
    plot += std::string(s ? ", " : "") + gnuplot_quoted((work / "kl_cdf.dat").string()) + " index " +
            std::to_string(s) + " using 1:2 with steps lw 2 title " + gnuplot_quoted(tables.students[s].name);
  }
  return "set terminal pngcairo size 900,600 noenhanced\nset output " + gnuplot_quoted(png.string()) +
         "\nset title 'KL(teacher || student) per position, empirical CDF'\n"
         "set xlabel 'KL (nats)'\nset ylabel 'fraction of positions'\nset yrange [0:1]\n"
         "set key bottom right\nset grid\n" +
         plot + "\n";
}

// Clustered bars: one cluster per family, one bar per student.
std::string top1_script(const Json& metrics, const fs::path& work, const fs::path& png) {
  std::ofstream data(work / "top1_by_family.dat");
  const Json& students = metrics["students"];
  data << "family";
  for (const auto& [name, s] : students.items()) data << " " << gnuplot_quoted(name);
  data << "\n";
  const Json& first = students.begin().value()["by_family"];
  for (const auto& [family, cell] : first.items()) {
    data << gnuplot_quoted(family);
    for (const auto& [name, s] : students.items()) {
      const Json& mean = s["by_family"][family]["top1"]["mean"];
      data << " " << (mean.is_number() ? mean.get<double>() : 0.0);
    }
    data << "\n";
  }
  std::string plot = "plot ";
  for (size_t c = 0; c < students.size(); ++c)
    plot += std::string(c ? ", " : "") + "'' using " + std::to_string(c + 2) + (c ? "" : ":xtic(1)") +
            " title columnheader";
  plot.replace(5, 2, gnuplot_quoted((work / "top1_by_family.dat").string()));
  return "set terminal pngcairo size 1200,600 noenhanced\nset output " + gnuplot_quoted(png.string()) +
         "\nset title 'top-1 agreement with the teacher by template family'\n"
         "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8\n"
         "set yrange [0:1.05]\nset ylabel 'top-1 agreement'\nset xtics rotate by -35\n"
         "set key outside right\nset grid ytics\n" +
         plot + "\n";
}

// An allocated student's block sizes as a heatmap: layers down, gate/up/down across, colour
// log2 b, each cell labelled with its b.
std::string block_size_script(const Json& metrics, const fs::path& work, const fs::path& png) {
  std::ofstream data(work / "block_sizes.dat");
  int layers = 0;
  for (const Json& block : metrics["compression"]["block_sizes"]) {
    const int layer = block["layer"].get<int>(), b = block["block_size"].get<int>();
    const auto column = int(parse_name<Projection>(block["projection"].get<std::string>()));
    data << column << " " << layer << " " << std::log2(double(b)) << " " << b << "\n";
    layers = std::max(layers, layer + 1);
  }
  const std::string file = gnuplot_quoted((work / "block_sizes.dat").string());
  return "set terminal pngcairo size 640," + std::to_string(std::max(320, 120 + 28 * layers)) +
         " noenhanced\nset output " + gnuplot_quoted(png.string()) +
         "\nset title 'block size of each patched matrix (allocated; 1 = kept dense)'\n"
         "set xtics ('gate_proj' 0, 'up_proj' 1, 'down_proj' 2)\nset xrange [-0.5:2.5]\nset ytics 1\n"
         "set yrange [" +
         std::to_string(layers) +
         "-0.5:-0.5]\nset ylabel 'layer'\nset cblabel 'log2 b'\n"
         "set palette defined (0 '#1a9850', 4 '#fee08b', 8 '#d73027')\nset cbrange [0:8]\n"
         "plot " +
         file + " using 1:2:3 with image notitle, " + file + " using 1:2:(sprintf('%d', $4)) with labels notitle\n";
}

}  // namespace

std::vector<std::string> write_evaluation_plots(const EvaluationTables& tables, const Json& metrics,
                                                const CalibrationHistory* calibration, const std::string& dir,
                                                std::ostream& warnings) {
  if (!gnuplot_available()) {
    warnings << "circal: warning: gnuplot not found, plots skipped\n";
    return {};
  }
  if (tables.students.empty()) return {};
  const fs::path out(dir);
  const fs::path work = out / (".gnuplot." + std::to_string(::getpid()));
  fs::create_directories(work);
  using Script = std::function<std::string(const fs::path& tmp_png)>;
  std::vector<std::pair<std::string, Script>> plots = {
      {"kl_cdf", [&](const fs::path& png) { return kl_cdf_script(tables, work, png); }},
      {"top1_by_family", [&](const fs::path& png) { return top1_script(metrics, work, png); }}};
  if (metrics["compression"].value("allocated", false))
    plots.push_back({"block_sizes", [&](const fs::path& png) { return block_size_script(metrics, work, png); }});
  std::vector<std::string> written;
  const std::string folder = out.filename().string();
  for (const auto& [name, script] : plots) {
    const fs::path tmp_png = work / (name + ".png"), png = out / (name + ".png");
    if (!run_gnuplot(script(tmp_png), work, name, tmp_png, png, warnings)) break;
    written.push_back(folder + "/" + name + ".png");
  }
  if (calibration && written.size() == plots.size() &&
      write_calibration_curve(*calibration, "calibration: train loss and validation KL by step", work,
                              out / "calibration.png", warnings))
    written.push_back(folder + "/calibration.png");
  std::error_code ignored;
  fs::remove_all(work, ignored);
  return written;
}

}  // namespace circal

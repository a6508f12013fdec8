#include "pipeline/sweep/sweep_report.hpp"

#include <nlohmann/json.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "pipeline/base/errors.hpp"
#include "pipeline/base/number_text.hpp"
#include "pipeline/config/names.hpp"
#include "pipeline/io/atomic_text_file.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/plots/calibration_curve.hpp"
#include "pipeline/sweep/frontier.hpp"

namespace circal {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::optional<json> read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  json value = json::parse(in, nullptr, false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

std::string first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

double number(const json& object, const std::string& pointer) {
  const json::json_pointer at(pointer);
  if (!object.contains(at) || !object.at(at).is_number()) return NAN;
  return object.at(at).get<double>();
}

// The student a point reports: the calibrated one when it exists, else the configured projection.
std::string reported_student(const json& metrics) {
  const json& students = metrics.at("students");
  // Calibrated first, then the data-aware projection, then the data-free one, of either structure.
  for (StudentKind kind : {StudentKind::Calibrated, StudentKind::LowRankCalibrated, StudentKind::LeastSquares,
                           StudentKind::LowRankAware, StudentKind::Frobenius, StudentKind::LowRankSvd})
    if (students.contains(name_of(kind))) return name_of(kind);
  return students.begin().key();
}

void read_metrics(SweepRow& row, const json& metrics) {
  row.student = reported_student(metrics);
  const std::string s = "/students/" + row.student;
  row.compression_ratio = number(metrics, "/compression/ratio");
  if (row.structure.empty()) {
    const json::json_pointer at("/compression/structure");
    row.structure = metrics.contains(at) && metrics.at(at).is_string() ? metrics.at(at).get<std::string>()
                                                                       : name_of(Structure::Circulant);
  }
  row.kl_mean = number(metrics, s + "/kl/mean");
  row.kl_ci95 = {number(metrics, s + "/kl/ci95/0"), number(metrics, s + "/kl/ci95/1")};
  row.top1 = number(metrics, s + "/top1/mean");
  row.top5_overlap = number(metrics, s + "/top5_overlap/mean");
  row.match_rate = number(metrics, s + "/drift/match_rate");
}

// Step records of calibrate/log.jsonl (event lines have no loss): steps done, summed step time,
// and the loss curve.
void read_calibration_log(SweepRow& row, const fs::path& log, std::vector<std::pair<int, double>>* curve) {
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    const json record = json::parse(line, nullptr, false);
    if (record.is_discarded() || !record.contains("loss") || !record.contains("step")) continue;
    row.calibration_steps = std::max(row.calibration_steps, record["step"].get<int>());
    row.calibration_seconds += record.value("seconds", 0.0);
    if (curve) curve->emplace_back(record["step"].get<int>(), record["loss"].get<double>());
  }
}

// Why a point has no metrics: its own error file, else the first upstream job that failed.
std::string failure_reason(const fs::path& sweep, const fs::path& dir, const json& point) {
  if (point.contains("projection") && fs::exists(dir / "error.txt")) return first_line(dir / "error.txt");
  if (!point.contains("projection")) return first_line(dir / "error.txt");
  if (fs::exists(sweep / "capture/error.txt")) return "capture failed: " + first_line(sweep / "capture/error.txt");
  const fs::path project = sweep / "project" / point["projection"].get<std::string>() / "error.txt";
  if (fs::exists(project)) return "projection failed: " + first_line(project);
  return "no metrics.json (the job has not finished, or it was cancelled)";
}

// A missing figure is an empty cell.

std::string general(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string loss_curve_path(const fs::path& sweep, const SweepRow& row) {
  return (sweep / "plots" / ("loss-" + row.name + ".dat")).string();
}

// The structures of the finished rows, in name order (the plot's data blocks follow it).
std::set<std::string> finished_structures(const std::vector<SweepRow>& rows) {
  std::set<std::string> structures;
  for (const auto& row : rows)
    if (row.failure.empty()) structures.insert(row.structure);
  return structures;
}

void write_plot_data(const fs::path& sweep, const std::vector<SweepRow>& rows) {
  fs::create_directories(sweep / "plots");
  // One line per structure through its best learning rate at each block size.
  std::map<std::string, std::string> by_structure;
  for (const auto& row : rows)
    if (row.failure.empty() && row.best_lr)
      by_structure[row.structure] += general(row.compression_ratio) + " " + general(row.kl_mean) + " " +
                                     general(row.kl_ci95.lo) + " " + general(row.kl_ci95.hi) + "\n";
  std::string kl;
  for (auto& [structure, lines] : by_structure) {
    // finished rows sorted by compression, one gnuplot data block (index) per lr
    std::vector<std::string> sorted;
    std::istringstream in(lines);
    for (std::string line; std::getline(in, line);) sorted.push_back(line);
    std::sort(sorted.begin(), sorted.end(),
              [](const std::string& a, const std::string& b) { return std::stod(a) < std::stod(b); });
    kl += "# " + structure + "\n";
    for (const auto& line : sorted) kl += line + "\n";
    kl += "\n\n";
  }
  write_file_atomically((sweep / "plots/kl_vs_compression.dat").string(), kl);
  std::string front;
  for (size_t index : pareto_front(rows))
    front += general(rows[index].compression_ratio) + " " + general(rows[index].kl_mean) + "\n";
  write_file_atomically((sweep / "plots/pareto_front.dat").string(), front);
}

std::string gnuplot_script(const fs::path& sweep, const std::vector<SweepRow>& rows) {
  const std::string plots = (sweep / "plots").string();
  std::ostringstream gp;
  gp << "set terminal pngcairo size 900,600 noenhanced\nset grid\nset key outside right\n"
     << "set output '" << plots << "/kl_vs_compression.png'\n"
     << "set title 'test KL(teacher||student) vs MLP compression'\n"
     << "set xlabel 'MLP compression ratio (dense / student parameters)'\nset ylabel 'test KL mean (nats), best lr'\n"
     << "plot ";
  int index = 0;
  for (const std::string& structure : finished_structures(rows))
    gp << "'" << plots << "/kl_vs_compression.dat' index " << index++ << " using 1:2:3:4 with yerrorlines title '"
       << structure << "', ";
  gp << "'" << plots << "/pareto_front.dat' using 1:2 with lines dashtype 2 lw 2 title 'Pareto front'\n";
  gp << "set output '" << plots << "/loss_curves.png'\n"
     << "set title 'calibration loss per point'\nset xlabel 'step'\nset ylabel 'training loss (KL)'\n"
     << "set logscale y\nplot ";
  bool first = true;
  for (const auto& row : rows) {
    if (!fs::exists(loss_curve_path(sweep, row))) continue;
    gp << (first ? "" : ", ") << "'" << loss_curve_path(sweep, row) << "' using 1:2 with lines title '" << row.name
       << "'";
    first = false;
  }
  if (first) gp << "NaN notitle";
  gp << "\n";
  return gp.str();
}

std::string calibration_plot(const SweepRow& row) { return "plots/calibration-" + row.name + ".png"; }

// Each calibrated point's curve (train loss, validation KL, best step) from its calibrate.h5.
void write_point_curves(const fs::path& sweep, const std::vector<SweepRow>& rows) {
  const fs::path work = sweep / "plots" / ".calibration";
  fs::create_directories(work);
  for (const auto& row : rows) {
    const fs::path calibrate = sweep / row.run_dir / "calibrate.h5";
    if (!row.failure.empty() || !fs::exists(calibrate)) continue;
    const CalibrationHistory history =
        read_calibration_history(CheckpointReader::open(calibrate.string(), "calibrate"));
    write_calibration_curve(history, "calibration of " + row.name, work, sweep / calibration_plot(row), std::cerr);
  }
  std::error_code ignored;
  fs::remove_all(work, ignored);
}

void write_plots(const fs::path& sweep, const std::vector<SweepRow>& rows) {
  write_plot_data(sweep, rows);
  write_point_curves(sweep, rows);
  const std::string script = (sweep / "plots/plots.gp").string();
  write_file_atomically(script, gnuplot_script(sweep, rows));
  const std::string command = "gnuplot '" + script + "' 2> '" + (sweep / "plots/gnuplot.log").string() + "'";
  if (std::system(command.c_str()) != 0)
    std::cerr << "report: gnuplot failed or is not installed; plots skipped (see "
              << (sweep / "plots/gnuplot.log").string() << ")\n";
}

}  // namespace

std::vector<SweepRow> read_sweep_rows(const std::string& sweep_dir) {
  const fs::path sweep = sweep_dir;
  const auto plan = read_json(sweep / "sweep.json");
  if (!plan || !plan->contains("points"))
    fail(kExitInput,
         "report: " + (sweep / "sweep.json").string() + ": missing or not a sweep plan (run circal sweep first)");
  std::vector<SweepRow> rows;
  for (const auto& point : plan->at("points")) {
    SweepRow row;
    row.name = point.at("name").get<std::string>();
    row.run_dir = point.at("run_dir").get<std::string>();
    row.block_size = point.value("block_size", 0);
    row.allocated_compression = point.value("compression", 0.0);
    row.structure = point.value("structure", "");
    row.lr = point.value("lr", NAN);
    const fs::path dir = sweep / row.run_dir;
    const auto metrics = read_json(dir / "metrics.json");
    if (metrics && metrics->contains("students") && !fs::exists(dir / "error.txt")) {
      read_metrics(row, *metrics);
      std::vector<std::pair<int, double>> curve;
      read_calibration_log(row, dir / "calibrate/log.jsonl", &curve);
      if (!curve.empty()) {
        fs::create_directories(sweep / "plots");
        std::string data;
        for (const auto& [step, loss] : curve) data += std::to_string(step) + " " + general(loss) + "\n";
        write_file_atomically(loss_curve_path(sweep, row), data);
      }
    } else {
      row.failure = failure_reason(sweep, dir, point);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void mark_best_lr(std::vector<SweepRow>& rows) {
  std::map<std::tuple<std::string, int, double>, size_t> best;
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].best_lr = false;
    if (!rows[i].failure.empty() || std::isnan(rows[i].kl_mean)) continue;
    const auto key = std::make_tuple(rows[i].structure, rows[i].block_size, rows[i].allocated_compression);
    auto it = best.find(key);
    if (it == best.end() || rows[i].kl_mean < rows[it->second].kl_mean) best[key] = i;
  }
  for (const auto& [key, index] : best) rows[index].best_lr = true;
}

std::vector<std::string> structure_verdicts(const std::vector<SweepRow>& rows) {
  std::map<int, std::vector<const SweepRow*>> by_block;  // the best point of each structure
  for (const auto& row : rows)
    if (row.failure.empty() && row.best_lr && row.block_size > 0) by_block[row.block_size].push_back(&row);
  std::vector<std::string> verdicts;
  for (auto& [block_size, best] : by_block) {
    if (best.size() < 2) continue;
    std::sort(best.begin(), best.end(), [](const SweepRow* a, const SweepRow* b) { return a->kl_mean < b->kl_mean; });
    const SweepRow& win = *best[0];
    const SweepRow& next = *best[1];
    const bool overlap = win.kl_ci95.hi >= next.kl_ci95.lo;
    std::ostringstream line;
    line << "At block size " << block_size << " (" << fixed_or_blank(win.compression_ratio, 2) << "x vs "
         << fixed_or_blank(next.compression_ratio, 2) << "x MLP compression), " << win.structure << " wins: test KL "
         << fixed_or_blank(win.kl_mean, 4) << " [" << fixed_or_blank(win.kl_ci95.lo, 4) << ", "
         << fixed_or_blank(win.kl_ci95.hi, 4) << "] (" << win.student << ") against " << next.structure << "'s "
         << fixed_or_blank(next.kl_mean, 4) << " [" << fixed_or_blank(next.kl_ci95.lo, 4) << ", "
         << fixed_or_blank(next.kl_ci95.hi, 4) << "] (" << next.student << "), "
         << fixed_or_blank(next.kl_mean - win.kl_mean, 4) << " nats lower ("
         << fixed_or_blank(next.kl_mean > 0 ? 100 * (1 - win.kl_mean / next.kl_mean) : NAN, 0)
         << "%); the 95% intervals "
         << (overlap ? "overlap, so the difference is not resolved by this test set." : "do not overlap.");
    verdicts.push_back(line.str());
  }
  return verdicts;
}

std::vector<size_t> pareto_front(const std::vector<SweepRow>& rows) {
  std::vector<size_t> front;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].failure.empty()) continue;
    bool dominated = false;
    for (size_t j = 0; j < rows.size() && !dominated; ++j)
      dominated = j != i && rows[j].failure.empty() && rows[j].compression_ratio >= rows[i].compression_ratio &&
                  rows[j].kl_mean <= rows[i].kl_mean &&
                  (rows[j].compression_ratio > rows[i].compression_ratio || rows[j].kl_mean < rows[i].kl_mean);
    if (!dominated) front.push_back(i);
  }
  std::sort(front.begin(), front.end(),
            [&](size_t a, size_t b) { return rows[a].compression_ratio < rows[b].compression_ratio; });
  return front;
}

namespace {

// "16", or "auto 16x" for an allocated point.
std::string block_size_cell(const SweepRow& row) {
  return row.block_size > 0 ? std::to_string(row.block_size) : "auto " + general(row.allocated_compression) + "x";
}

}  // namespace

std::string sweep_report_csv(const std::vector<SweepRow>& rows) {
  std::string csv =
      "point,structure,block_size,lr,status,student,compression_ratio,kl_mean,kl_ci95_lo,kl_ci95_hi,"
      "top1,top5_overlap,match_rate,calibration_steps,calibration_seconds,best_lr,failure\n";
  for (const auto& r : rows) {
    const bool ok = r.failure.empty();
    csv += csv_field(r.name) + "," + r.structure + "," + csv_field(block_size_cell(r)) + "," + general(r.lr) + "," +
           (ok ? "ok" : "failed") + "," + r.student + "," +
           (ok ? general(r.compression_ratio) + "," + general(r.kl_mean) + "," + general(r.kl_ci95.lo) + "," +
                     general(r.kl_ci95.hi) + "," + general(r.top1) + "," + general(r.top5_overlap) + "," +
                     general(r.match_rate) + "," + std::to_string(r.calibration_steps) + "," +
                     fixed_or_blank(r.calibration_seconds, 2)
               : std::string(",,,,,,,,")) +
           "," + (r.best_lr ? "1" : "0") + "," + csv_field(r.failure) + "\n";
  }
  return csv;
}

std::string sweep_report_markdown(const std::vector<SweepRow>& rows) {
  std::ostringstream md;
  md << "# Sweep report\n\n"
     << "Test-split metrics of each point's student (calibrated when calibration ran). "
        "KL is KL(teacher || student) in nats per position, mean with its 95% bootstrap interval; "
        "**bold** marks the best learning rate of each structure and block size.\n\n";
  const std::vector<std::string> verdicts = structure_verdicts(rows);
  for (const std::string& verdict : verdicts) md << verdict << "\n\n";
  md << "| point | structure | block size | lr | compression | test KL mean [95% CI] | top-1 | top-5 overlap | "
        "generation match | calib. steps | calib. time (s) |\n"
     << "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|\n";
  size_t failed = 0;
  for (const auto& r : rows) {
    if (!r.failure.empty()) {
      ++failed;
      continue;
    }
    const std::string mark = r.best_lr ? "**" : "";
    md << "| " << r.name << " | " << r.structure << " | " << block_size_cell(r) << " | " << mark << general(r.lr)
       << mark << " | " << fixed_or_blank(r.compression_ratio, 2) << "x | " << mark << fixed_or_blank(r.kl_mean, 4)
       << mark << " [" << fixed_or_blank(r.kl_ci95.lo, 4) << ", " << fixed_or_blank(r.kl_ci95.hi, 4) << "] | "
       << fixed_or_blank(r.top1, 3) << " | " << fixed_or_blank(r.top5_overlap, 3) << " | "
       << fixed_or_blank(r.match_rate, 3) << " | " << r.calibration_steps << " | "
       << fixed_or_blank(r.calibration_seconds, 1) << " |\n";
  }
  if (failed > 0) {
    md << "\n## Failed points (" << failed << ")\n\n| point | reason |\n|---|---|\n";
    for (const auto& r : rows)
      if (!r.failure.empty()) md << "| " << r.name << " | " << r.failure << " |\n";
  }
  md << "\n![test KL vs compression](plots/kl_vs_compression.png)\n\n![calibration loss](plots/loss_curves.png)\n";
  bool heading = false;
  for (const auto& r : rows) {
    if (!r.failure.empty() || r.calibration_steps == 0) continue;
    if (!heading) md << "\n## Calibration curves\n\nTrain loss and validation KL by step, the best step circled.\n";
    heading = true;
    md << "\n![" << r.name << "](" << calibration_plot(r) << ")\n";
  }
  return md.str();
}

std::vector<SweepRow> write_sweep_report(const std::string& sweep_dir) {
  std::vector<SweepRow> rows = read_sweep_rows(sweep_dir);
  mark_best_lr(rows);
  const fs::path sweep = sweep_dir;
  const std::vector<FrontierPoint> frontier = read_frontier(sweep_dir, rows);
  write_file_atomically((sweep / "report.csv").string(), sweep_report_csv(rows));
  write_file_atomically((sweep / "report.md").string(),
                        sweep_report_markdown(rows) + (frontier.empty() ? "" : frontier_markdown(frontier)));
  write_plots(sweep, rows);
  if (!frontier.empty()) write_frontier_plot(sweep_dir, frontier, std::cerr);
  return rows;
}

}  // namespace circal

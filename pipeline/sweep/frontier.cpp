#include "pipeline/sweep/frontier.hpp"

#include <nlohmann/json.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "pipeline/base/number_text.hpp"
#include "pipeline/config/names.hpp"
#include "pipeline/io/atomic_text_file.hpp"
#include "pipeline/plots/gnuplot.hpp"

namespace circal {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double number_at(const json& object, const std::string& pointer) {
  const json::json_pointer at(pointer);
  return object.contains(at) && object.at(at).is_number() ? object.at(at).get<double>() : NAN;
}

// rtn_4bit -> rtn; other names are their own series.
std::string method_of(const std::string& student) {
  const size_t cut = student.rfind('_');
  const bool quantized =
      cut != std::string::npos && student.size() > cut + 4 && student.compare(student.size() - 3, 3, "bit") == 0;
  return quantized ? student.substr(0, cut) : student;
}

// A student the same at every block size: the teacher and the quantized teachers.
bool independent_of_block_size(const FrontierPoint& p) {
  return p.student == name_of(StudentKind::Dense) || p.method == name_of(StudentKind::Rtn) ||
         p.method == name_of(StudentKind::Gptq);
}

void read_point(const fs::path& metrics_path, const SweepRow& row, std::set<std::string>& seen,
                std::vector<FrontierPoint>& points) {
  std::ifstream in(metrics_path);
  const json metrics = json::parse(in, nullptr, false);
  if (metrics.is_discarded() || !metrics.contains("students")) return;
  for (const auto& [name, s] : metrics["students"].items()) {
    FrontierPoint p;
    p.student = name;
    p.method = method_of(name);
    p.point = row.name;
    p.block_size = row.block_size;
    p.bits = number_at(s, "/bits_per_patched_weight");
    if (std::isnan(p.bits) || name == "zeroed") continue;
    if (independent_of_block_size(p) && !seen.insert(name).second) continue;
    // A quantized circulant (calibrated_rtn) is one line per block size, its widths along it.
    if (p.method != p.student && !independent_of_block_size(p)) p.method += " b=" + std::to_string(row.block_size);
    p.kl_mean = number_at(s, "/kl/mean");
    p.kl_ci95 = {number_at(s, "/kl/ci95/0"), number_at(s, "/kl/ci95/1")};
    p.perplexity = number_at(s, "/perplexity");
    p.perplexity_ci95 = {number_at(s, "/perplexity_ci95/0"), number_at(s, "/perplexity_ci95/1")};
    points.push_back(p);
  }
}

void mark_pareto(std::vector<FrontierPoint>& points) {
  for (FrontierPoint& p : points) {
    p.pareto = !std::isnan(p.kl_mean);
    for (const FrontierPoint& q : points)
      if (&q != &p && q.bits <= p.bits && q.kl_mean <= p.kl_mean && (q.bits < p.bits || q.kl_mean < p.kl_mean))
        p.pareto = false;
  }
}

std::string with_interval(double value, const Interval& ci, int digits) {
  return fixed_or_blank(value, digits) + " [" + fixed_or_blank(ci.lo, digits) + ", " + fixed_or_blank(ci.hi, digits) +
         "]";
}

}  // namespace

std::vector<FrontierPoint> read_frontier(const std::string& sweep_dir, const std::vector<SweepRow>& rows) {
  std::vector<FrontierPoint> points;
  std::set<std::string> seen;
  for (const SweepRow& row : rows)
    if (row.failure.empty() && row.best_lr)
      read_point(fs::path(sweep_dir) / row.run_dir / "metrics.json", row, seen, points);
  std::stable_sort(points.begin(), points.end(),
                   [](const FrontierPoint& a, const FrontierPoint& b) { return a.bits > b.bits; });
  mark_pareto(points);
  return points;
}

std::string frontier_markdown(const std::vector<FrontierPoint>& points) {
  std::ostringstream md;
  md << "\n## Equal bytes: test KL and perplexity against bits per patched-MLP weight\n\n"
     << "Bits per weight = 8 x the bytes the patched matrices take / their weights: float32 parameters at 32 "
        "bits (a circulant of block size b: 32 / b), quantized students their packed codes, half scales and "
        "zero points (docs/DESIGN.md section 8.4; quantization simulated in float32). 95% bootstrap intervals "
        "over test prompts. **Pareto**: no other student has at most as many bits and a lower KL.\n\n"
     << "| student | point | bits / weight | test KL [95% CI] | perplexity [95% CI] | Pareto |\n"
     << "|---|---|---:|---|---|:---:|\n";
  for (const FrontierPoint& p : points)
    md << "| " << p.student << " | " << p.point << " | " << fixed_or_blank(p.bits, 3) << " | "
       << with_interval(p.kl_mean, p.kl_ci95, 4) << " | " << with_interval(p.perplexity, p.perplexity_ci95, 3) << " | "
       << (p.pareto ? "**yes**" : "") << " |\n";
  md << "\n![test KL vs bits per weight](plots/frontier.png)\n";
  return md.str();
}

bool write_frontier_plot(const std::string& sweep_dir, const std::vector<FrontierPoint>& points,
                         std::ostream& warnings) {
  const fs::path plots = fs::path(sweep_dir) / "plots", work = plots / ".frontier";
  fs::create_directories(work);
  std::map<std::string, std::vector<const FrontierPoint*>> series;
  for (const FrontierPoint& p : points)
    if (p.bits > 0 && p.kl_mean > 0) series[p.method].push_back(&p);
  std::string data, plot;
  int index = 0;
  for (auto& [method, members] : series) {
    std::sort(members.begin(), members.end(), [](auto* a, auto* b) { return a->bits < b->bits; });
    for (const FrontierPoint* p : members)
      data += fixed(p->bits, 6) + " " + fixed(p->kl_mean, 8) + " " + fixed(p->kl_ci95.lo, 8) + " " +
              fixed(p->kl_ci95.hi, 8) + "\n";
    data += "\n\n";
    plot += std::string(plot.empty() ? "plot " : ", ") + gnuplot_quoted((work / "frontier.dat").string()) + " index " +
            std::to_string(index++) + " using 1:2:3:4 with yerrorlines title " + gnuplot_quoted(method);
  }
  if (plot.empty()) return false;
  write_file_atomically((work / "frontier.dat").string(), data);
  const fs::path tmp = work / "frontier.png";
  const std::string script =
      "set terminal pngcairo size 900,600 noenhanced\nset output " + gnuplot_quoted(tmp.string()) +
      "\nset grid\nset key outside right\nset logscale x 2\nset logscale y\n"
      "set title 'equal bytes: test KL(teacher||student) vs bits per patched-MLP weight'\n"
      "set xlabel 'bits per patched-MLP weight'\nset ylabel 'test KL mean (nats), 95% interval'\n" +
      plot + "\n";
  const bool drawn = run_gnuplot(script, work, "frontier", tmp, plots / "frontier.png", warnings);
  std::error_code ignored;
  fs::remove_all(work, ignored);
  return drawn;
}

}  // namespace circal

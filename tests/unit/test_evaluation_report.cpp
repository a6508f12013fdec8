// metrics.json must equal a recomputation from the per-position arrays, and report.md must
// say what the numbers say.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/atomic_text_file.hpp"
#include "stages/evaluate/evaluation_markdown.hpp"
#include "stages/evaluate/evaluation_report.hpp"

using namespace circal;

namespace {

// Three prompts of 3, 2 and 4 positions; families A, B, A; languages EN, DE, EN. KL is
// uniform in [0, scale]; scale 0 makes a student that equals the teacher (KL 0, top-1 1).
EvaluationTables synthetic_tables(const std::vector<std::pair<std::string, double>>& students) {
  EvaluationTables t;
  t.family = {"A", "B", "A"};
  t.language = {"EN", "DE", "EN"};
  t.topk = {5, 10};
  t.generate_tokens = 8;
  const std::vector<int> lengths = {3, 2, 4};
  for (int p = 0; p < 3; ++p)
    for (int i = 0; i < lengths[p]; ++i) {
      t.position_prompt.push_back(p);
      t.position_is_last.push_back(i == lengths[p] - 1);
    }
  std::mt19937 rng(17);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (const auto& [name, scale] : students) {
    EvaluatedStudent s{name, {}, {}, {}};
    for (const std::string& metric : position_metric_names(t.topk))
      for (size_t r = 0; r < t.position_prompt.size(); ++r)
        s.positions[metric].push_back(metric == "kl"     ? scale * uniform(rng)
                                      : metric == "top1" ? (scale == 0 || uniform(rng) < 0.5 ? 1.0 : 0.0)
                                                         : uniform(rng));
    for (int p = 0; p < 3; ++p) {
      s.drift_match_rate.push_back(uniform(rng));
      s.drift_first_divergence.push_back(std::floor(8 * uniform(rng)));
    }
    t.students.push_back(std::move(s));
  }
  return t;
}

double mean_where(const std::vector<double>& values, const std::vector<bool>& keep) {
  double sum = 0, count = 0;
  for (size_t i = 0; i < values.size(); ++i)
    if (keep[i]) sum += values[i], count += 1;
  return sum / count;
}

double median_where(const std::vector<double>& values, const std::vector<bool>& keep) {
  std::vector<double> kept;
  for (size_t i = 0; i < values.size(); ++i)
    if (keep[i]) kept.push_back(values[i]);
  std::sort(kept.begin(), kept.end());
  const size_t n = kept.size();
  return n % 2 ? kept[n / 2] : (kept[n / 2 - 1] + kept[n / 2]) / 2;
}

// Every object that has a "ci95" key, wherever it sits in the document.
void collect_statistics(const Json& node, std::vector<const Json*>& out) {
  if (!node.is_object()) return;
  if (node.contains("ci95")) out.push_back(&node);
  for (const auto& [key, child] : node.items()) collect_statistics(child, out);
}

const BootstrapOptions kBootstrap{200, 5, 0.95};

}  // namespace

TEST_CASE("metrics.json aggregates equal a recomputation from the per-position arrays") {
  const EvaluationTables t = synthetic_tables({{"dense", 0.0}, {"frobenius", 3.0}});
  const Json m = metrics_json(t, {1000, 125}, kBootstrap, "abc123");
  const size_t n = t.position_prompt.size();
  const std::vector<bool> all(n, true);
  std::vector<bool> last(n), family_a(n), not_last(n);
  for (size_t r = 0; r < n; ++r) {
    last[r] = t.position_is_last[r];
    not_last[r] = !last[r];
    family_a[r] = t.family[t.position_prompt[r]] == "A";
  }
  for (const EvaluatedStudent& s : t.students) {
    const Json& js = m["students"][s.name];
    CHECK(js["positions"] == n);
    for (const std::string& metric : summarized_metric_names(t.topk)) {
      const std::vector<double>& v = s.positions.at(metric);
      CHECK(js[metric]["mean"].get<double>() == doctest::Approx(mean_where(v, all)));
      CHECK(js[metric]["median"].get<double>() == doctest::Approx(median_where(v, all)));
      CHECK(js[metric]["max"].get<double>() == *std::max_element(v.begin(), v.end()));
      CHECK(js["last_position"][metric]["mean"].get<double>() == doctest::Approx(mean_where(v, last)));
      CHECK(js["last_position"][metric]["median"].get<double>() == doctest::Approx(median_where(v, last)));
      CHECK(js["by_family"]["A"][metric]["mean"].get<double>() == doctest::Approx(mean_where(v, family_a)));
      CHECK(js["by_language"]["EN"][metric]["mean"].get<double>() == doctest::Approx(mean_where(v, family_a)));
    }
    std::vector<double> nll_gap(n);
    for (size_t r = 0; r < n; ++r) nll_gap[r] = s.positions.at("student_nll")[r] - s.positions.at("teacher_nll")[r];
    CHECK(js["ppl_ratio"].get<double>() == doctest::Approx(std::exp(mean_where(nll_gap, not_last))));
    const double teacher_ppl = std::exp(mean_where(s.positions.at("teacher_nll"), not_last));
    CHECK(js["perplexity"].get<double>() ==
          doctest::Approx(std::exp(mean_where(s.positions.at("student_nll"), not_last))));
    CHECK(js["teacher_perplexity"].get<double>() == doctest::Approx(teacher_ppl));
    CHECK(js["scored_positions"] == n - 3);
    if (&s == &t.students.front()) CHECK(m["perplexity"]["teacher"].get<double>() == doctest::Approx(teacher_ppl));
    std::vector<bool> family_b_not_last(n);
    for (size_t r = 0; r < n; ++r) family_b_not_last[r] = not_last[r] && !family_a[r];
    CHECK(js["by_family"]["B"]["perplexity"].get<double>() ==
          doctest::Approx(std::exp(mean_where(s.positions.at("student_nll"), family_b_not_last))));
    CHECK(js["by_family"]["B"]["scored_positions"] == 1);
    const double match = (s.drift_match_rate[0] + s.drift_match_rate[1] + s.drift_match_rate[2]) / 3;
    CHECK(js["drift"]["match_rate"].get<double>() == doctest::Approx(match));
    CHECK(js["by_family"]["B"]["drift"]["first_divergence_mean"].get<double>() == s.drift_first_divergence[1]);
    CHECK(js["by_family"]["A"]["prompts"] == 2);
    CHECK(js["by_family"]["A"]["positions"] == 7);
  }
  CHECK(m["students"]["dense"]["kl"]["max"] == 0.0);
  CHECK(m["compression"]["ratio"].get<double>() == 8.0);
  CHECK(m["test_prompts"] == 3);
  CHECK(m["fingerprint"] == "abc123");
}

TEST_CASE("perplexity: exp of the mean next-token NLL, last positions left out, in metrics.json and report.md") {
  // Hand-made NLLs: the teacher ln 4 and the student ln 8 at every position that has a next
  // token; the last positions carry 50 nats, which would dominate if they were counted.
  EvaluationTables t = synthetic_tables({{"dense", 0.0}, {"calibrated", 1.0}});
  for (EvaluatedStudent& s : t.students)
    for (size_t r = 0; r < t.position_prompt.size(); ++r) {
      const bool last = t.position_is_last[r];
      s.positions["teacher_nll"][r] = last ? 50.0 : std::log(4.0);
      s.positions["student_nll"][r] = last ? 50.0 : s.name == "dense" ? std::log(4.0) : std::log(8.0);
    }
  const Json m = metrics_json(t, {1000, 125}, kBootstrap, "f");
  CHECK(m["perplexity"]["teacher"].get<double>() == doctest::Approx(4.0));
  CHECK(m["perplexity"]["scored_positions"] == 6);
  CHECK(m["students"]["dense"]["perplexity"].get<double>() == doctest::Approx(4.0));
  CHECK(m["students"]["calibrated"]["perplexity"].get<double>() == doctest::Approx(8.0));
  CHECK(m["students"]["calibrated"]["teacher_perplexity"].get<double>() == doctest::Approx(4.0));
  CHECK(m["students"]["calibrated"]["ppl_ratio"].get<double>() == doctest::Approx(2.0));
  const std::string report = report_markdown(m, {});
  const size_t section = report.find("## Perplexity");
  REQUIRE(section != std::string::npos);
  CHECK(section < report.find("## Findings"));
  CHECK(report.find("| teacher | 4.00 | 1.000 |") != std::string::npos);
  CHECK(report.find("| dense | 4.00 | 1.000 |") != std::string::npos);
  CHECK(report.find("| calibrated | 8.00 | 2.000 |") != std::string::npos);
  CHECK(report.find("over 6 positions: every position but the last") != std::string::npos);
}

TEST_CASE("every statistic object has the same keys and an interval around its mean") {
  const Json m = metrics_json(synthetic_tables({{"dense", 0.0}, {"zeroed", 3.0}}), {10, 10}, kBootstrap, "f");
  std::vector<const Json*> statistics;
  collect_statistics(m, statistics);
  // 2 students x 8 metrics x (all + last + 2 families + 2 languages)
  CHECK(statistics.size() == 2 * 8 * 6);
  const std::set<std::string> expected = {"mean", "median", "p90", "p99", "max", "ci95"};
  for (const Json* s : statistics) {
    std::set<std::string> keys;
    for (const auto& [key, value] : s->items()) keys.insert(key);
    CHECK(keys == expected);
    CHECK((*s)["ci95"].size() == 2);
    CHECK((*s)["ci95"][0].get<double>() <= (*s)["mean"].get<double>() + 1e-12);
    CHECK((*s)["ci95"][1].get<double>() >= (*s)["mean"].get<double>() - 1e-12);
  }
}

TEST_CASE("metrics.json refuses arrays of inconsistent length") {
  EvaluationTables t = synthetic_tables({{"dense", 0.0}});
  t.students[0].positions["kl"].pop_back();
  CHECK_THROWS_AS(metrics_json(t, {1, 1}, kBootstrap, "f"), CircalError);
}

TEST_CASE("report.md: headline table first, findings that follow the numbers") {
  const Json similar =
      metrics_json(synthetic_tables({{"dense", 0.0}, {"zeroed", 3.0}, {"frobenius", 3.0}, {"least_squares", 1.0}}),
                   {1000, 125}, kBootstrap, "f");
  const std::string report = report_markdown(similar, {"plots/kl_cdf.png"});
  const size_t headline = report.find("## Headline");
  REQUIRE(headline != std::string::npos);
  CHECK(headline < report.find("## Last prompt position"));
  CHECK(report.find("| dense | 0.0000 [0.0000, 0.0000] |") != std::string::npos);
  CHECK(report.find("![plots/kl_cdf.png](plots/kl_cdf.png)") != std::string::npos);
  const std::vector<std::string> notes = report_notes(similar);
  const auto says = [&](const std::string& text) {
    return std::any_of(notes.begin(), notes.end(),
                       [&](const std::string& n) { return n.find(text) != std::string::npos; });
  };
  CHECK(says("reproduces the teacher exactly"));
  const double kl_frob = similar["students"]["frobenius"]["kl"]["mean"].get<double>();
  const double kl_zero = similar["students"]["zeroed"]["kl"]["mean"].get<double>();
  CHECK(says("frobenius is no better than zeroing") == (kl_frob >= 0.9 * kl_zero));
  CHECK(says("least_squares removes"));
  CHECK(says("least_squares lowers the mean KL"));
}

TEST_CASE("a dense student that differs from the teacher is flagged") {
  const Json m = metrics_json(synthetic_tables({{"dense", 0.5}}), {1, 1}, kBootstrap, "f");
  const std::vector<std::string> notes = report_notes(m);
  CHECK(notes.front().rfind("WARNING: dense differs", 0) == 0);
}

TEST_CASE("write_file_atomically replaces the file and leaves no temporary") {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "circal_test_atomic";
  std::filesystem::remove_all(dir);
  const std::string path = (dir / "sub" / "out.txt").string();
  write_file_atomically(path, "first");
  write_file_atomically(path, "second\n");
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(content == "second\n");
  CHECK(!std::filesystem::exists(path + ".tmp"));
  try {
    write_file_atomically((dir / "sub" / "out.txt" / "below_a_file").string(), "x");
    FAIL("expected a CircalError");
  } catch (const CircalError& e) {
    CHECK(e.code() == kExitIo);
    CHECK(std::string(e.what()).find("below_a_file") != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

// The structure verdict of a single run: the best student of each structure by mean test KL,
// the sentence's numbers and wording, and which students the default evaluate.students means.
#include <doctest/doctest.h>

#include "pipeline/config/config.hpp"
#include "stages/evaluate/evaluation_markdown.hpp"
#include "stages/evaluate/structure_verdict.hpp"

using namespace circal;

namespace {

Json student(double kl, double lo, double hi, double top1) {
  return Json{{"kl", {{"mean", kl}, {"ci95", Json::array({lo, hi})}}}, {"top1", {{"mean", top1}}}};
}

// 12 patched 256 x 768 matrices at b 16: 147456 circulant = 147456 low rank (rank 12).
const CompressionCounts kCounts = [] {
  CompressionCounts c{2359296, 147456};
  c.mlp_params_lowrank = 147456;
  return c;
}();

}  // namespace

TEST_CASE("circulant calibrated against low-rank aware: winner, margin, intervals, what was calibrated") {
  Json metrics{{"students",
                {{"dense", student(0, 0, 0, 1)},
                 {"least_squares", student(3.04, 2.92, 3.17, 0.02)},
                 {"calibrated", student(0.28, 0.25, 0.31, 0.73)},
                 {"lowrank_aware", student(0.52, 0.45, 0.59, 0.65)}}}};
  const Json v = structure_comparison(metrics, kCounts);
  CHECK(v["winner"] == "circulant");
  CHECK(v["circulant"]["student"] == "calibrated");
  CHECK(v["lowrank"]["student"] == "lowrank_aware");
  CHECK(v["kl_difference"].get<double>() == doctest::Approx(0.24));
  CHECK(v["relative_difference"].get<double>() == doctest::Approx(1 - 0.28 / 0.52));
  CHECK(v["intervals_overlap"] == false);
  CHECK(v["compression_ratio"].get<double>() == 16.0);
  CHECK(v["sentence"] ==
        "At 16.0x MLP compression (147456 circulant vs 147456 low-rank MLP parameters), circulant calibrated "
        "beats low-rank aware (whitened SVD): test KL 0.2800 [0.2500, 0.3100] vs 0.5200 [0.4500, 0.5900] nats, "
        "0.2400 nats (46%) lower; the 95% intervals do not overlap; low-rank was not calibrated in this run, so "
        "this compares a calibrated student with a projection (a sweep over project.structure compares both "
        "calibrated).");
  // The projections alone, like for like: here the low-rank one starts better.
  CHECK(v["projection_sentence"] ==
        "Before calibration, low-rank aware (whitened SVD) beats circulant least squares: test KL 0.5200 "
        "[0.4500, 0.5900] vs 3.0400 [2.9200, 3.1700] nats, 2.5200 nats (83%) lower; the 95% intervals do not "
        "overlap.");
  metrics["structure_comparison"] = v;
  const std::string section = structure_verdict_markdown(metrics);
  CHECK(section.find(v["sentence"].get<std::string>()) != std::string::npos);
  CHECK(section.find(v["projection_sentence"].get<std::string>()) != std::string::npos);
}

TEST_CASE("low rank wins when its KL is lower; overlapping intervals are said to leave it unresolved") {
  const Json metrics{{"students",
                      {{"frobenius", student(3.2, 3.0, 3.4, 0.07)},
                       {"least_squares", student(0.60, 0.50, 0.70, 0.5)},
                       {"lowrank_svd", student(0.70, 0.6, 0.8, 0.4)},
                       {"lowrank_aware", student(0.55, 0.45, 0.65, 0.5)}}}};
  const Json v = structure_comparison(metrics, kCounts);
  CHECK(v["winner"] == "lowrank");
  CHECK(v["circulant"]["student"] == "least_squares");  // the better of the circulant two
  CHECK(v["lowrank"]["student"] == "lowrank_aware");
  CHECK(v["intervals_overlap"] == true);
  const std::string s = v["sentence"];
  CHECK(s.find("low-rank aware (whitened SVD) beats circulant least squares: test KL 0.5500 [0.4500, 0.6500] "
               "vs 0.6000 [0.5000, 0.7000] nats, 0.0500 nats (8%) lower; the 95% intervals overlap, so this "
               "test set does not resolve the difference; neither was calibrated in this run.") != std::string::npos);
  CHECK(v["projection_sentence"] == "");  // the verdict already is projection against projection
}

TEST_CASE("one structure only: no winner, and the sentence says so") {
  const Json metrics{{"students", {{"dense", student(0, 0, 0, 1)}, {"calibrated", student(0.3, 0.2, 0.4, 0.7)}}}};
  const Json v = structure_comparison(metrics, kCounts);
  CHECK(v["winner"].is_null());
  CHECK(v["lowrank"].is_null());
  CHECK(v["circulant"]["student"] == "calibrated");
  CHECK(v["sentence"].get<std::string>().find("only circulant students were evaluated") != std::string::npos);
}

// The students' names, as the report writes them.
std::vector<std::string> names(const std::vector<StudentKind>& kinds) {
  std::vector<std::string> out;
  for (StudentKind kind : kinds) out.push_back(name_of(kind));
  return out;
}

TEST_CASE("evaluate.students [] means what the run produces") {
  Config config;
  CHECK(names(evaluated_students(config)) ==
        std::vector<std::string>{"dense", "zeroed", "frobenius", "least_squares", "calibrated", "lowrank_aware"});
  config.project.compare_lowrank = false;
  CHECK(names(evaluated_students(config)) ==
        std::vector<std::string>{"dense", "zeroed", "frobenius", "least_squares", "calibrated"});
  config.project.structure = Structure::LowRank;
  CHECK(names(evaluated_students(config)) ==
        std::vector<std::string>{"dense", "zeroed", "lowrank_svd", "lowrank_aware", "lowrank_calibrated"});
  config.evaluate.students = {StudentKind::Dense, StudentKind::Calibrated};
  CHECK(names(evaluated_students(config)) == std::vector<std::string>{"dense", "calibrated"});
}

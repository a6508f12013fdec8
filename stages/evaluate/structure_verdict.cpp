#include "stages/evaluate/structure_verdict.hpp"

#include <cmath>
#include <cstdio>

#include "pipeline/base/number_text.hpp"

namespace circal {

namespace {

struct Candidate {
  StudentKind kind;
  const char* name;  // name_of(kind): the student's key in metrics.json
  const char* prose;
};

// Each structure's students, the calibrated one first so it wins a tie.
const std::vector<Candidate>& candidates(Structure structure) {
  static const auto candidate = [](StudentKind kind, const char* prose) {
    return Candidate{kind, name_of(kind), prose};
  };
  static const std::vector<Candidate> circulant = {candidate(StudentKind::Calibrated, "circulant calibrated"),
                                                   candidate(StudentKind::LeastSquares, "circulant least squares"),
                                                   candidate(StudentKind::Frobenius, "circulant Frobenius")};
  static const std::vector<Candidate> lowrank = {candidate(StudentKind::LowRankCalibrated, "low-rank calibrated"),
                                                 candidate(StudentKind::LowRankAware, "low-rank aware (whitened SVD)"),
                                                 candidate(StudentKind::LowRankSvd, "low-rank truncated SVD")};
  return structure == Structure::LowRank ? lowrank : circulant;
}

// null (a NaN in metrics.json) reads as NaN.
double num(const Json& value) { return value.is_number() ? value.get<double>() : std::nan(""); }

double kl_of(const Json& student) { return num(student["kl"]["mean"]); }

const Candidate* find(StudentKind kind) {
  for (const Candidate& c : candidates(student_source(kind).structure))
    if (c.kind == kind) return &c;
  return nullptr;
}

// The structure's evaluated student of lowest mean test KL, or nullptr.
const Candidate* best_of(const Json& students, Structure structure) {
  const Candidate* best = nullptr;
  for (const Candidate& c : candidates(structure)) {
    if (!students.contains(c.name) || std::isnan(kl_of(students[c.name]))) continue;
    if (!best || kl_of(students[c.name]) < kl_of(students[best->name])) best = &c;
  }
  return best;
}

std::string interval(const Json& side) {
  return fixed(num(side["kl_mean"]), 4) + " [" + fixed(num(side["kl_ci95"][0]), 4) + ", " +
         fixed(num(side["kl_ci95"][1]), 4) + "]";
}

Json side(const Json& students, const Candidate& c, uint64_t params) {
  const Json& s = students[c.name];
  return Json{{"student", c.name},          {"calibrated", student_source(c.kind).calibrated},
              {"kl_mean", s["kl"]["mean"]}, {"kl_ci95", s["kl"]["ci95"]},
              {"top1", s["top1"]["mean"]},  {"mlp_params", params}};
}

bool overlap(const Json& a, const Json& b) {
  // A missing interval cannot show a difference: counted as overlapping.
  return !(num(a["kl_ci95"][1]) < num(b["kl_ci95"][0]) || num(b["kl_ci95"][1]) < num(a["kl_ci95"][0]));
}

// "X beats Y: test KL a [..] vs b [..] nats, d nats (p%) lower; the 95% intervals ...".
std::string beats(const std::string& winner, const Json& win, const std::string& loser, const Json& lose) {
  const double a = num(win["kl_mean"]), b = num(lose["kl_mean"]);
  return winner + " beats " + loser + ": test KL " + interval(win) + " vs " + interval(lose) + " nats, " +
         fixed(b - a, 4) + " nats (" + fixed(b > 0 ? 100 * (1 - a / b) : NAN, 0) + "%) lower; the 95% intervals " +
         (overlap(win, lose) ? "overlap, so this test set does not resolve the difference" : "do not overlap");
}

// What the comparison leaves out, so the verdict is not read as calibrated against calibrated.
std::string calibration_clause(const Json& circulant, const Json& lowrank) {
  const bool c = circulant["calibrated"].get<bool>(), l = lowrank["calibrated"].get<bool>();
  if (c && l) return "both calibrated.";
  if (!c && !l) return "neither was calibrated in this run.";
  return std::string(c ? "low-rank" : "circulant") +
         " was not calibrated in this run, so this compares a calibrated student with a projection "
         "(a sweep over project.structure compares both calibrated).";
}

}  // namespace

Json structure_comparison(const Json& metrics, const CompressionCounts& compression) {
  const Json& students = metrics["students"];
  const Candidate* circulant = best_of(students, Structure::Circulant);
  const Candidate* lowrank = best_of(students, Structure::LowRank);
  const double ratio = compression.mlp_params_circulant
                           ? double(compression.mlp_params_dense) / double(compression.mlp_params_circulant)
                           : std::nan("");
  Json out{{"compression_ratio", std::isfinite(ratio) ? Json(ratio) : Json(nullptr)},
           {"circulant", circulant ? side(students, *circulant, compression.mlp_params_circulant) : Json(nullptr)},
           {"lowrank", lowrank ? side(students, *lowrank, compression.mlp_params_lowrank) : Json(nullptr)},
           {"winner", nullptr},
           {"kl_difference", nullptr},
           {"relative_difference", nullptr},
           {"intervals_overlap", nullptr},
           {"sentence", ""},
           {"projection_sentence", ""}};
  const std::string at = "At " + fixed(ratio, 1) + "x MLP compression";
  if (!circulant || !lowrank) {
    out["sentence"] = at + ", only " +
                      std::string(circulant ? "circulant"
                                  : lowrank ? "low-rank"
                                            : "no structured") +
                      " students were evaluated in this run: no structure comparison (evaluate.students, "
                      "project.compare_lowrank; a sweep over project.structure compares both).";
    return out;
  }
  const Json c = out["circulant"], l = out["lowrank"];
  const bool circulant_wins = num(c["kl_mean"]) <= num(l["kl_mean"]);
  const Json& win = circulant_wins ? c : l;
  const Json& lose = circulant_wins ? l : c;
  const Candidate& w = circulant_wins ? *circulant : *lowrank;
  const Candidate& o = circulant_wins ? *lowrank : *circulant;
  out["winner"] = name_of(circulant_wins ? Structure::Circulant : Structure::LowRank);
  out["kl_difference"] = num(lose["kl_mean"]) - num(win["kl_mean"]);
  if (num(lose["kl_mean"]) > 0) out["relative_difference"] = 1 - num(win["kl_mean"]) / num(lose["kl_mean"]);
  out["intervals_overlap"] = overlap(win, lose);
  out["sentence"] = at + " (" + std::to_string(compression.mlp_params_circulant) + " circulant vs " +
                    std::to_string(compression.mlp_params_lowrank) + " low-rank MLP parameters), " +
                    beats(w.prose, win, o.prose, lose) + "; " + calibration_clause(c, l);
  // Like for like when calibration is on one side only: the two projections before it.
  const Candidate* ls = find(StudentKind::LeastSquares);
  const Candidate* aware = find(StudentKind::LowRankAware);
  if (c["calibrated"] != l["calibrated"] && students.contains(ls->name) && students.contains(aware->name)) {
    const Json a = side(students, *ls, compression.mlp_params_circulant);
    const Json b = side(students, *aware, compression.mlp_params_lowrank);
    const bool first = num(a["kl_mean"]) <= num(b["kl_mean"]);
    out["projection_sentence"] = "Before calibration, " +
                                 (first ? beats(ls->prose, a, aware->prose, b) : beats(aware->prose, b, ls->prose, a)) +
                                 ".";
  }
  return out;
}

std::string structure_verdict_markdown(const Json& metrics) {
  if (!metrics.contains("structure_comparison")) return "";
  const Json& comparison = metrics["structure_comparison"];
  std::string out = "## Circulant or low rank\n\n" + comparison["sentence"].get<std::string>() + "\n";
  const std::string projections = comparison["projection_sentence"].get<std::string>();
  if (!projections.empty()) out += "\n" + projections + "\n";
  return out + "\n";
}

}  // namespace circal

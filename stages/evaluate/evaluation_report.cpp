#include "stages/evaluate/evaluation_report.hpp"

#include <cmath>
#include <set>

#include "pipeline/base/errors.hpp"
#include "stages/evaluate/structure_verdict.hpp"

namespace circal {

std::vector<std::string> position_metric_names(const std::vector<int>& topk) {
  std::vector<std::string> names = summarized_metric_names(topk);
  names.push_back("teacher_nll");
  names.push_back("student_nll");
  return names;
}

std::vector<std::string> summarized_metric_names(const std::vector<int>& topk) {
  std::vector<std::string> names = {"kl", "cosine", "l2", "mse", "top1"};
  for (int k : topk) names.push_back("top" + std::to_string(k) + "_overlap");
  names.push_back("delta_p");
  return names;
}

namespace {

Json number(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

double mean_of(const std::vector<double>& values) {
  if (values.empty()) return std::nan("");
  double sum = 0;
  for (double v : values) sum += v;
  return sum / double(values.size());
}

// Which positions and prompts a block of statistics covers.
struct Selection {
  std::vector<size_t> positions;
  std::vector<size_t> prompts;
};

std::vector<double> pick(const std::vector<double>& values, const std::vector<size_t>& rows) {
  std::vector<double> out;
  out.reserve(rows.size());
  for (size_t r : rows) out.push_back(values.at(r));
  return out;
}

std::vector<int> prompt_ids(const EvaluationTables& tables, const std::vector<size_t>& rows) {
  std::vector<int> out;
  out.reserve(rows.size());
  for (size_t r : rows) out.push_back(tables.position_prompt[r]);
  return out;
}

// Prompts accepted by `keep` and their positions (all, or only the last of each prompt).
template <class Keep>
Selection select(const EvaluationTables& tables, Keep keep, bool last_only) {
  Selection s;
  for (size_t p = 0; p < tables.family.size(); ++p)
    if (keep(p)) s.prompts.push_back(p);
  const std::set<size_t> chosen(s.prompts.begin(), s.prompts.end());
  for (size_t r = 0; r < tables.position_prompt.size(); ++r)
    if (chosen.count(size_t(tables.position_prompt[r])) && (!last_only || tables.position_is_last[r]))
      s.positions.push_back(r);
  return s;
}

Json metric_statistics(const EvaluationTables& tables, const EvaluatedStudent& student, const Selection& selection,
                       const BootstrapOptions& bootstrap) {
  Json out = Json::object();
  const std::vector<int> groups = prompt_ids(tables, selection.positions);
  for (const std::string& name : summarized_metric_names(tables.topk))
    out[name] = statistic_json(summarize(pick(student.positions.at(name), selection.positions), groups, bootstrap));
  return out;
}

// Mean NLL of the actual next token over the selected positions that have one: the last
// position of a prompt or window has no next token (its delta_p falls back to the teacher's
// argmax, which would flatter every model), and BOS is never predicted.
struct NextTokenNll {
  double teacher = std::nan(""), student = std::nan("");
  size_t scored = 0;
};

NextTokenNll next_token_nll(const EvaluationTables& tables, const EvaluatedStudent& student,
                            const std::vector<size_t>& positions) {
  double teacher = 0, learner = 0;
  NextTokenNll out;
  for (size_t r : positions) {
    if (tables.position_is_last[r]) continue;
    teacher += student.positions.at("teacher_nll")[r];
    learner += student.positions.at("student_nll")[r];
    ++out.scored;
  }
  if (out.scored) out.teacher = teacher / double(out.scored), out.student = learner / double(out.scored);
  return out;
}

// exp of the 95% bootstrap interval (prompts resampled) of the mean next-token NLL: the
// perplexity's interval (exp is increasing).
Json perplexity_interval(const EvaluationTables& tables, const EvaluatedStudent& student, const Selection& selection,
                         const BootstrapOptions& bootstrap) {
  std::vector<double> nll;
  std::vector<int> prompt;
  for (size_t r : selection.positions) {
    if (tables.position_is_last[r]) continue;
    nll.push_back(student.positions.at("student_nll")[r]);
    prompt.push_back(tables.position_prompt[r]);
  }
  const auto [lo, hi] = bootstrap_mean_interval(nll, prompt, bootstrap);
  return Json::array({number(std::exp(lo)), number(std::exp(hi))});
}

// ppl_ratio = exp(mean NLL_S - mean NLL_T); perplexity and teacher_perplexity = exp(mean NLL)
// of each over the same positions (the teacher's is the same for every student).
void add_perplexities(const EvaluationTables& tables, const EvaluatedStudent& student, const Selection& selection,
                      const BootstrapOptions& bootstrap, Json& block) {
  const NextTokenNll nll = next_token_nll(tables, student, selection.positions);
  block["ppl_ratio"] = number(std::exp(nll.student - nll.teacher));
  block["perplexity"] = number(std::exp(nll.student));
  block["perplexity_ci95"] = perplexity_interval(tables, student, selection, bootstrap);
  block["teacher_perplexity"] = number(std::exp(nll.teacher));
  block["scored_positions"] = nll.scored;
}

// The teacher's perplexity on the whole test split, and which positions every perplexity
// counts (null without students: the teacher's NLLs are stored with each student's).
Json teacher_perplexity(const EvaluationTables& tables, const Selection& all) {
  const NextTokenNll nll =
      tables.students.empty() ? NextTokenNll{} : next_token_nll(tables, tables.students.front(), all.positions);
  return Json{{"teacher", number(std::exp(nll.teacher))},
              {"scored_positions", nll.scored},
              {"scored",
               "every position but the last of each test prompt or window (the last has no "
               "next token; BOS is never predicted)"}};
}

Json drift_json(const EvaluationTables& tables, const EvaluatedStudent& student, const Selection& selection) {
  return Json{{"match_rate", number(mean_of(pick(student.drift_match_rate, selection.prompts)))},
              {"first_divergence_mean", number(mean_of(pick(student.drift_first_divergence, selection.prompts)))},
              {"tokens", tables.generate_tokens}};
}

// Everything about one student on a set of prompts (the whole split or one breakdown cell).
Json student_block(const EvaluationTables& tables, const EvaluatedStudent& student, const Selection& selection,
                   const BootstrapOptions& bootstrap) {
  Json out{{"prompts", selection.prompts.size()}, {"positions", selection.positions.size()}};
  out.update(metric_statistics(tables, student, selection, bootstrap));
  add_perplexities(tables, student, selection, bootstrap, out);
  out["drift"] = drift_json(tables, student, selection);
  return out;
}

Json breakdown(const EvaluationTables& tables, const EvaluatedStudent& student, const std::vector<std::string>& label,
               const BootstrapOptions& bootstrap) {
  Json out = Json::object();
  for (const std::string& value : std::set<std::string>(label.begin(), label.end())) {
    const auto keep = [&](size_t p) { return label[p] == value; };
    out[value] = student_block(tables, student, select(tables, keep, false), bootstrap);
  }
  return out;
}

void check_shapes(const EvaluationTables& tables) {
  const size_t prompts = tables.family.size(), rows = tables.position_prompt.size();
  bool ok = tables.language.size() == prompts && tables.position_is_last.size() == rows;
  for (const EvaluatedStudent& s : tables.students) {
    ok = ok && s.drift_match_rate.size() == prompts && s.drift_first_divergence.size() == prompts;
    for (const std::string& name : position_metric_names(tables.topk))
      ok = ok && s.positions.count(name) && s.positions.at(name).size() == rows;
  }
  if (!ok) fail(kExitInternal, "evaluation tables: arrays of inconsistent length");
}

}  // namespace

Json statistic_json(const Summary& summary) {
  return Json{{"mean", number(summary.mean)}, {"median", number(summary.median)},
              {"p90", number(summary.p90)},   {"p99", number(summary.p99)},
              {"max", number(summary.max)},   {"ci95", Json::array({number(summary.ci_low), number(summary.ci_high)})}};
}

Json metrics_json(const EvaluationTables& tables, const CompressionCounts& compression,
                  const BootstrapOptions& bootstrap, const std::string& fingerprint) {
  check_shapes(tables);
  const auto every = [](size_t) { return true; };
  const Selection all = select(tables, every, false);
  const Selection last = select(tables, every, true);
  Json students = Json::object();
  for (const EvaluatedStudent& student : tables.students) {
    Json block = student_block(tables, student, all, bootstrap);
    block["last_position"] = metric_statistics(tables, student, last, bootstrap);
    block["by_family"] = breakdown(tables, student, tables.family, bootstrap);
    block["by_language"] = breakdown(tables, student, tables.language, bootstrap);
    block["bits_per_patched_weight"] = number(student.bits_per_patched_weight);
    students[student.name] = std::move(block);
  }
  const double ratio = compression.student_params()
                           ? double(compression.mlp_params_dense) / double(compression.student_params())
                           : std::nan("");
  Json metrics{{"students", std::move(students)},
               {"perplexity", teacher_perplexity(tables, all)},
               {"compression",
                {{"structure", name_of(compression.structure)},
                 {"mlp_params_dense", compression.mlp_params_dense},
                 {"mlp_params_student", compression.student_params()},
                 {"mlp_params_circulant", compression.mlp_params_circulant},
                 {"ratio", number(ratio)}}},
               {"test_prompts", tables.family.size()},
               {"fingerprint", fingerprint},
               {"topk", tables.topk},
               {"generate_tokens", tables.generate_tokens},
               {"bootstrap",
                {{"samples", bootstrap.samples},
                 {"seed", bootstrap.seed},
                 {"level", bootstrap.level},
                 {"resampled", "prompts"}}},
               {"delta_p_reference", "actual next prompt token; teacher argmax at the last prompt position"}};
  Json blocks = Json::array();
  for (const auto& block : compression.blocks)
    blocks.push_back(
        {{"layer", block.layer}, {"projection", name_of(block.projection)}, {"block_size", block.block_size}});
  metrics["compression"]["block_sizes"] = blocks;
  metrics["compression"]["allocated"] = compression.allocated;
  metrics["structure_comparison"] = structure_comparison(metrics, compression);
  return metrics;
}

}  // namespace circal

#include "stages/evaluate/evaluation_markdown.hpp"

#include <cstdio>
#include <map>
#include <sstream>

#include "pipeline/base/number_text.hpp"
#include "pipeline/config/names.hpp"
#include "stages/evaluate/structure_verdict.hpp"

namespace circal {

namespace {

std::string fixed(const Json& value, int digits) {
  return value.is_number() ? circal::fixed(value.get<double>(), digits) : "n/a";
}

// "mean [lo, hi]" of a statistic object.
std::string with_interval(const Json& statistic, int digits) {
  return fixed(statistic["mean"], digits) + " [" + fixed(statistic["ci95"][0], digits) + ", " +
         fixed(statistic["ci95"][1], digits) + "]";
}

std::string row(const std::vector<std::string>& cells) {
  std::string line = "|";
  for (const std::string& cell : cells) line += " " + cell + " |";
  return line + "\n";
}

std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string out = row(header) + row(std::vector<std::string>(header.size(), "---"));
  for (const auto& cells : rows) out += row(cells);
  return out;
}

std::vector<std::string> overlap_names(const Json& metrics) {
  std::vector<std::string> names;
  for (int k : metrics["topk"]) names.push_back("top" + std::to_string(k) + "_overlap");
  return names;
}

double mean_kl(const Json& metrics, const std::string& student) {
  return metrics["students"][student]["kl"]["mean"].is_number()
             ? metrics["students"][student]["kl"]["mean"].get<double>()
             : 0.0;
}

bool has(const Json& metrics, const std::string& student) { return metrics["students"].contains(student); }

std::string nats(double kl) { return fixed(Json(kl), 4); }

std::string last_position_table(const Json& metrics) {
  std::vector<std::string> header = {"student", "KL mean [95% CI]", "KL median", "top-1"};
  for (int k : metrics["topk"]) header.push_back("top-" + std::to_string(k) + " overlap");
  header.push_back("Δp mean");
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, s] : metrics["students"].items()) {
    const Json& last = s["last_position"];
    std::vector<std::string> cells = {name, with_interval(last["kl"], 4), fixed(last["kl"]["median"], 4),
                                      fixed(last["top1"]["mean"], 3)};
    for (const std::string& overlap : overlap_names(metrics)) cells.push_back(fixed(last[overlap]["mean"], 3));
    cells.push_back(fixed(last["delta_p"]["mean"], 4));
    rows.push_back(cells);
  }
  return table(header, rows);
}

std::string kl_distribution_table(const Json& metrics) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, s] : metrics["students"].items()) {
    const Json& kl = s["kl"];
    rows.push_back({name, fixed(kl["mean"], 4), fixed(kl["median"], 4), fixed(kl["p90"], 4), fixed(kl["p99"], 4),
                    fixed(kl["max"], 4)});
  }
  return table({"student", "mean", "median", "p90", "p99", "max"}, rows);
}

// One row per family (or language), one "KL / top-1" column per student.
std::string breakdown_table(const Json& metrics, const std::string& key, const std::string& label) {
  std::vector<std::string> header = {label, "prompts"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, s] : metrics["students"].items()) {
    header.push_back(name + " KL / top-1");
    size_t r = 0;
    for (const auto& [group, cell] : s[key].items()) {
      if (rows.size() <= r) rows.push_back({group, cell["prompts"].dump()});
      rows[r++].push_back(fixed(cell["kl"]["mean"], 3) + " / " + fixed(cell["top1"]["mean"], 2));
    }
  }
  return table(header, rows);
}

// An allocated student's block sizes: a row a layer, a column a matrix (1 = kept dense).
std::string block_size_table(const Json& compression) {
  if (!compression.value("allocated", false)) return "";
  std::map<int, std::map<std::string, int>> grid;
  for (const Json& block : compression["block_sizes"])
    grid[block["layer"].get<int>()][block["projection"].get<std::string>()] = block["block_size"].get<int>();
  std::vector<std::string> header = {"layer"};
  for (Projection projection : kProjections) header.push_back(name_of(projection));
  std::vector<std::vector<std::string>> rows;
  for (const auto& [layer, sizes] : grid) {
    std::vector<std::string> cells = {std::to_string(layer)};
    for (Projection projection : kProjections) {
      const auto it = sizes.find(name_of(projection));
      cells.push_back(it == sizes.end() ? "" : std::to_string(it->second));
    }
    rows.push_back(cells);
  }
  return "\nBlock size of each patched matrix, allocated by predicted sensitivity (project.block_size auto; 1 = kept "
         "dense):\n\n" +
         table(header, rows);
}

std::string structure_counts_table(const Json& metrics) {
  const Json& c = metrics["compression"];
  const std::string structure = c.value("structure", name_of(Structure::Circulant));
  if (parse_name<Structure>(structure) == Structure::Circulant)
    return table({"MLP parameters, dense", "MLP parameters, circulant", "ratio"},
                 {{c["mlp_params_dense"].dump(), c["mlp_params_circulant"].dump(), fixed(c["ratio"], 2) + "x"}});
  // Another structure: its count beside the circulant's at the same block size.
  return table({"MLP parameters, dense", "MLP parameters, " + structure, "ratio", "circulant at the same b"},
               {{c["mlp_params_dense"].dump(), c["mlp_params_student"].dump(), fixed(c["ratio"], 2) + "x",
                 c["mlp_params_circulant"].dump()}});
}

std::string compression_table(const Json& metrics) {
  return structure_counts_table(metrics) + block_size_table(metrics["compression"]);
}

void dense_note(const Json& metrics, std::vector<std::string>& notes) {
  if (!has(metrics, "dense")) return;
  const Json& dense = metrics["students"]["dense"];
  if (dense["kl"]["max"] == 0.0 && dense["top1"]["mean"] == 1.0)
    notes.push_back(
        "dense (the teacher run as a student) reproduces the teacher exactly: KL 0 at "
        "every position and top-1 agreement 1.0, so the comparison itself is sound.");
  else
    notes.push_back("WARNING: dense differs from the teacher (KL max " + fixed(dense["kl"]["max"], 6) + ", top-1 " +
                    fixed(dense["top1"]["mean"], 4) +
                    "): the forward pass is not deterministic and every other number is suspect.");
}

void zeroing_notes(const Json& metrics, std::vector<std::string>& notes) {
  if (!has(metrics, "zeroed")) return;
  const double zeroed = mean_kl(metrics, "zeroed");
  for (StudentKind kind : kStudentKinds) {
    const char* name = name_of(kind);
    if (!student_source(kind).has_parameters || !has(metrics, name) || zeroed <= 0) continue;
    const double kl = mean_kl(metrics, name);
    const std::string versus = " (mean KL " + nats(kl) + " vs " + nats(zeroed) + " nats)";
    if (kl >= 0.9 * zeroed)
      notes.push_back(std::string(name) + " is no better than zeroing the patched matrices" + versus +
                      ": the approximation keeps almost nothing of what those matrices contribute.");
    else
      notes.push_back(std::string(name) + " removes " + fixed(Json(100 * (1 - kl / zeroed)), 0) +
                      "% of the KL that zeroing the patched matrices causes" + versus + ".");
  }
}

// How much `better` lowers the mean KL relative to `base`, in one sentence.
void gain_note(const Json& metrics, const std::string& better, const std::string& base,
               std::vector<std::string>& notes) {
  if (!has(metrics, better) || !has(metrics, base)) return;
  const double a = mean_kl(metrics, better), b = mean_kl(metrics, base);
  if (b <= 0) return;
  const std::string versus = " (mean KL " + nats(a) + " vs " + nats(b) + " nats)";
  if (a < 0.95 * b)
    notes.push_back(better + " lowers the mean KL by " + fixed(Json(100 * (1 - a / b)), 0) + "% relative to " + base +
                    versus + ".");
  else
    notes.push_back(better + " is no better than " + base + versus + ".");
}

}  // namespace

std::vector<std::string> report_notes(const Json& metrics) {
  std::vector<std::string> notes;
  dense_note(metrics, notes);
  zeroing_notes(metrics, notes);
  gain_note(metrics, "least_squares", "frobenius", notes);
  gain_note(metrics, "calibrated", "least_squares", notes);
  gain_note(metrics, "lowrank_aware", "lowrank_svd", notes);
  gain_note(metrics, "lowrank_calibrated", "lowrank_aware", notes);
  notes.push_back(
      "Δp and the NLLs behind the perplexity ratio use the actual next prompt token; "
      "at the last prompt position, which has none, Δp uses the teacher's argmax "
      "and the perplexity ratio leaves the position out.");
  return notes;
}

std::string headline_table(const Json& metrics) {
  std::vector<std::string> header = {"student", "KL mean [95% CI]", "top-1"};
  for (int k : metrics["topk"]) header.push_back("top-" + std::to_string(k) + " overlap");
  for (const char* h : {"cosine", "ppl ratio", "drift match", "first divergence"}) header.push_back(h);
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, s] : metrics["students"].items()) {
    std::vector<std::string> cells = {name, with_interval(s["kl"], 4), fixed(s["top1"]["mean"], 3)};
    for (const std::string& overlap : overlap_names(metrics)) cells.push_back(fixed(s[overlap]["mean"], 3));
    cells.push_back(fixed(s["cosine"]["mean"], 4));
    cells.push_back(fixed(s["ppl_ratio"], 3));
    cells.push_back(fixed(s["drift"]["match_rate"], 3));
    cells.push_back(fixed(s["drift"]["first_divergence_mean"], 1) + " / " + s["drift"]["tokens"].dump());
    rows.push_back(cells);
  }
  return table(header, rows);
}

namespace {

// The teacher's and every student's perplexity on the test text, and which positions count.
std::string perplexity_section(const Json& metrics) {
  const Json& summary = metrics["perplexity"];
  std::vector<std::vector<std::string>> rows = {{"teacher", fixed(summary["teacher"], 2), "1.000"}};
  for (const auto& [name, s] : metrics["students"].items())
    rows.push_back({name, fixed(s["perplexity"], 2), fixed(s["ppl_ratio"], 3)});
  return "## Perplexity\n\n" + table({"model", "perplexity", "ratio to teacher"}, rows) + "\n" +
         "Perplexity = exp(mean NLL of the actual next token) over " + summary["scored_positions"].dump() +
         " positions: " + summary.value("scored", "") + ".\n\n";
}

}  // namespace

std::string report_markdown(const Json& metrics, const std::vector<std::string>& plots) {
  std::ostringstream out;
  out << "# circal evaluation\n\n"
      << metrics["test_prompts"].get<int>() << " held-out test prompts; every position of every "
      << "prompt compares the teacher's next-token logits with each student's. Intervals are 95% "
      << "bootstrap intervals over prompts (" << metrics["bootstrap"]["samples"].get<int>() << " resamples, seed "
      << metrics["bootstrap"]["seed"].get<uint64_t>() << "). Fingerprint `" << metrics["fingerprint"].get<std::string>()
      << "`.\n\n"
      << "## Headline: all positions\n\n"
      << headline_table(metrics) << "\n"
      << "KL in nats, KL(teacher || student). ppl ratio = student / teacher perplexity on the "
      << "prompt tokens. Drift: greedy continuation of " << metrics["generate_tokens"].get<int>()
      << " tokens by both models; match = fraction of equal tokens, first divergence = index of "
      << "the first differing token (" << metrics["generate_tokens"].get<int>() << " if none).\n\n"
      << perplexity_section(metrics) << structure_verdict_markdown(metrics) << "## Findings\n\n";
  for (const std::string& note : report_notes(metrics)) out << "- " << note << "\n";
  out << "\n## Last prompt position\n\n"
      << last_position_table(metrics) << "\n## KL distribution (all positions)\n\n"
      << kl_distribution_table(metrics) << "\n## By template family (mean KL / top-1)\n\n"
      << breakdown_table(metrics, "by_family", "family") << "\n## By language (mean KL / top-1)\n\n"
      << breakdown_table(metrics, "by_language", "language") << "\n## Compression\n\n"
      << compression_table(metrics);
  if (!plots.empty()) {
    out << "\n## Plots\n\n";
    for (const std::string& plot : plots) out << "![" << plot << "](" << plot << ")\n\n";
  }
  return out.str();
}

}  // namespace circal

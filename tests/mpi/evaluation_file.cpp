// evaluate.h5 written in rounds by 1, 2 or 4 ranks (prompt i on rank i % R) reads back as
// the same global tables, and the aggregates computed from it equal those computed from the
// arrays directly: the file layout does not depend on the rank count.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/runtime/mpi_context.hpp"
#include "stages/evaluate/evaluation_file.hpp"

using namespace circal;

namespace {

// 7 prompts of lengths 2..8; every value a function of (student, metric, position) only.
TestSplit synthetic_split() {
  TestSplit split;
  split.offsets = {0};
  for (int p = 0; p < 7; ++p) {
    split.text.push_back("Continue: prompt " + std::to_string(p));
    split.family.push_back(p % 3 ? "Continue" : "Fuehre fort");
    split.language.push_back(p % 3 ? "EN" : "DE");
    std::vector<int> tokens(2 + p);
    for (size_t t = 0; t < tokens.size(); ++t) tokens[t] = int(10 * p + t);
    split.offsets.push_back(split.offsets.back() + int64_t(tokens.size()));
    split.tokens.push_back(tokens);
  }
  return split;
}

double value(int student, int metric, int64_t row) { return std::sin(1.0 + student + 0.37 * metric + 0.11 * row); }

LocalEvaluation local_share(const TestSplit& split, const MpiContext& mpi) {
  LocalEvaluation local{{"dense", "frobenius"}, {5, 10}, 4, {}, {1000, 100}};
  const size_t metrics = position_metric_names(local.topk).size();
  for (int s = 0; s < 2; ++s) {
    auto& results = local.results.emplace_back();
    for (int p : mpi.shard(split.size())) {
      PromptEvaluation& r = results[p];
      r.metrics.resize(metrics);
      for (size_t m = 0; m < metrics; ++m)
        for (int64_t row = split.offsets[p]; row < split.offsets[p + 1]; ++row)
          r.metrics[m].push_back(value(s, int(m), row));
      r.match_rate = 0.1 * p + s;
      r.first_divergence = p + 10 * s;
    }
  }
  return local;
}

}  // namespace

TEST_CASE("evaluate.h5 rows land at their global positions for any rank count") {
  MpiContext mpi;
  const TestSplit split = synthetic_split();
  const std::string path = (std::filesystem::temp_directory_path() / "circal_mpi_evaluation_file.h5").string();
  {
    CheckpointWriter file(mpi.comm(), path, {"evaluate", "fp-test", "config: {}"});
    write_evaluation_file(file, mpi, split, local_share(split, mpi));
    file.commit();
  }
  const CheckpointReader file = CheckpointReader::open(path, "evaluate", "fp-test");
  const EvaluationTables tables = read_evaluation_tables(file);
  CHECK(tables.family == split.family);
  CHECK(tables.language == split.language);
  CHECK(tables.topk == std::vector<int>{5, 10});
  CHECK(tables.generate_tokens == 4);
  REQUIRE(tables.position_prompt.size() == size_t(split.offsets.back()));
  for (int p = 0; p < split.size(); ++p)
    for (int64_t row = split.offsets[p]; row < split.offsets[p + 1]; ++row) {
      CHECK(tables.position_prompt[row] == p);
      CHECK(tables.position_is_last[row] == (row + 1 == split.offsets[p + 1]));
    }
  CHECK(file.read_int32("/positions/token")[split.offsets[3] + 2] == 32);
  REQUIRE(tables.students.size() == 2);
  const std::vector<std::string> metrics = position_metric_names(tables.topk);
  for (int s = 0; s < 2; ++s) {
    for (size_t m = 0; m < metrics.size(); ++m)
      for (int64_t row = 0; row < split.offsets.back(); ++row)
        CHECK(tables.students[s].positions.at(metrics[m])[row] == value(s, int(m), row));
    for (int p = 0; p < split.size(); ++p) {
      CHECK(tables.students[s].drift_match_rate[p] == 0.1 * p + s);
      CHECK(tables.students[s].drift_first_divergence[p] == p + 10 * s);
    }
  }
  const CompressionCounts compression = read_compression(file);
  CHECK(compression.mlp_params_dense == 1000);
  CHECK(compression.mlp_params_circulant == 100);
  mpi.barrier();
  if (mpi.is_root()) std::filesystem::remove(path);
}

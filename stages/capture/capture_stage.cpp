// capture: run the teacher on the calibration and validation prompts and store what the
// later stages need (stages/FILES.md): per token the tokens, teacher logits and the hidden
// state entering the first patched layer (none when that is layer 0); per patched matrix the
// streamed per-frequency projection statistics of the calibration tokens (G[k], R[k] in
// float64, DESIGN 8.1, from the teacher pass's own MLP inputs and outputs) and optionally the full input Gram; raw MLP
// inputs only with capture.store_inputs. Prompts run in batches (one forward with the prompts' rows stacked) shared
// among ranks as pipeline/data/prompt_batches.hpp says; rows are written with collective parallel-HDF5 writes and the
// statistics are summed batch by batch in batch order (stages/common/capture_statistics.hpp), so capture.h5 is
// bit-identical at any rank count.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "pipeline/base/errors.hpp"
#include "pipeline/data/prompt_batches.hpp"
#include "pipeline/data/prompts.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/model/llama_config.hpp"
#include "pipeline/model/transformer.hpp"
#include "pipeline/runtime/stop_signal.hpp"
#include "stages/capture/capture_stage.hpp"
#include "stages/common/capture_layout.hpp"
#include "stages/common/capture_statistics.hpp"
#include "stages/common/student.hpp"

namespace circal {

namespace {

// One dataset of capture.h5 with the per-prompt source of its rows.
struct CaptureColumn {
  std::string name;
  uint64_t width;
  const float* (*rows)(const Transformer&, int layer, Projection projection);
  int layer;
  Projection projection;  // unused by hidden_rows
};

const float* hidden_rows(const Transformer& model, int layer, Projection) { return model.hidden_in(layer); }
const float* mlp_rows(const Transformer& model, int layer, Projection projection) {
  return model.mlp_input(layer, projection);
}

std::vector<CaptureColumn> capture_columns(const StudentLayout& layout, const LlamaConfig& model,
                                           const CaptureConfig& capture) {
  std::vector<CaptureColumn> columns;
  // The hidden state entering layer 0 is the embedding lookup of /tokens: not stored.
  if (layout.first_layer() > 0 || capture.store_inputs)
    columns.push_back({"/hidden_in", uint64_t(model.hidden_size), hidden_rows, layout.first_layer(), Projection::Gate});
  if (!capture.store_inputs) return columns;
  for (const auto& matrix : layout.matrices) {
    // gate_proj and up_proj read the same state: stored once, under gate_proj.
    const Projection source = capture_input_source(matrix.projection);
    const std::string name = capture_input_dataset(matrix.layer, matrix.projection);
    bool stored = std::any_of(columns.begin(), columns.end(), [&](const CaptureColumn& c) { return c.name == name; });
    if (!stored) columns.push_back({name, uint64_t(matrix.in_features), mlp_rows, matrix.layer, source});
  }
  return columns;
}

int widest_input(const std::vector<StatisticsStream>& streams) {
  int widest = 0;
  for (const StatisticsStream& stream : streams) widest = std::max(widest, stream.n);
  return widest;
}

// Rows per accumulation chunk of the statistics: fixed, so the float64 sums have fixed bits.
constexpr int kStatisticsChunk = 1024;

// Rank 0's running totals of every statistic; each batch adds its partial sums in batch order.
class StatisticsTotals {
 public:
  StatisticsTotals(const StageContext& context, const StudentLayout& layout)
      : context_(context),
        layout_(layout),
        streams_(statistics_streams(layout)),
        block_sizes_(statistics_block_sizes(context.config)),
        full_gram_(stores_full_gram(context.config, widest_input(streams_))),
        root_(context.mpi.is_root()) {
    for (const StatisticsStream& stream : streams_) {
      for (int b : block_sizes_) {
        inputs_.emplace_back(root_ ? stream.n : 1, root_ ? b : 2);
        for (size_t index : stream.matrices) {
          const PatchedMatrix& matrix = layout_.matrices[index];
          outputs_.emplace_back(root_ ? matrix.out_features : 1, root_ ? matrix.in_features : 1, root_ ? b : 2);
        }
      }
      grams_.emplace_back(root_ && full_gram_ ? stream.n : 0);
    }
  }

  // Collective: adds the calibration rows of this round's batches in rank order: ranks
  // 0 .. contributors-1 hold some; this rank's are the first `rows` of the teacher's last pass.
  void add_round(const Transformer& teacher, int contributors, long rows) {
    const bool mine = rows > 0;
    const long T = rows;
    size_t input_at = 0, output_at = 0;
    for (size_t s = 0; s < streams_.size(); ++s) {
      const StatisticsStream& stream = streams_[s];
      const float* X = mine ? teacher.mlp_input(stream.layer, stream.source) : nullptr;
      // W x of every matrix is what the teacher's pass computed: taken, not recomputed.
      std::vector<const float*> Y;
      for (size_t index : stream.matrices) {
        const PatchedMatrix& matrix = layout_.matrices[index];
        Y.push_back(mine ? teacher.mlp_output(matrix.layer, matrix.projection) : nullptr);
      }
      for (int b : block_sizes_) {
        InputStatistics input(mine ? stream.n : 1, mine ? b : 2);
        std::vector<OutputStatistics> outputs;
        std::vector<OutputStatistics*> output_ptrs;
        for (size_t index : stream.matrices) {
          const PatchedMatrix& matrix = layout_.matrices[index];
          outputs.emplace_back(mine ? matrix.out_features : 1, mine ? matrix.in_features : 1, mine ? b : 2);
        }
        for (auto& o : outputs) output_ptrs.push_back(&o);
        if (mine) accumulate_statistics_of_outputs(X, T, kStatisticsChunk, &input, Y, output_ptrs, &scratch_);
        add_round_in_order(context_.mpi.comm(), contributors, input.values.data(),
                           root_ ? inputs_[input_at].values.data() : nullptr,
                           root_ ? inputs_[input_at].values.size() : input.values.size());
        ++input_at;
        for (auto& o : outputs) {
          add_round_in_order(context_.mpi.comm(), contributors, o.values.data(),
                             root_ ? outputs_[output_at].values.data() : nullptr,
                             root_ ? outputs_[output_at].values.size() : o.values.size());
          ++output_at;
        }
      }
      if (full_gram_) {
        FullGram gram(mine ? stream.n : 0);
        if (mine) gram.accumulate(X, T, kStatisticsChunk);
        const size_t count = size_t(stream.n) * stream.n + 1;
        add_round_in_order(context_.mpi.comm(), contributors, gram.values.data(),
                           root_ ? grams_[s].values.data() : nullptr, count);
      }
    }
  }

  void write(CheckpointWriter& file) {
    const int gzip = context_.config.capture.compression;
    size_t input_at = 0, output_at = 0;
    for (size_t s = 0; s < streams_.size(); ++s) {
      const StatisticsStream& stream = streams_[s];
      for (int b : block_sizes_) {
        // Other ranks pass same-shaped zeros: only rank 0's values are written.
        if (!root_) {
          write_input_statistics(file, stream.layer, stream.source, InputStatistics(stream.n, b), gzip);
        } else {
          write_input_statistics(file, stream.layer, stream.source, inputs_[input_at], gzip);
        }
        ++input_at;
        for (size_t index : stream.matrices) {
          const PatchedMatrix& matrix = layout_.matrices[index];
          if (!root_)
            write_output_statistics(file, matrix.layer, matrix.projection,
                                    OutputStatistics(matrix.out_features, matrix.in_features, b), gzip);
          else
            write_output_statistics(file, matrix.layer, matrix.projection, outputs_[output_at], gzip);
          ++output_at;
        }
      }
      if (full_gram_) {
        // Its token count is an attribute, which every rank must write alike.
        double tokens = root_ ? grams_[s].tokens() : 0.0;
        MPI_Bcast(&tokens, 1, MPI_DOUBLE, 0, context_.mpi.comm());
        if (!root_) {
          FullGram empty(stream.n);
          empty.tokens() = tokens;
          write_full_gram(file, stream.layer, stream.source, empty, gzip);
        } else {
          grams_[s].finish();
          write_full_gram(file, stream.layer, stream.source, grams_[s], gzip);
        }
      }
    }
    for (int b : block_sizes_) file.set_attr("/statistics/b" + std::to_string(b), "block_size", int64_t(b));
  }

 private:
  const StageContext& context_;
  const StudentLayout& layout_;
  std::vector<StatisticsStream> streams_;
  std::vector<int> block_sizes_;
  bool full_gram_;
  bool root_;
  std::vector<InputStatistics> inputs_;    // [stream][block size], rank 0 only (1-wide elsewhere)
  std::vector<OutputStatistics> outputs_;  // [stream][block size][matrix]
  std::vector<FullGram> grams_;            // [stream], empty where not stored
  StatisticsScratch scratch_;              // reused by every layer and round
};

// Top-k form of one logits row: ids, values (descending) and the log-sum-exp of the row.
void topk_row(const float* logits, int vocab, int k, int32_t* ids, float* values, float* lse) {
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  const float top = logits[order[0]];
  double sum = 0;
  for (int v = 0; v < vocab; ++v) sum += std::exp(double(logits[v]) - top);
  *lse = float(top + std::log(sum));
  for (int i = 0; i < k; ++i) ids[i] = order[i], values[i] = logits[order[i]];
}

void write_teacher_rows(CheckpointWriter& file, const CaptureConfig& capture, const float* logits, int vocab,
                        uint64_t row0, uint64_t nrows) {
  if (capture.logits_format == LogitsFormat::Full) {
    file.write_rows("/teacher/logits", row0, nrows, logits);
    return;
  }
  const int k = capture.logits_topk;
  std::vector<int32_t> ids(nrows * k);
  std::vector<float> values(nrows * k), lse(nrows);
  for (uint64_t t = 0; t < nrows; ++t) topk_row(logits + t * vocab, vocab, k, &ids[t * k], &values[t * k], &lse[t]);
  file.write_rows("/teacher/topk_ids", row0, nrows, ids.data());
  file.write_rows("/teacher/topk_logits", row0, nrows, values.data());
  file.write_rows("/teacher/logsumexp", row0, nrows, lse.data());
}

void create_teacher_datasets(CheckpointWriter& file, const CaptureConfig& capture, uint64_t tokens, uint64_t vocab) {
  const int gzip = capture.compression;
  if (capture.logits_format == LogitsFormat::Full) {
    file.create("/teacher/logits", H5Type::Float32, {tokens, vocab}, gzip, 64);
    return;
  }
  const uint64_t k = capture.logits_topk;
  file.create("/teacher/topk_ids", H5Type::Int32, {tokens, k}, gzip, 256);
  file.create("/teacher/topk_logits", H5Type::Float32, {tokens, k}, gzip, 256);
  file.create("/teacher/logsumexp", H5Type::Float32, {tokens}, gzip, 4096);
}

int batch_prompts(const Config& config, const LlamaConfig& model, const CapturePrompts& prompts) {
  size_t longest = 1;
  for (const auto& ids : prompts.tokens) longest = std::max(longest, ids.size());
  return teacher_batch_prompts(config, model, longest);
}

}  // namespace

void capture_stage(const StageContext& context) {
  const MpiContext& mpi = context.mpi;
  const LlamaConfig& model_config = context.model.config;
  const CapturePrompts prompts = tokenize_capture_prompts(context.config, context.tokenizer, model_config);
  const StudentLayout layout = StudentLayout::patched_matrices(context.config, model_config);
  const std::vector<CaptureColumn> columns = capture_columns(layout, model_config, context.config.capture);
  const int P = int(prompts.tokens.size());
  const uint64_t N = prompts.offsets.back();
  const uint64_t vocab = model_config.vocab_size;
  if (context.config.capture.logits_format == LogitsFormat::TopK && context.config.capture.logits_topk > int(vocab))
    fail(kExitUsage, "config: capture.logits_topk: larger than the vocabulary (" + std::to_string(vocab) + ")");

  CheckpointWriter file(mpi.comm(), context.output_path(Stage::Capture),
                        {"capture", context.fingerprint(Stage::Capture), context.config_yaml()});
  std::vector<int32_t> all_tokens;
  for (const auto& ids : prompts.tokens) all_tokens.insert(all_tokens.end(), ids.begin(), ids.end());
  file.write("/tokens", {N}, all_tokens.data());
  file.write("/prompts/offsets", {uint64_t(P) + 1}, prompts.offsets.data());
  file.write("/prompts/split", {uint64_t(P)}, prompts.split.data());
  file.set_attr("/prompts", "calibration_count", int64_t(prompts.calibration_count));
  file.set_attr("/prompts", "validation_count", int64_t(P - prompts.calibration_count));
  for (const auto& column : columns)
    file.create(column.name, H5Type::Float32, {N, column.width}, context.config.capture.compression, 256);
  file.set_attr("/prompts", "first_patched_layer", int64_t(layout.first_layer()));
  if (!columns.empty() && columns[0].name == "/hidden_in")
    file.set_attr("/hidden_in", "layer", int64_t(layout.first_layer()));
  create_teacher_datasets(file, context.config.capture, N, vocab);

  const int kBatch = batch_prompts(context.config, model_config, prompts);
  const int C = prompts.calibration_count;
  StatisticsTotals statistics(context, layout);
  Transformer teacher(context.model);
  teacher.set_keep_mlp_outputs(true);
  std::vector<std::vector<int>> batch;
  for (const PromptRound& round : prompt_rounds(P, mpi.size(), mpi.rank(), kBatch)) {
    const int first = round.mine_begin;
    batch.assign(prompts.tokens.begin() + first, prompts.tokens.begin() + round.mine_end);
    const float* logits = batch.empty() ? nullptr : teacher.forward_batch(batch);
    // Calibration prompts come first, so the ranks whose batch holds some are a prefix and
    // a batch's calibration rows are a prefix of its rows.
    int contributors = 0;
    while (contributors < mpi.size() && round.begin + contributors * kBatch < std::min(round.end, C)) ++contributors;
    const int mine_calibration = std::max(0, std::min(round.mine_end, C) - first);
    const long calibration_rows = mine_calibration == 0                   ? 0
                                  : mine_calibration == int(batch.size()) ? long(teacher.tokens())
                                                                          : teacher.row_offset(mine_calibration);
    if (contributors > 0) statistics.add_round(teacher, contributors, calibration_rows);
    // Every rank makes the same sequence of collective writes, one per prompt slot of the
    // round; a rank with fewer prompts writes empty ranges for the rest.
    for (int slot = 0; slot < kBatch; ++slot) {
      const bool mine = round.mine(first + slot);
      const int prompt = first + slot;
      const uint64_t row0 = mine ? prompts.offsets[prompt] : 0;
      const uint64_t nrows = mine ? prompts.tokens[prompt].size() : 0;
      const long batch_row = mine ? teacher.row_offset(slot) : 0;
      for (const auto& column : columns)
        file.write_rows(
            column.name, row0, nrows,
            mine ? column.rows(teacher, column.layer, column.projection) + batch_row * column.width : nullptr);
      write_teacher_rows(file, context.config.capture, mine ? logits + batch_row * long(vocab) : nullptr, int(vocab),
                         row0, nrows);
    }
    stop_if_signalled(mpi.comm(), "capture",
                      "after " + std::to_string(round.end) + " of " + std::to_string(P) +
                          " prompts, capture.h5 not written; rerun to resume");
    if (mpi.is_root()) mpi.log("capture: " + std::to_string(round.end) + "/" + std::to_string(P) + " prompts");
  }
  statistics.write(file);
  file.commit();
  const double bytes =
      double(context.config.capture.logits_format == LogitsFormat::Full ? vocab
                                                                        : 3 * context.config.capture.logits_topk + 1) *
          4 +
      std::accumulate(columns.begin(), columns.end(), 0.0,
                      [](double s, const CaptureColumn& c) { return s + 4.0 * c.width; }) +
      4;
  char line[200];
  std::snprintf(line, sizeof line, "capture: %d prompts, %llu tokens, %.0f bytes/token uncompressed -> %s", P,
                static_cast<unsigned long long>(N), bytes, context.output_path(Stage::Capture).c_str());
  mpi.log(line);
}

}  // namespace circal

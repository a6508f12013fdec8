#pragma once
// The projection statistics of capture.h5 (stages/FILES.md): which inputs they cover, where
// they live, and the fixed-order sum that keeps them bit-identical at any rank count.
//
// Batches of prompts are fixed independently of the rank count (pipeline/data/prompt_batches),
// batch k on rank k % R, walked in rounds of R batches. Each batch's float64 partial sums are
// added into rank 0's total in batch order (round by round, rank 0 first), so the total is
// ((b0 + b1) + b2) + ... whatever R is.
#include <mpi.h>

#include <string>
#include <vector>

#include "pipeline/circulant/projection_statistics.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "stages/common/student.hpp"

namespace circal {

// One distinct MLP input of the layout (gate_proj and up_proj share one) and the patched
// matrices that read it, in layout order.
struct StatisticsStream {
  int layer;
  Projection source;             // gate_proj (the post-attention-norm state) or down_proj
  int n;                         // input width
  std::vector<size_t> matrices;  // indices into layout.matrices
};
std::vector<StatisticsStream> statistics_streams(const StudentLayout& layout);

// Collective. In one round `contributors` ranks (0 .. contributors-1) hold a partial term
// (`count` doubles); rank 0 adds them into total[count] in rank order. Other ranks' total
// is untouched (may be null).
void add_round_in_order(MPI_Comm comm, int contributors, const double* partial, double* total, size_t count);

// Groups: /statistics/b{b}/layers/{l}/{source or projection}, /statistics/full_gram/layers/{l}/{source}.
std::string statistics_group(int b, int layer, Projection name);
std::string full_gram_dataset(int layer, Projection source);

// Collective writes; only rank 0's values are written (others may pass empty statistics).
// gzip_level (capture.compression): float64 sums shrink by about 14%, mostly the zero
// imaginary parts of bins 0 and b/2 (bench/README.md).
void write_input_statistics(CheckpointWriter& file, int layer, Projection source, const InputStatistics& s,
                            int gzip_level);
void write_output_statistics(CheckpointWriter& file, int layer, Projection projection, const OutputStatistics& s,
                             int gzip_level);
void write_full_gram(CheckpointWriter& file, int layer, Projection source, const FullGram& gram, int gzip_level);

// Reads them back (every rank), checking shapes: a missing or misshapen dataset is a
// CircalError(kExitCheckpoint) naming the file and dataset.
bool has_statistics(const CheckpointReader& file, int b);
InputStatistics read_input_statistics(const CheckpointReader& file, int b, int layer, Projection source, int n);
OutputStatistics read_output_statistics(const CheckpointReader& file, int b, int layer, Projection projection, int m,
                                        int n);

}  // namespace circal

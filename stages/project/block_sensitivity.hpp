#pragma once
// project.block_size auto (docs/DESIGN.md 3.1): a block size for each patched matrix. Every
// matrix is projected by least squares at every candidate block size of capture.h5's
// statistics; one set of teacher backward passes over the validation prompts, targets drawn
// from the teacher, estimates what each (matrix, block size) costs the output (MoveProbe);
// the exact multiple-choice knapsack then spends the parameter budget of project.compression.
// Items are dealt over the ranks and summed in item order, so the choice is the same bits at
// any rank count.
#include <cstdint>
#include <vector>

#include "pipeline/circulant/block_allocation.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "stages/common/stage.hpp"
#include "stages/common/student.hpp"

namespace circal {

struct BlockSizeChoice {
  std::vector<int> candidates;                    // 1 (kept dense), then the statistics' block sizes, ascending
  std::vector<std::vector<BlockOption>> options;  // per matrix: the candidates that fit it
  std::int64_t budget = 0;                        // parameters: sum of m n / project.compression
  BlockAllocation allocation;
  long passes = 0, positions = 0;        // the sensitivity passes and their positions
  double seconds = 0;                    // spent on solves and passes
  std::vector<int> block_sizes() const;  // per matrix, the chosen one
};

// Collective over context.mpi. `matrices`: the patched matrices (StudentLayout::patched_matrices).
BlockSizeChoice choose_block_sizes(const StageContext& context, const CheckpointReader& capture,
                                   const StudentLayout& matrices);

// project.h5's /allocation: the candidates, each matrix's predicted KL and parameters per
// candidate (NaN and 0 where one does not fit), the chosen block size; budget and totals as
// attributes (stages/FILES.md).
void write_block_size_choice(CheckpointWriter& file, const BlockSizeChoice& choice, const Config& config);

}  // namespace circal

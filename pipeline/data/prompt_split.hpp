#pragma once
// `circal split`: a seeded split of a prompts file into calibration / validation / test,
// stratified by (family, language), so every family is represented where it is measured.
#include <string>
#include <vector>

#include "pipeline/config/config.hpp"
#include "pipeline/data/prompts.hpp"

namespace circal {

struct PromptSplit {
  std::vector<Prompt> calibration, validation, test;  // each in the order of the source file
};

// Each (family, language) stratum is apportioned by largest remainder (ties go to the split
// furthest below its share so far, so the totals stay near the fractions), then adjusted so
// it has at least one test prompt and, from 2 prompts on, one calibration prompt. Which
// prompts go where is a Fisher-Yates shuffle driven by std::mt19937(config.seed), whose
// output the standard fixes, with our own unbiased index draw, so the split is the same with
// every standard library.
// Throws CircalError(kExitInput) when a prompt appears twice in `prompts`.
PromptSplit split_prompts(const std::vector<Prompt>& prompts, const SplitConfig& config);

// Writes DIR/{calibration,validation,test}.txt, each atomically (temp file, fsync, rename).
// Throws CircalError(kExitIo) naming the file when it cannot.
void write_split(const PromptSplit& split, const std::string& output_dir);

// A table: prompts per family and language in each split, and the totals.
std::string split_summary(const PromptSplit& split);

}  // namespace circal

#pragma once
// Why a stage's file was made for another run: the keys its fingerprint depends on whose value
// in the config stored in the file differs from the current one, or, when none does, that an
// input file's content changed. For the one-line refusal of a stale checkpoint.
#include <string>
#include <vector>

#include "pipeline/config/config.hpp"
#include "pipeline/io/checkpoint_reader.hpp"

namespace circal {

// e.g. "made with project.block_size 32, now 16"; `keys` are fully-qualified config keys.
std::string stale_reason(const CheckpointReader& file, const Config& current, const std::vector<std::string>& keys);

}  // namespace circal

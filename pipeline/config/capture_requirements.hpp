#pragma once
// What the later stages need of a capture, as rules over configs: the one home that `circal
// run` (before capture starts) and the sweep planner (before anything is written or submitted)
// both ask, so neither lets a point through that project, calibrate or evaluate would then
// refuse. The stages still check capture.h5 itself (a file can be older than its config).
#include <optional>
#include <string>

#include "pipeline/config/config.hpp"

namespace circal {

// One thing `point` needs that a capture made with `capture`'s settings would not provide:
// the point's key, why, and the setting that fixes it.
struct CaptureShortfall {
  std::string key;
  std::string reason;
  std::string fix;
  std::string text() const { return key + ": " + reason + "; " + fix; }
};

// The first shortfall of `point` against `capture` (the capture.* keys of `capture` are read,
// every other key of `point`), or nothing when the capture serves it.
std::optional<CaptureShortfall> capture_shortfall(const Config& capture, const Config& point);

// For `circal run`: a config whose own capture settings cannot serve its later stages is a
// usage error (exit 2) naming the key and the fix.
void refuse_capture_shortfall(const Config& config);

}  // namespace circal

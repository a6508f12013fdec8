// What later stages need of a capture (pipeline/config/capture_requirements.hpp): each rule on
// its own, the capture's settings read from one config and the point's from another.
#include <doctest/doctest.h>

#include "pipeline/base/errors.hpp"
#include "pipeline/config/capture_requirements.hpp"

using namespace circal;

namespace {

std::string key_of(const Config& capture, const Config& point) {
  const auto shortfall = capture_shortfall(capture, point);
  return shortfall ? shortfall->key : "";
}

}  // namespace

TEST_CASE("capture requirements: block sizes, full Grams, down inputs, logits") {
  Config capture, point;
  CHECK(key_of(capture, point).empty());  // the defaults serve themselves
  capture.capture.block_sizes = {16, 32};
  point.project.block_size = 8;
  CHECK(key_of(capture, point) == "project.block_size");
  CHECK(capture_shortfall(capture, point)->text() ==
        "project.block_size: 8 has no projection statistics (capture.block_sizes [16, 32]); add 8 to "
        "capture.block_sizes");
  point.project.block_size = 32;
  CHECK(key_of(capture, point).empty());
  point.project.block_size = 8;  // auto chooses among the captured sizes, whatever they are
  point.project.allocate_blocks = true;
  CHECK(key_of(capture, point).empty());
  point.project.allocate_blocks = false;
  point.project.block_size = 32;
  capture.capture.block_sizes.clear();  // [] means the capture config's own project.block_size
  capture.project.block_size = 32;
  CHECK(key_of(capture, point).empty());
  point.project.structure = Structure::LowRank;  // no statistics needed, the full Gram is
  point.project.block_size = 8;
  CHECK(key_of(capture, point).empty());
  capture.capture.full_gram = FullGramChoice::No;
  CHECK(key_of(capture, point) == "project.structure");
  capture.capture.full_gram = FullGramChoice::Yes;
  point.project.down_inputs = DownInputs::Student;
  CHECK(key_of(capture, point) == "project.down_inputs");
  point.project.down_inputs = DownInputs::Teacher;
  point.calibrate.temperature = 2;
  CHECK(key_of(capture, point).empty());  // full logits serve any temperature
  capture.capture.logits_format = LogitsFormat::TopK;
  CHECK(key_of(capture, point) == "calibrate.temperature");
  point.calibrate.enabled = false;
  CHECK(key_of(capture, point).empty());
}

TEST_CASE("capture requirements: circal run refuses its own config with exit 2") {
  Config config;
  config.capture.block_sizes = {16, 32};
  config.project.block_size = 8;
  try {
    refuse_capture_shortfall(config);
    FAIL("not refused");
  } catch (const CircalError& e) {
    CHECK(e.code() == kExitUsage);
    CHECK(std::string(e.what()).starts_with("config: project.block_size: 8"));
  }
}

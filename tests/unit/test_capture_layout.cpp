// CalibrationData and the reader on capture files that break the layout of stages/FILES.md (found
// through the fuzz harness; tests/fuzz/corpus/checkpoint/crash_*): each is refused with a CircalError
// naming the file and dataset, where it used to read or write out of bounds.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "stages/calibrate/calibration_data.hpp"
#include "tests/unit/scratch_dir.hpp"

using namespace circal;

namespace {

constexpr int kHidden = 4, kVocab = 8, kK = 2;

// A top-k capture of prompts with 2 and 1 tokens: the valid layout, then `edit` applied.
struct CaptureContents {
  std::vector<int64_t> offsets = {0, 2, 3};
  std::vector<int32_t> split = {0, 1};
  uint64_t rows = 3;
  std::vector<int32_t> topk_ids = {0, 1, 2, 3, 4, 5};
};

std::string write_capture(const testing::ScratchDir& dir, const CaptureContents& c) {
  const std::string path = (dir.path / "capture.h5").string();
  CheckpointWriter writer(MPI_COMM_SELF, path, {"capture", "fp", "run_dir: x\n"});
  const std::vector<float> hidden(c.rows * kHidden, 0.5f), topk(c.rows * kK, 1.0f), lse(c.rows, 2.0f);
  writer.write("/prompts/offsets", {c.offsets.size()}, c.offsets.data());
  writer.write("/prompts/split", {c.split.size()}, c.split.data());
  const std::vector<int32_t> tokens(c.rows, 1);
  writer.write("/tokens", {c.rows}, tokens.data());
  writer.write("/hidden_in", {c.rows, uint64_t(kHidden)}, hidden.data());
  writer.set_attr("/hidden_in", "layer", int64_t(0));
  writer.write("/teacher/topk_ids", {c.topk_ids.size() / kK, uint64_t(kK)}, c.topk_ids.data());
  writer.write("/teacher/topk_logits", {c.rows, uint64_t(kK)}, topk.data());
  writer.write("/teacher/logsumexp", {c.rows}, lse.data());
  writer.commit();
  return path;
}

// Opens the capture and scores every prompt as calibrate does; the CircalError's message, or
// "(accepted)".
std::string outcome(const CaptureContents& contents) {
  testing::ScratchDir dir("capture-layout");
  const std::string path = write_capture(dir, contents);
  try {
    CalibrationData data(path, "", 0, kHidden, 1.0f);
    for (int p = 0; p < 2; ++p) {
      std::vector<float> student(size_t(data.tokens(p)) * kVocab, 0.0f), grad(student.size());
      data.hidden(p);
      data.distillation_loss(p, student.data(), grad.data(), kVocab, 1.0f);
    }
  } catch (const CircalError& e) {
    CHECK(e.code() == kExitCheckpoint);
    CHECK(std::string(e.what()).find(path) != std::string::npos);
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("a capture with the documented layout is read and scored") { CHECK(outcome({}) == "(accepted)"); }

TEST_CASE("prompt offsets that go backwards or past the token rows are refused") {
  CaptureContents backwards;
  backwards.offsets = {0, 3, 2};  // prompt 1 had -1 tokens: a wrapped row count
  CHECK(outcome(backwards).find("/prompts/offsets") != std::string::npos);
  CaptureContents beyond;
  beyond.offsets = {0, 2, int64_t(1) << 62};
  CHECK(outcome(beyond).find("/prompts/offsets") != std::string::npos);
  CaptureContents short_list;
  short_list.offsets = {0, 3};  // 2 prompts need 3 offsets
  CHECK(outcome(short_list).find("/prompts/offsets") != std::string::npos);
}

TEST_CASE("top-k token ids outside the model's vocabulary are refused") {
  CaptureContents too_large;
  too_large.topk_ids = {0, 1, 2, 3, 4, kVocab + 100};
  CHECK(outcome(too_large).find("/teacher/topk_ids") != std::string::npos);
  CaptureContents negative;
  negative.topk_ids = {-7, 1, 2, 3, 4, 5};
  CHECK(outcome(negative).find("/teacher/topk_ids") != std::string::npos);
}

TEST_CASE("top-k datasets without one row per token are refused") {
  CaptureContents missing_rows;
  missing_rows.topk_ids = {0, 1, 2, 3};  // 2 rows for 3 tokens
  CHECK(outcome(missing_rows).find("/teacher/topk_ids") != std::string::npos);
}

TEST_CASE("a row range that wraps around 2^64 is refused by the reader itself") {
  testing::ScratchDir dir("capture-layout");
  const std::string path = write_capture(dir, {});
  const CheckpointReader file(path);
  // 2 + (2^64 - 1) wraps to 1, which used to pass the "inside the dataset" check.
  CHECK_THROWS_AS(file.read_float_rows("/hidden_in", 2, UINT64_MAX), CircalError);
  CHECK_THROWS_AS(file.read_float_rows("/hidden_in", 4, 0), CircalError);
  CHECK(file.read_float_rows("/hidden_in", 3, 0).empty());
}

// Stage fingerprints change exactly when a value, key or file content they cover changes.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/config/config.hpp"
#include "stages/common/fingerprint.hpp"
#include "tests/unit/scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace circal;

namespace {

using testing::ScratchDir;

std::string project_fingerprint(const Config& config, const std::string& weights) {
  return Fingerprint()
      .add("stage", "project")
      .add_key(config, "project.block_size")
      .add_key(config, "patch.layers")
      .add_file(weights)
      .hex();
}

}  // namespace

TEST_CASE("fingerprint: empty is the FNV-1a 64 offset basis, 16 lowercase hex digits") {
  CHECK(Fingerprint().hex() == "cbf29ce484222325");
  const std::string hex = Fingerprint().add("stage", "capture").hex();
  CHECK(hex.size() == 16);
  CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(hex != Fingerprint().hex());
}

TEST_CASE("fingerprint: follows covered config keys and file contents, nothing else") {
  ScratchDir dir;
  const std::string weights = dir.write("w.bin", std::string("\x00\x01weights", 9));
  const Config base;
  const std::string reference = project_fingerprint(base, weights);
  CHECK(project_fingerprint(base, weights) == reference);  // stable

  CHECK(project_fingerprint(load_config("", {"calibrate.lr=0.5"}), weights) == reference);  // not covered
  CHECK(project_fingerprint(load_config("", {"run_dir=elsewhere"}), weights) == reference);
  CHECK(project_fingerprint(load_config("", {"project.block_size=32"}), weights) != reference);
  CHECK(project_fingerprint(load_config("", {"patch.layers=[0,1,2,3]"}), weights) != reference);

  // The content counts, not the file's name or place.
  const std::string copy = dir.write("copy-elsewhere.bin", std::string("\x00\x01weights", 9));
  CHECK(project_fingerprint(base, copy) == reference);
  const std::string edited = dir.write("edited.bin", std::string("\x00\x01weighTs", 9));
  CHECK(project_fingerprint(base, edited) != reference);
}

TEST_CASE("fingerprint: label/value boundaries and order are part of the hash") {
  CHECK(Fingerprint().add("ab", "c").hex() != Fingerprint().add("a", "bc").hex());
  CHECK(Fingerprint().add("a", "").add("", "b").hex() != Fingerprint().add("a", "b").hex());
  CHECK(Fingerprint().add("x", "1").add("y", "2").hex() != Fingerprint().add("y", "2").add("x", "1").hex());
  // An upstream fingerprint is a value like any other: a changed upstream changes this one.
  const std::string up1 = Fingerprint().add("stage", "capture").add("k", "1").hex();
  const std::string up2 = Fingerprint().add("stage", "capture").add("k", "2").hex();
  CHECK(Fingerprint().add("capture", up1).hex() != Fingerprint().add("capture", up2).hex());
}

TEST_CASE("fingerprint: a missing input file is an input error naming it") {
  try {
    Fingerprint().add_file("/nonexistent/model.safetensors");
    FAIL("no error for a missing file");
  } catch (const CircalError& e) {
    CHECK(e.code() == kExitInput);
    CHECK(std::string(e.what()).find("/nonexistent/model.safetensors") != std::string::npos);
  }
}

// Tokenizer: ids identical to the independent reference (teacher.h5: BOS + SentencePiece ids)
// and decode inverting encode on the seed prompts.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "tests/reference_files.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kTeacherDir = fs::path(CIRCAL_SOURCE_DIR) / "data/models/manpages-llama-5m";

}  // namespace

TEST_CASE("tokens equal teacher.h5 (BOS + ids) for every reference prompt") {
  const circal::Tokenizer tokenizer(kTeacherDir.string());
  CHECK(tokenizer.vocab_size() == 4096);
  const circal::CheckpointReader reference(circal::test::reference_file("teacher.h5"));
  const auto prompts = reference.children("/");
  REQUIRE(prompts.size() >= 4);
  for (const auto& group : prompts) {
    const std::string text = reference.attr_string(group, "text");
    INFO(group, ": ", text);
    std::vector<int32_t> expected = reference.read_int32(group + "/tokens");
    std::vector<int> ids = tokenizer.encode(text);
    ids.insert(ids.begin(), 1);  // BOS of config.json
    CHECK(std::vector<int32_t>(ids.begin(), ids.end()) == expected);
  }
}

TEST_CASE("decode inverts encode on every seed prompt") {
  const circal::Tokenizer tokenizer(kTeacherDir.string());
  std::ifstream in(fs::path(CIRCAL_SOURCE_DIR) / "data/prompts.txt");
  std::string line;
  int count = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<int> ids = tokenizer.encode(line);
    INFO(line);
    CHECK_FALSE(ids.empty());
    CHECK(tokenizer.decode(ids) == line);
    ++count;
  }
  CHECK(count == 204);
}

TEST_CASE("a missing or invalid tokenizer.model is refused naming the file") {
  const fs::path dir = fs::temp_directory_path() / ("circal_tok_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string file = (dir / "tokenizer.model").string();
  for (const bool present : {false, true}) {
    if (present) std::ofstream(file) << "this is not a protobuf";
    try {
      circal::Tokenizer tokenizer(dir.string());
      FAIL("accepted a bad tokenizer");
    } catch (const circal::CircalError& e) {
      CHECK(e.code() == circal::kExitInput);
      CHECK(std::string(e.what()).find(file) != std::string::npos);
    }
  }
  fs::remove_all(dir);
}

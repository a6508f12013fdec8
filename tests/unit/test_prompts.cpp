// Prompt files (families, languages, UTF-8 and empty-file refusals) and the stratified split:
// disjoint, covering, stratified, deterministic, and equal to the committed data/splits.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "pipeline/base/errors.hpp"
#include "pipeline/data/prompt_split.hpp"
#include "pipeline/data/prompts.hpp"
#include "pipeline/io/input_files.hpp"
#include "tests/unit/error_of.hpp"
#include "tests/unit/scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace circal;

namespace {

const fs::path kSourceDir = CIRCAL_SOURCE_DIR;
const std::string kPromptsFile = (kSourceDir / "data/prompts.txt").string();

using testing::error_of;
using testing::ScratchDir;

std::vector<std::string> texts(const std::vector<Prompt>& prompts) {
  std::vector<std::string> out;
  for (const auto& p : prompts) out.push_back(p.text);
  return out;
}

using Stratum = std::pair<std::string, std::string>;
std::map<Stratum, int> stratum_sizes(const std::vector<Prompt>& prompts) {
  std::map<Stratum, int> sizes;
  for (const auto& p : prompts) ++sizes[{p.family, p.language}];
  return sizes;
}

}  // namespace

TEST_CASE("prompts: the bundled file has 204 prompts in 16 families, 40 of them German") {
  const auto prompts = read_prompts(kPromptsFile);
  CHECK(prompts.size() == 204);
  const auto sizes = stratum_sizes(prompts);
  CHECK(sizes.size() == 16);
  CHECK(sizes.at({"Explain in one sentence", "EN"}) == 10);
  CHECK(sizes.at({"Complete the sentence", "EN"}) == 20);
  CHECK(sizes.at({"Complete", "EN"}) == 10);  // "Complete: ..." is its own family
  CHECK(sizes.at({"Continue", "EN"}) == 48);
  CHECK(sizes.at({"Fill in one word only (no punctuation)", "EN"}) == 10);
  CHECK(sizes.at({"Erklaere kurz", "DE"}) == 5);
  CHECK(sizes.at({"Gib ein Beispiel", "DE"}) == 5);
  int german = 0;
  for (const auto& p : prompts) german += p.language == "DE";
  CHECK(german == 40);
}

TEST_CASE("prompts: family and language rules") {
  ScratchDir dir;
  const auto prompts = read_prompts(
      dir.write("rules.txt",
                "Fuehre fort: Die Katze\nAnswer briefly: what is a: b?\nExplain in one sentence why FFT helps.\n"
                "Two words\nFormuliere um: x\nVervollstaendige den Satz: y\nFinish: z\n"));
  REQUIRE(prompts.size() == 7);
  const std::pair<const char*, const char*> expected[] = {
      {"Fuehre fort", "DE"}, {"Answer briefly", "EN"}, {"Explain in one sentence", "EN"},
      {"Two words", "EN"},   {"Formuliere um", "DE"},  {"Vervollstaendige den Satz", "DE"},
      {"Finish", "EN"}};
  for (size_t i = 0; i < prompts.size(); ++i) {
    CHECK(prompts[i].family == expected[i].first);
    CHECK(prompts[i].language == expected[i].second);
  }
}

TEST_CASE("prompts: blanks and CR are dropped, UTF-8 accepted, bad files refused naming file and line") {
  ScratchDir dir;
  const auto good = read_prompts(dir.write("good.txt",
                                           "\nErklaere kurz: Gr\xC3\xB6\xC3\x9F"
                                           "e\r\n   \nHi there\n"));
  REQUIRE(good.size() == 2);
  CHECK(good[0].text ==
        "Erklaere kurz: Gr\xC3\xB6\xC3\x9F"
        "e");
  CHECK(good[0].language == "DE");
  CHECK(good[1].family == "Hi there");

  const std::string bad = dir.write("bad.txt", "ok: one\nok: two\nbad: \xC3\x28\n");
  auto error = error_of([&] { read_prompts(bad); });
  CHECK(error.code() == kExitInput);
  CHECK(std::string(error.what()) == "prompts: " + bad + ":3: invalid UTF-8");

  for (const char* invalid : {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82", "\x80"}) {
    const std::string path = dir.write("invalid.txt", std::string("x: ") + invalid + "\n");
    CHECK(error_of([&] { read_prompts(path); }).code() == kExitInput);
  }

  const std::string empty = dir.write("empty.txt", "\n  \n\r\n");
  error = error_of([&] { read_prompts(empty); });
  CHECK(error.code() == kExitInput);
  CHECK(std::string(error.what()).find(empty) != std::string::npos);

  CHECK(error_of([&] { read_prompts(dir.path.string() + "/missing.txt"); }).code() == kExitInput);
}

TEST_CASE("a missing file or a directory is refused in the words the stages' fingerprints use") {
  // The stages hash a prompt file (fingerprint) before they read it, logits and bench read it
  // at once: both must name the file alike. A directory once read as an empty prompt file.
  ScratchDir dir;
  const std::string missing = dir.path.string() + "/missing.txt", directory = dir.path.string();
  for (const std::string& path : {missing, directory}) {
    const CircalError read = error_of([&] { read_prompts(path); });
    const CircalError hashed = error_of([&] { file_content_hash(path); });
    CHECK(read.code() == kExitInput);
    CHECK(hashed.code() == kExitInput);
    CHECK(std::string(read.what()) == hashed.what());
  }
  CHECK(std::string(error_of([&] { read_prompts(missing); }).what()) == missing + ": missing");
  CHECK(std::string(error_of([&] { read_prompts(directory); }).what()) == directory + ": not a regular file");
}

TEST_CASE("split: disjoint, covering all 204, stratified, every family in test and calibration") {
  const auto prompts = read_prompts(kPromptsFile);
  const SplitConfig config;
  const PromptSplit split = split_prompts(prompts, config);

  std::multiset<std::string> all;
  for (const auto* part : {&split.calibration, &split.validation, &split.test})
    for (const auto& p : *part) all.insert(p.text);
  CHECK(all.size() == 204);
  CHECK(std::set<std::string>(all.begin(), all.end()).size() == 204);  // no prompt twice
  const auto source = texts(prompts);
  CHECK(std::set<std::string>(all.begin(), all.end()) == std::set<std::string>(source.begin(), source.end()));

  const auto sizes = stratum_sizes(prompts);
  const double test_share = 1 - config.calibration_fraction - config.validation_fraction;
  const std::pair<const std::vector<Prompt>*, double> parts[] = {{&split.calibration, config.calibration_fraction},
                                                                 {&split.validation, config.validation_fraction},
                                                                 {&split.test, test_share}};
  for (const auto& [part, share] : parts) {
    const auto counts = stratum_sizes(*part);
    for (const auto& entry : sizes) {  // not a structured binding: CAPTURE captures it, clang 14 cannot
      const auto& stratum = entry.first;
      const auto n = entry.second;
      CAPTURE(stratum.first);
      const int got = counts.count(stratum) ? counts.at(stratum) : 0;
      CHECK(std::abs(got - n * share) <= 1.0);  // within rounding of its share
    }
  }
  CHECK(stratum_sizes(split.test).size() == sizes.size());
  CHECK(stratum_sizes(split.calibration).size() == sizes.size());  // every family has >= 3
  CHECK(std::abs(static_cast<double>(split.calibration.size()) - 0.60 * 204) <= 8);
  CHECK(std::abs(static_cast<double>(split.test.size()) - 0.25 * 204) <= 8);
}

TEST_CASE("split: deterministic per seed, and the committed data/splits are the default split") {
  const auto prompts = read_prompts(kPromptsFile);
  const SplitConfig config;
  const PromptSplit first = split_prompts(prompts, config);
  const PromptSplit second = split_prompts(prompts, config);
  CHECK(texts(first.calibration) == texts(second.calibration));
  CHECK(texts(first.validation) == texts(second.validation));
  CHECK(texts(first.test) == texts(second.test));

  SplitConfig reseeded;
  reseeded.seed = config.seed + 1;
  CHECK(texts(split_prompts(prompts, reseeded).test) != texts(first.test));

  CHECK(texts(read_prompts((kSourceDir / "data/splits/calibration.txt").string())) == texts(first.calibration));
  CHECK(texts(read_prompts((kSourceDir / "data/splits/validation.txt").string())) == texts(first.validation));
  CHECK(texts(read_prompts((kSourceDir / "data/splits/test.txt").string())) == texts(first.test));
}

TEST_CASE("split: small strata and other fractions keep every family in test") {
  std::vector<Prompt> prompts;
  for (int n : {1, 2, 3, 7})
    for (int i = 0; i < n; ++i)
      prompts.push_back({"F" + std::to_string(n) + ": " + std::to_string(i), "F" + std::to_string(n), "EN"});
  SplitConfig config;
  config.calibration_fraction = 0.8;
  config.validation_fraction = 0.15;
  const PromptSplit split = split_prompts(prompts, config);
  const auto test = stratum_sizes(split.test);
  const auto calibration = stratum_sizes(split.calibration);
  CHECK(test.size() == 4);
  CHECK(test.at({"F1", "EN"}) == 1);
  CHECK(calibration.at({"F2", "EN"}) == 1);
  CHECK(calibration.at({"F3", "EN"}) == 2);
  CHECK(calibration.at({"F7", "EN"}) == 5);  // 5.6 ideal, one moved to test
  CHECK(split.calibration.size() + split.validation.size() + split.test.size() == prompts.size());
}

TEST_CASE("split: files are written whole, read back equal, and checked disjoint") {
  ScratchDir dir;
  const PromptSplit split = split_prompts(read_prompts(kPromptsFile), SplitConfig{});
  const std::string out = (dir.path / "nested/splits").string();
  write_split(split, out);
  for (const auto& entry : fs::directory_iterator(out)) CHECK(entry.path().extension() != ".tmp");
  const std::vector<std::string> files = {out + "/calibration.txt", out + "/validation.txt", out + "/test.txt"};
  CHECK(texts(read_prompts(files[2])) == texts(split.test));
  CHECK_NOTHROW(check_disjoint_splits(files));

  const std::string leaked = dir.write("leaked.txt", split.test[3].text + "\n");
  const auto error = error_of([&] { check_disjoint_splits({files[0], files[2], leaked}); });
  CHECK(error.code() == kExitInput);
  CHECK(std::string(error.what()).find(split.test[3].text) != std::string::npos);
  CHECK(std::string(error.what()).find(leaked) != std::string::npos);

  const std::string summary = split_summary(split);
  CHECK(summary.find("Explain in one sentence") != std::string::npos);
  CHECK(summary.find(std::to_string(split.test.size())) != std::string::npos);
}

TEST_CASE("split: a prompt twice in the source is refused") {
  const std::vector<Prompt> twice = {{"A: x", "A", "EN"}, {"A: y", "A", "EN"}, {"A: x", "A", "EN"}};
  const auto error = error_of([&] { split_prompts(twice, SplitConfig{}); });
  CHECK(error.code() == kExitInput);
  CHECK(std::string(error.what()).find("A: x") != std::string::npos);
}

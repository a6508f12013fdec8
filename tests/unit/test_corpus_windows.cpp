// Corpus windows (data.source = corpus): the draw keeps splits apart (no overlapping windows,
// test documents untouched by calibration and validation), is exact (lengths, BOS, contiguous
// slices of one document) and deterministic for a seed; bad corpora are refused by name.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "pipeline/base/errors.hpp"
#include "pipeline/config/config.hpp"
#include "pipeline/data/corpus_windows.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "tests/unit/error_of.hpp"
#include "tests/unit/scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace circal;

namespace {

const fs::path kSourceDir = CIRCAL_SOURCE_DIR;
const std::string kTeacher = (kSourceDir / "data/models/manpages-llama-5m").string();

using testing::error_of;
using testing::ScratchDir;

using Windows = std::vector<CorpusWindow>;

// Every pair of windows of length L - 1 in the same document is disjoint.
bool disjoint(const std::vector<Windows>& parts, int window_tokens) {
  std::map<int, std::vector<int64_t>> starts;
  for (const Windows& part : parts)
    for (const CorpusWindow& w : part) starts[w.document].push_back(w.start);
  for (auto& [document, list] : starts) {
    std::sort(list.begin(), list.end());
    for (size_t i = 1; i < list.size(); ++i)
      if (list[i] - list[i - 1] < window_tokens - 1) return false;
  }
  return true;
}

std::set<int> documents_of(const Windows& windows) {
  std::set<int> out;
  for (const CorpusWindow& w : windows) out.insert(w.document);
  return out;
}

struct Draw {
  std::vector<char> test_document;
  Windows calibration, validation, test;
};

// The whole draw on synthetic documents: 3 files of 20, 15 and 5 documents, lengths 0..900.
Draw draw(unsigned seed, int window_tokens, int calibration, int validation, int test) {
  const std::vector<int> per_file = {20, 15, 5};
  std::vector<int64_t> lengths;
  for (int d = 0; d < 40; ++d) lengths.push_back((d * 7919) % 901);
  Draw out;
  out.test_document = split_corpus_documents(per_file, seed, 0.25);
  std::vector<int> training, held;
  for (int d = 0; d < 40; ++d) (out.test_document[d] ? held : training).push_back(d);
  const auto parts =
      draw_corpus_windows(training, lengths, window_tokens, {calibration, validation}, seed, 0, "training");
  out.calibration = parts.at(0);
  out.validation = parts.at(1);
  out.test = draw_corpus_windows(held, lengths, window_tokens, {test}, seed, 1, "test").at(0);
  for (const Windows* part : {&out.calibration, &out.validation, &out.test})
    for (const CorpusWindow& w : *part) {
      REQUIRE(w.start >= 0);
      REQUIRE(w.start + window_tokens - 1 <= lengths[w.document]);  // inside its document
    }
  return out;
}

Config corpus_config(const std::vector<std::string>& files, int window_tokens, int calibration, int validation,
                     int test) {
  Config config;
  config.data.source = DataSource::Corpus;
  config.data.corpus = files;
  config.data.window_tokens = window_tokens;
  config.data.calibration_windows = calibration;
  config.data.validation_windows = validation;
  config.data.test_windows = test;
  return config;
}

}  // namespace

TEST_CASE("corpus windows: splits never overlap and test documents are untouched by calibration") {
  for (unsigned seed : {1u, 2u, 20261201u}) {
    INFO("seed " << seed);
    const Draw d = draw(seed, 64, 30, 10, 8);
    CHECK(d.calibration.size() == 30);
    CHECK(d.validation.size() == 10);
    CHECK(d.test.size() == 8);
    CHECK(disjoint({d.calibration, d.validation, d.test}, 64));
    // round(20 / 4) + round(15 / 4) + round(5 / 4) = 5 + 4 + 1 test documents.
    CHECK(std::count(d.test_document.begin(), d.test_document.end(), 1) == 10);
    for (int document : documents_of(d.test)) CHECK(d.test_document[document] == 1);
    for (const Windows* part : {&d.calibration, &d.validation})
      for (int document : documents_of(*part)) CHECK(d.test_document[document] == 0);
  }
  // Every slot taken: all windows still disjoint.
  const std::vector<int64_t> lengths = {10, 19, 30};
  const auto all = draw_corpus_windows({0, 1, 2}, lengths, 10, {1, 4}, 7, 0, "x");  // 1 + 2 + 3 slots of 9
  CHECK(all[0].size() + all[1].size() == 5);
  CHECK(disjoint(all, 10));
}

TEST_CASE("corpus windows: deterministic for a seed; another seed draws others") {
  const Draw a = draw(11, 64, 30, 10, 8), b = draw(11, 64, 30, 10, 8), c = draw(12, 64, 30, 10, 8);
  const auto same = [](const Windows& x, const Windows& y) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (x[i].document != y[i].document || x[i].start != y[i].start) return false;
    return true;
  };
  CHECK(a.test_document == b.test_document);
  CHECK(same(a.calibration, b.calibration));
  CHECK(same(a.validation, b.validation));
  CHECK(same(a.test, b.test));
  CHECK_FALSE(same(a.calibration, c.calibration));
  // The calibration windows do not depend on how many validation or test windows are drawn.
  const Draw more = draw(11, 64, 30, 2, 3);
  CHECK(same(a.calibration, more.calibration));
}

TEST_CASE("corpus windows: the committed corpus gives exact BOS-first windows, contiguous in one document") {
  const ModelWeights teacher = load_model(kTeacher);
  const Tokenizer tokenizer(kTeacher);
  Config config =
      corpus_config({(kSourceDir / "data/corpus/en.jsonl").string(), (kSourceDir / "data/corpus/de.jsonl").string()},
                    128, 64, 16, 32);
  const std::vector<CorpusPart> training = corpus_windows(config.data, tokenizer, teacher.config, false);
  const std::vector<CorpusPart> test = corpus_windows(config.data, tokenizer, teacher.config, true);
  REQUIRE(training.size() == 2);
  REQUIRE(test.size() == 1);
  CHECK(training[0].tokens.size() == 64);
  CHECK(training[1].tokens.size() == 16);
  CHECK(test[0].tokens.size() == 32);
  CHECK(disjoint({training[0].windows, training[1].windows, test[0].windows}, 128));
  std::set<int> training_documents = documents_of(training[0].windows);
  for (int d : documents_of(training[1].windows)) training_documents.insert(d);
  for (int d : documents_of(test[0].windows)) CHECK(training_documents.count(d) == 0);

  // Both languages appear in the test windows; every window is BOS + 127 ids of its document.
  std::set<std::string> languages(test[0].language.begin(), test[0].language.end());
  CHECK(languages == std::set<std::string>{"DE", "EN"});
  const std::vector<CorpusDocument> en = read_corpus_file(config.data.corpus[0]);
  const std::vector<CorpusDocument> de = read_corpus_file(config.data.corpus[1]);
  for (const CorpusPart* part : {&training[0], &training[1], &test[0]}) {
    for (size_t i = 0; i < part->tokens.size(); ++i) {
      const std::vector<int>& ids = part->tokens[i];
      REQUIRE(ids.size() == 128);
      CHECK(ids[0] == teacher.config.bos_token_id);
      CHECK(std::count(ids.begin(), ids.end(), teacher.config.bos_token_id) == 1);
      const CorpusWindow& w = part->windows[i];
      const CorpusDocument& document =
          w.document < int(en.size()) ? en[size_t(w.document)] : de[size_t(w.document) - en.size()];
      const std::vector<int> stream = tokenizer.encode(document.text);
      REQUIRE(w.start + 127 <= int64_t(stream.size()));
      CHECK(std::equal(ids.begin() + 1, ids.end(), stream.begin() + w.start));
      CHECK(part->family[i] == (w.document < int(en.size()) ? "en.jsonl" : "de.jsonl"));
      CHECK(part->label[i].starts_with(document.name + " tokens "));
    }
  }
  // Deterministic through the whole path.
  CHECK(corpus_windows(config.data, tokenizer, teacher.config, true)[0].tokens == test[0].tokens);
}

TEST_CASE("corpus windows: plain text documents are separated by a line holding only ---") {
  ScratchDir dir;
  const std::string path =
      dir.write("notes.txt", "\nfirst document\nline two\n---\n\n---\nsecond\r\n--- \nstill second\n---\n");
  const std::vector<CorpusDocument> documents = read_corpus_file(path);
  REQUIRE(documents.size() == 2);
  CHECK(documents[0].text == "first document\nline two");
  CHECK(documents[0].name == path + ":2");
  CHECK(documents[1].text == "second\n--- \nstill second");
  CHECK(documents[1].language == "-");
}

TEST_CASE("corpus windows: bad corpora are refused naming the file, line and reason") {
  ScratchDir dir;
  const auto refused = [](const std::string& path, const std::string& expected) {
    const CircalError e = error_of([&] { read_corpus_file(path); });
    CHECK(e.code() == kExitInput);
    CHECK_MESSAGE(std::string(e.what()).find(expected) != std::string::npos, e.what());
  };
  refused((dir.path / "absent.jsonl").string(), "absent.jsonl: missing");
  refused(dir.write("bad.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"\n"), "bad.jsonl:2: not valid JSON");
  refused(dir.write("notext.jsonl", "{\"text\": \"a\"}\n\n{\"body\": \"b\"}\n"), "notext.jsonl:3: no \"text\" field");
  refused(dir.write("number.jsonl", "{\"text\": 5}\n"), "number.jsonl:1: \"text\" is not a string");
  refused(dir.write("array.jsonl", "[\"text\"]\n"), "array.jsonl:1: not a JSON object");
  refused(dir.write("empty.jsonl", "\n\n"), "empty.jsonl: no documents");
  refused(dir.write("latin1.txt", "ok\n---\ncaf\xe9\n"), "latin1.txt:3: invalid UTF-8");

  // Too few tokens for the windows asked for, and too long a window for the model.
  const ModelWeights teacher = load_model(kTeacher);
  const Tokenizer tokenizer(kTeacher);
  std::string lines;
  for (int d = 0; d < 10; ++d) lines += "{\"text\": \"The kill() system call sends a signal to a process.\"}\n";
  const std::string small = dir.write("small.jsonl", lines);
  const CircalError few =
      error_of([&] { corpus_windows(corpus_config({small}, 8, 40, 8, 2).data, tokenizer, teacher.config, false); });
  CHECK(few.code() == kExitInput);
  CHECK_MESSAGE(std::string(few.what()).find("the 8 calibration/validation documents hold only") != std::string::npos,
                few.what());
  CHECK_MESSAGE(std::string(few.what()).find("fewer than the 48 requested") != std::string::npos, few.what());
  const CircalError fits =
      error_of([&] { corpus_windows(corpus_config({small}, 8, 4, 2, 1).data, tokenizer, teacher.config, false); });
  CHECK(fits.code() == ExitCode(-1));  // the same corpus serves fewer windows
  const CircalError wide =
      error_of([&] { corpus_windows(corpus_config({small}, 513, 4, 2, 1).data, tokenizer, teacher.config, true); });
  CHECK(wide.code() == kExitUsage);
  CHECK(std::string(wide.what()) ==
        "config: data.window_tokens: 513 is more than the model's max_position_embeddings 512");
  const CircalError one = error_of([&] { split_corpus_documents({1}, 3, 0.2); });
  CHECK(one.code() == kExitInput);
  CHECK(std::string(one.what()).find("leaves no test document") != std::string::npos);
}

TEST_CASE("corpus windows: the data.* keys are validated") {
  const auto usage = [](const std::string& assignment, const std::string& expected) {
    const CircalError e = error_of([&] { load_config("", {assignment}); });
    CHECK(e.code() == kExitUsage);
    CHECK_MESSAGE(std::string(e.what()).find(expected) != std::string::npos, e.what());
  };
  usage("data.source=files", "config: data.source:");
  usage("data.corpus=[]", "config: data.corpus: must list at least one corpus file");
  usage("data.corpus=[a.jsonl, a.jsonl]", "config: data.corpus: lists a.jsonl twice");
  usage("data.window_tokens=1", "config: data.window_tokens: must be >= 2");
  usage("data.calibration_windows=0", "config: data.calibration_windows: must be >= 1");
  usage("data.test_document_fraction=1", "config: data.test_document_fraction:");
  CHECK(load_config("", {"data.source=corpus"}).data.source == DataSource::Corpus);
}

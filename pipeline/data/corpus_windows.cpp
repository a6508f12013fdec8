#include "pipeline/data/corpus_windows.hpp"

#include <nlohmann/json.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "pipeline/base/errors.hpp"
#include "pipeline/data/prompts.hpp"
#include "pipeline/io/input_files.hpp"
#include "pipeline/model/utf8_text.hpp"

namespace circal {
namespace {

// Uniform in [0, n) by rejection on a 32-bit Mersenne twister: no modulo bias and no
// library-specific distribution, so the draw is the same with every standard library.
uint32_t uniform_below(std::mt19937& rng, uint64_t n) {
  const uint64_t range = 1ULL << 32;
  const uint64_t limit = range - range % n;
  uint64_t draw;
  do draw = rng();
  while (draw >= limit);
  return static_cast<uint32_t>(draw % n);
}

template <class T>
void shuffle(std::vector<T>& items, std::mt19937& rng) {
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[uniform_below(rng, i)]);
}

// std::seed_seq's mixing is specified by the standard: the same streams everywhere.
std::mt19937 stream_rng(unsigned seed, int stream) {
  std::seed_seq sequence{uint32_t(seed), uint32_t(stream), 0x636f7270u /* "corp" */};
  return std::mt19937(sequence);
}

bool is_jsonl(const std::string& path) { return path.size() >= 6 && path.ends_with(".jsonl"); }

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  return s;
}

std::string where(const std::string& path, int line) { return "corpus: " + path + ":" + std::to_string(line); }

std::vector<CorpusDocument> read_jsonl(std::ifstream& in, const std::string& path) {
  std::vector<CorpusDocument> documents;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (!valid_utf8(line)) fail(kExitInput, where(path, number) + ": invalid UTF-8");
    nlohmann::json object;
    try {
      object = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail(kExitInput, where(path, number) + ": not valid JSON (" + std::string(e.what()) + ")");
    }
    if (!object.is_object()) fail(kExitInput, where(path, number) + ": not a JSON object");
    const auto text = object.find("text");
    if (text == object.end()) fail(kExitInput, where(path, number) + ": no \"text\" field");
    if (!text->is_string()) fail(kExitInput, where(path, number) + ": \"text\" is not a string");
    CorpusDocument document;
    document.text = text->get<std::string>();
    const auto source = object.find("source");
    document.name = source != object.end() && source->is_string() ? source->get<std::string>()
                                                                  : path + ":" + std::to_string(number);
    const auto lang = object.find("lang");
    document.language = lang != object.end() && lang->is_string() && !lang->get<std::string>().empty()
                            ? upper(lang->get<std::string>())
                            : "-";
    // Names and languages go into newline-separated HDF5 attributes.
    for (std::string* s : {&document.name, &document.language})
      for (char& c : *s)
        if (c == '\n' || c == '\r') c = ' ';
    documents.push_back(std::move(document));
  }
  return documents;
}

std::vector<CorpusDocument> read_plain(std::ifstream& in, const std::string& path) {
  std::vector<CorpusDocument> documents;
  CorpusDocument current;
  int first_line = 0;
  bool has_text = false;
  const auto close = [&] {
    if (has_text) {
      while (!current.text.empty() && current.text.back() == '\n') current.text.pop_back();
      current.name = path + ":" + std::to_string(first_line);
      current.language = "-";
      documents.push_back(std::move(current));
    }
    current = {};
    has_text = false;
  };
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!valid_utf8(line)) fail(kExitInput, where(path, number) + ": invalid UTF-8");
    if (line == "---") {
      close();
      continue;
    }
    const bool blank = line.find_first_not_of(" \t") == std::string::npos;
    if (!has_text && blank) continue;  // leading blank lines of a document
    if (!has_text) first_line = number;
    has_text = true;
    current.text += line;
    current.text += '\n';
  }
  close();
  return documents;
}

}  // namespace

std::vector<CorpusDocument> read_corpus_file(const std::string& path) {
  std::ifstream in = open_input_file(path);
  std::vector<CorpusDocument> documents = is_jsonl(path) ? read_jsonl(in, path) : read_plain(in, path);
  if (documents.empty()) fail(kExitInput, "corpus: " + path + ": no documents (empty file)");
  return documents;
}

std::vector<char> split_corpus_documents(const std::vector<int>& documents_per_file, unsigned seed,
                                         double test_fraction) {
  std::mt19937 rng = stream_rng(seed, 2);
  std::vector<char> test;
  int test_count = 0, total = 0;
  for (int count : documents_per_file) {
    std::vector<int> order(count);
    for (int i = 0; i < count; ++i) order[i] = i;
    shuffle(order, rng);
    const int held = int(std::lround(count * test_fraction));
    std::vector<char> mine(count, 0);
    for (int i = 0; i < held; ++i) mine[order[i]] = 1;
    test.insert(test.end(), mine.begin(), mine.end());
    test_count += held;
    total += count;
  }
  if (test_count == 0 || test_count == total)
    fail(kExitInput, "corpus: data.test_document_fraction " + std::to_string(test_fraction) + " of " +
                         std::to_string(total) + " documents leaves " +
                         (test_count == 0 ? "no test document" : "no calibration document") +
                         " (add documents or change the fraction)");
  return test;
}

std::vector<std::vector<CorpusWindow>> draw_corpus_windows(const std::vector<int>& pool,
                                                           const std::vector<int64_t>& stream_tokens, int window_tokens,
                                                           const std::vector<int>& counts, unsigned seed, int stream,
                                                           const std::string& what) {
  const int64_t body = window_tokens - 1;
  std::mt19937 rng = stream_rng(seed, stream);
  std::vector<CorpusWindow> slots;
  for (int document : pool) {
    const int64_t n = stream_tokens.at(size_t(document));
    const int64_t k = body > 0 ? n / body : 0;
    if (k == 0) continue;
    const int64_t offset = uniform_below(rng, uint64_t(n - k * body + 1));
    for (int64_t j = 0; j < k; ++j) slots.push_back({document, offset + j * body});
  }
  shuffle(slots, rng);
  int64_t wanted = 0;
  for (int count : counts) wanted += count;
  if (int64_t(slots.size()) < wanted)
    fail(kExitInput, "corpus: the " + std::to_string(pool.size()) + " " + what + " documents hold only " +
                         std::to_string(slots.size()) + " disjoint windows of " + std::to_string(window_tokens) +
                         " tokens, fewer than the " + std::to_string(wanted) +
                         " requested (data.window_tokens, data.*_windows, data.test_document_fraction)");
  std::vector<std::vector<CorpusWindow>> parts;
  size_t next = 0;
  for (int count : counts) {
    parts.emplace_back(slots.begin() + long(next), slots.begin() + long(next + size_t(count)));
    next += size_t(count);
  }
  return parts;
}

std::vector<CorpusPart> corpus_windows(const DataConfig& data, const Tokenizer& tokenizer, const LlamaConfig& model,
                                       bool test) {
  if (data.window_tokens > model.max_position_embeddings)
    fail(kExitUsage, "config: data.window_tokens: " + std::to_string(data.window_tokens) +
                         " is more than the model's max_position_embeddings " +
                         std::to_string(model.max_position_embeddings));
  std::vector<CorpusDocument> documents;
  std::vector<std::string> family;  // per document: its file's name
  std::vector<int> per_file;
  for (const std::string& path : data.corpus) {
    std::vector<CorpusDocument> file = read_corpus_file(path);
    per_file.push_back(int(file.size()));
    for (auto& document : file) {
      documents.push_back(std::move(document));
      family.push_back(std::filesystem::path(path).filename().string());
    }
  }
  const std::vector<char> is_test = split_corpus_documents(per_file, data.seed, data.test_document_fraction);
  std::vector<int> pool;
  for (int d = 0; d < int(documents.size()); ++d)
    if (bool(is_test[d]) == test) pool.push_back(d);

  // Only this side's documents are tokenized.
  std::vector<std::vector<int>> streams(documents.size());
  std::vector<int64_t> lengths(documents.size(), 0);
  for (int d : pool) {
    std::vector<int> ids = model_ids(tokenizer, model, documents[d].text);
    lengths[d] = int64_t(ids.size());
    streams[d] = std::move(ids);
  }
  const std::vector<int> counts =
      test ? std::vector<int>{data.test_windows} : std::vector<int>{data.calibration_windows, data.validation_windows};
  const auto drawn = draw_corpus_windows(pool, lengths, data.window_tokens, counts, data.seed, test ? 1 : 0,
                                         test ? "test" : "calibration/validation");
  std::vector<CorpusPart> parts;
  for (const auto& windows : drawn) {
    CorpusPart part;
    part.windows = windows;
    for (const CorpusWindow& window : windows) {
      std::vector<int> ids{model.bos_token_id};
      const auto& stream = streams[window.document];
      ids.insert(ids.end(), stream.begin() + window.start, stream.begin() + window.start + data.window_tokens - 1);
      part.tokens.push_back(std::move(ids));
      part.label.push_back(documents[window.document].name + " tokens " + std::to_string(window.start) + "-" +
                           std::to_string(window.start + data.window_tokens - 2));
      part.family.push_back(family[window.document]);
      part.language.push_back(documents[window.document].language);
    }
    parts.push_back(std::move(part));
  }
  return parts;
}

}  // namespace circal

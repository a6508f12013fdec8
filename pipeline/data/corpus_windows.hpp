#pragma once
// Corpus windows (data.source = corpus): calibration, validation and test data cut from text
// corpora instead of prompt files, in the GPTQ manner (seeded random windows of L tokens).
//
// Files (data.corpus): a name ending in .jsonl is JSON Lines, one JSON object per non-blank
// line whose "text" string is one document ("source" and "lang" are used when present); any
// other file is plain UTF-8 text whose documents are separated by a line holding only `---`.
//
// The draw, all from data.seed:
// 1. Document split. Per corpus file, a seeded permutation of its D documents; the first
//    round(D * data.test_document_fraction) are test documents, the rest training documents.
//    Only test windows come from test documents, so no calibration (or validation) window
//    touches a test document.
// 2. Each document is tokenized on its own (SentencePiece ids, no BOS: its token stream).
//    A document of n tokens offers floor(n / (L - 1)) disjoint slots of L - 1 tokens, starting
//    at a seeded offset in [0, n mod (L - 1)]; shorter documents offer none.
// 3. The slots of the training documents are shuffled (seeded); the first
//    data.calibration_windows are the calibration windows, the next data.validation_windows
//    the validation windows. The test documents' slots are shuffled and the first
//    data.test_windows taken. Each window is BOS followed by its slot's L - 1 tokens.
// Slots are disjoint, so no two windows overlap. The training and the test side use separate
// random streams: calibration windows do not depend on the test documents' text, nor test
// windows on the training documents', and each side tokenizes only its own documents.
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/config/config.hpp"
#include "pipeline/model/llama_config.hpp"
#include "pipeline/model/tokenizer.hpp"

namespace circal {

struct CorpusDocument {
  std::string text;
  std::string name;      // "source" of a JSON line, else FILE:LINE of its first line
  std::string language;  // "lang" of a JSON line upper-cased (EN, DE), else "-"
};

// Reads one corpus file. CircalError(kExitInput) naming the file (and line) when it is
// missing, holds invalid UTF-8, a line that is not a JSON object, or one without a "text"
// string, or no document at all.
std::vector<CorpusDocument> read_corpus_file(const std::string& path);

// Test documents by the rule above: result[d] is true when document d (numbered through the
// files in order) is a test document. CircalError(kExitInput) when either side is empty.
std::vector<char> split_corpus_documents(const std::vector<int>& documents_per_file, unsigned seed,
                                         double test_fraction);

struct CorpusWindow {
  int document = 0;   // global document number
  int64_t start = 0;  // first token of the slot in the document's token stream (no BOS)
};

// Draws counts[0], counts[1], ... windows of L = window_tokens from the slots of the documents
// in `pool` (global numbers; stream_tokens[d] is document d's token count), the parts in that
// order from one shuffled slot list. `stream` selects the random stream (0 training, 1 test).
// CircalError(kExitInput) naming `what` when the pool has fewer slots than the counts' sum.
std::vector<std::vector<CorpusWindow>> draw_corpus_windows(const std::vector<int>& pool,
                                                           const std::vector<int64_t>& stream_tokens, int window_tokens,
                                                           const std::vector<int>& counts, unsigned seed, int stream,
                                                           const std::string& what);

// The windows of one part as model inputs.
struct CorpusPart {
  std::vector<CorpusWindow> windows;
  std::vector<std::vector<int>> tokens;  // BOS + window_tokens - 1 ids each
  std::vector<std::string> label;        // "NAME tokens A-B"
  std::vector<std::string> family;       // the corpus file's name (evaluate's breakdown)
  std::vector<std::string> language;
};

// Reads data.corpus and returns the calibration and validation windows (test = false) or the
// test windows (test = true). data.window_tokens above the model's max_position_embeddings is
// a CircalError(kExitUsage); corpus problems are CircalError(kExitInput).
std::vector<CorpusPart> corpus_windows(const DataConfig& data, const Tokenizer& tokenizer, const LlamaConfig& model,
                                       bool test);

}  // namespace circal

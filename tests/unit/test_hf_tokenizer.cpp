// HfTokenizer (tokenizer.json) on small hand-built files: merge order by rank in both merge
// formats, the byte-level alphabet, byte fallback, added tokens, post_processor templates,
// the refusal of unsupported parts and of invalid UTF-8; Tokenizer's choice of file. The real
// files are compared with Hugging Face's implementation by tests/e2e/tokenizer_reference.sh.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "pipeline/model/hf_tokenizer.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "pipeline/model/utf8_text.hpp"
#include "tests/unit/error_of.hpp"
#include "tests/unit/scratch_dir.hpp"

using circal::HfTokenizer;
using nlohmann::json;

namespace {

const char* kPath = "test/tokenizer.json";

// A BPE tokenizer.json with this vocabulary and merges and nothing else.
json bpe(const json& vocab, const json& merges) {
  return {{"version", "1.0"},
          {"added_tokens", json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", nullptr},
          {"post_processor", nullptr},
          {"decoder", nullptr},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
}

std::vector<int> ids_of(const json& file, const std::string& text) {
  return HfTokenizer(file.dump(), kPath).encode(text);
}

std::string refusal(const json& file) {
  const circal::CircalError e = circal::testing::error_of([&] { HfTokenizer(file.dump(), kPath); });
  CHECK(e.code() == circal::kExitInput);
  return e.what();
}

// Llama 2's layout: "▁" for spaces by the normalizer, <0xNN> tokens for bytes outside the vocabulary.
json sentencepiece_style() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    vocab[name] = 3 + byte;
  }
  vocab["\u2581"] = 259, vocab["h"] = 260, vocab["i"] = 261, vocab["\u2581h"] = 262, vocab["\u2581hi"] = 263;
  json file = bpe(vocab, json::array({"\u2581 h", "\u2581h i"}));
  file["model"]["byte_fallback"] = true;
  file["model"]["unk_token"] = "<unk>";
  file["normalizer"] = {{"type", "Sequence"},
                        {"normalizers",
                         {{{"type", "Prepend"}, {"prepend", "\u2581"}},
                          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}};
  file["decoder"] = {{"type", "Sequence"},
                     {"decoders",
                      {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                       {{"type", "ByteFallback"}},
                       {{"type", "Fuse"}},
                       {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  file["added_tokens"] = {{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
                          {{"id", 2}, {"content", "</s>"}, {"special", true}, {"normalized", false}}};
  file["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  return file;
}

}  // namespace

TEST_CASE("merges apply lowest rank first, in both merge formats") {
  const json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}};
  // "b c" outranks "a b": abc = a + bc, never ab + c.
  CHECK(ids_of(bpe(vocab, json::array({"b c", "a b", "a bc"})), "abc") == std::vector<int>{5});
  CHECK(ids_of(bpe(vocab, json::array({"b c", "a b"})), "abc") == std::vector<int>{0, 4});
  CHECK(ids_of(bpe(vocab, json::array({{"a", "b"}, {"b", "c"}})), "abc") == std::vector<int>{3, 2});
  CHECK(ids_of(bpe(vocab, json::array({{"a", "b"}, {"b", "c"}})), "abcabc") == std::vector<int>{3, 2, 3, 2});
  // Equal ranks merge left to right: "bbb" is bb + b.
  const json repeats = {{"b", 0}, {"bb", 1}};
  CHECK(ids_of(bpe(repeats, json::array({"b b"})), "bbbbb") == std::vector<int>{1, 1, 0});
}

TEST_CASE("byte-level: GPT-2's regex, its alphabet for spaces and bytes, and decode back") {
  json file = bpe({{"a", 0}, {"b", 1}, {"\u0120", 2}, {"\u0120b", 3}, {"\u010a", 4}, {"'s", 5}, {"'", 6}, {"s", 7}},
                  json::array({"\u0120 b", "' s"}));
  file["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  file["decoder"] = {{"type", "ByteLevel"}};
  const HfTokenizer tokenizer(file.dump(), kPath);
  CHECK(tokenizer.encode("a b\n") == std::vector<int>{0, 3, 4});
  CHECK(tokenizer.encode("a's") == std::vector<int>{0, 5});
  CHECK(tokenizer.decode({0, 3, 4, 5}) == "a b\n's");
  file["pre_tokenizer"]["add_prefix_space"] = true;
  CHECK(ids_of(file, "b") == std::vector<int>{3});
}

TEST_CASE("byte fallback spells unknown characters as <0xNN> tokens; the template adds BOS") {
  const HfTokenizer tokenizer(sentencepiece_style().dump(), kPath);
  // "é" is not in the vocabulary: its two UTF-8 bytes C3 A9.
  CHECK(tokenizer.encode("hi hé") == std::vector<int>{263, 262, 3 + 0xC3, 3 + 0xA9});
  CHECK(tokenizer.with_special_tokens({263}) == std::vector<int>{1, 263});
  CHECK(tokenizer.decode({1, 263, 262, 3 + 0xC3, 3 + 0xA9}) == "hi hé");
  CHECK(tokenizer.decode({3 + 0xC3}) == "\xEF\xBF\xBD");  // half a character: U+FFFD
}

TEST_CASE("added tokens are matched before the normalizer and never split") {
  const HfTokenizer tokenizer(sentencepiece_style().dump(), kPath);
  // Each side of </s> is normalized alone: both get the "▁" prefix, as in Hugging Face's.
  CHECK(tokenizer.encode("hi</s>hi") == std::vector<int>{263, 2, 263});
  CHECK(tokenizer.encode("</s>") == std::vector<int>{2});
  CHECK(tokenizer.decode({263, 2, 263}) == "hi hi");  // special tokens give no text

  json file = bpe({{"x", 0}, {"y", 1}}, json::array());
  file["added_tokens"] = {{{"id", 2}, {"content", "<x>"}, {"special", true}, {"normalized", false}},
                          {{"id", 3}, {"content", "<x>y"}, {"special", false}, {"normalized", false}}};
  CHECK(ids_of(file, "x<x>x<x>y") == std::vector<int>{0, 2, 0, 3});  // leftmost, then longest
  CHECK(HfTokenizer(file.dump(), kPath).decode({0, 2, 3}) == "x<x>y");
}

TEST_CASE("tokenizer_config.json's add_bos_token/add_eos_token replace a LlamaTokenizer's template") {
  const std::string file = sentencepiece_style().dump();
  json config = {{"tokenizer_class", "LlamaTokenizerFast"},
                 {"add_bos_token", false},
                 {"add_eos_token", true},
                 {"bos_token", "<s>"},
                 {"eos_token", {{"content", "</s>"}, {"special", true}}}};
  CHECK(HfTokenizer(file, kPath, config.dump(), "c.json").with_special_tokens({263}) == std::vector<int>{263, 2});
  config.erase("add_bos_token");  // true unless the file says otherwise
  CHECK(HfTokenizer(file, kPath, config.dump(), "c.json").with_special_tokens({263}) == std::vector<int>{1, 263, 2});
  config["tokenizer_class"] = "Qwen2Tokenizer";  // other classes keep tokenizer.json's template
  CHECK(HfTokenizer(file, kPath, config.dump(), "c.json").with_special_tokens({263}) == std::vector<int>{1, 263});
  config = {{"tokenizer_class", "LlamaTokenizer"}, {"bos_token", "<bos>"}};
  const circal::CircalError e = circal::testing::error_of([&] { HfTokenizer(file, kPath, config.dump(), "c.json"); });
  CHECK(e.code() == circal::kExitInput);
  CHECK(std::string(e.what()) ==
        std::string("c.json: tokenizer_config.bos_token \"<bos>\" is not a token of ") + kPath);
}

TEST_CASE("no post_processor, or a ByteLevel one, adds no BOS") {
  json file = bpe({{"a", 0}}, json::array());
  CHECK(HfTokenizer(file.dump(), kPath).with_special_tokens({0}) == std::vector<int>{0});
  file["post_processor"] = {{"type", "ByteLevel"}, {"trim_offsets", false}};
  CHECK(HfTokenizer(file.dump(), kPath).with_special_tokens({0}) == std::vector<int>{0});
}

TEST_CASE("unsupported parts are refused naming the file and the part") {
  json file = bpe({{"a", 0}}, json::array());
  file["model"]["type"] = "Unigram";
  CHECK(refusal(file) == std::string(kPath) + ": model.type Unigram is not supported");
  for (const char* model : {"WordPiece", "WordLevel"}) {
    file["model"]["type"] = model;
    CHECK(refusal(file) == std::string(kPath) + ": model.type " + model + " is not supported");
  }
  file = bpe({{"a", 0}}, json::array());
  file["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Lowercase"}}}}};
  CHECK(refusal(file) == std::string(kPath) + ": normalizer.normalizers[1].type Lowercase is not supported");
  file["normalizer"] = nullptr;
  file["pre_tokenizer"] = {{"type", "Whitespace"}};
  CHECK(refusal(file) == std::string(kPath) + ": pre_tokenizer.type Whitespace is not supported");
  file["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\s"}}}, {"behavior", "Contiguous"}};
  CHECK(refusal(file) == std::string(kPath) + ": pre_tokenizer.behavior Contiguous is not supported");
  file["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  CHECK(refusal(file).starts_with(std::string(kPath) + ": pre_tokenizer.pattern: regex does not compile"));
  file["pre_tokenizer"] = nullptr;
  file["decoder"] = {{"type", "WordPiece"}};
  CHECK(refusal(file) == std::string(kPath) + ": decoder.type WordPiece is not supported");
  file["decoder"] = nullptr;
  file["post_processor"] = {{"type", "RobertaProcessing"}};
  CHECK(refusal(file) == std::string(kPath) + ": post_processor.type RobertaProcessing is not supported");
  file["post_processor"] = nullptr;
  file["model"]["vocab"]["b"] = 1 << 30;
  CHECK(refusal(file) == std::string(kPath) + ": model.vocab.b is not a token id in [0, 2^24)");
  file["model"]["vocab"].erase("b");
  file["model"]["merges"] = {"a b"};
  CHECK(refusal(file) == std::string(kPath) + ": model.merges[0] names a token outside the vocabulary");
  const circal::CircalError e = circal::testing::error_of([] { HfTokenizer("{\"model\": ", kPath); });
  CHECK(e.code() == circal::kExitInput);
  CHECK(std::string(e.what()).starts_with(std::string(kPath) + ": not valid JSON"));
}

TEST_CASE("invalid UTF-8 is refused") {
  for (const char* bad : {"\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    INFO(bad);
    CHECK_FALSE(circal::valid_utf8(bad));
    const circal::CircalError e = circal::testing::error_of([&] { ids_of(bpe({{"a", 0}}, json::array()), bad); });
    CHECK(e.code() == circal::kExitInput);
    CHECK(std::string(e.what()) == std::string(kPath) + ": cannot encode text that is not valid UTF-8");
  }
  for (const char* good : {"", "a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}) CHECK(circal::valid_utf8(good));
  CHECK(circal::lossy_utf8("a\xff"
                           "b\xe2\x82") ==
        "a\xEF\xBF\xBD"
        "b\xEF\xBF\xBD");
}

TEST_CASE("Tokenizer reads tokenizer.json when the folder has one, tokenizer.model otherwise") {
  const circal::testing::ScratchDir dir("hf-tokenizer");
  const std::filesystem::path teacher = std::filesystem::path(CIRCAL_SOURCE_DIR) / "data/models/manpages-llama-5m";
  std::filesystem::copy_file(teacher / "tokenizer.model", dir.path / "tokenizer.model");
  CHECK(circal::Tokenizer(dir.path.string()).path() == dir.file("tokenizer.model"));
  dir.write("tokenizer.json", sentencepiece_style().dump());
  const circal::Tokenizer tokenizer(dir.path.string());
  CHECK(tokenizer.path() == dir.file("tokenizer.json"));
  CHECK(tokenizer.vocab_size() == 264);
  circal::LlamaConfig config;
  config.vocab_size = 264;
  config.bos_token_id = 7;  // not used: the template's <s> is
  CHECK(circal::prompt_ids(tokenizer, config, "hi") == std::vector<int>{1, 263});
  config.vocab_size = 263;
  const circal::CircalError e = circal::testing::error_of([&] { circal::prompt_ids(tokenizer, config, "hi"); });
  CHECK(e.code() == circal::kExitInput);
  CHECK(std::string(e.what()) == dir.file("tokenizer.json") + ": token id 263 is outside the model's vocab_size 263");
}

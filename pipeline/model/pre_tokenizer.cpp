#include "pipeline/model/pre_tokenizer.hpp"

namespace circal {
namespace {

// GPT-2's pattern, which ByteLevel applies when use_regex is true (the Rust tokenizers' one).
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct Segment {
  size_t begin, end;
  bool match;
};

// The piece cut into alternating non-matches and matches, empty segments left out.
std::vector<Segment> segments(const SplitRegex& regex, const std::string& piece, bool invert) {
  std::vector<Segment> cut;
  size_t at = 0;
  for (const auto& [begin, end] : regex.matches(piece)) {
    if (begin > at) cut.push_back({at, begin, invert});
    cut.push_back({begin, end, !invert});
    at = end;
  }
  if (at < piece.size()) cut.push_back({at, piece.size(), invert});
  return cut;
}

}  // namespace

PreTokenizer::PreTokenizer(const TokenizerJsonPart& part, const ByteLevelAlphabet& alphabet) : alphabet_(alphabet) {
  if (!part.json.is_null()) add(part);
}

void PreTokenizer::add(const TokenizerJsonPart& part) {
  const std::string type = part.type();
  if (type == "Sequence") {
    for (size_t i = 0; i < part.at("pretokenizers").size(); ++i) add(part.element("pretokenizers", i));
  } else if (type == "Split") {
    steps_.push_back(split_step(part));
  } else if (type == "ByteLevel") {
    steps_.push_back(byte_level_step(part));
  } else if (type == "Metaspace") {
    steps_.push_back(metaspace_step(part));
  } else {
    part.unsupported();
  }
}

PreTokenizer::Step PreTokenizer::split_step(const TokenizerJsonPart& part) const {
  Step step{.kind = Kind::Split};
  const TokenizerJsonPart pattern = part.child("pattern");
  const bool literal = pattern.json.contains("String");
  if (!literal && !pattern.json.contains("Regex")) pattern.refuse(": neither \"String\" nor \"Regex\"");
  step.regex = std::make_unique<SplitRegex>(pattern.get<std::string>(literal ? "String" : "Regex"), literal,
                                            part.file + ": " + pattern.part);
  const std::string behavior = part.get<std::string>("behavior");
  if (behavior == "Removed")
    step.behavior = Behavior::Removed;
  else if (behavior == "Isolated")
    step.behavior = Behavior::Isolated;
  else if (behavior == "MergedWithPrevious")
    step.behavior = Behavior::MergedWithPrevious;
  else if (behavior == "MergedWithNext")
    step.behavior = Behavior::MergedWithNext;
  else
    part.refuse(".behavior " + behavior + " is not supported");
  step.invert = part.get_or<bool>("invert", false);
  return step;
}

PreTokenizer::Step PreTokenizer::byte_level_step(const TokenizerJsonPart& part) const {
  Step step{.kind = Kind::ByteLevel};
  step.add_prefix_space = part.get_or<bool>("add_prefix_space", true);
  if (part.get_or<bool>("use_regex", true))
    step.regex = std::make_unique<SplitRegex>(kGpt2Pattern, false, part.file + ": " + part.part);
  return step;
}

PreTokenizer::Step PreTokenizer::metaspace_step(const TokenizerJsonPart& part) const {
  Step step{.kind = Kind::Metaspace};
  step.replacement = part.get_or<std::string>("replacement", "\u2581");
  const std::string scheme =
      part.get_or<std::string>("prepend_scheme", part.get_or<bool>("add_prefix_space", true) ? "always" : "never");
  if (scheme == "always")
    step.prepend = Prepend::Always;
  else if (scheme == "first")
    step.prepend = Prepend::First;
  else if (scheme == "never")
    step.prepend = Prepend::Never;
  else
    part.refuse(".prepend_scheme " + scheme + " is not supported");
  step.split = part.get_or<bool>("split", true);
  if (step.split) step.regex = std::make_unique<SplitRegex>(step.replacement, true, part.file + ": " + part.part);
  return step;
}

std::vector<std::string> PreTokenizer::words(std::string piece, bool text_start) const {
  std::vector<std::string> current{std::move(piece)};
  for (const Step& step : steps_) {
    std::vector<std::string> next;
    for (std::string& word : current) apply(step, std::move(word), text_start, next);
    current = std::move(next);
  }
  return current;
}

void PreTokenizer::apply(const Step& step, std::string piece, bool text_start, std::vector<std::string>& out) const {
  if (step.kind == Kind::Split) return split(*step.regex, step.behavior, step.invert, piece, out);
  if (step.kind == Kind::ByteLevel) {
    if (step.add_prefix_space && !piece.starts_with(' ')) piece = " " + piece;
    std::vector<std::string> parts;
    if (step.regex)
      split(*step.regex, Behavior::Isolated, false, piece, parts);
    else
      parts.push_back(std::move(piece));
    for (const std::string& part : parts) alphabet_.encode(part, out.emplace_back());
    return;
  }
  std::string spaced;
  for (char c : piece) c == ' ' ? spaced += step.replacement : spaced += c;
  const bool prepend = step.prepend == Prepend::Always || (step.prepend == Prepend::First && text_start);
  if (prepend && !spaced.starts_with(step.replacement)) spaced.insert(0, step.replacement);
  if (step.regex)
    split(*step.regex, Behavior::MergedWithNext, false, spaced, out);
  else
    out.push_back(std::move(spaced));
}

void PreTokenizer::split(const SplitRegex& regex, Behavior behavior, bool invert, const std::string& piece,
                         std::vector<std::string>& out) {
  const std::vector<Segment> cut = segments(regex, piece, invert);
  std::string carried;  // MergedWithNext: a match waiting for the non-match after it
  for (size_t i = 0; i < cut.size(); ++i) {
    const Segment& s = cut[i];
    std::string text = carried + piece.substr(s.begin, s.end - s.begin);
    carried.clear();
    // As the Rust tokenizers merge: a match joins its neighbour only when that is no match.
    const bool previous_plain = i > 0 && !cut[i - 1].match;
    const bool next_plain = i + 1 < cut.size() && !cut[i + 1].match;
    if (s.match && behavior == Behavior::Removed) continue;
    if (s.match && behavior == Behavior::MergedWithPrevious && previous_plain)
      out.back() += text;
    else if (s.match && behavior == Behavior::MergedWithNext && next_plain)
      carried = std::move(text);
    else
      out.push_back(std::move(text));
  }
}

}  // namespace circal

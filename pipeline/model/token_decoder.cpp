#include "pipeline/model/token_decoder.hpp"

#include "pipeline/model/utf8_text.hpp"

namespace circal {
namespace {

// The byte of a "<0xNN>" token, -1 for any other token.
int fallback_byte(const std::string& token) {
  if (token.size() != 6 || !token.starts_with("<0x") || token[5] != '>') return -1;
  try {
    size_t used = 0;
    const int byte = std::stoi(token.substr(3, 2), &used, 16);
    return used == 2 ? byte : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

void replace_all(std::string& s, const std::string& pattern, const std::string& content) {
  if (pattern.empty()) return;
  for (size_t at = 0; (at = s.find(pattern, at)) != std::string::npos; at += content.size())
    s.replace(at, pattern.size(), content);
}

void strip(std::string& token, const std::string& content, int start, int stop) {
  for (int i = 0; i < start && token.starts_with(content); ++i) token.erase(0, content.size());
  for (int i = 0; i < stop && token.ends_with(content); ++i) token.erase(token.size() - content.size());
}

}  // namespace

TokenDecoder::TokenDecoder(const TokenizerJsonPart& part, const ByteLevelAlphabet& alphabet) : alphabet_(alphabet) {
  if (!part.json.is_null()) add(part);
}

void TokenDecoder::add(const TokenizerJsonPart& part) {
  const std::string type = part.type();
  if (type == "Sequence") {
    for (size_t i = 0; i < part.at("decoders").size(); ++i) add(part.element("decoders", i));
  } else if (type == "Replace") {
    const TokenizerJsonPart pattern = part.child("pattern");
    if (!pattern.json.contains("String")) pattern.refuse(": only {\"String\": ...} patterns are supported");
    steps_.push_back({Kind::Replace, pattern.get<std::string>("String"), part.get<std::string>("content")});
  } else if (type == "ByteFallback") {
    steps_.push_back({Kind::ByteFallback});
  } else if (type == "Fuse") {
    steps_.push_back({Kind::Fuse});
  } else if (type == "Strip") {
    steps_.push_back(
        {Kind::Strip, "", part.get<std::string>("content"), part.get<int>("start"), part.get<int>("stop")});
  } else if (type == "ByteLevel") {
    steps_.push_back({Kind::ByteLevel});
  } else if (type == "Metaspace") {
    Step step{Kind::Metaspace, "", part.get_or<std::string>("replacement", "\u2581")};
    step.prepended = part.get_or<std::string>("prepend_scheme", "always") != "never";
    steps_.push_back(step);
  } else {
    part.unsupported();
  }
}

std::string TokenDecoder::decode(std::vector<std::string> tokens) const {
  for (const Step& step : steps_) apply(step, tokens);
  std::string text;
  for (const std::string& token : tokens) text += token;
  return lossy_utf8(text);
}

void TokenDecoder::apply(const Step& step, std::vector<std::string>& tokens) const {
  switch (step.kind) {
    case Kind::Replace:
      for (std::string& token : tokens) replace_all(token, step.pattern, step.content);
      return;
    case Kind::ByteFallback: return byte_fallback(tokens);
    case Kind::Fuse: {
      std::string all;
      for (const std::string& token : tokens) all += token;
      tokens = {all};
      return;
    }
    case Kind::Strip:
      for (std::string& token : tokens) strip(token, step.content, step.start, step.stop);
      return;
    case Kind::ByteLevel: return byte_level(tokens);
    case Kind::Metaspace:
      for (size_t i = 0; i < tokens.size(); ++i) {
        replace_all(tokens[i], step.content, " ");
        if (i == 0 && step.prepended && tokens[i].starts_with(' ')) tokens[i].erase(0, 1);
      }
      return;
  }
}

void TokenDecoder::byte_fallback(std::vector<std::string>& tokens) const {
  std::vector<std::string> out;
  std::string bytes;
  size_t byte_count = 0;
  const auto flush = [&] {
    if (byte_count == 0) return;
    // Bytes that spell no UTF-8 text become one U+FFFD each, as the Rust decoder does.
    if (valid_utf8(bytes))
      out.push_back(bytes);
    else
      for (size_t i = 0; i < byte_count; ++i) out.push_back("\xEF\xBF\xBD");
    bytes.clear();
    byte_count = 0;
  };
  for (std::string& token : tokens) {
    const int byte = fallback_byte(token);
    if (byte >= 0) {
      bytes += char(byte);
      ++byte_count;
      continue;
    }
    flush();
    out.push_back(std::move(token));
  }
  flush();
  tokens = std::move(out);
}

void TokenDecoder::byte_level(std::vector<std::string>& tokens) const {
  std::string bytes;
  for (const std::string& token : tokens)
    if (!alphabet_.decode(token, bytes)) bytes += token;
  tokens = {lossy_utf8(bytes)};
}

}  // namespace circal

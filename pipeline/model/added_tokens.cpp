#include "pipeline/model/added_tokens.hpp"

#include <algorithm>

namespace circal {
namespace {

constexpr const char* kSpaces = " \t\n\r\f\v";

void trim_end(std::string& s) { s.erase(s.find_last_not_of(kSpaces) + 1); }

}  // namespace

AddedTokens::AddedTokens(const TokenizerJsonPart& part) {
  for (auto& table : by_first_byte_) table.resize(256);
  if (part.json.is_null()) return;
  for (size_t i = 0; i < part.json.size(); ++i) {
    const TokenizerJsonPart token{part.json[i], part.file, part.part + "[" + std::to_string(i) + "]"};
    if (token.get_or<bool>("single_word", false)) token.refuse(".single_word true is not supported");
    Token t{
        token.get<std::string>("content"),    token.id("id"),
        token.get_or<bool>("special", false), token.get_or<bool>("normalized", !token.get_or<bool>("special", false)),
        token.get_or<bool>("lstrip", false),  token.get_or<bool>("rstrip", false)};
    if (t.content.empty()) token.refuse(".content is empty");
    auto& slot = by_first_byte_[t.normalized][static_cast<unsigned char>(t.content[0])];
    slot.push_back(int(tokens_.size()));
    tokens_.push_back(std::move(t));
  }
  for (auto& table : by_first_byte_)
    for (auto& slot : table)
      std::stable_sort(slot.begin(), slot.end(), [&](int a, int b) {
        return tokens_[size_t(a)].content.size() > tokens_[size_t(b)].content.size();
      });
}

const AddedTokens::Token* AddedTokens::longest_at(const std::string& text, size_t at, bool normalized) const {
  for (const int t : by_first_byte_[normalized][static_cast<unsigned char>(text[at])])
    if (text.compare(at, tokens_[size_t(t)].content.size(), tokens_[size_t(t)].content) == 0)
      return &tokens_[size_t(t)];
  return nullptr;
}

std::vector<AddedTokens::Piece> AddedTokens::split(const std::string& text, bool normalized, bool text_start) const {
  std::vector<Piece> pieces;
  std::string plain;
  size_t plain_begin = 0;
  const auto close_plain = [&] {
    if (!plain.empty()) pieces.push_back({std::move(plain), -1, text_start && plain_begin == 0});
    plain.clear();
  };
  for (size_t at = 0; at < text.size();) {
    const Token* token = longest_at(text, at, normalized);
    if (!token) {
      if (plain.empty()) plain_begin = at;
      plain += text[at++];
      continue;
    }
    if (token->lstrip) trim_end(plain);
    close_plain();
    pieces.push_back({token->content, token->id, text_start && at == 0});
    at += token->content.size();
    if (token->rstrip) at = std::min(text.size(), text.find_first_not_of(kSpaces, at));
  }
  close_plain();
  return pieces;
}

}  // namespace circal

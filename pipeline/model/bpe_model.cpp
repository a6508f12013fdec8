#include "pipeline/model/bpe_model.hpp"

#include <unicode/utf8.h>

#include <cstdio>
#include <queue>

namespace circal {
namespace {

// Words cached at most: bounds the memory a long run of unusual text can take.
constexpr size_t kCacheWords = 1 << 16;
// Longer words are merged each time, as in the Rust tokenizers: without a pre-tokenizer
// (Llama 2's layout) a whole text is one word, and caching texts would only fill memory.
constexpr size_t kCachedWordBytes = 256;

}  // namespace

BpeModel::BpeModel(const TokenizerJsonPart& part) {
  if (part.type() != "BPE") part.unsupported();
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (!part.get_or<std::string>(key, "").empty()) part.refuse(std::string(".") + key + " is not supported");
  if (part.get_or<double>("dropout", 0.0) != 0.0) part.refuse(".dropout is not supported");
  read_vocabulary(part);
  read_merges(part);
  byte_fallback_ = part.get_or<bool>("byte_fallback", false);
  fuse_unk_ = part.get_or<bool>("fuse_unk", false);
  ignore_merges_ = part.get_or<bool>("ignore_merges", false);
  const std::string unk = part.get_or<std::string>("unk_token", "");
  if (!unk.empty()) unk_ = id(unk).value_or(-1);
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    byte_ids_[size_t(byte)] = id(name).value_or(-1);
  }
}

void BpeModel::read_vocabulary(const TokenizerJsonPart& part) {
  const nlohmann::json& vocab = part.at("vocab");
  if (!vocab.is_object()) part.refuse(".vocab is not an object");
  vocabulary_.reserve(vocab.size());
  const TokenizerJsonPart ids{vocab, part.file, part.part + ".vocab"};
  for (const auto& [token, ignored] : vocab.items()) {
    const int n = ids.id(token);
    vocabulary_.emplace(token, n);
    if (size_t(n) >= tokens_.size()) tokens_.resize(size_t(n) + 1);
    tokens_[size_t(n)] = token;
  }
}

void BpeModel::read_merges(const TokenizerJsonPart& part) {
  const nlohmann::json& merges = part.at("merges");
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const nlohmann::json& merge = merges[rank];
    std::string left, right;
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
        part.refuse(".merges[" + std::to_string(rank) + "] is not \"a b\"");
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      part.refuse(".merges[" + std::to_string(rank) + "] is neither \"a b\" nor [\"a\", \"b\"]");
    }
    const auto a = id(left), b = id(right), ab = id(left + right);
    if (!a || !b || !ab) part.refuse(".merges[" + std::to_string(rank) + "] names a token outside the vocabulary");
    // A pair listed twice keeps its last rank, as both Hugging Face implementations build the map.
    merges_.insert_or_assign(pair_key(*a, *b), Merge{int(rank), *ab});
  }
}

std::optional<int> BpeModel::id(std::string_view token) const {
  const auto found = vocabulary_.find(token);
  if (found == vocabulary_.end()) return std::nullopt;
  return found->second;
}

std::vector<int> BpeModel::symbols(std::string_view word) const {
  std::vector<int> ids;
  bool last_unk = false;
  const auto* bytes = reinterpret_cast<const uint8_t*>(word.data());
  const auto length = static_cast<int32_t>(word.size());
  for (int32_t at = 0; at < length;) {
    const int32_t begin = at;
    U8_FWD_1(bytes, at, length);
    const std::string_view character = word.substr(size_t(begin), size_t(at - begin));
    if (const auto known = id(character)) {
      ids.push_back(*known);
      last_unk = false;
      continue;
    }
    bool all_bytes = byte_fallback_;
    for (const char c : character) all_bytes = all_bytes && byte_ids_[static_cast<unsigned char>(c)] >= 0;
    if (all_bytes) {
      for (const char c : character) ids.push_back(byte_ids_[static_cast<unsigned char>(c)]);
      last_unk = false;
    } else if (unk_ >= 0 && !(fuse_unk_ && last_unk)) {
      ids.push_back(unk_);
      last_unk = true;
    }
  }
  return ids;
}

std::vector<int> BpeModel::merged(std::string_view word) const {
  std::vector<int> id = symbols(word);
  const int n = int(id.size());
  std::vector<int> next(id.size()), previous(id.size());
  for (int i = 0; i < n; ++i) {
    next[size_t(i)] = i + 1 < n ? i + 1 : -1;
    previous[size_t(i)] = i - 1;
  }
  struct Candidate {
    int rank, position, right, id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : position > o.position; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  const auto offer = [&](int left) {
    const int right = next[size_t(left)];
    if (right < 0) return;
    const auto found = merges_.find(pair_key(id[size_t(left)], id[size_t(right)]));
    if (found != merges_.end()) queue.push({found->second.rank, left, right, found->second.id});
  };
  for (int i = 0; i + 1 < n; ++i) offer(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    // Stale when either side was merged away or changed since it was offered.
    if (id[size_t(c.position)] < 0 || next[size_t(c.position)] != c.right) continue;
    const auto still = merges_.find(pair_key(id[size_t(c.position)], id[size_t(c.right)]));
    if (still == merges_.end() || still->second.rank != c.rank) continue;
    id[size_t(c.position)] = c.id;
    id[size_t(c.right)] = -1;
    next[size_t(c.position)] = next[size_t(c.right)];
    if (next[size_t(c.right)] >= 0) previous[size_t(next[size_t(c.right)])] = c.position;
    if (previous[size_t(c.position)] >= 0) offer(previous[size_t(c.position)]);
    offer(c.position);
  }
  std::vector<int> result;
  for (int i = n > 0 ? 0 : -1; i >= 0; i = next[size_t(i)]) result.push_back(id[size_t(i)]);
  return result;
}

void BpeModel::encode(std::string_view word, std::vector<int>& ids) const {
  if (ignore_merges_) {
    if (const auto whole = id(word)) return ids.push_back(*whole);
  }
  auto cached = cache_.find(word);
  if (cached == cache_.end()) {
    std::vector<int> result = merged(word);
    if (cache_.size() >= kCacheWords || word.size() > kCachedWordBytes)
      return ids.insert(ids.end(), result.begin(), result.end()), void();
    cached = cache_.emplace(std::string(word), std::move(result)).first;
  }
  ids.insert(ids.end(), cached->second.begin(), cached->second.end());
}

}  // namespace circal

#include "pipeline/model/text_normalizer.hpp"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

namespace circal {
namespace {

const icu::Normalizer2* normal_form(const std::string& type, const TokenizerJsonPart& part) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* form = nullptr;
  if (type == "NFC")
    form = icu::Normalizer2::getNFCInstance(status);
  else if (type == "NFD")
    form = icu::Normalizer2::getNFDInstance(status);
  else if (type == "NFKC")
    form = icu::Normalizer2::getNFKCInstance(status);
  else if (type == "NFKD")
    form = icu::Normalizer2::getNFKDInstance(status);
  if (U_FAILURE(status)) part.refuse(std::string(": ICU has no ") + type + " data (" + u_errorName(status) + ")");
  return form;
}

std::string replaced(const std::string& text, const std::string& pattern, const std::string& content) {
  if (pattern.empty()) return text;
  std::string out;
  size_t from = 0;
  for (size_t at; (at = text.find(pattern, from)) != std::string::npos; from = at + pattern.size())
    out.append(text, from, at - from).append(content);
  return out.append(text, from, std::string::npos);
}

}  // namespace

TextNormalizer::TextNormalizer(const TokenizerJsonPart& part) {
  if (!part.json.is_null()) add(part);
}

void TextNormalizer::add(const TokenizerJsonPart& part) {
  const std::string type = part.type();
  if (type == "Sequence") {
    for (size_t i = 0; i < part.at("normalizers").size(); ++i) add(part.element("normalizers", i));
  } else if (const icu::Normalizer2* form = normal_form(type, part)) {
    steps_.push_back({Kind::NormalForm, form, "", ""});
  } else if (type == "Prepend") {
    steps_.push_back({Kind::Prepend, nullptr, "", part.get<std::string>("prepend")});
  } else if (type == "Replace") {
    const TokenizerJsonPart pattern = part.child("pattern");
    if (!pattern.json.contains("String")) pattern.refuse(": only {\"String\": ...} patterns are supported");
    steps_.push_back({Kind::Replace, nullptr, pattern.get<std::string>("String"), part.get<std::string>("content")});
  } else {
    part.unsupported();
  }
}

std::string TextNormalizer::apply(std::string text) const {
  for (const Step& step : steps_) {
    if (step.kind == Kind::Prepend) {
      text.insert(0, step.content);
    } else if (step.kind == Kind::Replace) {
      text = replaced(text, step.pattern, step.content);
    } else {
      UErrorCode status = U_ZERO_ERROR;
      if (step.form->isNormalizedUTF8(text, status) && U_SUCCESS(status)) continue;
      std::string out;
      icu::StringByteSink<std::string> sink(&out, int32_t(text.size()));
      status = U_ZERO_ERROR;
      step.form->normalizeUTF8(0, text, sink, nullptr, status);
      if (U_FAILURE(status)) fail(kExitInternal, std::string("ICU normalization failed: ") + u_errorName(status));
      text = std::move(out);
    }
  }
  return text;
}

}  // namespace circal

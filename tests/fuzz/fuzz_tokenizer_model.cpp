// tokenizer.model bytes -> Tokenizer::from_bytes; a model that loads must encode and decode
// ordinary prompts.
#include "pipeline/model/tokenizer.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  circal::fuzz::accept_or_refuse([&] {
    const auto tokenizer = circal::Tokenizer::from_bytes(circal::fuzz::bytes_text(data, size), "fuzz/tokenizer.model");
    for (const char* text : {"Explain in one sentence what ls does.", "Erkläre kurz: grep -r", ""})
      tokenizer.decode(tokenizer.encode(text));
  });
  return 0;
}

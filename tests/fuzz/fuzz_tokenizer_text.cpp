// Prompt text -> the bundled teacher's tokenizer and prompt_ids (BOS + ids inside the
// vocabulary), then decoded back: the path every prompt file line takes.
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

const char* const kTeacher = CIRCAL_SOURCE_DIR "/data/models/manpages-llama-5m";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const circal::Tokenizer tokenizer(kTeacher);
  static const circal::LlamaConfig config = circal::read_llama_config(std::string(kTeacher) + "/config.json");
  circal::fuzz::accept_or_refuse([&] {
    const std::vector<int> ids = circal::prompt_ids(tokenizer, config, circal::fuzz::bytes_text(data, size));
    tokenizer.decode(std::vector<int>(ids.begin() + 1, ids.end()));
  });
  return 0;
}

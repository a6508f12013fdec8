// YAML config text -> load_config_text: parsing, the schema table's type and range checks,
// the cross-key checks; an accepted config must print as YAML that loads back.
#include "pipeline/config/config.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  circal::fuzz::accept_or_refuse([&] {
    const circal::Config config = circal::load_config_text(circal::fuzz::bytes_text(data, size), "fuzz.yaml");
    const std::string printed = circal::to_commented_yaml(config);
    // to_yaml promises text that load_config accepts; a refusal here is a finding, not input.
    try {
      circal::load_config_text(printed, "printed.yaml");
    } catch (const circal::CircalError& e) {
      throw std::logic_error(std::string("printed config does not load back: ") + e.what());
    }
  });
  return 0;
}

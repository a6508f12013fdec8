// circal's side of tests/e2e/tokenizer_reference.sh and bench/tokenizer_speed.sh, the
// counterpart of hf_reference.mjs: the model folder DIR's tokenizer (Tokenizer, so the file
// choice is exercised too) on TEXTS (one JSON string a line).
//   tokenizer_ids DIR TEXTS               per text: [ids with special tokens, decode(ids)]
//   tokenizer_ids --speed PASSES DIR TEXTS   tokens/s of each pass, as hf_reference.mjs speed
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "pipeline/base/errors.hpp"
#include "pipeline/model/tokenizer.hpp"

namespace {

std::vector<std::string> texts_of(const std::string& path) {
  std::ifstream in(path);
  if (!in) circal::fail(circal::kExitInput, path + ": cannot open");
  std::vector<std::string> texts;
  for (std::string line; std::getline(in, line);) texts.push_back(nlohmann::json::parse(line).get<std::string>());
  return texts;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void print_ids(const circal::Tokenizer& tokenizer, const std::vector<std::string>& texts) {
  for (const std::string& text : texts) {
    // bos_token_id only matters for tokenizer.model, which this tool is not run on.
    const std::vector<int> ids = tokenizer.with_special_tokens(tokenizer.encode(text), -1);
    std::cout << nlohmann::json::array({ids, tokenizer.decode(ids)})
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  }
}

void print_speed(const std::string& dir, const std::vector<std::string>& texts, int passes) {
  const auto start = std::chrono::steady_clock::now();
  const circal::Tokenizer tokenizer(dir);
  const double loaded = seconds_since(start);
  for (int pass = 0; pass < passes; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    size_t tokens = 0;
    for (const std::string& text : texts) tokens += tokenizer.encode(text).size();
    const double seconds = seconds_since(t0);
    std::cout << nlohmann::json{{"pass", pass},
                                {"tokens", tokens},
                                {"seconds", seconds},
                                {"tokens_per_s", double(tokens) / seconds},
                                {"load_s", loaded}}
                     .dump()
              << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 4 && args[0] == "--speed") {
      print_speed(args[2], texts_of(args[3]), std::stoi(args[1]));
    } else if (args.size() == 2) {
      print_ids(circal::Tokenizer(args[0]), texts_of(args[1]));
    } else {
      std::cerr << "usage: tokenizer_ids [--speed PASSES] DIR TEXTS\n";
      return 2;
    }
  } catch (const circal::CircalError& e) {
    std::cerr << e.what() << "\n";
    return e.code();
  }
  return 0;
}

#include "pipeline/data/prompt_split.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "pipeline/base/errors.hpp"

namespace circal {
namespace {

using Stratum = std::pair<std::string, std::string>;  // (family, language)

// Uniform in [0, n) by rejection, so no modulo bias and no library-specific distribution.
unsigned uniform_below(std::mt19937& rng, unsigned n) {
  const unsigned long long range = 1ULL << 32;
  const unsigned long long limit = range - range % n;
  unsigned long long draw;
  do draw = rng();
  while (draw >= limit);
  return static_cast<unsigned>(draw % n);
}

enum Part { kCalibration = 0, kValidation = 1, kTest = 2 };
using Counts = std::array<int, 3>;
using Shares = std::array<double, 3>;

// Moves one prompt into `part` from the part furthest above its ideal share n * shares[s]
// (never emptying calibration).
void take_one_for(Counts& counts, Part part, int n, const Shares& shares) {
  int from = -1;
  double most = 0;
  for (int s = 0; s < 3; ++s) {
    const int keep = s == kCalibration ? 1 : 0;
    const double surplus = counts[s] - n * shares[s];
    if (s != part && counts[s] > keep && (from < 0 || surplus > most)) from = s, most = surplus;
  }
  if (from < 0) return;
  --counts[from];
  ++counts[part];
}

// Largest-remainder apportionment of a stratum of n; remainders that tie (n = 10 at 15/25
// gives 1.5 and 2.5) go to the part furthest below its share over the strata so far, so the
// totals stay near the configured fractions. Then the guarantees: at least one test prompt,
// at least one calibration prompt when n >= 2.
Counts stratum_counts(int n, const Shares& shares, Shares& deficit) {
  Counts counts{};
  Shares remainder{};
  int left = n;
  for (int s = 0; s < 3; ++s) {
    counts[s] = static_cast<int>(std::floor(n * shares[s]));
    remainder[s] = n * shares[s] - counts[s];
    left -= counts[s];
  }
  for (; left > 0; --left) {
    int best = 0;
    for (int s = 1; s < 3; ++s) {
      const double gap = remainder[s] - remainder[best];
      if (gap > 1e-9 || (gap > -1e-9 && deficit[s] > deficit[best])) best = s;
    }
    ++counts[best];
    remainder[best] = -1;  // one extra per part at most
  }
  if (counts[kTest] == 0) take_one_for(counts, kTest, n, shares);
  if (n >= 2 && counts[kCalibration] == 0) take_one_for(counts, kCalibration, n, shares);
  if (n == 2) counts = {1, 0, 1};
  if (n == 1) counts = {0, 0, 1};
  for (int s = 0; s < 3; ++s) deficit[s] += n * shares[s] - counts[s];
  return counts;
}

void check_unique(const std::vector<Prompt>& prompts) {
  std::set<std::string> seen;
  for (const auto& prompt : prompts)
    if (!seen.insert(prompt.text).second)
      fail(kExitInput, "split: prompt \"" + prompt.text + "\" appears twice in the source");
}

// Closes the descriptor on every path out.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

[[noreturn]] void io_error(const std::string& path, const char* what) {
  fail(kExitIo, "split: " + path + ": cannot " + what + ": " + std::strerror(errno));
}

void write_atomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  FileDescriptor fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
  if (fd.get() < 0) io_error(temp, "create");
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) io_error(temp, "write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) io_error(temp, "fsync");
  if (::close(fd.release()) != 0) io_error(temp, "close");
  if (std::rename(temp.c_str(), path.c_str()) != 0) io_error(path, "rename onto");
}

std::string lines_of(const std::vector<Prompt>& prompts) {
  std::string text;
  for (const auto& prompt : prompts) text += prompt.text + "\n";
  return text;
}

}  // namespace

PromptSplit split_prompts(const std::vector<Prompt>& prompts, const SplitConfig& config) {
  check_unique(prompts);
  std::map<Stratum, std::vector<int>> strata;  // sorted keys: the draw order is fixed
  for (int i = 0; i < static_cast<int>(prompts.size()); ++i)
    strata[{prompts[i].family, prompts[i].language}].push_back(i);

  const Shares shares = {config.calibration_fraction, config.validation_fraction,
                         1.0 - config.calibration_fraction - config.validation_fraction};
  Shares deficit{};
  std::mt19937 rng(config.seed);
  std::vector<int> split_of(prompts.size());
  for (auto& [stratum, members] : strata) {
    for (int i = static_cast<int>(members.size()) - 1; i > 0; --i)
      std::swap(members[i], members[uniform_below(rng, static_cast<unsigned>(i) + 1)]);
    const Counts counts = stratum_counts(static_cast<int>(members.size()), shares, deficit);
    for (int k = 0; k < static_cast<int>(members.size()); ++k)
      split_of[members[k]] = k < counts[kCalibration]                         ? kCalibration
                             : k < counts[kCalibration] + counts[kValidation] ? kValidation
                                                                              : kTest;
  }
  PromptSplit split;
  std::vector<Prompt>* parts[] = {&split.calibration, &split.validation, &split.test};
  for (size_t i = 0; i < prompts.size(); ++i) parts[split_of[i]]->push_back(prompts[i]);
  return split;
}

void write_split(const PromptSplit& split, const std::string& output_dir) {
  std::error_code error;
  std::filesystem::create_directories(output_dir, error);
  if (error) fail(kExitIo, "split: " + output_dir + ": cannot create directory: " + error.message());
  write_atomically(output_dir + "/calibration.txt", lines_of(split.calibration));
  write_atomically(output_dir + "/validation.txt", lines_of(split.validation));
  write_atomically(output_dir + "/test.txt", lines_of(split.test));
}

std::string split_summary(const PromptSplit& split) {
  std::map<Stratum, std::array<int, 3>> counts;
  const std::vector<Prompt>* parts[] = {&split.calibration, &split.validation, &split.test};
  for (int s = 0; s < 3; ++s)
    for (const auto& prompt : *parts[s]) ++counts[{prompt.family, prompt.language}][s];
  std::string table;
  char row[200];
  const auto add_row = [&](const std::string& family, const std::string& language, const std::array<int, 3>& c) {
    std::snprintf(row, sizeof row, "%-40s %-4s %6d %6d %6d %6d\n", family.c_str(), language.c_str(), c[0], c[1], c[2],
                  c[0] + c[1] + c[2]);
    table += row;
  };
  std::snprintf(row, sizeof row, "%-40s %-4s %6s %6s %6s %6s\n", "family", "lang", "calib", "valid", "test", "total");
  table += row;
  std::array<int, 3> total = {0, 0, 0};
  for (const auto& [stratum, c] : counts) {
    add_row(stratum.first, stratum.second, c);
    for (int s = 0; s < 3; ++s) total[s] += c[s];
  }
  add_row("all", "", total);
  return table;
}

}  // namespace circal

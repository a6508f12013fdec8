// HDF5 bytes -> a file -> what circal reads from checkpoints: the generic walk of
// `circal inspect` (every group, dataset and attribute) and the calibrate stage's reading of
// capture.h5 (CalibrationData: prompt offsets and splits, hidden states, teacher logits, and
// the distillation loss over them). HDF5 needs a file name, so the bytes go to a scratch file.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <vector>

#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/hdf5_tree.hpp"
#include "stages/calibrate/calibration_data.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace {

// The bundled teacher's widths, which the calibrate stage would pass.
constexpr int kHidden = 256;
constexpr int kVocab = 4096;
// Prompts longer than this are read but not scored (keeps one input's memory small).
constexpr int kMaxScoredTokens = 64;

// One scratch file per process, removed at exit.
class ScratchFile {
 public:
  ScratchFile() {
    const char* shm = "/dev/shm";
    const std::filesystem::path dir = std::filesystem::is_directory(shm) ? shm : std::filesystem::temp_directory_path();
    path_ = (dir / ("circal-fuzz-" + std::to_string(::getpid()) + ".h5")).string();
  }
  ~ScratchFile() { std::filesystem::remove(path_); }
  const std::string& write(const uint8_t* data, size_t size) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), std::streamsize(size));
    return path_;
  }

 private:
  std::string path_;
};

void walk(const std::string& path) {
  const circal::CheckpointReader file(path);
  std::ostringstream out;
  circal::print_hdf5_tree(out, file, true);
}

void calibrate_reads(const std::string& path) {
  int64_t layer = 0;
  {
    const circal::CheckpointReader file(path);
    if (file.has_attr("/hidden_in", "layer")) layer = file.attr_int("/hidden_in", "layer");
  }
  circal::CalibrationData data(path, "", int(layer), kHidden, 1.0f);
  std::vector<int> prompts = data.calibration();
  prompts.insert(prompts.end(), data.validation().begin(), data.validation().end());
  for (int p : prompts) {
    const int T = data.tokens(p);
    const float* hidden = data.hidden(p);
    // Touch the whole [T, hidden] block the transformer would read.
    volatile float sum = std::accumulate(hidden, hidden + size_t(T) * kHidden, 0.0f);
    (void)sum;
    if (T > kMaxScoredTokens) continue;
    std::vector<float> student(size_t(T) * kVocab, 0.0f), grad(student.size());
    data.distillation_loss(p, student.data(), grad.data(), kVocab, 1.0f);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ScratchFile scratch;
  const std::string& path = scratch.write(data, size);
  circal::fuzz::accept_or_refuse([&] { walk(path); });
  circal::fuzz::accept_or_refuse([&] { calibrate_reads(path); });
  return 0;
}

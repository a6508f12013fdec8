// The calibration loop across ranks: a few steps on a tiny capture (built here from the
// bundled teacher) give the same parameters at every rank count as a one-rank run of the same
// steps; resuming from a checkpoint continues bit for bit (both for block-circulant and for
// low-rank students: the loop does not know which it trains); a stop signal on one rank stops
// every rank after the same step with a checkpoint. The scale re-calibration of the quantized c
// (recalibrated_rtn): its gradient against the obvious reduction and central differences of
// the loss, its scales the same bits at every rank count, its training KL below the RTN scales'.
#include <doctest/doctest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/circulant_projection.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/lowrank/lowrank_projection.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/runtime/stop_signal.hpp"
#include "stages/calibrate/calibration_batches.hpp"
#include "stages/calibrate/calibrator.hpp"
#include "stages/calibrate/scale_recalibration.hpp"
#include "stages/common/quantized_student.hpp"

using namespace circal;
namespace fs = std::filesystem;

namespace {

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

const ModelWeights& teacher() {
  static const ModelWeights weights = [] { return load_model(CIRCAL_SOURCE_DIR "/data/models/manpages-llama-5m"); }();
  return weights;
}

// A directory every rank agrees on (rank 0's pid), removed at the end.
struct SharedTempDir {
  fs::path path;
  SharedTempDir() {
    long pid = ::getpid();
    MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    path = fs::temp_directory_path() / ("circal_calibrate_ranks_" + std::to_string(pid));
    if (world_rank() == 0) fs::create_directories(path);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  ~SharedTempDir() {
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank() == 0) fs::remove_all(path);
  }
};

constexpr int kLayer = 3;  // patched: the top layer's gate, up and down
constexpr int kBlock = 16;

Config tiny_config(Structure structure = Structure::Circulant) {
  Config config;
  config.project.structure = structure;
  config.patch.layers = {kLayer};
  config.project.block_size = kBlock;
  CalibrateConfig& c = config.calibrate;
  c.steps = 4;
  c.batch_prompts = 5;  // groups of 2, 2, 1: uneven shards at 2 ranks, an idle rank at 4
  c.group_prompts = 2;
  c.lr = 1e-2;
  c.warmup_steps = 1;
  c.eval_every = 2;
  c.patience = 0;
  c.clip_norm = 0.5;
  c.temperature = 2.0;
  c.seed = 99;
  return config;
}

// capture.h5 of 7 calibration and 3 validation prompts of pseudo-random tokens, lengths 4..13.
void write_tiny_capture(const std::string& path) {
  Transformer model(teacher());
  const LlamaConfig& cfg = teacher().config;
  std::vector<int64_t> offsets = {0};
  std::vector<int32_t> split, all_tokens;
  std::vector<float> hidden, logits;
  uint64_t state = 12345;
  for (int p = 0; p < 10; ++p) {
    std::vector<int> tokens = {cfg.bos_token_id};
    const int T = 4 + (p * 7) % 10;
    while (int(tokens.size()) < T) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      tokens.push_back(3 + int((state >> 33) % uint64_t(cfg.vocab_size - 3)));
    }
    all_tokens.insert(all_tokens.end(), tokens.begin(), tokens.end());
    const float* z = model.forward(tokens);
    logits.insert(logits.end(), z, z + size_t(T) * cfg.vocab_size);
    const float* h = model.hidden_in(kLayer);
    hidden.insert(hidden.end(), h, h + size_t(T) * cfg.hidden_size);
    offsets.push_back(offsets.back() + T);
    split.push_back(p < 7 ? 0 : 1);
  }
  const uint64_t N = offsets.back();
  CheckpointWriter file(MPI_COMM_WORLD, path, {"capture", "tiny", ""});
  file.write("/prompts/offsets", {offsets.size()}, offsets.data());
  file.write("/prompts/split", {split.size()}, split.data());
  file.write("/tokens", {N}, all_tokens.data());
  file.write("/hidden_in", {N, uint64_t(cfg.hidden_size)}, hidden.data());
  file.set_attr("/hidden_in", "layer", int64_t(kLayer));
  file.write("/teacher/logits", {N, uint64_t(cfg.vocab_size)}, logits.data());
  file.commit();
}

// The data-free projection of the layout's structure: Frobenius, or truncated SVD.
std::vector<float> frobenius_start(const StudentLayout& layout) {
  std::vector<float> params(layout.total_size);
  for (const auto& m : layout.matrices) {
    const float* W = mlp_matrix(teacher(), m.layer, m.projection);
    const auto c = layout.structure == Structure::LowRank
                       ? project_truncated_svd(W, m.out_features, m.in_features, m.rank)
                       : project_frobenius(W, m.out_features, m.in_features, layout.block_size);
    std::copy(c.begin(), c.end(), params.begin() + m.offset);
  }
  return params;
}

// Runs the configured steps on comm from the Frobenius start (or from `resume_from`).
CalibrationState calibrate_on(MPI_Comm comm, const std::string& capture, const Config& config,
                              const CheckpointPolicy& policy = {}, const CalibrationState* resume_from = nullptr) {
  const StudentLayout layout = StudentLayout::from_config(config, teacher().config);
  CalibrationData data(capture, "tiny", layout.first_layer(), teacher().config.hidden_size,
                       float(config.calibrate.temperature));
  Transformer model(teacher());
  Calibrator calibrator(comm, model, layout, data, config.calibrate, frobenius_start(layout));
  std::ostringstream quiet;
  ProgressLog log(false, "", config.calibrate.log_every, config.calibrate.steps, 0, quiet);
  return calibrator.run(resume_from ? *resume_from : calibrator.initial_state(), log, policy);
}

double max_relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - b[i]));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return diff / scale;
}

// The slow twin of Calibrator::batch_gradient on one rank: one forward/backward per prompt,
// each prompt's gradient and loss one term of the exact sum. Returns the loss; *grads gets
// d(mean loss)/d params.
double per_prompt_gradient(const std::string& capture, const Config& config, const std::vector<int>& batch,
                           std::vector<float>* grads) {
  const StudentLayout layout = StudentLayout::from_config(config, teacher().config);
  CalibrationData data(capture, "tiny", layout.first_layer(), teacher().config.hidden_size,
                       float(config.calibrate.temperature));
  Transformer model(teacher());
  std::vector<float> params = frobenius_start(layout), g(params.size());
  StudentModel student(model, layout, params.data(), g.data());
  const int vocab = teacher().config.vocab_size;
  const int64_t positions = data.total_tokens(batch);
  ExactSum sum(g.size(), batch.size());
  std::vector<float> dlogits;
  for (int prompt : batch) {
    std::fill(g.begin(), g.end(), 0.0f);
    const int T = data.tokens(prompt);
    const float* logits = model.forward_from(layout.first_layer(), data.hidden(prompt), T);
    dlogits.resize(size_t(T) * vocab);
    const double loss = data.distillation_loss(prompt, logits, dlogits.data(), vocab, 1.0f / float(positions));
    model.backward(dlogits.data());
    sum.add(g.data(), loss / double(positions));
  }
  grads->resize(g.size());
  return sum.result(grads->data());
}

// Calibrator::batch_gradient of `batch` on one rank with groups of `group` prompts.
double grouped_gradient(const std::string& capture, Config config, int group, const std::vector<int>& batch,
                        std::vector<float>* grads) {
  config.calibrate.group_prompts = group;
  const StudentLayout layout = StudentLayout::from_config(config, teacher().config);
  CalibrationData data(capture, "tiny", layout.first_layer(), teacher().config.hidden_size,
                       float(config.calibrate.temperature));
  Transformer model(teacher());
  Calibrator calibrator(MPI_COMM_SELF, model, layout, data, config.calibrate, frobenius_start(layout));
  const double loss = calibrator.batch_gradient(batch).loss;
  *grads = calibrator.gradients();
  return loss;
}

}  // namespace

TEST_CASE("prompt groups balance tokens, hold at most group_prompts, go round robin to ranks") {
  const std::vector<int> batch = {9, 3, 7, 1, 4};
  const std::map<int, int> length = {{9, 30}, {3, 10}, {7, 25}, {1, 5}, {4, 20}};
  const PromptTokens tokens = [&](int prompt) { return length.at(prompt); };
  // 9, 7, 4 open the three groups; 3 joins 4 (20 tokens), 1 joins 7 (25): 30 tokens each.
  CHECK(prompt_groups(batch, 2, tokens) == std::vector<std::vector<int>>{{9}, {7, 1}, {3, 4}});
  CHECK(prompt_groups(batch, 8, tokens) == std::vector<std::vector<int>>{{9, 3, 7, 1, 4}});
  CHECK(rank_groups(batch, 2, tokens, 0, 2) == std::vector<std::vector<int>>{{9}, {3, 4}});
  CHECK(rank_groups(batch, 2, tokens, 1, 2) == std::vector<std::vector<int>>{{7, 1}});
  CHECK(rank_groups(batch, 2, tokens, 3, 4).empty());
  CHECK(rank_groups(batch, 1, tokens, 1, 4) == std::vector<std::vector<int>>{{7}});
  // Equal lengths: round robin over the groups, each in batch order.
  CHECK(prompt_groups(batch, 2, [](int) { return 4; }) == std::vector<std::vector<int>>{{9, 1}, {3, 4}, {7}});
  // A random batch: every prompt once, no group over the limit, totals within one prompt.
  std::mt19937 rng(5);
  std::vector<int> big(37);
  std::iota(big.begin(), big.end(), 0);
  std::vector<int> random_length(big.size());
  for (int& n : random_length) n = 3 + int(rng() % 40);
  const PromptTokens random_tokens = [&](int prompt) { return random_length[prompt]; };
  const auto groups = prompt_groups(big, 8, random_tokens);
  CHECK(groups.size() == 5);
  std::vector<int> seen;
  int lightest = 1 << 30, heaviest = 0;
  for (const auto& g : groups) {
    CHECK(g.size() <= 8);
    CHECK(std::is_sorted(g.begin(), g.end()));
    int total = 0;
    for (int p : g) total += random_length[p];
    lightest = std::min(lightest, total);
    heaviest = std::max(heaviest, total);
    seen.insert(seen.end(), g.begin(), g.end());
  }
  std::sort(seen.begin(), seen.end());
  CHECK(seen == big);
  CHECK(heaviest - lightest <= *std::max_element(random_length.begin(), random_length.end()));
}

TEST_CASE("a group's stacked pass gives the summed per-prompt gradients; groups of 1 are the per-prompt path") {
  SharedTempDir dir;
  const std::string capture = (dir.path / "capture.h5").string();
  write_tiny_capture(capture);
  const Config config = tiny_config();
  const std::vector<int> batch = {6, 0, 3, 5, 1};  // calibration prompts of 4 to 9 tokens
  std::vector<float> twin, grouped;
  const double twin_loss = per_prompt_gradient(capture, config, batch, &twin);
  REQUIRE(twin_loss > 0.0);
  // Groups of one prompt: the old per-prompt calibration, bit for bit.
  CHECK(grouped_gradient(capture, config, 1, batch, &grouped) == twin_loss);
  CHECK(grouped == twin);
  for (int group : {2, 3, 5}) {
    CAPTURE(group);
    const double loss = grouped_gradient(capture, config, group, batch, &grouped);
    CHECK(loss == doctest::Approx(twin_loss).epsilon(1e-6));
    const double diff = max_relative_difference(grouped, twin);
    MESSAGE("groups of " << group << ": max relative gradient difference vs per prompt " << diff);
    CHECK(diff <= 1e-5);
    CHECK(diff > 0.0);  // the grouping really changed the float arithmetic
  }
}

TEST_CASE("calibration at R ranks equals the one-rank run of the same steps") {
  SharedTempDir dir;
  const std::string capture = (dir.path / "capture.h5").string();
  write_tiny_capture(capture);
  for (Structure structure : kStructures) {
    CAPTURE(name_of(structure));
    const Config config = tiny_config(structure);
    if (structure == Structure::LowRank) {
      const StudentLayout layout = StudentLayout::from_config(config, teacher().config);
      REQUIRE(layout.structure == Structure::LowRank);
      CHECK(layout.total_size == layout.circulant_parameters());  // 256 x 768 at b 16: rank 12, equal counts
    }
    const CalibrationState distributed = calibrate_on(MPI_COMM_WORLD, capture, config);
    CHECK(distributed.step == 4);
    CHECK(distributed.validation_step == std::vector<int64_t>{0, 2, 4});
    // Batches differ from step to step; the held-out KL is the comparable figure.
    CHECK(distributed.best_validation < distributed.validation_kl.front());

    if (world_rank() == 0) {
      const CalibrationState serial = calibrate_on(MPI_COMM_SELF, capture, config);
      const double params_diff = max_relative_difference(distributed.params, serial.params);
      const double moment_diff = max_relative_difference(distributed.adam_m, serial.adam_m);
      MESSAGE("max relative parameter difference vs 1 rank: "
              << params_diff << std::string(distributed.params == serial.params ? " (bitwise equal)" : ""));
      CHECK(params_diff <= 1e-5);
      // The reduction is exact (pipeline/runtime/exact_sum.hpp): any rank count gives the same bits.
      CHECK(distributed.params == serial.params);
      CHECK(moment_diff <= 1e-4);
      for (size_t i = 0; i < serial.train_loss.size(); ++i)
        CHECK(distributed.train_loss[i] == doctest::Approx(serial.train_loss[i]).epsilon(1e-6));
      for (size_t i = 0; i < serial.validation_kl.size(); ++i)
        CHECK(distributed.validation_kl[i] == doctest::Approx(serial.validation_kl[i]).epsilon(1e-6));
    }
  }
}

TEST_CASE("resuming from a checkpoint continues bit for bit") {
  SharedTempDir dir;
  const std::string capture = (dir.path / "capture.h5").string();
  write_tiny_capture(capture);
  for (Structure structure : kStructures) {
    CAPTURE(name_of(structure));
    const Config config = tiny_config(structure);
    const CheckpointPolicy policy{(dir.path / (std::string("calibrate-") + name_of(structure))).string(),
                                  {kCalibrationCheckpointStage, "tiny-fp", ""},
                                  2,
                                  5};
    const CalibrationState uninterrupted = calibrate_on(MPI_COMM_WORLD, capture, config, policy);
    auto halfway = load_calibration_checkpoint(calibration_checkpoint_path(policy.dir, 2), "tiny-fp");
    CHECK(halfway.step == 2);
    const CalibrationState resumed = calibrate_on(MPI_COMM_WORLD, capture, config, CheckpointPolicy{}, &halfway);
    CHECK(resumed.params == uninterrupted.params);
    CHECK(resumed.adam_v == uninterrupted.adam_v);
    CHECK(resumed.best_params == uninterrupted.best_params);
    CHECK(resumed.train_loss == uninterrupted.train_loss);
    CHECK(resumed.validation_kl == uninterrupted.validation_kl);
  }
}

TEST_CASE("a stop signal on one rank stops every rank after the same step, with a checkpoint") {
  SharedTempDir dir;
  const std::string capture = (dir.path / "capture.h5").string();
  write_tiny_capture(capture);
  const CheckpointPolicy policy{(dir.path / "calibrate").string(), {kCalibrationCheckpointStage, "tiny-fp", ""}, 0, 3};
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  StopSignalGuard guard;  // so the raise below is caught, not fatal
  if (world_rank() == ranks - 1) std::raise(SIGUSR1);
  int code = 0;
  try {
    calibrate_on(MPI_COMM_WORLD, capture, tiny_config(), policy);
  } catch (const CircalError& error) {
    code = error.code();
    CHECK(std::string(error.what()).find("after step 1") != std::string::npos);
  }
  clear_stop_request();
  CHECK(code == kExitPreempted);
  const auto saved = load_calibration_checkpoint(calibration_checkpoint_path(policy.dir, 1), "tiny-fp");
  CHECK(saved.step == 1);
  CHECK(saved.train_loss.size() == 1);
}

namespace {

// The tiny student's c quantized at `bits` (groups of 64), its calibrator on comm.
struct QuantizedTiny {
  Config config = tiny_config();
  StudentLayout layout = StudentLayout::from_config(config, teacher().config);
  CalibrationData data;
  Transformer model{teacher()};
  std::vector<float> c = frobenius_start(layout);
  Calibrator calibrator;
  QuantizedTiny(MPI_Comm comm, const std::string& capture)
      : data(capture, "tiny", layout.first_layer(), teacher().config.hidden_size, float(config.calibrate.temperature)),
        calibrator(comm, model, layout, data, config.calibrate, c) {
    config.quantize.group_size = 64;
    config.quantize.recalibrate_lr = 2e-2;
  }
  std::vector<QuantizedMatrix> quantized(int bits) const {
    return quantize_circulant(layout, c.data(), {bits, config.quantize.group_size});
  }
  // The mean training loss over every calibration prompt with these quantized matrices.
  double training_loss(const std::vector<QuantizedMatrix>& q) {
    std::vector<float> dequantized(layout.total_size);
    dequantize_circulant(layout, q, dequantized.data());
    calibrator.set_parameters(dequantized);
    return calibrator.batch_gradient(data.calibration()).loss;
  }
};

}  // namespace

TEST_CASE("the scale gradient: the reduction of dL/dc, and central differences of the loss") {
  SharedTempDir dir;
  const std::string capture = (dir.path / "capture.h5").string();
  write_tiny_capture(capture);
  if (world_rank() != 0) return;
  QuantizedTiny tiny(MPI_COMM_SELF, capture);
  std::vector<QuantizedMatrix> q = tiny.quantized(3);
  const double loss = tiny.training_loss(q);
  const std::vector<float> dc = tiny.calibrator.gradients();
  const std::vector<float> du = log_scale_gradient(tiny.layout, q, dc.data());
  // The obvious twin: for every group, scan its row for the group's columns.
  std::size_t at = 0;
  for (std::size_t k = 0; k < q.size(); ++k) {
    const QuantizedMatrix& m = q[k];
    const float* dck = dc.data() + tiny.layout.matrices[k].offset;
    for (int r = 0; r < m.rows; ++r)
      for (int g = 0; g < m.groups(); ++g, ++at) {
        double ds = 0;
        for (int j = 0; j < m.cols; ++j)
          if (j / m.grid.group_size == g)
            ds += double(int(m.codes[std::size_t(r) * m.cols + j]) - int(m.zeros[std::size_t(r) * m.groups() + g])) *
                  double(dck[std::size_t(r) * m.cols + j]);
        REQUIRE(du[at] == float(double(m.scales[std::size_t(r) * m.groups() + g]) * ds));
      }
  }
  REQUIRE(at == du.size());
  // Central differences in the log-scale u (s = s0 exp(u)) along the three steepest groups,
  // and along sign(dL/du) over every group of one matrix (derivative: the sum of |dL/du|).
  using Direction = std::vector<std::pair<std::size_t, double>>;  // (flat group, weight)
  const auto loss_at = [&](const Direction& direction, double h) {
    std::vector<QuantizedMatrix> moved = q;
    for (auto [flat, weight] : direction) {
      std::size_t k = 0;
      while (flat >= moved[k].scales.size()) flat -= moved[k++].scales.size();
      moved[k].scales[flat] = float(double(moved[k].scales[flat]) * std::exp(weight * h));
    }
    return tiny.training_loss(moved);
  };
  std::vector<std::size_t> order(du.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + 3, order.end(),
                    [&](std::size_t a, std::size_t b) { return std::abs(du[a]) > std::abs(du[b]); });
  std::vector<std::pair<Direction, double>> directions;
  for (int i = 0; i < 3; ++i) directions.push_back({{{order[i], 1.0}}, du[order[i]]});
  Direction first_matrix;
  double first_matrix_gradient = 0;
  for (std::size_t g = 0; g < q[0].scales.size(); ++g) {
    first_matrix.push_back({g, du[g] < 0 ? -1.0 : 1.0});
    first_matrix_gradient += std::abs(du[g]);
  }
  directions.push_back({first_matrix, first_matrix_gradient});
  const double h = 3e-2;
  for (const auto& [direction, gradient] : directions) {
    const double fd = (loss_at(direction, h) - loss_at(direction, -h)) / (2 * h);
    MESSAGE(direction.size() << " group(s): dL/du " << gradient << ", central difference " << fd << " (loss " << loss
                             << ")");
    CHECK(std::abs(gradient) > 1e-6);
    // One group moves the loss by ~1e-6, near the float32 logits' rounding: a looser bound there.
    CHECK(fd == doctest::Approx(gradient).epsilon(direction.size() > 1 ? 1e-3 : 2e-2));
  }
}

TEST_CASE("re-calibrated scales: the same bits at R ranks as at one, half values on frozen codes, lower training KL") {
  SharedTempDir dir;
  const std::string capture = (dir.path / "capture.h5").string();
  write_tiny_capture(capture);
  const int bits = 3;
  QuantizedTiny distributed(MPI_COMM_WORLD, capture);
  distributed.config.quantize.recalibrate_steps = 4;
  const RecalibratedScales world =
      recalibrate_scales(distributed.calibrator, distributed.layout, distributed.c, bits, distributed.config,
                         int(distributed.data.calibration().size()), true);
  CHECK(world.validation_step == std::vector<int64_t>{0, 2, 4});
  CHECK(world.train_loss.size() == 4);
  if (world_rank() != 0) return;
  QuantizedTiny serial(MPI_COMM_SELF, capture);
  serial.config.quantize.recalibrate_steps = 4;
  const RecalibratedScales one = recalibrate_scales(serial.calibrator, serial.layout, serial.c, bits, serial.config,
                                                    int(serial.data.calibration().size()), true);
  CHECK(one.train_loss == world.train_loss);
  CHECK(one.validation_kl == world.validation_kl);
  const std::vector<QuantizedMatrix> rtn = serial.quantized(bits);
  std::size_t bytes = 0, rtn_bytes = 0;
  for (std::size_t k = 0; k < rtn.size(); ++k) {
    CHECK(one.quantized[k].scales == world.quantized[k].scales);
    CHECK(one.quantized[k].codes == rtn[k].codes);
    CHECK(one.quantized[k].zeros == rtn[k].zeros);
    for (float s : one.quantized[k].scales) REQUIRE(stored_scale(s) == s);  // stored as half, exactly
    bytes += one.quantized[k].storage_bytes();
    rtn_bytes += rtn[k].storage_bytes();
  }
  CHECK(bytes == rtn_bytes);
  CHECK(bytes == quantized_student_bytes(serial.config, serial.layout, StudentKind::CalibratedRtn, bits));
  CHECK(bytes == quantized_student_bytes(serial.config, serial.layout, StudentKind::RecalibratedRtn, bits));

  // Without validation the last scales are kept: more steps lower the training KL of the RTN scales.
  serial.config.quantize.recalibrate_steps = 12;
  const RecalibratedScales trained = recalibrate_scales(serial.calibrator, serial.layout, serial.c, bits, serial.config,
                                                        int(serial.data.calibration().size()), false);
  CHECK(trained.best_step == 12);
  const double before = serial.training_loss(rtn), after = serial.training_loss(trained.quantized);
  MESSAGE("training KL at " << bits << " bits: RTN scales " << before << ", re-calibrated " << after
                            << "; validation KL " << one.validation_kl.front() << " -> " << one.best_validation_kl
                            << " (best step " << one.best_step << ")");
  CHECK(after < before);
}

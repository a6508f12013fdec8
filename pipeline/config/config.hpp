#pragma once
// The resolved configuration. The schema (every key, its type, default, range and doc) lives
// in one table in config.cpp; config/default.yaml states every key with its default.
#include <string>
#include <vector>

#include "pipeline/config/names.hpp"

namespace circal {

struct ModelConfig {
  std::string path = "data/models/manpages-llama-5m";
  ResidentDtype resident_dtype = ResidentDtype::Auto;  // teacher matrices in memory: float32 or the file's dtype
};

struct PromptsConfig {
  std::string source = "data/prompts.txt";  // all prompts, input of `circal split`
  std::string calibration = "data/splits/calibration.txt";
  std::string validation = "data/splits/validation.txt";
  std::string test = "data/splits/test.txt";
};

// Where calibration, validation and test data come from: the prompt files (prompts.*) or
// windows of text corpora (pipeline/data/corpus_windows.hpp).
struct DataConfig {
  DataSource source = DataSource::Prompts;
  TestSource test_source = TestSource::Same;  // where evaluate's test data come from
  std::vector<std::string> corpus = {"data/corpus/en.jsonl", "data/corpus/de.jsonl"};
  int window_tokens = 128;  // BOS + window_tokens - 1 tokens of one document
  int calibration_windows = 64;
  int validation_windows = 16;
  int test_windows = 32;
  unsigned seed = 20261201;
  double test_document_fraction = 0.2;  // share of each corpus file's documents held out for test
};

struct SplitConfig {
  unsigned seed = 20261129;
  double calibration_fraction = 0.60;
  double validation_fraction = 0.15;  // test gets the rest
  std::string output_dir = "data/splits";
};

struct PatchConfig {
  std::vector<int> layers;  // resolved: YAML `all` becomes every layer of the model
  bool all_layers = true;   // true when the YAML said `all`
  std::vector<Projection> projections = {kProjections.begin(), kProjections.end()};
};

struct CaptureConfig {
  LogitsFormat logits_format = LogitsFormat::Full;
  int logits_topk = 64;          // kept entries per position when logits_format = topk
  int compression = 1;           // gzip level for capture datasets, 0 = none
  std::vector<int> block_sizes;  // block sizes of the projection statistics; empty = project.block_size
  FullGramChoice full_gram = FullGramChoice::Auto;  // also store H = sum_t x_t x_t^T per input
  bool store_inputs = false;                        // also keep the raw MLP inputs (today's layout, for analysis)
  int batch_tokens = 4096;                          // token rows per batched forward (at most 16 prompts a batch)
  int activation_budget_mb = 2048;                  // and at most this many MiB of the forward's kept activations
};

// capture.full_gram auto stores the full Gram of a circulant run's inputs when none is wider.
inline constexpr int kFullGramAutoWidth = 4096;

// project.block_size: auto chooses among these (and 1, kept dense) when capture.block_sizes
// is empty.
inline const std::vector<int> kAutoBlockSizes = {4, 8, 16, 32, 64, 128, 256};

struct ProjectConfig {
  int block_size = 16;           // the block size of every patched matrix, unless allocated
  bool allocate_blocks = false;  // true when the YAML said `auto`: one block size a matrix
  double compression = 16;       // auto: dense parameters / student parameters, at least
  int sensitivity_samples = 2;   // auto: sampled-target backward passes per validation prompt
  Structure structure = Structure::Circulant;
  ProjectionMethod method = ProjectionMethod::LeastSquares;
  double ridge = 1e-4;  // relative to the mean diagonal of the Gram matrices
  DownInputs down_inputs = DownInputs::Teacher;
  int chunk_tokens = 2048;  // Gram accumulation chunk (bounds memory)
  // A circulant run also fits the low-rank student of equal parameters (whitened SVD), so its
  // report can say which structure wins without a sweep.
  bool compare_lowrank = true;
};

struct CalibrateConfig {
  bool enabled = true;
  int steps = 300;
  int batch_prompts = 16;
  int group_prompts = 8;  // prompts per forward/backward pass (fixed groups of the global batch)
  double lr = 3e-3;
  ScheduleKind schedule = ScheduleKind::Cosine;
  int warmup_steps = 20;
  double min_lr_ratio = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double clip_norm = 1.0;  // 0 disables clipping
  double temperature = 1.0;
  int eval_every = 25;
  int patience = 4;  // validations without improvement before stopping, 0 = never stop early
  int checkpoint_every = 25;
  int keep_checkpoints = 3;
  int log_every = 10;
  unsigned seed = 1234;
  int data_budget_mb = 1024;  // capture rows kept in memory per rank (least recently used dropped)
  // Activation checkpointing of the backward: off | on | auto (on when a pass's stored
  // activations would pass activation_budget_mb). Bitwise the same gradients either way.
  Recompute recompute = Recompute::Auto;
  int activation_budget_mb = 2048;
};

struct EvaluateConfig {
  std::vector<int> topk = {5, 10};
  int generate_tokens = 16;
  int bootstrap_samples = 1000;
  unsigned seed = 4321;
  std::vector<StudentKind> students;  // empty: evaluated_students() picks the run's own
};

// The quantized students rtn, gptq, calibrated_rtn and recalibrated_rtn (DESIGN section 8.4),
// one per bit width.
struct QuantizeConfig {
  std::vector<int> bits = {8, 4, 3, 2};
  int group_size = 128;          // input columns per scale and zero point
  double percdamp = 0.01;        // GPTQ's dampening, relative to mean(diag H)
  bool act_order = true;         // GPTQ's columns by descending H_jj
  int recalibrate_steps = 50;    // KL steps on the scales of recalibrated_rtn
  double recalibrate_lr = 1e-2;  // Adam's rate on their logarithms (a relative step)
};

struct RuntimeConfig {
  std::string fftw_wisdom;                         // file to load/save FFTW wisdom, empty = none
  FftPlanner fftw_planner = FftPlanner::Estimate;  // timed plans round differently run to run
  bool shared_weights = true;                      // one teacher copy per node (MPI shared memory)
  int threads = 1;                                 // OpenBLAS/FFTW/OpenMP threads per rank
  double node_memory_gb = 0;                       // what a node may hold (GiB); 0 = its MemTotal
};

struct ClusterConfig {
  int nodes = 1;
  int tasks = 2;
  std::string time = "00:30:00";
  std::string partition;
  std::string account;
  Launcher launcher = Launcher::Mpirun;
  int max_restarts = 3;
  int array_parallel = 4;
  int signal_seconds = 60;
};

struct Config {
  std::string run_dir = "runs/default";
  ModelConfig model;
  PromptsConfig prompts;
  DataConfig data;
  SplitConfig split;
  PatchConfig patch;
  CaptureConfig capture;
  ProjectConfig project;
  CalibrateConfig calibrate;
  EvaluateConfig evaluate;
  QuantizeConfig quantize;
  RuntimeConfig runtime;
  ClusterConfig cluster;
};

// Loads FILE (empty: defaults only), applies `key=value` overrides in order, validates every
// key. Throws CircalError(kExitUsage) naming the key and the reason.
Config load_config(const std::string& file, const std::vector<std::string>& overrides);
// The same for YAML text already in memory, without overrides; `source` names it in messages.
Config load_config_text(const std::string& yaml, const std::string& source);

// The resolved configuration as YAML text (every key), parseable by load_config.
std::string to_yaml(const Config& config);
// The same with each key's doc and type as a trailing comment (config/default.yaml's form).
std::string to_commented_yaml(const Config& config);

// Every fully-qualified key of the schema, in table order.
std::vector<std::string> config_keys();

// The block sizes capture accumulates statistics for: capture.block_sizes, or project.block_size.
std::vector<int> statistics_block_sizes(const Config& config);
// True when capture stores the full input Gram of an input of width n.
// Whether capture stores the full input Gram of every input (one decision for all: the low-rank
// comparison needs all of them), given the widest patched input.
bool stores_full_gram(const Config& config, int widest_input);

// evaluate.students, or when empty what the run produces: dense, zeroed, its structure's
// projections and calibrated student, and in a circulant run with project.compare_lowrank the
// low-rank aware student of equal parameters.
std::vector<StudentKind> evaluated_students(const Config& config);
// Whether calibrate re-calibrates the scales of the quantized c after its run (the student
// recalibrated_rtn, DESIGN section 8.4): a circulant run that calibrates and evaluates it.
bool recalibrates_scales(const Config& config);

// Fully-qualified key -> its value as YAML scalar/flow text, for fingerprints.
std::string config_value(const Config& config, const std::string& key);

// Where evaluate's test data come from: data.test_source, or data.source when it is `same`.
DataSource test_data_source(const Config& config);

// Checks that the patch section fits a model with `num_layers` layers and resolves `all`.
void resolve_layers(Config& config, int num_layers);

}  // namespace circal

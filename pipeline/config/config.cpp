// The config schema (the one table of keys) and loading, printing, fingerprint values.
#include "pipeline/config/config.hpp"

#include <algorithm>
#include <filesystem>

#include "pipeline/base/errors.hpp"
#include "pipeline/config/config_fields.hpp"

namespace circal {
namespace {

// patch.layers is `all` or a list of layer indices: two struct members behind one key.
ConfigKey patch_layers_key() {
  return {"patch.layers", "`all` or list of int",
          "layers whose MLP is replaced: all, or a list of indices such as [0, 2]",
          [](Config& c, const YAML::Node& node) {
            if (node.IsScalar() && node.Scalar() == "all") {
              c.patch.all_layers = true;
              c.patch.layers.clear();
              return;
            }
            if (!node.IsSequence()) reject("must be `all` or a list of layer indices (got " + shown(node) + ")");
            auto layers = parse<std::vector<int>>(node);
            nonnegative_distinct(layers);
            c.patch.all_layers = false;
            c.patch.layers = std::move(layers);
          },
          [](const Config& c) { return c.patch.all_layers ? YAML::Node("all") : to_node(c.patch.layers); }};
}

// project.block_size is an even number or `auto`: two struct members behind one key.
ConfigKey project_block_size_key() {
  return {
      "project.block_size", "even int or `auto`",
      "circulant block size b (even); MLP parameters shrink by about b. auto: a block size a matrix (1 = kept dense) from the candidates of capture.block_sizes, chosen by predicted sensitivity under project.compression (docs/DESIGN.md 3.1)",
      [](Config& c, const YAML::Node& node) {
        if (node.IsScalar() && node.Scalar() == "auto") {
          c.project.allocate_blocks = true;
          return;
        }
        const int b = parse<int>(node);
        even_block(b);
        c.project.allocate_blocks = false;
        c.project.block_size = b;
      },
      [](const Config& c) { return c.project.allocate_blocks ? YAML::Node("auto") : to_node(c.project.block_size); }};
}

// data.corpus: a non-empty list of distinct, non-empty file names.
void corpus_files(const std::vector<std::string>& files) {
  if (files.empty()) reject("must list at least one corpus file");
  for (const auto& file : files)
    if (file.empty()) reject("file names must not be empty");
  distinct(files);
}

// Every key: name (= struct member), range check, one-line doc. Defaults are the struct's.
std::vector<ConfigKey> build_schema() {
  return {
      field(CIRCAL_FIELD(run_dir), not_empty, "directory for every stage output of this run"),
      field(CIRCAL_FIELD(model.path), not_empty,
            "teacher model folder (config.json, model.safetensors, tokenizer.model)"),
      field(
          CIRCAL_FIELD(model.resident_dtype), any_value,
          "teacher matrices in memory: float32, or file = their dtype in the safetensors (BF16/F16, memory-mapped, shared by every rank of a node), converted a matrix at a time before each GEMM (the same floats); auto = file when float32 would not fit runtime.node_memory_gb"),
      field(CIRCAL_FIELD(prompts.source), not_empty, "all prompts, one per line: the input of `circal split`"),
      field(CIRCAL_FIELD(prompts.calibration), not_empty, "calibration prompts (capture, projection, KL training)"),
      field(CIRCAL_FIELD(prompts.validation), not_empty, "validation prompts (early stopping)"),
      field(CIRCAL_FIELD(prompts.test), not_empty, "held-out test prompts (evaluate)"),
      field(
          CIRCAL_FIELD(data.source), any_value,
          "calibration, validation and test data: the prompt files (prompts.*) or seeded windows of the data.corpus files"),
      field(
          CIRCAL_FIELD(data.test_source), any_value,
          "evaluate's test data: same = as data.source; prompts = prompts.test; corpus = the test windows (compare one student on both)"),
      field(
          CIRCAL_FIELD(data.corpus), corpus_files,
          "text corpora: *.jsonl = JSON Lines, one document per line in its \"text\" field; any other name = plain UTF-8 text, documents separated by a line holding only ---"),
      field(
          CIRCAL_FIELD(data.window_tokens), at_least(2),
          "tokens per window: BOS, then window_tokens - 1 consecutive tokens of one document (at most the model's max_position_embeddings)"),
      field(CIRCAL_FIELD(data.calibration_windows), at_least(1),
            "calibration windows (capture, projection, KL training), from the non-test documents"),
      field(CIRCAL_FIELD(data.validation_windows), at_least(1),
            "validation windows (early stopping), from the non-test documents, never overlapping a calibration window"),
      field(CIRCAL_FIELD(data.test_windows), at_least(1),
            "test windows (evaluate), only from the held-out test documents"),
      field(CIRCAL_FIELD(data.seed), any_value, "seed of the document split and of the window draw"),
      field(
          CIRCAL_FIELD(data.test_document_fraction), open_unit,
          "share of each corpus file's documents held out for test windows (rounded; at least one document overall each side)"),
      field(CIRCAL_FIELD(split.seed), any_value, "seed of the stratified split"),
      field(CIRCAL_FIELD(split.calibration_fraction), open_unit,
            "share of each (family, language) stratum for calibration"),
      field(CIRCAL_FIELD(split.validation_fraction), open_unit, "share for validation; test gets the rest"),
      field(CIRCAL_FIELD(split.output_dir), not_empty,
            "where `circal split` writes calibration.txt, validation.txt, test.txt"),
      patch_layers_key(),
      field(CIRCAL_FIELD(patch.projections), distinct_nonempty<Projection>,
            "MLP matrices to replace: gate_proj, up_proj, down_proj"),
      field(CIRCAL_FIELD(capture.logits_format), any_value,
            "teacher logits stored in full or as the top k per position"),
      field(CIRCAL_FIELD(capture.logits_topk), at_least(1), "entries kept per position when logits_format is topk"),
      field(CIRCAL_FIELD(capture.compression), gzip_level, "gzip level of capture datasets, 0 = none"),
      field(
          CIRCAL_FIELD(capture.block_sizes), even_blocks,
          "block sizes whose per-frequency projection statistics capture accumulates; [] = project.block_size, or with project.block_size auto its candidates 4, 8, ..., 256 (a sweep lists all it projects)"),
      field(
          CIRCAL_FIELD(capture.full_gram), any_value,
          "also store the full input Gram H = sum_t x x^T (8 n^2 bytes per input; serves any block size and low-rank fits); auto = for a low-rank run, or when no patched input is wider than 4096"),
      field(CIRCAL_FIELD(capture.store_inputs), any_value,
            "also keep every raw MLP input (N x width float32 per input; for analysis only)"),
      field(CIRCAL_FIELD(capture.batch_tokens), at_least(1),
            "token rows per batched teacher forward (at most 16 prompts a batch); bounds capture memory"),
      field(
          CIRCAL_FIELD(capture.activation_budget_mb), at_least(1),
          "per-rank MiB of activations a batched teacher forward may keep (docs/DESIGN.md section 8.3): fewer prompts a batch when batch_tokens rows would need more"),
      project_block_size_key(),
      field(
          CIRCAL_FIELD(project.compression), at_least(1.0),
          "with project.block_size auto: the patched matrices keep at most 1/compression of their dense parameters in total"),
      field(
          CIRCAL_FIELD(project.sensitivity_samples), at_least(1),
          "with project.block_size auto: backward passes per validation prompt, targets drawn from the teacher, that estimate each matrix's sensitivity"),
      field(
          CIRCAL_FIELD(project.structure), any_value,
          "student matrices: circulant (block size b) or lowrank (U V at the circulant's parameter count, rank floor(m n / (b (m + n))))"),
      field(
          CIRCAL_FIELD(project.method), any_value,
          "projection: frobenius (data-free; lowrank: truncated SVD) or least_squares (on captured inputs; lowrank: whitened SVD)"),
      field(CIRCAL_FIELD(project.ridge), at_least(0.0),
            "least-squares ridge, relative to the mean diagonal of the Gram matrices"),
      field(CIRCAL_FIELD(project.down_inputs), any_value,
            "inputs of the down_proj fit: teacher activations or the projected student's"),
      field(CIRCAL_FIELD(project.chunk_tokens), at_least(1),
            "tokens per Gram accumulation chunk when project recomputes down_proj inputs (down_inputs = student)"),
      field(
          CIRCAL_FIELD(project.compare_lowrank), any_value,
          "a circulant run also fits the low-rank student of equal parameters (whitened SVD; needs the full input Gram, capture.full_gram) for evaluate's structure verdict"),
      field(CIRCAL_FIELD(calibrate.enabled), any_value, "run KL calibration after projection"),
      field(CIRCAL_FIELD(calibrate.steps), at_least(1), "optimizer steps"),
      field(CIRCAL_FIELD(calibrate.batch_prompts), at_least(1), "prompts per global batch (shared by all ranks)"),
      field(
          CIRCAL_FIELD(calibrate.group_prompts), at_least(1),
          "prompts per forward/backward pass: the global batch splits into ceil(batch_prompts / this) groups of at most this many prompts with even token totals, group k on rank k mod ranks; fastest at batch_prompts / ranks"),
      field(CIRCAL_FIELD(calibrate.lr), positive, "peak Adam learning rate"),
      field(CIRCAL_FIELD(calibrate.schedule), any_value, "learning-rate schedule after warm-up: cosine or constant"),
      field(CIRCAL_FIELD(calibrate.warmup_steps), at_least(0), "linear warm-up steps"),
      field(CIRCAL_FIELD(calibrate.min_lr_ratio), closed_unit,
            "final learning rate of the cosine schedule, relative to lr"),
      field(CIRCAL_FIELD(calibrate.beta1), half_open_unit, "Adam first-moment decay"),
      field(CIRCAL_FIELD(calibrate.beta2), half_open_unit, "Adam second-moment decay"),
      field(CIRCAL_FIELD(calibrate.eps), positive, "Adam epsilon"),
      field(CIRCAL_FIELD(calibrate.weight_decay), at_least(0.0), "decoupled weight decay (AdamW), 0 = none"),
      field(CIRCAL_FIELD(calibrate.clip_norm), at_least(0.0), "global gradient-norm clip after the allreduce, 0 = off"),
      field(CIRCAL_FIELD(calibrate.temperature), positive, "distillation temperature tau"),
      field(CIRCAL_FIELD(calibrate.eval_every), at_least(1), "steps between validation passes"),
      field(CIRCAL_FIELD(calibrate.patience), at_least(0),
            "validations without improvement before stopping, 0 = never stop early"),
      field(CIRCAL_FIELD(calibrate.checkpoint_every), at_least(1), "steps between checkpoints"),
      field(CIRCAL_FIELD(calibrate.keep_checkpoints), at_least(1), "checkpoints kept on disk"),
      field(CIRCAL_FIELD(calibrate.log_every), at_least(1), "steps between log lines"),
      field(CIRCAL_FIELD(calibrate.seed), any_value, "seed of the data order"),
      field(
          CIRCAL_FIELD(calibrate.data_budget_mb), at_least(1),
          "MiB of capture.h5 rows (hidden states, teacher logits) a rank keeps in memory; older ones are re-read when needed"),
      field(
          CIRCAL_FIELD(calibrate.recompute), any_value,
          "activation checkpointing: keep only each layer's input and recompute its activations in the backward (on), keep all (off), or recompute when a pass's activations would pass activation_budget_mb (auto); the same gradients bitwise"),
      field(CIRCAL_FIELD(calibrate.activation_budget_mb), at_least(1),
            "per-rank budget of stored activations for recompute: auto, in MiB (docs/DESIGN.md section 8.3)"),
      field(CIRCAL_FIELD(evaluate.topk), positive_distinct, "k values of the top-k overlap metric"),
      field(CIRCAL_FIELD(evaluate.generate_tokens), at_least(0),
            "greedy tokens per test prompt for generation drift, 0 = skip"),
      field(CIRCAL_FIELD(evaluate.bootstrap_samples), at_least(1), "bootstrap resamples for the 95% intervals"),
      field(CIRCAL_FIELD(evaluate.seed), any_value, "seed of the bootstrap"),
      field(
          CIRCAL_FIELD(evaluate.students), distinct<StudentKind>,
          "models compared: dense, zeroed, frobenius, least_squares, calibrated (circulant), lowrank_svd, lowrank_aware, lowrank_calibrated (lowrank), rtn, gptq (the patched matrices quantized at each of quantize.bits), calibrated_rtn (the calibrated circulant's c quantized at each of quantize.bits), recalibrated_rtn (the same with its scales re-calibrated, quantize.recalibrate_steps); [] = what the run produces: dense, zeroed, its structure's three, and lowrank_aware in a circulant run with project.compare_lowrank"),
      field(CIRCAL_FIELD(quantize.bits), quantization_bits,
            "bit widths of the quantized students rtn and gptq, one student each (2..8)"),
      field(CIRCAL_FIELD(quantize.group_size), at_least(1),
            "input columns per scale and zero point of a quantized student's row"),
      field(CIRCAL_FIELD(quantize.percdamp), positive,
            "GPTQ dampening, relative to the mean diagonal of the input Gram"),
      field(CIRCAL_FIELD(quantize.act_order), any_value,
            "GPTQ quantizes the columns by descending input energy (H_jj), storing the column-to-group map"),
      field(
          CIRCAL_FIELD(quantize.recalibrate_steps), at_least(0),
          "KL steps calibrate spends on the half scales of the quantized c (codes frozen) for recalibrated_rtn, at each of quantize.bits; 0 = the RTN scales"),
      field(CIRCAL_FIELD(quantize.recalibrate_lr), positive,
            "Adam learning rate of that re-calibration, on the scales' logarithms (a relative step per scale)"),
      field(CIRCAL_FIELD(runtime.fftw_wisdom), any_value, "file to load and save FFTW wisdom, empty = none"),
      field(CIRCAL_FIELD(runtime.fftw_planner),
            any_value, "FFTW planning effort: estimate (plans from sizes alone: the same plans, so the same bits, in every process and after a resume) or measure (plans chosen by timing, often faster; the last bits can differ from process to process unless runtime.fftw_wisdom keeps the plans)"),
      field(
          CIRCAL_FIELD(runtime.shared_weights), any_value,
          "the ranks of a node share one float32 copy of the teacher weights (MPI-3 shared memory) instead of one each"),
      field(CIRCAL_FIELD(runtime.threads), at_least(1),
            "threads per rank for OpenBLAS, FFTW and the OpenMP loops (results within 1e-5 of 1 thread)"),
      field(
          CIRCAL_FIELD(runtime.node_memory_gb), at_least(0.0),
          "GiB a node may hold (teacher, and every rank's activations, logits, statistics, student); a run whose estimate passes it is refused before any work; 0 = the node's MemTotal"),
      field(CIRCAL_FIELD(cluster.nodes), at_least(1), "Slurm nodes per job"),
      field(CIRCAL_FIELD(cluster.tasks), at_least(1), "MPI ranks per job"),
      field(CIRCAL_FIELD(cluster.time), slurm_time, "Slurm time limit per job"),
      field(CIRCAL_FIELD(cluster.partition), any_value, "Slurm partition, empty = the cluster default"),
      field(CIRCAL_FIELD(cluster.account), any_value, "Slurm account, empty = none"),
      field(CIRCAL_FIELD(cluster.launcher), any_value, "how jobs start ranks: mpirun or srun"),
      field(CIRCAL_FIELD(cluster.max_restarts), at_least(0), "requeues of a preempted job before giving up"),
      field(CIRCAL_FIELD(cluster.array_parallel), at_least(1), "job-array tasks running at once"),
      field(CIRCAL_FIELD(cluster.signal_seconds), at_least(0),
            "seconds before the time limit that Slurm sends SIGUSR1 (checkpoint)"),
  };
}

const std::vector<ConfigKey>& schema() {
  static const std::vector<ConfigKey> table = build_schema();
  return table;
}

const ConfigKey* find_key(const std::string& key) {
  for (const auto& entry : schema())
    if (entry.key == key) return &entry;
  return nullptr;
}

bool is_section(const std::string& name) {
  for (const auto& entry : schema())
    if (entry.key.starts_with(name + ".")) return true;
  return false;
}

[[noreturn]] void bad_key(const std::string& key, const std::string& reason, const std::string& where) {
  fail(kExitUsage, "config: " + key + ": " + reason + " (" + where + ")");
}

void set_key(Config& config, const std::string& key, const YAML::Node& value, const std::string& where) {
  const ConfigKey* entry = find_key(key);
  if (!entry) {
    if (is_section(key)) bad_key(key, "is a section; set one of its keys, e.g. " + key + ".KEY", where);
    bad_key(key, "unknown key", where);
  }
  try {
    entry->set(config, value);
  } catch (const ConfigValueError& e) {
    bad_key(key, e.reason, where);
  }
}

std::string location(const std::string& file, const YAML::Mark& mark) {
  return mark.is_null() ? file : file + ":" + std::to_string(mark.line + 1);
}

void apply_mapping(Config& config, const YAML::Node& map, const std::string& prefix, const std::string& file) {
  for (const auto& item : map) {
    const std::string where = location(file, item.first.Mark());
    if (!item.first.IsScalar()) bad_key(prefix.empty() ? "(top level)" : prefix, "keys must be plain names", where);
    const std::string key = prefix.empty() ? item.first.Scalar() : prefix + "." + item.first.Scalar();
    if (find_key(key) || !is_section(key)) {
      set_key(config, key, item.second, where);
    } else if (item.second.IsMap()) {
      apply_mapping(config, item.second, key, file);
    } else if (!item.second.IsNull()) {  // `section:` with nothing under it keeps defaults
      bad_key(key, "must be a mapping of keys (got " + shown(item.second) + ")", where);
    }
  }
}

// `load` parses the YAML (from a file or from text); `file` names the source in messages.
template <class Load>
void apply_yaml(Config& config, const std::string& file, Load load) {
  YAML::Node root;
  try {
    root = load();
  } catch (const YAML::Exception& e) {
    fail(kExitUsage, "config: " + file + ": not valid YAML: " + e.what());
  }
  if (root.IsNull()) return;  // an empty file means all defaults
  if (!root.IsMap()) fail(kExitUsage, "config: " + file + ": top level must be a mapping of keys");
  apply_mapping(config, root, "", file);
}

void apply_file(Config& config, const std::string& file) {
  if (!std::filesystem::is_regular_file(file)) fail(kExitUsage, "config: " + file + ": no such config file");
  apply_yaml(config, file, [&] { return YAML::LoadFile(file); });
}

void apply_override(Config& config, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) fail(kExitUsage, "config: --set " + assignment + ": expected key=value");
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  YAML::Node node;
  try {
    node = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    bad_key(key, "cannot parse '" + value + "' as YAML: " + e.msg, "--set");
  }
  set_key(config, key, node, "--set");
}

// Constraints across keys, checked once everything is applied.
void check_combinations(const Config& config) {
  const double train = config.split.calibration_fraction;
  const double validation = config.split.validation_fraction;
  if (train + validation >= 1)
    fail(kExitUsage,
         "config: split.calibration_fraction + split.validation_fraction: must be < 1 "
         "so the test split is not empty (got " +
             text(train) + " + " + text(validation) + ")");
}

}  // namespace

Config load_config(const std::string& file, const std::vector<std::string>& overrides) {
  Config config;
  if (!file.empty()) apply_file(config, file);
  for (const auto& assignment : overrides) apply_override(config, assignment);
  check_combinations(config);
  return config;
}

Config load_config_text(const std::string& yaml, const std::string& source) {
  Config config;
  apply_yaml(config, source, [&] { return YAML::Load(yaml); });
  check_combinations(config);
  return config;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& entry : schema()) keys.push_back(entry.key);
  return keys;
}

static std::string emit_yaml(const Config& config, bool with_docs) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string open_section;
  for (const auto& entry : schema()) {
    const auto dot = entry.key.find('.');
    const std::string section = dot == std::string::npos ? "" : entry.key.substr(0, dot);
    if (section != open_section) {
      if (!open_section.empty()) out << YAML::EndMap;
      if (!section.empty()) out << YAML::Key << section << YAML::Value << YAML::BeginMap;
      open_section = section;
    }
    out << YAML::Key << entry.key.substr(dot + 1) << YAML::Value << entry.get(config);
    if (with_docs) out << YAML::Comment(entry.doc + " (" + entry.type + ")");
  }
  if (!open_section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string to_yaml(const Config& config) { return emit_yaml(config, false); }

std::string to_commented_yaml(const Config& config) { return emit_yaml(config, true); }

std::string config_value(const Config& config, const std::string& key) {
  const ConfigKey* entry = find_key(key);
  if (!entry) fail(kExitInternal, "config_value: no config key '" + key + "'");
  YAML::Emitter out;
  out << entry->get(config);
  return out.c_str();
}

void resolve_layers(Config& config, int num_layers) {
  if (config.patch.all_layers) {
    config.patch.layers.clear();
    for (int layer = 0; layer < num_layers; ++layer) config.patch.layers.push_back(layer);
    return;
  }
  for (int layer : config.patch.layers)
    if (layer >= num_layers)
      fail(kExitUsage, "config: patch.layers: layer " + std::to_string(layer) + " does not exist (the model has " +
                           std::to_string(num_layers) + " layers, 0.." + std::to_string(num_layers - 1) + ")");
}

DataSource test_data_source(const Config& config) {
  switch (config.data.test_source) {
    case TestSource::Same: return config.data.source;
    case TestSource::Prompts: return DataSource::Prompts;
    case TestSource::Corpus: return DataSource::Corpus;
  }
  return config.data.source;
}

std::vector<int> statistics_block_sizes(const Config& config) {
  if (!config.capture.block_sizes.empty()) return config.capture.block_sizes;
  return config.project.allocate_blocks ? kAutoBlockSizes : std::vector<int>{config.project.block_size};
}

std::vector<StudentKind> evaluated_students(const Config& config) {
  if (!config.evaluate.students.empty()) return config.evaluate.students;
  const Structure structure = config.project.structure;
  std::vector<StudentKind> students;
  for (StudentKind kind : kStudentKinds) {
    const StudentSource source = student_source(kind);
    if (source.quantized) continue;
    if (!source.has_parameters || source.structure == structure) students.push_back(kind);
  }
  if (structure == Structure::Circulant && config.project.compare_lowrank)
    students.push_back(StudentKind::LowRankAware);
  return students;
}

bool recalibrates_scales(const Config& config) {
  const auto students = evaluated_students(config);
  return config.project.structure == Structure::Circulant && config.calibrate.enabled &&
         std::find(students.begin(), students.end(), StudentKind::RecalibratedRtn) != students.end();
}

bool stores_full_gram(const Config& config, int widest_input) {
  if (config.capture.full_gram != FullGramChoice::Auto) return config.capture.full_gram == FullGramChoice::Yes;
  // A low-rank run cannot project without it. For a circulant run it only serves the low-rank
  // comparison, which needs it for every matrix; past kFullGramAutoWidth its 8 n^2 bytes would
  // outweigh the per-frequency statistics it sits beside.
  return config.project.structure == Structure::LowRank || widest_input <= kFullGramAutoWidth;
}

}  // namespace circal

// Config schema: bad values are refused naming the key (from a file and from --set alike),
// overrides apply, to_yaml round-trips, config/default.yaml states exactly the defaults.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/config/config.hpp"
#include "tests/unit/error_of.hpp"
#include "tests/unit/scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace circal;

namespace {

const fs::path kSourceDir = CIRCAL_SOURCE_DIR;

// A YAML file with this text, removed at the end of the scope.
struct TempFile {
  testing::ScratchDir dir{"config"};
  fs::path path;
  explicit TempFile(const std::string& text) : path(dir.write("config.yaml", text)) {}
};

// The CircalError that loading throws (code -1 and empty message when nothing is thrown).
CircalError load_error(const std::string& file, const std::vector<std::string>& overrides) {
  return testing::error_of([&] { load_config(file, overrides); });
}

// `a.b: v` as nested YAML: "a:\n  b: v\n".
std::string nested_yaml(const std::string& key, const std::string& value) {
  std::string text, indent;
  std::istringstream parts(key);
  std::vector<std::string> names;
  for (std::string name; std::getline(parts, name, '.');) names.push_back(name);
  for (size_t i = 0; i < names.size(); ++i) {
    text += indent + names[i] + ":" + (i + 1 == names.size() ? " " + value : "") + "\n";
    indent += "  ";
  }
  return text;
}

struct BadValue {
  const char* key;
  const char* value;
  const char* named;  // what the message must name
};

const BadValue kBadValues[] = {
    {"calibrate.lr", "-1", "calibrate.lr"},
    {"calibrate.lr", "0", "calibrate.lr"},
    {"calibrate.lr", "fast", "calibrate.lr"},
    {"project.block_size", "0", "project.block_size"},
    {"project.block_size", "15", "project.block_size"},
    {"project.block_size", "2.5", "project.block_size"},
    {"split.calibration_fraction", "1.5", "split.calibration_fraction"},
    {"split.validation_fraction", "0", "split.validation_fraction"},
    {"split.calibration_fraction", "0.9", "split.calibration_fraction + split.validation_fraction"},
    {"patch.projections", "[o_proj]", "patch.projections"},
    {"patch.projections", "[]", "patch.projections"},
    {"patch.projections", "gate_proj", "patch.projections"},
    {"project.method", "svd", "project.method"},
    {"project.structure", "diagonal", "project.structure"},
    {"calibrate.schedule", "linear", "calibrate.schedule"},
    {"cluster.launcher", "ssh", "cluster.launcher"},
    {"capture.logits_format", "half", "capture.logits_format"},
    {"project.down_inputs", "random", "project.down_inputs"},
    {"evaluate.students", "[dense, teacher]", "evaluate.students"},
    {"patch.layers", "[]", "patch.layers"},
    {"patch.layers", "[-1]", "patch.layers"},
    {"patch.layers", "[1, 1]", "patch.layers"},
    {"patch.layers", "some", "patch.layers"},
    {"calibrate.steps", "0", "calibrate.steps"},
    {"calibrate.enabled", "maybe", "calibrate.enabled"},
    {"calibrate.bogus", "1", "calibrate.bogus"},
    {"bogus", "1", "bogus"},
    {"evaluate.topk", "[0, 5]", "evaluate.topk"},
    {"capture.compression", "10", "capture.compression"},
    {"cluster.time", "half-an-hour", "cluster.time"},
    {"calibrate.beta2", "1", "calibrate.beta2"},
    {"model.path", "\"\"", "model.path"},
    {"split.seed", "-1", "split.seed"},
    {"evaluate.generate_tokens", "-1", "evaluate.generate_tokens"},
    {"calibrate.temperature", "0", "calibrate.temperature"},
    {"runtime.fftw_planner", "patient", "runtime.fftw_planner"},
    {"quantize.bits", "[9]", "quantize.bits"},
    {"quantize.bits", "[1]", "quantize.bits"},
    {"quantize.bits", "[4, 4]", "quantize.bits"},
    {"quantize.bits", "[]", "quantize.bits"},
    {"quantize.group_size", "0", "quantize.group_size"},
    {"quantize.percdamp", "0", "quantize.percdamp"},
    {"quantize.act_order", "sometimes", "quantize.act_order"},
    {"evaluate.students", "[rtn4]", "evaluate.students"},
};

void check_names(const CircalError& error, const std::string& named) {
  CHECK(error.code() == kExitUsage);
  const std::string message = error.what();
  CHECK_MESSAGE(message.starts_with("config: " + named + ": "), message);
  CHECK(message.find('\n') == std::string::npos);
}

}  // namespace

TEST_CASE("config: every bad value is refused naming its key, from a file and from --set") {
  for (const auto& bad : kBadValues) {
    CAPTURE(bad.key);
    CAPTURE(bad.value);
    const TempFile file(nested_yaml(bad.key, bad.value));
    check_names(load_error(file.path.string(), {}), bad.named);
    check_names(load_error("", {std::string(bad.key) + "=" + bad.value}), bad.named);
  }
}

TEST_CASE("config: file-level problems name the file or the nested key") {
  const auto missing = load_error("/nonexistent/circal.yaml", {});
  CHECK(missing.code() == kExitUsage);
  CHECK(std::string(missing.what()) == "config: /nonexistent/circal.yaml: no such config file");

  const TempFile broken("calibrate: [1, 2\n");
  const auto unparseable = load_error(broken.path.string(), {});
  CHECK(unparseable.code() == kExitUsage);
  CHECK(std::string(unparseable.what()).starts_with("config: " + broken.path.string() + ": not valid YAML"));

  const TempFile list("- 1\n- 2\n");
  CHECK(load_error(list.path.string(), {}).code() == kExitUsage);

  const TempFile deep("calibrate:\n  adam:\n    beta: 1\n");
  check_names(load_error(deep.path.string(), {}), "calibrate.adam");

  const TempFile scalar_section("calibrate: 3\n");
  check_names(load_error(scalar_section.path.string(), {}), "calibrate");

  check_names(load_error("", {"calibrate=1"}), "calibrate");
  check_names(load_error("", {"calibrate.lr=[1"}), "calibrate.lr");
  const auto no_equals = load_error("", {"calibrate.lr"});
  CHECK(no_equals.code() == kExitUsage);
  CHECK(std::string(no_equals.what()).find("calibrate.lr") != std::string::npos);
}

TEST_CASE("config: the message says where a bad file value is") {
  const TempFile file("run_dir: runs/x\ncalibrate:\n  steps: 10\n  lr: -2\n");
  CHECK(std::string(load_error(file.path.string(), {}).what()) ==
        "config: calibrate.lr: must be > 0 (got -2) (" + file.path.string() + ":4)");
}

TEST_CASE("config: overrides apply in order, over the file") {
  const TempFile file("calibrate:\n  lr: 0.01\n  steps: 7\npatch:\n  layers: [1]\n");
  const Config config =
      load_config(file.path.string(), {"calibrate.lr=1e-3", "patch.layers=[0,2]", "calibrate.steps=9",
                                       "calibrate.steps=11", "evaluate.students=[dense, calibrated]",
                                       "calibrate.enabled=false", "cluster.partition=", "run_dir=../x y"});
  CHECK(config.calibrate.lr == 1e-3);
  CHECK(config.calibrate.steps == 11);
  CHECK(!config.patch.all_layers);
  CHECK(config.patch.layers == std::vector<int>{0, 2});
  CHECK(config.evaluate.students == std::vector<StudentKind>{StudentKind::Dense, StudentKind::Calibrated});
  CHECK(!config.calibrate.enabled);
  CHECK(config.cluster.partition.empty());
  CHECK(config.run_dir == "../x y");       // relative paths stay as written
  CHECK(config.project.block_size == 16);  // untouched keys keep defaults

  const Config all = load_config(file.path.string(), {"patch.layers=all"});
  CHECK(all.patch.all_layers);
  CHECK(all.patch.layers.empty());
}

TEST_CASE("config: to_yaml round-trips defaults and a changed config") {
  const Config defaults;
  const TempFile default_file(to_yaml(defaults));
  CHECK(to_yaml(load_config(default_file.path.string(), {})) == to_yaml(defaults));

  const Config changed = load_config(
      "", {"calibrate.lr=0.00123", "patch.layers=[3, 1]", "model.path=\"dir: with colon/#hash\"", "project.ridge=1e-7",
           "cluster.account=", "split.seed=4294967295", "calibrate.clip_norm=0", "patch.projections=[down_proj]"});
  const TempFile changed_file(to_yaml(changed));
  const Config reloaded = load_config(changed_file.path.string(), {});
  CHECK(to_yaml(reloaded) == to_yaml(changed));
  CHECK(reloaded.model.path == "dir: with colon/#hash");
  CHECK(reloaded.calibrate.lr == 0.00123);
  CHECK(reloaded.project.ridge == 1e-7);
  CHECK(reloaded.split.seed == 4294967295u);
  CHECK(reloaded.patch.layers == std::vector<int>{3, 1});
  CHECK(to_yaml(load_config(TempFile(to_commented_yaml(changed)).path.string(), {})) == to_yaml(changed));
}

TEST_CASE("config: config/default.yaml states every key with a comment, at its built-in default") {
  const std::string path = (kSourceDir / "config/default.yaml").string();
  CHECK(to_yaml(load_config(path, {})) == to_yaml(Config{}));

  std::set<std::string> stated;
  const YAML::Node root = YAML::LoadFile(path);
  for (const auto& top : root) {
    const std::string name = top.first.Scalar();
    if (!top.second.IsMap())
      stated.insert(name);
    else
      for (const auto& leaf : top.second) stated.insert(name + "." + leaf.first.Scalar());
  }
  const auto keys = config_keys();
  CHECK(stated == std::set<std::string>(keys.begin(), keys.end()));
  CHECK(keys.size() >= 50);

  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const bool is_leaf = line.find(": ") != std::string::npos && !line.starts_with("#");
    if (is_leaf) CHECK_MESSAGE(line.find(" # ") != std::string::npos, line);
  }
}

TEST_CASE("config: config/tiny.yaml loads and differs where it says") {
  const Config tiny = load_config((kSourceDir / "config/tiny.yaml").string(), {});
  CHECK(tiny.run_dir == "runs/tiny");
  CHECK(tiny.patch.layers == std::vector<int>{2, 3});
  CHECK(tiny.calibrate.steps == 20);
  CHECK(tiny.evaluate.generate_tokens == 4);
}

TEST_CASE("config: config_value gives one key's YAML text") {
  Config config = load_config("", {"patch.layers=[0, 2]"});
  CHECK(config_value(config, "patch.layers") == "[0, 2]");
  CHECK(config_value(Config{}, "patch.layers") == "all");
  CHECK(config_value(config, "calibrate.lr") == "0.003");
  CHECK(config_value(config, "project.block_size") == "16");
  CHECK(config_value(config, "calibrate.enabled") == "true");
  CHECK(config_value(config, "patch.projections") == "[gate_proj, up_proj, down_proj]");
  CHECK(config_value(config, "cluster.partition") == "\"\"");
  CHECK_THROWS_AS(config_value(config, "calibrate.nope"), CircalError);
}

TEST_CASE("config: resolve_layers fills `all` and checks indices against the model") {
  Config all;
  resolve_layers(all, 4);
  CHECK(all.patch.layers == std::vector<int>{0, 1, 2, 3});
  CHECK(config_value(all, "patch.layers") == "all");  // still says what the user wrote

  Config some = load_config("", {"patch.layers=[2,3]"});
  resolve_layers(some, 4);
  CHECK(some.patch.layers == std::vector<int>{2, 3});

  Config beyond = load_config("", {"patch.layers=[1,4]"});
  try {
    resolve_layers(beyond, 4);
    FAIL("layer 4 of a 4-layer model was accepted");
  } catch (const CircalError& e) {
    check_names(e, "patch.layers");
    CHECK(std::string(e.what()).find("4") != std::string::npos);
  }
}

TEST_CASE("config: capture.full_gram auto stores full Grams only where they can serve a low-rank fit") {
  Config config;
  REQUIRE(config.capture.full_gram == FullGramChoice::Auto);
  CHECK(stores_full_gram(config, 768));  // the bundled teacher's widest input
  CHECK(stores_full_gram(config, kFullGramAutoWidth));
  CHECK_FALSE(stores_full_gram(config, 5632));  // TinyLlama's down_proj input
  config.project.structure = Structure::LowRank;
  CHECK(stores_full_gram(config, 5632));  // the low-rank projection needs them
  config.capture.full_gram = FullGramChoice::No;
  CHECK_FALSE(stores_full_gram(config, 768));
  config.capture.full_gram = FullGramChoice::Yes;
  config.project.structure = Structure::Circulant;
  CHECK(stores_full_gram(config, 11008));
}

TEST_CASE("config: calibrate re-calibrates the quantized c's scales only for a listed recalibrated_rtn") {
  // Other runs (make run's default config among them) keep calibrate's work and fingerprint.
  Config config;
  CHECK_FALSE(recalibrates_scales(config));
  config.evaluate.students = {StudentKind::Calibrated, StudentKind::CalibratedRtn};
  CHECK_FALSE(recalibrates_scales(config));
  config.evaluate.students.push_back(StudentKind::RecalibratedRtn);
  CHECK(recalibrates_scales(config));
  config.calibrate.enabled = false;
  CHECK_FALSE(recalibrates_scales(config));
  config.calibrate.enabled = true;
  config.project.structure = Structure::LowRank;  // a sweep's low-rank point skips the student
  CHECK_FALSE(recalibrates_scales(config));
  CHECK(parse_name<StudentKind>("recalibrated_rtn") == StudentKind::RecalibratedRtn);
  CHECK(student_source(StudentKind::RecalibratedRtn).quantized);
  CHECK(student_source(StudentKind::RecalibratedRtn).calibrated);
}

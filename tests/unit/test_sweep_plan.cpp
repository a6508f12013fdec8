// Sweep grid expansion, the job DAG, the sbatch command text, the sweep directory and the
// sweep report's reading of point outputs.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <filesystem>
#include <fstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/sweep/sweep_plan.hpp"
#include "pipeline/sweep/sweep_report.hpp"

namespace fs = std::filesystem;
using namespace circal;

namespace {

std::vector<SweepAxis> two_by_two() {
  return {{"project.block_size", {"16", "32"}}, {"calibrate.lr", {"0.001", "0.003"}}};
}

struct TempDir {
  fs::path path;
  TempDir() {
    char pattern[] = "/tmp/circal-sweep-test.XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Every key a projection depends on (all but calibrate.*, evaluate.* and run_dir).
bool same_upstream_keys(const Config& a, const Config& b) {
  for (const auto& key : config_keys()) {
    if (key == "run_dir" || key.starts_with("calibrate.") || key.starts_with("evaluate.")) continue;
    if (config_value(a, key) != config_value(b, key)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("expand_grid: cartesian product, first axis slowest") {
  const auto points = expand_grid({{"a", {"1", "2"}}, {"b", {"x", "y", "z"}}});
  REQUIRE(points.size() == 6);
  CHECK(points[0] == Assignments{{"a", "1"}, {"b", "x"}});
  CHECK(points[2] == Assignments{{"a", "1"}, {"b", "z"}});
  CHECK(points[3] == Assignments{{"a", "2"}, {"b", "x"}});
  CHECK(expand_grid({}).size() == 1);
  CHECK(expand_grid({}).front().empty());
}

TEST_CASE("make_sweep_plan: points, shared projections and the job DAG") {
  const SweepPlan plan = make_sweep_plan(Config{}, two_by_two(), "/s");
  REQUIRE(plan.points.size() == 4);
  CHECK(plan.points[0].name == "block_size-16_lr-0.001");
  CHECK(plan.points[3].name == "block_size-32_lr-0.003");
  CHECK(plan.points[3].config.project.block_size == 32);
  CHECK(plan.points[3].config.calibrate.lr == doctest::Approx(0.003));
  CHECK(plan.points[3].config.run_dir == "/s/points/block_size-32_lr-0.003");
  CHECK(plan.capture.run_dir == "/s/capture");

  REQUIRE(plan.projections.size() == 2);
  CHECK(plan.projections[1].name == "block_size-32");
  CHECK(plan.projections[1].points == std::vector<int>{2, 3});
  for (const auto& point : plan.points) {
    const auto& projection = plan.projections.at(point.projection);
    CHECK(same_upstream_keys(point.config, projection.config));  // so the symlinked project.h5 is current
    CHECK(same_upstream_keys(plan.capture, point.config) == (point.config.project.block_size == 16));
  }

  REQUIRE(plan.jobs.size() == 5);
  CHECK(plan.jobs[0].name == "capture");
  CHECK(plan.jobs[0].after.empty());
  CHECK(plan.jobs[1].array);
  CHECK(plan.jobs[1].tasks ==
        std::vector<std::string>{"/s/project/block_size-16/config.yaml", "/s/project/block_size-32/config.yaml"});
  for (int p = 0; p < 2; ++p) {
    const SweepJob& points = plan.jobs[2 + p];
    CHECK(points.command == JobCommand::Run);
    CHECK(points.tasks.size() == 2);
    REQUIRE(points.after.size() == 1);
    CHECK(points.after[0].job == 1);
    CHECK(points.after[0].task == p);  // its own projection task, not the whole array
    CHECK(points.after[0].kind == DependencyKind::AfterOk);
  }
  const SweepJob& report = plan.jobs[4];
  CHECK(report.single_task);
  REQUIRE(report.after.size() == 4);
  for (int job = 0; job < 4; ++job) {
    CHECK(report.after[job].job == job);
    CHECK(report.after[job].kind == DependencyKind::AfterAny);
  }
}

TEST_CASE("make_sweep_plan: an invalid point fails alone, capture keys cannot be swept") {
  const SweepPlan plan = make_sweep_plan(Config{}, {{"calibrate.lr", {"-1", "0.001"}}}, "/s");
  REQUIRE(plan.points.size() == 2);
  CHECK(contains(plan.points[0].error, "calibrate.lr"));
  CHECK(plan.points[0].projection == -1);
  CHECK(plan.points[1].error.empty());
  CHECK(plan.projections.at(0).points == std::vector<int>{1});
  CHECK(plan.jobs.at(2).tasks == std::vector<std::string>{"/s/points/lr-0.001/config.yaml"});

  CHECK_THROWS_AS(make_sweep_plan(Config{}, {{"patch.projections", {"[gate_proj]"}}}, "/s"), CircalError);
  CHECK_THROWS_AS(make_sweep_plan(Config{}, {{"cluster.tasks", {"2"}}}, "/s"), CircalError);
  CHECK_THROWS_AS(make_sweep_plan(Config{}, {{"calibrate.nonsense", {"2"}}}, "/s"), CircalError);
  CHECK_THROWS_AS(make_sweep_plan(Config{}, {{"calibrate.lr", {"0.1", "0.1"}}}, "/s"), CircalError);
}

TEST_CASE("sbatch commands: resources from the cluster section, arrays, dependencies") {
  Config base;
  base.cluster.tasks = 3;
  base.cluster.time = "01:00:00";
  base.cluster.partition = "gpu";
  base.cluster.array_parallel = 2;
  base.cluster.signal_seconds = 90;
  base.cluster.max_restarts = 5;
  const SweepPlan plan = make_sweep_plan(base, two_by_two(), "/s");
  const SbatchSettings settings{"/src/jobs/circal.sbatch", "/bin/circal", "/work"};

  const std::vector<std::string> expected = {
      "--parsable",
      "--job-name=circal-points-block_size-32",
      "--output=/s/logs/points-block_size-32-%A_%a.out",
      "--open-mode=append",
      "--requeue",
      "--signal=B:USR1@90",
      "--kill-on-invalid-dep=yes",
      "--chdir=/work",
      "--nodes=1",
      "--ntasks=3",
      "--time=01:00:00",
      "--partition=gpu",
      "--export=ALL,CIRCAL_COMMAND=run,CIRCAL_BIN=/bin/circal,CIRCAL_LAUNCHER=mpirun,CIRCAL_MAX_RESTARTS=5",
      "--array=0-1%2",
      "--dependency=afterok:11_1",
      "/src/jobs/circal.sbatch",
      "/s/tasks/points-block_size-32-%a.yaml"};
  CHECK(sbatch_arguments(plan, 3, settings, {"10", "11", "12", "13", "14"}) == expected);

  const std::string script = dry_run_script(plan, settings);
  CHECK(contains(script, "capture=$(sbatch --parsable --job-name=circal-capture "));
  CHECK(contains(script, " /src/jobs/circal.sbatch /s/capture/config.yaml)\n"));
  CHECK(contains(script, "project=$(sbatch "));
  CHECK(contains(
      script, "--array=0-1%2 \"--dependency=afterok:${capture}\" /src/jobs/circal.sbatch /s/tasks/project-%a.yaml)"));
  CHECK(contains(
      script, "\"--dependency=afterok:${project}_0\" /src/jobs/circal.sbatch /s/tasks/points-block_size-16-%a.yaml)"));
  CHECK(contains(script, "--ntasks=1 --time=01:00:00 --partition=gpu --export=ALL,CIRCAL_COMMAND=report,"));
  CHECK(contains(script,
                 "\"--dependency=afterany:${capture}:${project}:${points_block_size_16}:${points_block_size_32}\" "
                 "/src/jobs/circal.sbatch /s)\n"));
  // Without a partition in the config, no job names one.
  const SweepPlan unpartitioned = make_sweep_plan(Config{}, two_by_two(), "/s");
  REQUIRE(unpartitioned.jobs.size() == 5);
  CHECK(!contains(dry_run_script(unpartitioned, settings), "--partition"));
  CHECK(shell_word("a b") == "'a b'");
  CHECK(shell_word("it's") == "'it'\\''s'");
}

TEST_CASE("read_sweep_file: extends, grid, overrides of keys and axes") {
  TempDir dir;
  write(dir.path / "base.yaml", "project:\n  block_size: 8\ncalibrate:\n  steps: 7\n");
  write(dir.path / "sweep.yaml",
        "extends: base.yaml\ncalibrate:\n  steps: 9\nsweep:\n  project.block_size: [16, 32]\n  calibrate.lr: [1e-3]\n");
  const SweepSpec spec = read_sweep_file((dir.path / "sweep.yaml").string(),
                                         {"evaluate.generate_tokens=3", "sweep.calibrate.lr=[1e-3, 3e-3]"});
  CHECK(spec.base.project.block_size == 8);
  CHECK(spec.base.calibrate.steps == 9);
  CHECK(spec.base.evaluate.generate_tokens == 3);
  REQUIRE(spec.grid.size() == 2);
  CHECK(spec.grid[0].values == std::vector<std::string>{"16", "32"});
  CHECK(spec.grid[1].values == std::vector<std::string>{"1e-3", "3e-3"});

  write(dir.path / "bad.yaml", "calibrate:\n  stepz: 9\n");
  CHECK_THROWS_WITH_AS(read_sweep_file((dir.path / "bad.yaml").string(), {}), doctest::Contains("calibrate.stepz"),
                       CircalError);
  write(dir.path / "bad-grid.yaml", "sweep:\n  calibrate.lr: 0.1\n");
  CHECK_THROWS_AS(read_sweep_file((dir.path / "bad-grid.yaml").string(), {}), CircalError);
}

TEST_CASE("write_sweep_dir: run directories share capture and projection by relative symlinks") {
  TempDir dir;
  const std::string sweep = (dir.path / "sweep").string();
  const SweepPlan plan = make_sweep_plan(Config{}, two_by_two(), sweep);
  write_sweep_dir(plan);
  const fs::path point = fs::path(sweep) / "points/block_size-32_lr-0.001";
  CHECK(fs::read_symlink(point / "capture.h5") == "../../capture/capture.h5");
  CHECK(fs::read_symlink(point / "project.h5") == "../../project/block_size-32/project.h5");
  CHECK(fs::read_symlink(fs::path(sweep) / "project/block_size-16/capture.h5") == "../../capture/capture.h5");
  CHECK(fs::equivalent(fs::path(sweep) / "tasks/points-block_size-32-0.yaml", point / "config.yaml"));
  CHECK(load_config((point / "config.yaml").string(), {}).project.block_size == 32);
  const auto json = nlohmann::json::parse(std::ifstream(fs::path(sweep) / "sweep.json"));
  CHECK(json["points"].size() == 4);
  CHECK(json["points"][2]["projection"] == "block_size-32");
  CHECK(json["points"][2]["lr"].get<double>() == doctest::Approx(0.001));
  write_sweep_dir(plan);  // idempotent: links are replaced, not duplicated
  CHECK(fs::read_symlink(point / "project.h5") == "../../project/block_size-32/project.h5");
}

TEST_CASE("sweep report: rows from metrics.json and log.jsonl, best lr, Pareto front, failures") {
  TempDir dir;
  const fs::path sweep = dir.path / "sweep";
  write_sweep_dir(make_sweep_plan(Config{}, two_by_two(), sweep.string()));
  // (block size, lr) -> KL mean; compression grows with the block size
  const double kl[4] = {0.30, 0.20, 0.50, 0.0};
  for (int i = 0; i < 3; ++i) {
    const int block = i < 2 ? 16 : 32;
    const std::string name = std::string("block_size-") + std::to_string(block) + (i % 2 ? "_lr-0.003" : "_lr-0.001");
    nlohmann::json metrics = {{"students",
                               {{"least_squares", {{"kl", {{"mean", 9.0}}}}},
                                {"calibrated",
                                 {{"kl", {{"mean", kl[i]}, {"ci95", {kl[i] - 0.01, kl[i] + 0.02}}}},
                                  {"top1", {{"mean", 0.9 - i * 0.1}}},
                                  {"top5_overlap", {{"mean", 0.8}}},
                                  {"drift", {{"match_rate", 0.7}}}}}}},
                              {"compression", {{"ratio", block / 2.0}}}};
    write(sweep / "points" / name / "metrics.json", metrics.dump());
    write(sweep / "points" / name / "calibrate/log.jsonl",
          "{\"step\":1,\"loss\":0.5,\"seconds\":1.5}\n{\"event\":\"resume\",\"step\":1,\"detail\":\"x\"}\n"
          "{\"step\":2,\"loss\":0.4,\"seconds\":2.0,\"validation_kl\":0.3}\n");
  }
  write(sweep / "project/block_size-32/error.txt", "circal project exited with code 5: disk full\n");

  auto rows = read_sweep_rows(sweep.string());
  REQUIRE(rows.size() == 4);
  CHECK(rows[1].student == "calibrated");
  CHECK(rows[1].kl_mean == doctest::Approx(0.20));
  CHECK(rows[1].kl_ci95.lo == doctest::Approx(0.19));
  CHECK(rows[1].kl_ci95.hi == doctest::Approx(0.22));
  CHECK(rows[1].top1 == doctest::Approx(0.8));
  CHECK(rows[1].match_rate == doctest::Approx(0.7));
  CHECK(rows[2].compression_ratio == doctest::Approx(16.0));
  CHECK(rows[0].calibration_steps == 2);
  CHECK(rows[0].calibration_seconds == doctest::Approx(3.5));
  CHECK(rows[3].failure == "projection failed: circal project exited with code 5: disk full");

  mark_best_lr(rows);
  CHECK(!rows[0].best_lr);
  CHECK(rows[1].best_lr);
  CHECK(rows[2].best_lr);
  CHECK(!rows[3].best_lr);
  CHECK(pareto_front(rows) == std::vector<size_t>{1, 2});  // row 0 is dominated by row 1

  const std::string csv = sweep_report_csv(rows);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 5);
  CHECK(
      contains(csv, "block_size-16_lr-0.003,circulant,16,0.003,ok,calibrated,8,0.2,0.19,0.22,0.8,0.8,0.7,2,3.50,1,\n"));
  CHECK(contains(csv, "block_size-32_lr-0.003,circulant,32,0.003,failed,,,,,,,,,,,0,projection failed"));
  CHECK(structure_verdicts(rows).empty());  // one structure: nothing to compare
  const std::string md = sweep_report_markdown(rows);
  CHECK(contains(md, "## Failed points (1)"));
  CHECK(contains(md, "## Calibration curves"));
  CHECK(contains(md, "![block_size-16_lr-0.003](plots/calibration-block_size-16_lr-0.003.png)"));
  CHECK(!contains(md, "(plots/calibration-block_size-32_lr-0.003.png)"));  // the failed point has none
  CHECK(contains(md, "| block_size-32_lr-0.003 | projection failed: circal project exited with code 5: disk full |"));
}

TEST_CASE("sweep report: one best lr per structure and block size, and a verdict per block size") {
  auto row = [](std::string structure, int block, double lr, double kl, double lo, double hi) {
    SweepRow r;
    r.name = structure + "-" + std::to_string(block) + "-" + std::to_string(lr);
    r.structure = structure;
    r.block_size = block;
    r.lr = lr;
    r.student = structure == "lowrank" ? "lowrank_calibrated" : "calibrated";
    r.compression_ratio = block;
    r.kl_mean = kl;
    r.kl_ci95 = {lo, hi};
    return r;
  };
  std::vector<SweepRow> rows = {row("circulant", 16, 1e-3, 0.30, 0.25, 0.35),
                                row("circulant", 16, 3e-3, 0.28, 0.23, 0.34),
                                row("lowrank", 16, 1e-3, 0.50, 0.45, 0.56), row("lowrank", 16, 3e-3, 0.60, 0.52, 0.66),
                                row("lowrank", 32, 1e-3, 0.9, 0.8, 1.0)};
  mark_best_lr(rows);
  CHECK(std::vector<bool>{rows[0].best_lr, rows[1].best_lr, rows[2].best_lr, rows[3].best_lr, rows[4].best_lr} ==
        std::vector<bool>{false, true, true, false, true});
  const auto verdicts = structure_verdicts(rows);
  REQUIRE(verdicts.size() == 1);  // block size 32 has one structure only
  MESSAGE(verdicts[0]);
  CHECK(contains(verdicts[0], "At block size 16"));
  CHECK(contains(verdicts[0], "circulant wins: test KL 0.2800 [0.2300, 0.3400] (calibrated)"));
  CHECK(contains(verdicts[0], "lowrank's 0.5000 [0.4500, 0.5600] (lowrank_calibrated), 0.2200 nats lower (44%)"));
  CHECK(contains(verdicts[0], "do not overlap"));
  rows[2].kl_ci95.lo = 0.30;
  CHECK(contains(structure_verdicts(rows)[0], "intervals overlap"));
  CHECK(contains(sweep_report_markdown(rows), "| circulant-16-"));
}

#pragma once
// A sweep: a config plus a Hydra-like grid (`sweep: {project.block_size: [16, 32],
// calibrate.lr: [1e-3, 3e-3]}`) expanded into points, and the job DAG that computes them
// without doing any work twice: one capture, one projection per distinct value of the
// project.* grid keys, one calibrate+evaluate per point, one report.
//
// Sweep directory layout (every path below is relative to it):
//   sweep.json                   the plan: grid, points, projections (read by `circal report`)
//   capture/config.yaml          capture run: capture.h5
//   project/NAME/config.yaml     one per projection: capture.h5 -> ../../capture/capture.h5, project.h5
//   points/NAME/config.yaml      one per point: capture.h5 and project.h5 are symlinks into the
//                                above, then calibrate.h5, evaluate.h5, metrics.json; error.txt
//                                when the point failed
//   tasks/JOB-I.yaml             array task I of job JOB -> its run directory's config.yaml
//   logs/                        Slurm output, appended across restarts
#include <string>
#include <utility>
#include <vector>

#include "pipeline/config/config.hpp"

namespace circal {

// One grid axis: a config key and its values as YAML text (what `--set key=value` accepts).
struct SweepAxis {
  std::string key;
  std::vector<std::string> values;
};

using Assignments = std::vector<std::pair<std::string, std::string>>;  // key, YAML value

// The config part of a sweep file (validated) and its grid.
struct SweepSpec {
  Config base;
  std::vector<SweepAxis> grid;
};

// Reads a sweep file: `sweep:` is the grid, an optional top-level `extends: FILE` (relative to
// the sweep file) names the config the rest of the file overrides. `overrides` are
// `key=value` (the base config) or `sweep.KEY=[v1, v2]` (replaces or adds a grid axis).
// CircalError(kExitUsage) naming the file and key.
SweepSpec read_sweep_file(const std::string& path, const std::vector<std::string>& overrides);

// The cartesian product, first axis slowest (file order). No axes: one empty point.
std::vector<Assignments> expand_grid(const std::vector<SweepAxis>& grid);

struct SweepPoint {
  std::string name;         // e.g. "block_size-16_lr-0.001"
  Assignments assignments;  // this point's grid values
  Config config;            // base + assignments, run_dir = SWEEP/points/NAME
  std::string error;        // non-empty when the config rejected the assignments
  int projection = -1;      // index into SweepPlan::projections, -1 when failed
};

struct SweepProjection {
  std::string name;         // from the project.* assignments, "default" when there are none
  Config config;            // run_dir = SWEEP/project/NAME
  std::vector<int> points;  // indices into SweepPlan::points
};

enum class DependencyKind { AfterOk, AfterAny };

struct SweepDependency {
  int job = 0;    // index into SweepPlan::jobs
  int task = -1;  // array task, -1 = the whole job
  DependencyKind kind = DependencyKind::AfterOk;
};

// The circal command a job's tasks run (CIRCAL_COMMAND in jobs/circal.sbatch).
enum class JobCommand { Capture, Project, Run, Report };
template <>
struct EnumNames<JobCommand> {
  static constexpr const char* what = "job command";
  static constexpr std::array names{std::pair{JobCommand::Capture, "capture"},
                                    std::pair{JobCommand::Project, "project"}, std::pair{JobCommand::Run, "run"},
                                    std::pair{JobCommand::Report, "report"}};
};

struct SweepJob {
  std::string name;                // capture, project, points-NAME, report
  JobCommand command;              // the circal command each task runs
  std::vector<std::string> tasks;  // per task: its config path (report: the sweep dir)
  bool array = false;              // submitted as a job array (one sbatch, %a picks the task)
  bool single_task = false;        // report: one rank, not cluster.tasks
  std::vector<SweepDependency> after;
  // What an array task's argument is in the sbatch command (tasks/JOB-%a.yaml).
  std::string task_pattern;
};

struct SweepPlan {
  std::string sweep_dir;
  Config capture;  // the base config, run_dir = SWEEP/capture
  std::vector<SweepAxis> grid;
  std::vector<SweepPoint> points;
  std::vector<SweepProjection> projections;
  std::vector<SweepJob> jobs;      // dependencies point backwards only
  std::vector<std::string> notes;  // what the planner changed so one capture serves every point
};

// Keys whose change would need another capture: a sweep varies none of them.
bool is_capture_key(const std::string& key);

// Pure: the points, projections and the job DAG. Capture-level grid keys are a usage error.
// Jobs: capture; project (array, afterok capture); one points array per projection (afterok
// on that projection's array task: a failed projection stops only its own points); report
// (afterany on everything, so it runs and names failures; jobs are submitted with
// --kill-on-invalid-dep so the points of a failed projection end instead of pending forever).
SweepPlan make_sweep_plan(const Config& base, const std::vector<SweepAxis>& grid, const std::string& sweep_dir);

// Writes the plan's files (configs, symlinks, tasks/, logs/, sweep.json, error.txt of points
// the config rejected). CircalError(kExitIo) when the sweep directory cannot be written.
void write_sweep_dir(const SweepPlan& plan);

// How the sbatch commands call things.
struct SbatchSettings {
  std::string script;      // jobs/circal.sbatch
  std::string circal_bin;  // exported to the job as CIRCAL_BIN
  std::string workdir;     // --chdir: where the config's relative paths resolve
};

// The sbatch arguments of one job (without the leading "sbatch"); `dependency_ids[j]` is the
// job id of jobs[j] as the shell or Slurm knows it (a number, or "$capture" in a dry run).
std::vector<std::string> sbatch_arguments(const SweepPlan& plan, int job, const SbatchSettings& settings,
                                          const std::vector<std::string>& dependency_ids);

// The whole submission as a shell script: `NAME=$(sbatch --parsable ...)` per job.
std::string dry_run_script(const SweepPlan& plan, const SbatchSettings& settings);

// Quotes a word for a POSIX shell when it needs it ($NAME references are left unquoted).
std::string shell_word(const std::string& word);

}  // namespace circal

// `circal sweep`: expands a sweep file into points and runs its job DAG through Slurm
// (--submit), prints the sbatch commands (--dry-run, the default) or runs the same DAG here,
// in order, in this MPI job (--local; a failed point does not stop the others).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "cli/cli_options.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/sweep/sweep_plan.hpp"
#include "pipeline/sweep/sweep_report.hpp"
#include "stages/runner/stage_runner.hpp"

namespace circal {

namespace fs = std::filesystem;

namespace {

std::string this_executable() {
  std::error_code error;
  const auto path = fs::read_symlink("/proc/self/exe", error);
  return error ? std::string("circal") : path.string();
}

// The batch script beside an installed circal (PREFIX/share/circal/jobs, `make install`),
// else the source tree's: an installed circal must not depend on the checkout it was built in.
std::string default_sbatch_script() {
  const fs::path installed =
      fs::path(this_executable()).parent_path().parent_path() / "share/circal/jobs/circal.sbatch";
  std::error_code error;
  if (fs::is_regular_file(installed, error)) return installed.string();
  return std::string(CIRCAL_SOURCE_DIR) + "/jobs/circal.sbatch";
}

// MPI_Init made this process an MPI singleton and put its launch variables (PMIX_*, ORTE_*,
// OMPI_COMMAND, ...) into the environment; sbatch --export=ALL would hand them to the job,
// whose mpirun then believes it runs inside another MPI job and fails. User settings such as
// OMPI_ALLOW_RUN_AS_ROOT and other OMPI_MCA_* keys stay.
void drop_mpi_launch_environment() {
  static const char* const prefixes[] = {"PMIX_",
                                         "ORTE_",
                                         "OMPI_APP_CTX",
                                         "OMPI_ARGV",
                                         "OMPI_COMMAND",
                                         "OMPI_MCA_ess",
                                         "OMPI_MCA_orte_",
                                         "OMPI_MCA_pmix",
                                         "OMPI_COMM_WORLD_",
                                         "OMPI_UNIVERSE_SIZE",
                                         "OMPI_FIRST_RANKS",
                                         "OMPI_NUM_APP_CTX",
                                         "OMPI_FILE_LOCATION"};
  std::vector<std::string> names;
  for (char** entry = environ; *entry; ++entry) {
    const std::string name = std::string(*entry).substr(0, std::string(*entry).find('='));
    for (const char* prefix : prefixes)
      if (name.starts_with(prefix)) names.push_back(name);
  }
  for (const auto& name : names) unsetenv(name.c_str());
}

std::string run_sbatch(const std::vector<std::string>& args) {
  std::string command = "sbatch";
  for (const auto& arg : args) {
    command += ' ';  // appended piecewise: GCC 12 warns falsely (-Wrestrict) on " " + string
    command += shell_word(arg);
  }
  command += " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) fail(kExitIo, "sweep: cannot run sbatch");
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = pclose(pipe);
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  const std::string id = output.substr(0, output.find(';'));  // --parsable: "ID" or "ID;CLUSTER"
  if (status != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    fail(kExitIo, "sweep: sbatch failed: " + output + " (command: " + command + ")");
  return id;
}

void submit(const MpiContext& mpi, const SweepPlan& plan, const SbatchSettings& settings) {
  if (!mpi.is_root()) return;
  drop_mpi_launch_environment();
  std::vector<std::string> ids(plan.jobs.size());
  for (size_t job = 0; job < plan.jobs.size(); ++job) {
    ids[job] = run_sbatch(sbatch_arguments(plan, static_cast<int>(job), settings, ids));
    std::cout << "submitted " << plan.jobs[job].name << " as job " << ids[job]
              << (plan.jobs[job].array ? " (array of " + std::to_string(plan.jobs[job].tasks.size()) + ")" : "")
              << "\n";
  }
  std::ofstream(plan.sweep_dir + "/jobs.txt") << [&] {
    std::string text;
    for (size_t job = 0; job < plan.jobs.size(); ++job) text += plan.jobs[job].name + " " + ids[job] + "\n";
    return text;
  }();
  std::cout << "sweep directory " << plan.sweep_dir << "; report when done: " << plan.sweep_dir << "/report.md\n"
            << std::flush;
}

// --local: each task runs in this process on this job's ranks. Errors of a stage are
// collective (every rank throws), so every rank takes the same branch.
class LocalRunner {
 public:
  LocalRunner(MpiContext& mpi, const SweepPlan& plan) : mpi_(mpi), plan_(plan) {}

  void run() {
    for (size_t job = 0; job < plan_.jobs.size(); ++job) {
      const SweepJob& spec = plan_.jobs[job];
      outcomes_.emplace_back(spec.tasks.size());
      for (size_t task = 0; task < spec.tasks.size(); ++task) outcomes_[job][task] = run_task(spec, task);
    }
  }

 private:
  // Empty when the dependencies allow the task to run, else why not.
  std::string blocked_by(const SweepJob& job) const {
    for (const auto& dependency : job.after) {
      if (dependency.kind != DependencyKind::AfterOk) continue;
      const auto& results = outcomes_[dependency.job];
      for (size_t task = 0; task < results.size(); ++task)
        if ((dependency.task < 0 || dependency.task == static_cast<int>(task)) && !results[task].empty())
          return plan_.jobs[dependency.job].name + " failed: " + results[task];
    }
    return "";
  }

  std::string run_task(const SweepJob& job, size_t task) {
    if (job.command == JobCommand::Report) {
      if (mpi_.is_root()) write_sweep_report(plan_.sweep_dir);
      return "";
    }
    const std::string config_path = job.tasks[task];
    const std::string run_dir = fs::path(config_path).parent_path().string();
    std::string reason = blocked_by(job);
    if (reason.empty()) {
      mpi_.log("sweep: " + job.name + " task " + std::to_string(task) + ": " + run_dir);
      try {
        const Config config = load_config(config_path, {});
        run_stages(mpi_, config, options(job.command, config));
        if (mpi_.is_root()) fs::remove(run_dir + "/error.txt");
        return "";
      } catch (const std::exception& e) {
        reason = e.what();
      }
    }
    mpi_.log("sweep: " + job.name + " task " + std::to_string(task) + " failed: " + reason);
    if (mpi_.is_root()) std::ofstream(run_dir + "/error.txt") << reason << "\n";
    return reason;
  }

  static RunOptions options(JobCommand command, const Config& config) {
    RunOptions options;
    if (command == JobCommand::Capture) options.stages = {Stage::Capture};
    if (command == JobCommand::Project) options.stages = {Stage::Project};
    if (command == JobCommand::Run) {
      options.stages = {Stage::Capture, Stage::Project};
      if (config.calibrate.enabled) options.stages.push_back(Stage::Calibrate);
      options.stages.push_back(Stage::Evaluate);
    }
    return options;
  }

  MpiContext& mpi_;
  const SweepPlan& plan_;
  std::vector<std::vector<std::string>> outcomes_;  // per job, per task: failure reason
};

}  // namespace

int sweep_command(MpiContext& mpi, const Args& args) {
  po::options_description desc("options");
  desc.add_options()("config", po::value<std::string>()->required(),
                     "sweep file: a config with a `sweep:` grid (and optionally `extends: FILE`)")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a key (key=value) or a grid axis (sweep.KEY=[v1, v2]); repeatable")(
      "sweep-dir", po::value<std::string>(), "sweep directory (default: the config's run_dir)")(
      "submit", "submit the job DAG with sbatch")("dry-run", "print the sbatch commands as a shell script (default)")(
      "local", "run the DAG here without Slurm, in order")(
      "sbatch-script", po::value<std::string>()->default_value(default_sbatch_script()),
      "the batch script every job runs");
  const auto vm = parse_options(
      mpi, "sweep", "--config FILE [--set k=v ...] [--submit | --dry-run | --local] [--sweep-dir DIR]", desc, args);
  if (!vm) return kExitOk;
  if (vm->count("submit") + vm->count("dry-run") + vm->count("local") > 1)
    fail(kExitUsage, "circal sweep: choose one of --submit, --dry-run, --local");
  std::vector<std::string> overrides;
  if (vm->count("set")) overrides = (*vm)["set"].as<std::vector<std::string>>();
  const SweepSpec spec = read_sweep_file((*vm)["config"].as<std::string>(), overrides);
  const std::string sweep_dir =
      fs::absolute(vm->count("sweep-dir") ? (*vm)["sweep-dir"].as<std::string>() : spec.base.run_dir)
          .lexically_normal()
          .string();
  const SweepPlan plan = make_sweep_plan(spec.base, spec.grid, sweep_dir);
  for (const std::string& note : plan.notes) mpi.log("sweep: " + note);
  for (const auto& point : plan.points)
    if (!point.error.empty())
      mpi.log("sweep: point " + point.name + " is invalid and will be reported as failed: " + point.error);
  const SbatchSettings settings{fs::absolute((*vm)["sbatch-script"].as<std::string>()).string(), this_executable(),
                                fs::current_path().string()};
  if (mpi.is_root()) write_sweep_dir(plan);
  MPI_Barrier(mpi.comm());
  if (vm->count("local")) {
    LocalRunner(mpi, plan).run();
    mpi.log("sweep: done; report " + sweep_dir + "/report.md");
  } else if (vm->count("submit")) {
    submit(mpi, plan, settings);
  } else {
    mpi.log(dry_run_script(plan, settings));
  }
  return kExitOk;
}

}  // namespace circal

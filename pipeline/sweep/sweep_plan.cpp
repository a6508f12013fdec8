#include "pipeline/sweep/sweep_plan.hpp"
#include "pipeline/config/capture_requirements.hpp"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "pipeline/base/errors.hpp"

namespace circal {

namespace fs = std::filesystem;

namespace {

std::string flow_text(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetSeqFormat(YAML::Flow);
  out.SetMapFormat(YAML::Flow);
  out << node;
  return out.c_str();
}

// Nested config mappings become `section.key=value` overrides, so load_config validates them.
void flatten(const YAML::Node& map, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& item : map) {
    const std::string key = prefix + item.first.as<std::string>();
    if (item.second.IsMap())
      flatten(item.second, key + ".", out);
    else
      out.push_back(key + "=" + flow_text(item.second));
  }
}

SweepAxis parse_axis(const std::string& key, const YAML::Node& values, const std::string& where) {
  if (!values.IsSequence() || values.size() == 0)
    fail(kExitUsage, where + ": sweep." + key + ": must be a non-empty list of values (got " + flow_text(values) + ")");
  SweepAxis axis{key, {}};
  for (const auto& value : values) axis.values.push_back(flow_text(value));
  return axis;
}

void set_axis(std::vector<SweepAxis>& grid, SweepAxis axis) {
  for (auto& existing : grid)
    if (existing.key == axis.key) {
      existing = std::move(axis);
      return;
    }
  grid.push_back(std::move(axis));
}

YAML::Node load_yaml_file(const std::string& path) {
  if (!fs::is_regular_file(path)) fail(kExitUsage, "sweep: " + path + ": no such sweep file");
  try {
    const YAML::Node root = YAML::LoadFile(path);
    if (!root.IsNull() && !root.IsMap()) fail(kExitUsage, "sweep: " + path + ": top level must be a mapping of keys");
    return root;
  } catch (const YAML::Exception& e) {
    fail(kExitUsage, "sweep: " + path + ": not valid YAML: " + e.what());
  }
}

std::string sanitized(const std::string& text) {
  std::string out;
  for (char c : text)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+') ? c : '_';
  return out;
}

std::string assignments_name(const Assignments& assignments, const std::string& fallback) {
  std::string name;
  for (const auto& [key, value] : assignments) {
    if (!name.empty()) name += '_';
    name += key.substr(key.rfind('.') + 1) + "-" + sanitized(value);
  }
  return name.empty() ? fallback : name;
}

std::vector<std::string> as_overrides(const Config& base) {
  std::vector<std::string> overrides;
  for (const auto& key : config_keys()) overrides.push_back(key + "=" + config_value(base, key));
  return overrides;
}

Config with_assignments(const std::vector<std::string>& base, const Assignments& assignments,
                        const std::string& run_dir) {
  std::vector<std::string> overrides = base;
  for (const auto& [key, value] : assignments) overrides.push_back(key + "=" + value);
  overrides.push_back("run_dir=" + run_dir);
  return load_config("", overrides);
}

Assignments projection_part(const Assignments& assignments) {
  Assignments part;
  for (const auto& assignment : assignments)
    if (assignment.first.starts_with("project.")) part.push_back(assignment);
  return part;
}

void check_grid(const std::vector<SweepAxis>& grid) {
  const auto keys = config_keys();
  for (const auto& axis : grid) {
    if (std::find(keys.begin(), keys.end(), axis.key) == keys.end())
      fail(kExitUsage, "sweep: sweep." + axis.key + ": unknown config key");
    if (is_capture_key(axis.key) || axis.key == "run_dir" || axis.key.starts_with("cluster."))
      fail(kExitUsage, "sweep: sweep." + axis.key +
                           ": cannot be swept (one capture and one cluster setting per sweep; "
                           "run separate sweeps instead)");
  }
}

std::string job_variable(const SweepJob& job) {
  std::string name;
  for (char c : job.name) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

std::string dependency_text(const SweepJob& job, const std::vector<std::string>& ids) {
  std::string text;
  for (DependencyKind kind : {DependencyKind::AfterOk, DependencyKind::AfterAny}) {
    std::string part;
    for (const auto& dependency : job.after) {
      if (dependency.kind != kind) continue;
      part += ":" + ids.at(dependency.job);
      if (dependency.task >= 0) part += "_" + std::to_string(dependency.task);
    }
    if (part.empty()) continue;
    if (!text.empty()) text += ",";
    text += (kind == DependencyKind::AfterOk ? "afterok" : "afterany") + part;
  }
  return text;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) fail(kExitIo, "sweep: cannot write " + path.string());
}

// A relative symlink LINK -> TARGET; a regular file already at LINK is kept (circal checks its
// fingerprint), an old symlink is replaced.
void link_to(const fs::path& target, const fs::path& link) {
  if (fs::is_symlink(link)) fs::remove(link);
  if (fs::exists(link)) return;
  fs::create_symlink(fs::relative(target, link.parent_path()), link);
}

nlohmann::json to_json(const Assignments& assignments) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : assignments) out[key] = value;
  return out;
}

std::string relative_to(const std::string& path, const std::string& base) { return fs::relative(path, base).string(); }

}  // namespace

bool is_capture_key(const std::string& key) {
  for (const char* section : {"model.", "prompts.", "patch.", "capture."})
    if (key.starts_with(section)) return true;
  return false;
}

SweepSpec read_sweep_file(const std::string& path, const std::vector<std::string>& overrides) {
  const YAML::Node root = load_yaml_file(path);
  SweepSpec spec;
  std::string extends;
  std::vector<std::string> config_overrides;
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    if (key == "sweep") {
      if (!item.second.IsMap() && !item.second.IsNull())
        fail(kExitUsage, "sweep: " + path + ": sweep: must map config keys to lists of values");
      for (const auto& axis : item.second)
        set_axis(spec.grid, parse_axis(axis.first.as<std::string>(), axis.second, path));
    } else if (key == "extends") {
      extends = (fs::path(path).parent_path() / item.second.as<std::string>()).string();
    } else if (item.second.IsMap()) {
      flatten(item.second, key + ".", config_overrides);
    } else {
      config_overrides.push_back(key + "=" + flow_text(item.second));
    }
  }
  for (const auto& assignment : overrides) {
    const auto eq = assignment.find('=');
    if (assignment.starts_with("sweep.") && eq != std::string::npos)
      set_axis(spec.grid, parse_axis(assignment.substr(6, eq - 6), YAML::Load(assignment.substr(eq + 1)), "--set"));
    else
      config_overrides.push_back(assignment);
  }
  try {
    spec.base = load_config(extends, config_overrides);
  } catch (const CircalError& e) {
    fail(e.code(), "sweep: " + path + ": " + e.what());
  }
  check_grid(spec.grid);
  return spec;
}

std::vector<Assignments> expand_grid(const std::vector<SweepAxis>& grid) {
  std::vector<Assignments> points = {{}};
  for (const auto& axis : grid) {
    std::vector<Assignments> next;
    for (const auto& point : points)
      for (const auto& value : axis.values) {
        Assignments extended = point;
        extended.emplace_back(axis.key, value);
        next.push_back(std::move(extended));
      }
    points = std::move(next);
  }
  return points;
}

SweepPlan make_sweep_plan(const Config& base, const std::vector<SweepAxis>& grid, const std::string& sweep_dir) {
  check_grid(grid);
  SweepPlan plan;
  plan.sweep_dir = sweep_dir;
  plan.grid = grid;
  // One capture serves every projection: its statistics cover every block size the grid
  // projects (capture.block_sizes = [] would mean the base config's block size only).
  Config shared = base;
  const std::vector<int> listed = statistics_block_sizes(base);
  shared.capture.block_sizes = listed;
  for (const SweepAxis& axis : grid)
    if (axis.key == "project.block_size")
      for (const std::string& value : axis.values) {
        std::vector<int> needed;
        if (value == "auto" && base.capture.block_sizes.empty()) needed = kAutoBlockSizes;
        try {
          if (value != "auto") needed = {std::stoi(value)};
        } catch (const std::exception&) {
          continue;  // not a number: loading the point's config names the key and value
        }
        for (int b : needed)
          if (std::find(shared.capture.block_sizes.begin(), shared.capture.block_sizes.end(), b) ==
              shared.capture.block_sizes.end())
            shared.capture.block_sizes.push_back(b);
      }
  if (!base.capture.block_sizes.empty() && shared.capture.block_sizes != listed)
    plan.notes.push_back("capture.block_sizes " + config_value(base, "capture.block_sizes") + " extended to " +
                         config_value(shared, "capture.block_sizes") + ": the grid projects at every one of them");
  const auto base_overrides = as_overrides(shared);
  plan.capture = with_assignments(base_overrides, {}, sweep_dir + "/capture");

  std::map<std::string, int> projection_index;
  std::set<std::string> names;
  for (const auto& assignments : expand_grid(grid)) {
    SweepPoint point;
    point.name = assignments_name(assignments, "default");
    point.assignments = assignments;
    if (!names.insert(point.name).second) fail(kExitUsage, "sweep: the grid lists point " + point.name + " twice");
    try {
      point.config = with_assignments(base_overrides, assignments, sweep_dir + "/points/" + point.name);
    } catch (const CircalError& e) {
      point.error = e.what();
    }
    if (point.error.empty()) {
      if (const auto shortfall = capture_shortfall(shared, point.config))
        fail(kExitUsage, "sweep: point " + point.name + ": " + shortfall->text());
      const Assignments part = projection_part(assignments);
      const std::string name = assignments_name(part, "default");
      auto [it, added] = projection_index.emplace(name, static_cast<int>(plan.projections.size()));
      if (added)
        plan.projections.push_back({name, with_assignments(base_overrides, part, sweep_dir + "/project/" + name), {}});
      point.projection = it->second;
      plan.projections[it->second].points.push_back(static_cast<int>(plan.points.size()));
    }
    plan.points.push_back(std::move(point));
  }

  const std::string tasks = sweep_dir + "/tasks/";
  plan.jobs.push_back({"capture", JobCommand::Capture, {sweep_dir + "/capture/config.yaml"}, false, false, {}, ""});
  if (plan.projections.empty()) return plan;  // every point failed validation: nothing to run
  SweepJob project{
      "project", JobCommand::Project, {}, true, false, {{0, -1, DependencyKind::AfterOk}}, tasks + "project-%a.yaml"};
  for (const auto& projection : plan.projections) project.tasks.push_back(projection.config.run_dir + "/config.yaml");
  plan.jobs.push_back(project);

  SweepJob report{"report", JobCommand::Report, {sweep_dir}, false, true, {}, ""};
  for (int job = 0; job < 2; ++job) report.after.push_back({job, -1, DependencyKind::AfterAny});
  for (size_t p = 0; p < plan.projections.size(); ++p) {
    const std::string name = "points-" + plan.projections[p].name;
    SweepJob points{name,
                    JobCommand::Run,
                    {},
                    true,
                    false,
                    {{1, static_cast<int>(p), DependencyKind::AfterOk}},
                    tasks + name + "-%a.yaml"};
    for (int index : plan.projections[p].points)
      points.tasks.push_back(plan.points[index].config.run_dir + "/config.yaml");
    report.after.push_back({static_cast<int>(plan.jobs.size()), -1, DependencyKind::AfterAny});
    plan.jobs.push_back(std::move(points));
  }
  plan.jobs.push_back(std::move(report));
  return plan;
}

void write_sweep_dir(const SweepPlan& plan) {
  const fs::path root = plan.sweep_dir;
  try {
    for (const char* sub : {"capture", "project", "points", "tasks", "logs"}) fs::create_directories(root / sub);
    write_text(root / "capture/config.yaml", to_yaml(plan.capture));
    const fs::path capture = root / "capture/capture.h5";
    for (const auto& projection : plan.projections) {
      const fs::path dir = projection.config.run_dir;
      fs::create_directories(dir);
      write_text(dir / "config.yaml", to_yaml(projection.config));
      link_to(capture, dir / "capture.h5");
    }
    nlohmann::json points = nlohmann::json::array();
    for (const auto& point : plan.points) {
      const fs::path dir = root / "points" / point.name;
      fs::create_directories(dir);
      nlohmann::json entry = {
          {"name", point.name}, {"run_dir", relative_to(dir, root)}, {"assignments", to_json(point.assignments)}};
      if (point.error.empty()) {
        write_text(dir / "config.yaml", to_yaml(point.config));
        link_to(capture, dir / "capture.h5");
        link_to(fs::path(plan.projections[point.projection].config.run_dir) / "project.h5", dir / "project.h5");
        fs::remove(dir / "error.txt");
        entry["projection"] = plan.projections[point.projection].name;
        const ProjectConfig& project = point.config.project;
        entry["block_size"] = project.allocate_blocks ? 0 : project.block_size;
        if (project.allocate_blocks) entry["compression"] = project.compression;
        entry["structure"] = name_of(point.config.project.structure);
        entry["lr"] = point.config.calibrate.lr;
      } else {
        write_text(dir / "error.txt", "invalid point: " + point.error + "\n");
      }
      points.push_back(entry);
    }
    for (const auto& job : plan.jobs)
      if (job.array)
        for (size_t task = 0; task < job.tasks.size(); ++task) {
          const fs::path link = root / "tasks" / (job.name + "-" + std::to_string(task) + ".yaml");
          if (fs::is_symlink(link)) fs::remove(link);
          link_to(job.tasks[task], link);
        }
    nlohmann::json grid = nlohmann::json::array();
    for (const auto& axis : plan.grid) grid.push_back({{"key", axis.key}, {"values", axis.values}});
    write_text(root / "sweep.json", nlohmann::json{{"grid", grid}, {"points", points}}.dump(2) + "\n");
  } catch (const fs::filesystem_error& e) {
    fail(kExitIo, "sweep: cannot write the sweep directory " + plan.sweep_dir + ": " + e.what());
  }
}

std::vector<std::string> sbatch_arguments(const SweepPlan& plan, int index, const SbatchSettings& settings,
                                          const std::vector<std::string>& ids) {
  const SweepJob& job = plan.jobs.at(index);
  const ClusterConfig& cluster = plan.capture.cluster;
  const std::string log = plan.sweep_dir + "/logs/" + job.name + (job.array ? "-%A_%a.out" : "-%j.out");
  std::vector<std::string> args = {
      "--parsable",
      "--job-name=circal-" + job.name,
      "--output=" + log,
      "--open-mode=append",
      "--requeue",
      "--signal=B:USR1@" + std::to_string(cluster.signal_seconds),
      "--kill-on-invalid-dep=yes",
      "--chdir=" + settings.workdir,
      "--nodes=" + std::to_string(job.single_task ? 1 : cluster.nodes),
      "--ntasks=" + std::to_string(job.single_task ? 1 : cluster.tasks),
      "--time=" + cluster.time,
  };
  if (!cluster.partition.empty()) args.push_back("--partition=" + cluster.partition);
  if (!cluster.account.empty()) args.push_back("--account=" + cluster.account);
  args.push_back("--export=ALL,CIRCAL_COMMAND=" + std::string(name_of(job.command)) +
                 ",CIRCAL_BIN=" + settings.circal_bin + ",CIRCAL_LAUNCHER=" + name_of(cluster.launcher) +
                 ",CIRCAL_MAX_RESTARTS=" + std::to_string(cluster.max_restarts));
  if (job.array)
    args.push_back("--array=0-" + std::to_string(job.tasks.size() - 1) + "%" + std::to_string(cluster.array_parallel));
  const std::string dependency = dependency_text(job, ids);
  if (!dependency.empty()) args.push_back("--dependency=" + dependency);
  args.push_back(settings.script);
  args.push_back(job.array ? job.task_pattern : job.tasks.front());
  return args;
}

std::string shell_word(const std::string& word) {
  const bool plain = !word.empty() && word.find_first_not_of(
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:=,%@+-") ==
                                          std::string::npos;
  if (plain) return word;
  if (word.find("${") != std::string::npos && word.find_first_of("\"\\`'") == std::string::npos)
    return "\"" + word + "\"";
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string dry_run_script(const SweepPlan& plan, const SbatchSettings& settings) {
  std::vector<std::string> ids;
  for (const auto& job : plan.jobs) ids.push_back("${" + job_variable(job) + "}");
  std::string script = "#!/bin/sh\n# circal sweep: " + std::to_string(plan.points.size()) + " points, " +
                       std::to_string(plan.jobs.size()) + " jobs, sweep directory " + plan.sweep_dir + "\nset -e\n";
  for (size_t job = 0; job < plan.jobs.size(); ++job) {
    script += job_variable(plan.jobs[job]) + "=$(sbatch";
    for (const auto& arg : sbatch_arguments(plan, static_cast<int>(job), settings, ids)) {
      script += ' ';  // appended piecewise: GCC 12 warns falsely (-Wrestrict) on " " + string
      script += shell_word(arg);
    }
    script += ")\n";
  }
  return script;
}

}  // namespace circal

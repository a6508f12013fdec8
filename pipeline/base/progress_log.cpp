#include "pipeline/base/progress_log.hpp"

#include <nlohmann/json.hpp>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <vector>

#include "pipeline/base/errors.hpp"

namespace circal {

namespace {

std::string format_duration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  return text;
}

}  // namespace

void truncate_jsonl_after(const std::string& path, int max_step) {
  std::ifstream in(path);
  if (!in) return;
  std::vector<std::string> kept;
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded()) continue;  // a line cut by a kill -9
    if (record.contains("step") && record["step"].get<int>() > max_step) continue;
    kept.push_back(line);
  }
  in.close();
  std::ofstream out(path, std::ios::trunc);
  for (const auto& line : kept) out << line << '\n';
}

ProgressLog::ProgressLog(bool root, const std::string& jsonl_path, int log_every, int total_steps, int resumed_step,
                         std::ostream& console)
    : root_(root), log_every_(log_every > 0 ? log_every : 1), total_steps_(total_steps), console_(console) {
  if (!root_) return;
  std::filesystem::create_directories(std::filesystem::path(jsonl_path).parent_path());
  if (resumed_step > 0)
    truncate_jsonl_after(jsonl_path, resumed_step);
  else
    std::filesystem::remove(jsonl_path);
  jsonl_.open(jsonl_path, std::ios::app);
  if (!jsonl_) fail(kExitIo, "cannot write the calibration log " + jsonl_path);
}

void ProgressLog::record(const StepRecord& record) {
  if (!root_) return;
  nlohmann::json line = {{"step", record.step},           {"loss", record.loss},     {"lr", record.lr},
                         {"grad_norm", record.grad_norm}, {"tokens", record.tokens}, {"seconds", record.seconds}};
  if (record.validation_kl) {
    line["validation_kl"] = *record.validation_kl;
    last_validation_ = record.validation_kl;
  }
  jsonl_ << line.dump() << '\n' << std::flush;

  ++interval_steps_;
  interval_tokens_ += record.tokens;
  interval_seconds_ += record.seconds;
  if (record.step % log_every_ == 0 || record.step == total_steps_ || record.validation_kl) print_interval(record);
}

void ProgressLog::print_interval(const StepRecord& last) {
  const double seconds_per_step = interval_seconds_ / interval_steps_;
  const double tokens_per_second = interval_seconds_ > 0 ? interval_tokens_ / interval_seconds_ : 0;
  char text[256];
  std::snprintf(text, sizeof text, "calibrate: step %d/%d  loss %.5f  val KL %s  lr %.3g  %.0f tok/s  ETA %s",
                last.step, total_steps_, last.loss, last_validation_ ? std::to_string(*last_validation_).c_str() : "-",
                last.lr, tokens_per_second, format_duration(seconds_per_step * (total_steps_ - last.step)).c_str());
  console_ << text << '\n' << std::flush;
  interval_steps_ = 0;
  interval_tokens_ = 0;
  interval_seconds_ = 0.0;
}

void ProgressLog::event(const std::string& name, int step, const std::string& detail) {
  if (!root_) return;
  jsonl_ << nlohmann::json{{"event", name}, {"step", step}, {"detail", detail}}.dump() << '\n' << std::flush;
  console_ << "calibrate: " << detail << '\n' << std::flush;
}

}  // namespace circal

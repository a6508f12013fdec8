#!/usr/bin/env bash
# Runs every libFuzzer harness of BUILD_DIR for SECONDS each, from the committed seeds in
# tests/fuzz/corpus/NAME (read only; new inputs go to BUILD_DIR/corpus/NAME) and prints one
# line per harness: executions, execs/s, coverage, crash inputs. A crash input is saved as
# BUILD_DIR/artifacts/NAME-crash-...; fix the product, then commit it under tests/fuzz/corpus/NAME.
# Exit status: 1 if any harness found a crash.
set -u
build_dir=${1:?usage: run_fuzzers.sh BUILD_DIR SECONDS}
seconds=${2:-60}
source_dir=$(cd "$(dirname "$0")/../.." && pwd)

# Longest input each harness gets: a little above its largest seed (a tokenizer.model, a
# capture.h5), small enough to keep executions fast.
declare -A max_len=([safetensors]=8192 [llama_config]=4096 [config_yaml]=8192
                    [checkpoint]=65536 [tokenizer_model]=65536 [tokenizer_text]=4096)

status=0
summary=()
for harness in safetensors llama_config config_yaml checkpoint tokenizer_model tokenizer_text; do
  binary=$build_dir/fuzz_$harness
  work=$build_dir/corpus/$harness
  log=$build_dir/fuzz_$harness.log
  mkdir -p "$work" "$build_dir/artifacts"
  echo "== fuzz_$harness: ${seconds} s, max_len ${max_len[$harness]}"
  "$binary" "$work" "$source_dir/tests/fuzz/corpus/$harness" \
      -max_total_time="$seconds" -max_len="${max_len[$harness]}" -timeout=25 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$build_dir/artifacts/$harness-" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -E '^==[0-9]+==ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -5
  fi
  summary+=("$(printf '%-16s %10s execs %8s/s  %-10s rc=%s' "$harness" "${execs:-?}" "${rate:-?}" "${cov:-}" "$rc")")
done
echo "== summary (logs: $build_dir/fuzz_*.log)"
printf '%s\n' "${summary[@]}"
exit $status

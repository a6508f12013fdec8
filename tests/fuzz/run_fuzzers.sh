#!/usr/bin/env bash
# Runs every libFuzzer harness of BUILD_DIR for SECONDS each, from the committed seeds in
# tests/fuzz/corpus/NAME (read only; new inputs go to BUILD_DIR/corpus/NAME), and prints one
# line per harness: executions, coverage, crash inputs found (ours / third-party).
# Fork mode keeps fuzzing after a crash, because HDF5 1.10 itself crashes on some corrupt
# files (nothing circal can prevent short of not opening them): each crash input is replayed
# and counted as third-party when the sanitizer's SUMMARY line points into libhdf5 or
# libsentencepiece, as ours otherwise. Crash inputs: BUILD_DIR/artifacts/NAME-crash-*.
# Exit status 1 if any crash is ours: fix the product, then commit the input under
# tests/fuzz/corpus/NAME with a regression test.
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
  artifacts=$build_dir/artifacts/$harness-
  mkdir -p "$work" "$build_dir/artifacts"
  before=$(ls "$artifacts"* 2>/dev/null)
  echo "== fuzz_$harness: ${seconds} s, max_len ${max_len[$harness]}"
  "$binary" "$work" "$source_dir/tests/fuzz/corpus/$harness" -fork=1 -ignore_crashes=1 \
      -max_total_time="$seconds" -max_len="${max_len[$harness]}" -timeout=25 -rss_limit_mb=4096 \
      -artifact_prefix="$artifacts" >"$log" 2>&1
  # The fork-mode progress line: "#EXECS: cov: N ft: N corp: N exec/s N oom/timeout/crash: a/b/c ..."
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
  execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last")
  ours=0 third=0
  for input in $(comm -13 <(printf '%s\n' $before | sort) <(ls "$artifacts"* 2>/dev/null | sort)); do
    verdict=$("$binary" "$input" 2>&1 | grep -m1 '^SUMMARY:')
    if grep -qE 'libhdf5|libsentencepiece' <<<"$verdict"; then
      third=$((third + 1))
    else
      ours=$((ours + 1))
      status=1
      echo "   ours: $input: $verdict"
    fi
  done
  summary+=("$(printf '%-16s %9s execs in %ss  %-10s crash inputs: %d ours, %d third-party' \
               "$harness" "${execs:-?}" "$seconds" "$cov" "$ours" "$third")")
done
echo "== summary (logs: $build_dir/fuzz_*.log)"
printf '%s\n' "${summary[@]}"
exit $status

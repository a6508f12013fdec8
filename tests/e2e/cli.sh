#!/usr/bin/env bash
# The driver's command line: exit codes for usage errors (also under mpirun, where one rank's
# error must end the whole job with the same code), --help, `circal config` round trip, and
# `circal split` reproducing the committed data/splits.
set -u
: "${CIRCAL_BIN:?}" "${CIRCAL_SOURCE_DIR:?}"
failures=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# expect CODE DESCRIPTION COMMAND...: runs COMMAND, checks its exit code; stderr in $scratch/err.
expect() {
  local want=$1 what=$2; shift 2
  "$@" >"$scratch/out" 2>"$scratch/err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: $what: exit $got, expected $want"; sed 's/^/  stderr: /' "$scratch/err" | head -5
    failures=$((failures + 1))
  else
    echo "ok: $what"
  fi
}
# stderr_names TEXT DESCRIPTION
stderr_names() {
  if grep -qF -- "$1" "$scratch/err"; then echo "ok: $2"; else
    echo "FAIL: $2: stderr does not name '$1'"; sed 's/^/  stderr: /' "$scratch/err" | head -5
    failures=$((failures + 1))
  fi
}
mpi2() { mpirun -np 2 "$@"; }

expect 2 "no arguments" "$CIRCAL_BIN"
expect 2 "unknown command" "$CIRCAL_BIN" frobnicate
stderr_names "frobnicate" "unknown command is named"
expect 2 "unknown option" "$CIRCAL_BIN" config --frobnicate
stderr_names "frobnicate" "unknown option is named"
expect 0 "circal --help" "$CIRCAL_BIN" --help
expect 0 "config --help" "$CIRCAL_BIN" config --help
grep -q -- "--set" "$scratch/out" || { echo "FAIL: config --help lists no --set"; failures=$((failures + 1)); }
expect 0 "split --help" "$CIRCAL_BIN" split --help

expect 2 "bad value via --set" "$CIRCAL_BIN" config --set calibrate.lr=-1
stderr_names "calibrate.lr" "bad value names its key"
expect 2 "missing config file" "$CIRCAL_BIN" config --config "$scratch/none.yaml"
stderr_names "$scratch/none.yaml" "missing config file is named"
printf 'project:\n  block_size: 15\n' >"$scratch/odd.yaml"
expect 2 "bad value in a file" "$CIRCAL_BIN" config --config "$scratch/odd.yaml"
stderr_names "project.block_size" "bad file value names its key"

expect 2 "bad value via --set, 2 ranks" mpi2 "$CIRCAL_BIN" config --set calibrate.lr=-1
stderr_names "calibrate.lr" "bad value names its key at 2 ranks"
expect 2 "unknown option, 2 ranks" mpi2 "$CIRCAL_BIN" config --frobnicate

# `circal config` prints YAML that loads back to the same configuration.
expect 0 "config with overrides" "$CIRCAL_BIN" config --set patch.layers=[0,2] --set calibrate.lr=0.01 --run-dir "$scratch/run"
cp "$scratch/out" "$scratch/resolved.yaml"
grep -q "layers: \[0, 2\]" "$scratch/resolved.yaml" || { echo "FAIL: --set patch.layers not applied"; failures=$((failures + 1)); }
grep -q "run_dir: $scratch/run" "$scratch/resolved.yaml" || { echo "FAIL: --run-dir not applied"; failures=$((failures + 1)); }
expect 0 "config reloads its own output" "$CIRCAL_BIN" config --config "$scratch/resolved.yaml"
cmp -s "$scratch/out" "$scratch/resolved.yaml" && echo "ok: config output round-trips" ||
  { echo "FAIL: config output does not round-trip"; failures=$((failures + 1)); }
expect 0 "config at 2 ranks prints once" mpi2 "$CIRCAL_BIN" config
[ "$(grep -c '^run_dir:' "$scratch/out")" -eq 1 ] || { echo "FAIL: config printed by more than rank 0"; failures=$((failures + 1)); }

# `circal split` at 1 and 2 ranks reproduces the committed splits.
for ranks in 1 2; do
  out="$scratch/splits-$ranks"
  expect 0 "split at $ranks rank(s)" mpirun -np "$ranks" "$CIRCAL_BIN" split \
    --set prompts.source="$CIRCAL_SOURCE_DIR/data/prompts.txt" --set split.output_dir="$out"
  for part in calibration validation test; do
    cmp -s "$out/$part.txt" "$CIRCAL_SOURCE_DIR/data/splits/$part.txt" ||
      { echo "FAIL: split at $ranks rank(s): $part.txt differs from data/splits"; failures=$((failures + 1)); }
  done
  grep -q "^all .* 204" "$scratch/out" || { echo "FAIL: split summary lacks the total 204"; failures=$((failures + 1)); }
done
expect 3 "split of a missing prompts file" "$CIRCAL_BIN" split --set prompts.source="$scratch/none.txt" --set split.output_dir="$scratch/x"
stderr_names "$scratch/none.txt" "missing prompts file is named"

echo "cli.sh: $failures failure(s)"
[ "$failures" -eq 0 ]

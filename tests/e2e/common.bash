# Shared helpers of the end-to-end tests (sourced, not run).
set -euo pipefail
: "${CIRCAL_BIN:?set by ctest}" "${CIRCAL_SOURCE_DIR:?set by ctest}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1

# CI=true: nothing may skip; a missing tool or privilege fails the test, naming what to install.
in_ci() { case ${CI:-} in true | TRUE | True | 1 | yes) return 0 ;; *) return 1 ;; esac; }

# Outside CI a test may skip what it cannot run here (see `unavailable`). ctest's
# SKIP_REGULAR_EXPRESSION "^SKIP:" matches only at the very start of the output, and a match
# turns even a failing test into "Skipped". So the script runs again as a child with its output
# held back: when it ends, the "SKIP: ..." lines it recorded come first, and only if it
# succeeded (a failure stays a failure); then its whole output. Under CI it runs directly.
if ! in_ci && [ -z "${CIRCAL_E2E_SKIPS:-}" ]; then
  _held=$(mktemp -d "${TMPDIR:-/tmp}/circal-e2e-out.XXXXXX")
  export CIRCAL_E2E_SKIPS=$_held/skips
  : > "$CIRCAL_E2E_SKIPS"
  _code=0
  bash "$0" "$@" > "$_held/output" 2>&1 || _code=$?
  [ "$_code" -ne 0 ] || cat "$CIRCAL_E2E_SKIPS"
  cat "$_held/output"
  rm -rf "$_held"
  exit "$_code"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/circal-e2e.XXXXXX")
# at_exit COMMAND: run COMMAND (eval'd, with the script's exit code in $exit_code) when the
# script ends, before $WORK goes; use this, not `trap ... EXIT`, which would replace the removal
# of $WORK.
_at_exit=()
at_exit() { _at_exit+=("$1"); }
_on_exit() {
  local code=$? hook
  set +e
  exit_code=$code
  for hook in "${_at_exit[@]}"; do eval "$hook"; done
  rm -rf "$WORK"
  exit "$code"
}
trap _on_exit EXIT

# unavailable WHAT INSTALL: the test cannot run a check here (a tool or privilege is missing).
# Under CI=true this fails the test at once, saying what to install or grant; otherwise it
# records a skip (the output will start "SKIP: WHAT (INSTALL)") and returns 1, so the caller
# leaves that check out and goes on with the rest.
unavailable() {
  if in_ci; then echo "FAILED: $1 (CI=true, nothing may skip: $2)"; exit 1; fi
  echo "SKIP: $1 ($2)" >> "$CIRCAL_E2E_SKIPS"
  echo "skipping: $1 ($2)"
  return 1
}

# need_python_modules MOD...: Debian's python3-MOD for each (make deps installs them); when
# one is missing the test is `unavailable` and stops here (a failure under CI, a skip outside).
need_python_modules() {
  local module missing=()
  for module in "$@"; do /usr/bin/python3 -c "import $module" 2>/dev/null || missing+=("python3-$module"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  unavailable "${missing[*]} missing" "apt-get install ${missing[*]}, or make deps" || exit 0
}

circal_np() {  # circal_np NP ARGS...: circal under mpirun from the source dir
  local np=$1; shift
  (cd "$CIRCAL_SOURCE_DIR" && mpirun -np "$np" "$CIRCAL_BIN" "$@")
}

check() {  # check "what" CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; exit 1; fi
}

# datasets_of FILE [GROUP]: the paths of FILE's datasets (under GROUP, e.g. /layers), sorted,
# one a line. Fails with a message on stderr when FILE cannot be listed: h5ls missing, not an
# HDF5 file, no such GROUP, or no dataset at all.
datasets_of() {
  local file=$1 group=${2:-} listing
  command -v h5ls > /dev/null || { echo "cannot list $file: h5ls not found (apt-get install hdf5-tools)" >&2; return 1; }
  [ -f "$file" ] || { echo "cannot list $file: no such file" >&2; return 1; }
  listing=$(h5ls -r "$file${group:+/${group#/}}" 2>&1) || { echo "cannot list $file$group: $listing" >&2; return 1; }
  listing=$(awk -v prefix="${group:+/${group#/}}" '$2 == "Dataset" {print prefix $1}' <<< "$listing" | sort)
  [ -n "$listing" ] || { echo "cannot list $file$group: no dataset in it" >&2; return 1; }
  echo "$listing"
}

# same_datasets A B [GROUP]: A and B (under GROUP) hold the same set of datasets, at least one,
# each bitwise equal in both (attributes such as creation time may differ). Prints what differs.
same_datasets() {
  local a=$1 b=$2 group=${3:-} in_a in_b path only
  command -v h5diff > /dev/null || { echo "cannot compare: h5diff not found (apt-get install hdf5-tools)"; return 1; }
  in_a=$(datasets_of "$a" "$group" 2>&1) || { echo "$in_a"; return 1; }
  in_b=$(datasets_of "$b" "$group" 2>&1) || { echo "$in_b"; return 1; }
  only=$(comm -23 <(echo "$in_a") <(echo "$in_b"))
  [ -z "$only" ] || { echo "only in $a:" $only; return 1; }
  only=$(comm -13 <(echo "$in_a") <(echo "$in_b"))
  [ -z "$only" ] || { echo "only in $b:" $only; return 1; }
  while read -r path; do
    h5diff -q "$a" "$b" "$path" "$path" > /dev/null 2>&1 || { echo "differs: $path"; return 1; }
  done <<< "$in_a"
}

# same_metrics A B: every value of two metrics.json files but the fingerprint equal, floats to
# 1e-6 relative (prints "bitwise" or the largest difference).
same_metrics() {
  python3 - "$1" "$2" <<'PY'
import json, sys
worst = 0.0
def walk(a, b, path=""):
    global worst
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a: walk(a[k], b[k], path + "/" + k)
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)): walk(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        worst = max(worst, abs(a - b) / max(1.0, abs(a)))
        assert abs(a - b) <= 1e-6 * max(1.0, abs(a)), f"{path}: {a} vs {b}"
    elif path != "/fingerprint":
        assert a == b, f"{path}: {a} vs {b}"
a, b = (json.load(open(p)) for p in sys.argv[1:])
walk(a, b)
print("bitwise" if worst == 0 else f"max relative difference {worst:.3g}")
PY
}

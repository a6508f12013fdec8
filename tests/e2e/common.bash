# Shared helpers of the end-to-end tests (sourced, not run).
set -euo pipefail
: "${CIRCAL_BIN:?set by ctest}" "${CIRCAL_SOURCE_DIR:?set by ctest}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/circal-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

circal_np() {  # circal_np NP ARGS...: circal under mpirun from the source dir
  local np=$1; shift
  (cd "$CIRCAL_SOURCE_DIR" && mpirun -np "$np" "$CIRCAL_BIN" "$@")
}

check() {  # check "what" CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; exit 1; fi
}

# Every dataset of two HDF5 files is identical (attributes such as creation time may differ).
same_datasets() {
  local a=$1 b=$2 path
  for path in $(h5ls -r "$a" | awk '$2 == "Dataset" {print $1}'); do
    h5diff -q "$a" "$b" "$path" "$path" >/dev/null || { echo "differs: $path"; return 1; }
  done
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

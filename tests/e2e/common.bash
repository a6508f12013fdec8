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

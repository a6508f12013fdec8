#!/usr/bin/env bash
# The comparison helpers every "bitwise equal" claim rests on (same_datasets in common.bash,
# also used under /layers by slurm_sweep.sh) fail when they should: a dataset missing from
# either file, one differing value, a file that cannot be listed (missing, not HDF5, no
# dataset, h5ls or h5diff not installed), a group absent from one file; and pass on identical
# files. Needs no circal binary run: the files are made with h5py.
source "$(dirname "$0")/common.bash"
/usr/bin/python3 -c 'import h5py, numpy' 2>/dev/null ||
  { unavailable "python3-h5py or python3-numpy missing" "apt-get install python3-h5py python3-numpy, or make deps" || exit 0; }

/usr/bin/python3 - "$WORK" <<'PY'
import os, sys
import h5py, numpy as np
w = sys.argv[1]
def make(name, drop=None, change=None, extra=None, empty=False):
    with h5py.File(os.path.join(w, name), "w") as f:
        f.attrs["created"] = name  # attributes may differ between equal files
        if empty:
            f.create_group("layers")
            return
        data = {
            "layers/2/gate_proj/c": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
            "layers/2/up_proj/c": np.linspace(-1, 1, 8).astype(np.float32),
            "history/train_loss": np.array([3.0, 2.5]),
            "prompts/offsets": np.array([0, 3, 7], dtype=np.int64),
        }
        if extra:
            data[extra] = np.zeros(2)
        for path, value in data.items():
            if path == drop:
                continue
            if path == change:
                value = value.copy()
                value.flat[1] = np.nextafter(value.flat[1], value.dtype.type(np.inf))  # one ulp in one value
                assert value.flat[1] != data[path].flat[1]
            f.create_dataset(path, data=value)
make("a.h5"); make("same.h5")
make("missing_in_b.h5", drop="layers/2/up_proj/c")
make("extra_in_b.h5", extra="layers/3/down_proj/c")
make("differs.h5", change="layers/2/gate_proj/c")
make("history_differs.h5", change="history/train_loss")
make("no_datasets.h5", empty=True)
with h5py.File(os.path.join(w, "no_layers.h5"), "w") as f:
    f.create_dataset("history/train_loss", data=np.array([3.0, 2.5]))
open(os.path.join(w, "garbage.h5"), "wb").write(b"not an HDF5 file\n" * 10)
PY

fails() {  # fails WHAT REGEX COMMAND...: COMMAND fails and its message matches REGEX
  local what=$1 regex=$2 out code=0; shift 2
  out=$("$@" 2>&1) || code=$?
  if [ "$code" -ne 0 ] && grep -Eq -- "$regex" <<< "$out"; then
    echo "ok: $what -> $out"
  else
    echo "FAILED: $what: exit $code, message '$out' (expected a failure matching /$regex/)"; exit 1
  fi
}
W=$WORK
check "identical files (attributes differ): same_datasets passes" same_datasets "$W/a.h5" "$W/same.h5"
check "identical files, under /layers: same_datasets passes" same_datasets "$W/a.h5" "$W/same.h5" /layers
check "a file against itself passes" same_datasets "$W/a.h5" "$W/a.h5"
check "datasets_of lists the 4 datasets" test "$(datasets_of "$W/a.h5" | wc -l)" -eq 4
check "datasets_of under /layers lists 2, with their full paths" \
  test "$(datasets_of "$W/a.h5" /layers | tr '\n' ' ')" = "/layers/2/gate_proj/c /layers/2/up_proj/c "

fails "a dataset missing from the second file" 'only in .*a\.h5: /layers/2/up_proj/c' same_datasets "$W/a.h5" "$W/missing_in_b.h5"
fails "a dataset missing from the first file" 'only in .*a\.h5: /layers/2/up_proj/c' same_datasets "$W/missing_in_b.h5" "$W/a.h5"
fails "a dataset only in the second file" 'only in .*extra_in_b\.h5: /layers/3/down_proj/c' same_datasets "$W/a.h5" "$W/extra_in_b.h5"
fails "a dataset only in the second file, under /layers" 'only in .*extra_in_b\.h5: /layers/3/down_proj/c' same_datasets "$W/a.h5" "$W/extra_in_b.h5" /layers
fails "one value one ulp apart" 'differs: /layers/2/gate_proj/c' same_datasets "$W/a.h5" "$W/differs.h5"
fails "one value apart, under /layers" 'differs: /layers/2/gate_proj/c' same_datasets "$W/a.h5" "$W/differs.h5" /layers
check "a difference outside /layers is not compared under /layers" same_datasets "$W/a.h5" "$W/history_differs.h5" /layers
fails "a difference outside /layers is found over the whole file" 'differs: /history/train_loss' same_datasets "$W/a.h5" "$W/history_differs.h5"
fails "a missing file" 'cannot list .*nowhere\.h5: no such file' same_datasets "$W/a.h5" "$W/nowhere.h5"
fails "a missing first file" 'cannot list .*nowhere\.h5: no such file' same_datasets "$W/nowhere.h5" "$W/a.h5"
fails "not an HDF5 file" 'cannot list .*garbage\.h5' same_datasets "$W/garbage.h5" "$W/a.h5"
fails "two files without datasets (nothing compared)" 'cannot list .*no_datasets\.h5.*no dataset' same_datasets "$W/no_datasets.h5" "$W/no_datasets.h5"
fails "a group missing from both files (nothing compared)" 'cannot list .*no_layers\.h5/layers' same_datasets "$W/no_layers.h5" "$W/no_layers.h5" /layers
fails "a group missing from one file" 'cannot list .*no_layers\.h5/layers' same_datasets "$W/a.h5" "$W/no_layers.h5" /layers

# Without h5ls or h5diff on PATH: a failure naming hdf5-tools, never a silent pass.
mkdir -p "$W/bin"
for tool in bash awk sort comm grep cat tr wc mktemp rm dirname; do ln -sf "$(command -v "$tool")" "$W/bin/"; done
ln -sf "$(command -v h5diff)" "$W/bin/h5diff"
fails "h5ls not installed" 'h5ls not found \(apt-get install hdf5-tools\)' env PATH="$W/bin" bash -c \
  "source '$CIRCAL_SOURCE_DIR/tests/e2e/common.bash' >/dev/null 2>&1; same_datasets '$W/a.h5' '$W/same.h5'"
rm "$W/bin/h5diff"; ln -sf "$(command -v h5ls)" "$W/bin/h5ls"
fails "h5diff not installed" 'h5diff not found \(apt-get install hdf5-tools\)' env PATH="$W/bin" bash -c \
  "source '$CIRCAL_SOURCE_DIR/tests/e2e/common.bash' >/dev/null 2>&1; same_datasets '$W/a.h5' '$W/same.h5'"
echo "compare helpers: every case behaved"

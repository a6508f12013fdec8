#!/usr/bin/env bash
# circal inspect: lists a reference file's tree (datasets with dtype and shape, text
# attributes written by h5py) and refuses a missing or non-HDF5 file with exit 4.
set -u
bin=${CIRCAL_BIN:?CIRCAL_BIN not set}
reference=${CIRCAL_REFERENCE_DIR:?CIRCAL_REFERENCE_DIR not set}/teacher.h5
fails=0
check() {  # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; fails=$((fails + 1)); fi
}

out=$("$bin" inspect "$reference"); rc=$?
check "inspect of a reference file exits 0" test "$rc" -eq 0
# The expected shape comes from h5ls, not from circal.
shape=$(h5ls "$reference/prompt0/logits" | sed -E 's/.*\{([0-9]+), ([0-9]+)\}.*/[\1, \2]/')
check "lists prompt0/logits as float64 $shape" grep -qF "logits  float64 $shape" <<<"$out"
check "shows the h5py text attribute" grep -qF '@text = "The fast Fourier transform' <<<"$out"
check "lists every dataset h5ls lists" test "$(grep -cE '^ +(logits|tokens|greedy16)  ' <<<"$out")" -eq \
  "$(h5ls -r "$reference" | grep -c Dataset)"

scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
"$bin" inspect "$scratch/absent.h5" >"$scratch/out" 2>"$scratch/err"; rc=$?
check "missing file exits 4" test "$rc" -eq 4
check "missing file: one line naming the file" test "$(wc -l <"$scratch/err")" -eq 1 -a \
  "$(grep -c "$scratch/absent.h5: missing" "$scratch/err")" -eq 1
echo "not hdf5" >"$scratch/text.h5"
"$bin" inspect "$scratch/text.h5" >/dev/null 2>"$scratch/err"; rc=$?
check "non-HDF5 file exits 4" test "$rc" -eq 4
check "non-HDF5 file named in the message" grep -qF "$scratch/text.h5: not an HDF5 file or truncated" "$scratch/err"
"$bin" inspect >/dev/null 2>&1; rc=$?
check "no FILE is a usage error (exit 2)" test "$rc" -eq 2

if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "all inspect checks passed"

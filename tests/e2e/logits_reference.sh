#!/usr/bin/env bash
# `circal logits` against the float64 PyTorch reference (tests/reference/teacher.h5): the
# reference prompts' texts in, the same tokens out and logits within 1e-4 of the reference's
# scale, at 1 and 2 ranks (the test of the teacher forward itself, end to end through the
# command a user runs).
source "$(dirname "$0")/common.bash"
: "${CIRCAL_REFERENCE_DIR:?set by ctest}"
need_python_modules h5py numpy
work=$WORK
reference="$CIRCAL_REFERENCE_DIR/teacher.h5"
model="$CIRCAL_SOURCE_DIR/data/models/manpages-llama-5m"

/usr/bin/python3 - "$reference" "$work/prompts.txt" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f, open(sys.argv[2], "w") as out:
    names = sorted(f.keys(), key=lambda n: int(n[len("prompt"):]))
    for name in names:
        text = f[name].attrs["text"]
        out.write((text.decode() if isinstance(text, bytes) else text) + "\n")
PY
"$CIRCAL_BIN" logits --model "$model" --prompts "$work/prompts.txt" --out "$work/np1.h5"
mpirun -np 2 "$CIRCAL_BIN" logits --model "$model" --prompts "$work/prompts.txt" --out "$work/np2.h5" --batch 2

/usr/bin/python3 - "$reference" "$work/np1.h5" "$work/np2.h5" <<'PY'
import sys, h5py, numpy as np
ref = h5py.File(sys.argv[1], "r")
compared = 0
for path in sys.argv[2:]:
    got = h5py.File(path, "r")
    assert sorted(got.keys()) == sorted(ref.keys()), (path, sorted(got.keys()), sorted(ref.keys()))
    for name in ref:
        tokens = got[name]["tokens"][()]
        assert np.array_equal(tokens, ref[name]["tokens"][()]), (path, name, "tokens differ")
        want = ref[name]["logits"][()]
        have = got[name]["logits"][()].astype(np.float64)
        assert have.shape == want.shape, (path, name, have.shape, want.shape)
        error = np.abs(have - want).max() / np.abs(want).max()
        assert error < 1e-4, (path, name, "max error relative to the largest logit", error)
        compared += 1
print(f"logits vs float64 reference: {compared} prompt files compared, all within 1e-4")
assert compared >= 8
PY
echo "logits reference e2e: ok"

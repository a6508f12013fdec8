#!/usr/bin/env bash
# `circal logits --student` and `circal generate --student` against the evaluate stage, which
# runs the same students through its own (per-prompt) path: on the test split, the KL(T||S) of
# every position recomputed from the stored teacher and student logits equals evaluate.h5's,
# for the calibrated (calibrate.h5) and least-squares (project.h5) students, at 1 and 2 ranks
# with batches that split the prompts unevenly. A wrong layout, block size, parameter file or
# batching bug changes these numbers. Then the refusals of checkpoints that do not fit.
source "$(dirname "$0")/common.bash"
model=data/models/manpages-llama-5m
run="$WORK/run"
circal_np 2 run --config config/tiny.yaml --run-dir "$run" --set 'evaluate.students=[dense,least_squares,calibrated]' >"$WORK/run.log"

circal_np 2 logits --model "$model" --prompts data/splits/test.txt --out "$WORK/calibrated.h5" --student "$run/calibrate.h5" --batch 3
circal_np 1 logits --model "$model" --prompts data/splits/test.txt --out "$WORK/projected.h5" --student "$run/project.h5" --batch 5
circal_np 1 logits --model "$model" --prompts data/splits/test.txt --out "$WORK/teacher.h5" --batch 1

/usr/bin/python3 - "$WORK" "$run/evaluate.h5" <<'PY'
import sys
import h5py
import numpy as np

work, evaluate = sys.argv[1], sys.argv[2]

def log_softmax(z):
    z = z.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

with h5py.File(evaluate, "r") as ev, h5py.File(f"{work}/teacher.h5", "r") as alone:
    offsets = ev["/prompts/offsets"][()]
    for name, file in [("calibrated", "calibrated.h5"), ("least_squares", "projected.h5")]:
        expected = ev[f"/students/{name}/kl"][()]
        with h5py.File(f"{work}/{file}", "r") as f:
            assert f.attrs["prompts"] == len(offsets) - 1
            kl = []
            for i in range(len(offsets) - 1):
                g = f[f"prompt{i}"]
                assert np.array_equal(g["tokens"][()], ev["/positions/token"][offsets[i]:offsets[i + 1]])
                # Batched teacher rows equal unbatched ones to float rounding.
                ref = alone[f"prompt{i}/logits"][()]
                assert np.abs(g["logits"][()] - ref).max() <= 1e-5 * np.abs(ref).max(), i
                lt, ls = log_softmax(g["logits"][()]), log_softmax(g["student_logits"][()])
                kl.append((np.exp(lt) * (lt - ls)).sum(axis=1))
            kl = np.maximum(np.concatenate(kl), 0.0)
        err = np.abs(kl - expected).max()
        print(f"{name}: mean KL {kl.mean():.4f} (evaluate.h5 {expected.mean():.4f}), max |diff| {err:.2e}")
        assert kl.mean() > 1e-3, "the student equals the teacher: no matrix was swapped"
        assert err < 1e-3 * max(1.0, expected.max()), name
PY

# generate --student: same first divergence as evaluate's greedy drift of test prompt 0.
prompt0=$(grep -m1 . "$CIRCAL_SOURCE_DIR/data/splits/test.txt")
tokens=$(h5dump -a /generate_tokens "$run/evaluate.h5" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')
"$CIRCAL_BIN" generate --model "$CIRCAL_SOURCE_DIR/$model" --prompt "$prompt0" --tokens "$tokens" --student "$run/calibrate.h5" >"$WORK/gen.txt"
cat "$WORK/gen.txt"
first=$(/usr/bin/python3 -c "import h5py; print(int(h5py.File('$run/evaluate.h5')['/students/calibrated/drift_first_divergence'][0]))")
grep -q "^teacher: $prompt0" "$WORK/gen.txt"
grep -q "^student: $prompt0" "$WORK/gen.txt"
if [ "$first" = "$tokens" ]; then
  grep -q "^no divergence in $tokens tokens" "$WORK/gen.txt"
else
  grep -q "^first divergence at token $first of" "$WORK/gen.txt"
  grep -q "^ *$first .*<- diverges" "$WORK/gen.txt"
fi

# Refusals: one line naming the file, exit 4, no output file.
refused() {  # PATTERN, then the checkpoint
  local pattern=$1 checkpoint=$2 got
  set +e; "$CIRCAL_BIN" logits --model "$CIRCAL_SOURCE_DIR/$model" --prompts "$CIRCAL_SOURCE_DIR/data/splits/test.txt" \
      --out "$WORK/refused.h5" --student "$checkpoint" >"$WORK/out" 2>&1; got=$?; set -e
  check "refuses $checkpoint ($pattern)" test "$got" = 4
  check "names $checkpoint" grep -q "error: $checkpoint: .*$pattern" "$WORK/out"
  check "one line" test "$(wc -l < "$WORK/out")" = 1
  check "no output" test ! -e "$WORK/refused.h5"
}
refused "is a 'capture' checkpoint, expected 'project' or 'calibrate'" "$run/capture.h5"
refused "missing" "$WORK/none.h5"
cp "$run/project.h5" "$WORK/other-weights.h5"
/usr/bin/python3 -c "import h5py; h5py.File('$WORK/other-weights.h5', 'r+').attrs['model_weights_hash'] = 'xxh3-64:f00d'"
refused "is for another model: fitted to weights xxh3-64:f00d" "$WORK/other-weights.h5"
# A checkpoint stamped before weights were hashed by XXH3 (a bare FNV-1a hex): stale, not foreign.
cp "$run/project.h5" "$WORK/old-hash.h5"
/usr/bin/python3 -c "import h5py; h5py.File('$WORK/old-hash.h5', 'r+').attrs['model_weights_hash'] = '8f4e3c2a1b0d9e7f'"
refused "made by an older circal (its weights hash 8f4e3c2a1b0d9e7f is not xxh3-64:); rerun project" "$WORK/old-hash.h5"
cp "$run/calibrate.h5" "$WORK/other-shape.h5"
/usr/bin/python3 - "$WORK/other-shape.h5" <<'PY'
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    del f["/layers/3/down_proj/c"]
    f["/layers/3/down_proj/c"] = np.zeros((16, 24, 32), np.float32)  # block size 32, not 16
PY
refused "is for another model: /layers/3/down_proj/c is \[16, 24, 32\]" "$WORK/other-shape.h5"
echo "student logits e2e: ok"

#!/usr/bin/env bash
# `circal export` on the bundled teacher's tiny run. --format dense: the exported folder, loaded
# as a plain model (`circal logits --model OUT`), gives the calibrated student's logits
# (`circal logits --student calibrate.h5`) to float32 rounding; every tensor but the six patched
# matrices is the teacher's, byte for byte; config.json and the tokenizer come along. A bf16
# export, sharded at 1 MiB, loads through its index. --format circulant holds c instead of the
# matrices, which expand to the dense export's bitwise; a low-rank student's U and V multiply
# to its dense export. Then the refusals: an existing folder
# without --force, an unknown or absent student, a stale checkpoint, an unwritable place, a
# write cut off by the file-size limit.
source "$(dirname "$0")/common.bash"
need_python_modules numpy h5py
model=data/models/manpages-llama-5m
run="$WORK/run"
out="$WORK/student-f32"
tiny=(--config config/tiny.yaml --run-dir "$run")
circal_np 2 run "${tiny[@]}" --set 'evaluate.students=[calibrated]' >"$WORK/run.log"

circal_np 2 export "${tiny[@]}" --format dense --out "$out" --dtype f32
check "no staging folder left" test ! -e "$out.tmp"
circal_np 2 logits --model "$out" --prompts data/splits/test.txt --out "$WORK/exported.h5" --batch 4
circal_np 2 logits --model "$model" --prompts data/splits/test.txt --out "$WORK/student.h5" --student "$run/calibrate.h5" --batch 4

/usr/bin/python3 - "$WORK" "$CIRCAL_SOURCE_DIR/$model" "$out" <<'PY'
import json, struct, sys
import h5py
import numpy as np

work, teacher_dir, out = sys.argv[1:]

# The circulant student multiplies through FFTs, the export through dense sgemm over the same
# matrix (its entries are copies of c, no arithmetic): the two differ by float32 rounding of
# sums of up to 768 products in each of the 2 patched layers, carried on through the model.
# Measured 7.6e-6 on a largest logit of 13.5 (6e-7 of it, a few float32 ulps); the bound
# 2e-5 of the largest logit leaves 35x room for other BLAS kernels and rank counts and stays
# far below a wrong matrix (teacher and student logits differ by ~6).
worst, scale, moved = 0.0, 0.0, 0.0
with h5py.File(f"{work}/exported.h5") as ex, h5py.File(f"{work}/student.h5") as st:
    for i in range(ex.attrs["prompts"]):
        exported, student = ex[f"prompt{i}/logits"][()], st[f"prompt{i}/student_logits"][()]
        worst = max(worst, float(np.abs(exported - student).max()))
        scale = max(scale, float(np.abs(student).max()))
        moved = max(moved, float(np.abs(st[f"prompt{i}/logits"][()] - student).max()))
print(f"exported vs student logits: max |diff| {worst:.3e} (largest logit {scale:.2f}, teacher vs student {moved:.2f})")
assert worst <= 2e-5 * scale, worst
assert moved > 1000 * worst, "the export is no closer to the student than the teacher is"

def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    assert (8 + n) % 8 == 0, "header length not 8-byte aligned"
    header = json.loads(raw[8:8 + n])
    assert header.pop("__metadata__") == {"format": "pt"}
    return {k: (v["dtype"], v["shape"], raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in header.items()}

teacher, exported = tensors(f"{teacher_dir}/model.safetensors"), tensors(f"{out}/model.safetensors")
assert teacher.keys() == exported.keys()
patched = {f"model.layers.{l}.mlp.{p}.weight" for l in (2, 3) for p in ("gate_proj", "up_proj", "down_proj")}
for name, (dtype, shape, data) in teacher.items():
    assert exported[name][:2] == (dtype, shape), name
    assert (exported[name][2] != data) == (name in patched), name
print(f"{len(teacher) - len(patched)} tensors byte-identical to the teacher's, {len(patched)} replaced")

config, teacher_config = json.load(open(f"{out}/config.json")), json.load(open(f"{teacher_dir}/config.json"))
assert config.pop("torch_dtype") == "float32"
teacher_config.pop("torch_dtype")
assert config == teacher_config
PY
check "tokenizer copied" cmp "$CIRCAL_SOURCE_DIR/$model/tokenizer.model" "$out/tokenizer.model"

# bf16, sharded: HF's index names every tensor once, the loader reads it, config.json says bfloat16.
circal_np 1 export "${tiny[@]}" --format dense --out "$WORK/student-bf16" --dtype bf16 --shard-mb 1
check "sharded" test -f "$WORK/student-bf16/model-00001-of-$(printf %05d "$(ls "$WORK/student-bf16"/model-*.safetensors | wc -l)").safetensors"
check "bf16 config" grep -q '"torch_dtype": "bfloat16"' "$WORK/student-bf16/config.json"
circal_np 1 logits --model "$WORK/student-bf16" --prompts data/splits/test.txt --out "$WORK/bf16.h5"
/usr/bin/python3 - "$WORK" <<'PY'
import json, sys
import h5py
import numpy as np
work = sys.argv[1]
index = json.load(open(f"{work}/student-bf16/model.safetensors.index.json"))
assert len(index["weight_map"]) == 4 * 9 + 3, len(index["weight_map"])
with h5py.File(f"{work}/bf16.h5") as b, h5py.File(f"{work}/exported.h5") as f:
    worst = max(float(np.abs(b[f"prompt{i}/logits"][()] - f[f"prompt{i}/logits"][()]).max()) for i in range(b.attrs["prompts"]))
print(f"bf16 vs f32 export: max |diff| {worst:.3f} (bf16 keeps 8 significant bits)")
assert 0 < worst < 1.0
PY

# --format circulant: the teacher's tensors but the patched matrices, each replaced by its c
# [p, q, b] (config.json's circal section says where); expanded by numpy's own indexing it is
# bitwise the dense export's matrix.
circal_np 1 export "${tiny[@]}" --format circulant --out "$WORK/student-c"
/usr/bin/python3 - "$CIRCAL_SOURCE_DIR/$model" "$out" "$WORK/student-c" <<'PY'
import json, sys
import numpy as np
teacher_dir, dense_dir, compact_dir = sys.argv[1:]

def tensors(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__")
    return {k: (v["dtype"], v["shape"], raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in header.items()}

teacher, dense, compact = (tensors(f"{d}/model.safetensors") for d in (teacher_dir, dense_dir, compact_dir))
section = json.load(open(f"{compact_dir}/config.json"))["circal"]
assert section["structure"] == "circulant" and section["student"] == "calibrated", section
b = section["block_size"]
assert len(section["matrices"]) == 6
for entry in section["matrices"]:
    stem = f"model.layers.{entry['layer']}.mlp.{entry['projection']}."
    m, n = entry["out_features"], entry["in_features"]
    assert stem + "weight" not in compact
    dtype, shape, data = compact[stem + "c"]
    assert dtype == "F32" and shape == [-(-m // b), -(-n // b), b], (stem, shape)
    c = np.frombuffer(data, np.float32).reshape(shape)
    r, s = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    W = c[r // b, s // b, (r - s) % b]
    assert np.array_equal(W, np.frombuffer(dense[stem + "weight"][2], np.float32).reshape(m, n)), stem
    del compact[stem + "c"], teacher[stem + "weight"]
assert compact == teacher, "an untouched tensor differs from the teacher's"
print(f"circulant folder: 6 matrices' c expand to the dense export's bitwise, {len(teacher)} tensors the teacher's")
PY

# The low-rank aware student of project.h5's comparison: U and V in the circulant folder, and U V
# (one sgemm) in the dense one, equal to numpy's product to float32 rounding of r-term sums.
circal_np 1 export "${tiny[@]}" --student lowrank_aware --format circulant --out "$WORK/aware-c"
circal_np 1 export "${tiny[@]}" --student lowrank_aware --format dense --out "$WORK/aware"
/usr/bin/python3 - "$WORK/aware-c" "$WORK/aware" <<'PY'
import json, sys
import numpy as np
compact_dir, dense_dir = sys.argv[1:]

def arrays(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__")
    return {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], np.float32).reshape(v["shape"])
            for k, v in header.items()}

compact, dense = arrays(f"{compact_dir}/model.safetensors"), arrays(f"{dense_dir}/model.safetensors")
section = json.load(open(f"{compact_dir}/config.json"))["circal"]
assert section["structure"] == "lowrank" and section["student"] == "lowrank_aware", section
for entry in section["matrices"]:
    stem = f"model.layers.{entry['layer']}.mlp.{entry['projection']}."
    U, V = compact[stem + "U"], compact[stem + "V"]
    assert U.shape == (entry["out_features"], entry["rank"]) and V.shape == (entry["rank"], entry["in_features"])
    W = U.astype(np.float64) @ V.astype(np.float64)
    err = np.abs(dense[stem + "weight"] - W).max() / np.abs(W).max()
    assert err < 1e-5, (stem, err)
print(f"low-rank aware: {len(section['matrices'])} matrices, dense export = U V to float32 rounding")
PY

# Refusals: one line, the documented exit code, nothing written.
refused() {  # CODE PATTERN ARGS...
  local code=$1 pattern=$2 got; shift 2
  set +e; (cd "$CIRCAL_SOURCE_DIR" && "$CIRCAL_BIN" export "${tiny[@]}" --format dense "$@") >"$WORK/msg" 2>&1; got=$?; set -e
  cat "$WORK/msg"
  check "exit $code for: $*" test "$got" = "$code"
  check "says $pattern" grep -q "error: .*$pattern" "$WORK/msg"
  check "one line" test "$(wc -l < "$WORK/msg")" = 1
}
before=$(sha256sum "$out/model.safetensors")
refused 2 "$out exists (--force replaces it)" --out "$out"
check "existing folder untouched" test "$before" = "$(sha256sum "$out/model.safetensors")"
refused 2 "unknown student 'bogus'" --out "$WORK/x" --student bogus
refused 2 "has no student lowrank_svd" --out "$WORK/x" --student lowrank_svd
refused 2 "unknown weight dtype 'f64'" --out "$WORK/x" --dtype f64
refused 4 "calibrate.h5: made for another run" --out "$WORK/x" --set calibrate.lr=0.5
refused 5 "/proc/circal-export.tmp: cannot create" --out /proc/circal-export
check "nothing written" test ! -e "$WORK/x" -a ! -e "$WORK/x.tmp"
# A write that fails half-way (a 1 MiB file-size limit; the model is 20 MB) leaves no folder.
# The limit applies to the rank only: MPI's own start-up writes files of its own.
printf '#!/bin/bash\nulimit -f 1024\nexec "$@"\n' > "$WORK/file-limit.sh" && chmod +x "$WORK/file-limit.sh"
set +e; (cd "$CIRCAL_SOURCE_DIR" && mpirun -np 1 "$WORK/file-limit.sh" "$CIRCAL_BIN" export "${tiny[@]}" --format dense --out "$WORK/big") >"$WORK/msg" 2>&1; got=$?; set -e
cat "$WORK/msg"
check "exit 5 at the file-size limit" test "$got" = 5
check "names the file" grep -q "error: $WORK/big.tmp/model.safetensors: cannot write (File too large)" "$WORK/msg"
check "no folder, no staging folder" test ! -e "$WORK/big" -a ! -e "$WORK/big.tmp"

circal_np 1 export "${tiny[@]}" --format dense --out "$out" --dtype bf16 --force
check "--force replaced it" grep -q '"torch_dtype": "bfloat16"' "$out/config.json"
check "no staging or old folder left" test ! -e "$out.tmp" -a ! -e "$out.old"
echo "export e2e: ok"

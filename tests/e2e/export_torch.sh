#!/usr/bin/env bash
# The student outside circal. On the bundled teacher (calibrated student) and on a tiny seeded
# checkpoint of every family circal reads (bench/make_synthetic_checkpoint.py: llama3,
# llama-linear, qwen2, qwen3, mistral; a least-squares student of both layers from a short
# capture + project), at block sizes 16 and 32 (32 does not divide the MLP width 176: the
# padded last block row and column):
# - the float32 circulant export (a BF16 teacher's default dtype would round c), loaded by the
#   modeling_circal.py it carries (python3-torch, nothing of circal's), gives `circal logits
#   --student`'s logits to 1e-4 of each prompt's largest |logit|; its low-rank aware student's
#   U, V folder gives the logits of its dense export; a batch of two rows gives each row's own
#   logits and greedy continuation;
# - greedy generation through modeling_circal.py (KV cache) equals `circal generate --student`
#   token for token; where the two part at a near-tie, the test prints the margin between the
#   two tokens' logits and accepts it only below that same float32 bound;
# - the float32 dense export, read by the float64 reference (tests/reference/family_forward.py)
#   as any Hugging Face folder, gives the student's logits to 1e-4 (and not the teacher's);
# - the modeling_circal.py in the folder is the repository's file, byte for byte;
# - an allocated student (project.block_size auto: mixed block sizes, some matrices kept the
#   teacher's) passes the same checks.
source "$(dirname "$0")/common.bash"
need_python_modules h5py numpy torch
cat > "$WORK/prompts.txt" <<'TXT'
the quick brown fox jumps over the lazy dog
ls -l lists the files of a directory
man pages describe commands and their options
TXT
head -40 "$CIRCAL_SOURCE_DIR/data/splits/calibration.txt" > "$WORK/calibration.txt"
generate_tokens=12

# student_folders NAME TEACHER CHECKPOINT CONFIG_ARGS...: the exports and circal's own logits
# and continuations of one student, under $WORK/NAME.
student_folders() {
  local name=$1 teacher=$2 checkpoint=$3 dir="$WORK/$1"
  shift 3
  circal_np 1 export "$@" --format circulant --dtype f32 --out "$dir/circulant" > /dev/null
  circal_np 1 export "$@" --format dense --dtype f32 --out "$dir/dense" > /dev/null
  circal_np 1 logits --model "$teacher" --prompts "$WORK/prompts.txt" --student "$checkpoint" --out "$dir/logits.h5" > /dev/null
  local i=0 prompt
  while IFS= read -r prompt; do
    circal_np 1 generate --model "$teacher" --prompt "$prompt" --tokens $generate_tokens --student "$checkpoint" --ids < /dev/null \
      | sed -n 's/^student ids:/prompt'$i':/p' >> "$dir/generated.txt"
    i=$((i + 1))
  done < "$WORK/prompts.txt"
  check "$name: modeling_circal.py is the repository's" \
    cmp "$CIRCAL_SOURCE_DIR/stages/export/modeling_circal.py" "$dir/circulant/modeling_circal.py"
}

# Bundled teacher: tiny.yaml's run (layers 2 and 3, b 16), calibrated.
bundled=data/models/manpages-llama-5m
tiny=(--config config/tiny.yaml --run-dir "$WORK/bundled-run" --set "prompts.calibration=$WORK/calibration.txt")
for stage in capture project calibrate; do circal_np 1 "$stage" "${tiny[@]}" > /dev/null; done
mkdir -p "$WORK/bundled"
student_folders bundled "$bundled" "$WORK/bundled-run/calibrate.h5" "${tiny[@]}"
# Its low-rank aware comparison student: U and V, against its dense export's logits.
circal_np 1 export "${tiny[@]}" --student lowrank_aware --format circulant --out "$WORK/bundled/lowrank" > /dev/null
circal_np 1 export "${tiny[@]}" --student lowrank_aware --format dense --dtype f32 --out "$WORK/bundled/lowrank-dense" > /dev/null
circal_np 1 logits --model "$WORK/bundled/lowrank-dense" --prompts "$WORK/prompts.txt" --out "$WORK/bundled/lowrank.h5" > /dev/null

# Families: both layers patched, the least-squares student of project.h5.
block=16
for family in llama3 llama-linear qwen2 qwen3 mistral; do
  block=$((48 - block))  # 32, 16, 32, 16, 32
  model="$WORK/$family-model"
  /usr/bin/python3 "$CIRCAL_SOURCE_DIR/bench/make_synthetic_checkpoint.py" --shape "$family-test" --seed 3 --out "$model" > /dev/null
  run=(--config config/tiny.yaml --run-dir "$WORK/$family-run" --set "model.path=$model" --set patch.layers=all
       --set "prompts.calibration=$WORK/calibration.txt" --set "project.block_size=$block" --set "capture.block_sizes=[$block]")
  for stage in capture project; do circal_np 1 "$stage" "${run[@]}" > /dev/null; done
  mkdir -p "$WORK/$family"
  student_folders "$family" "$model" "$WORK/$family-run/project.h5" "${run[@]}" --student least_squares
done

# An allocated student (project.block_size auto): block sizes differ between matrices and the
# matrices allocated b = 1 stay the teacher's (written under their own names, not patched).
alloc=(--config config/tiny.yaml --run-dir "$WORK/allocated-run" --set "prompts.calibration=$WORK/calibration.txt"
       --set project.block_size=auto --set project.compression=2.5 --set "capture.block_sizes=[4, 16, 64]")
for stage in capture project; do circal_np 1 "$stage" "${alloc[@]}" > /dev/null; done
mkdir -p "$WORK/allocated"
student_folders allocated "$bundled" "$WORK/allocated-run/project.h5" "${alloc[@]}" --student least_squares

# A missing checkpoint (the family runs stop at project: no calibrate.h5 for the default
# student) is refused with exit 4 and one line, nothing written; export.sh has the other refusals.
set +e
(cd "$CIRCAL_SOURCE_DIR" && "$CIRCAL_BIN" export "${run[@]}" --format circulant --out "$WORK/refused") > "$WORK/msg" 2>&1
code=$?
set -e
cat "$WORK/msg"
check "missing calibrate.h5: exit 4 (got $code)" test "$code" = 4
check "says which file" grep -q "error: $WORK/mistral-run/calibrate.h5: missing" "$WORK/msg"
check "one line" test "$(wc -l < "$WORK/msg")" = 1
check "nothing written" test ! -e "$WORK/refused" -a ! -e "$WORK/refused.tmp"

/usr/bin/python3 - "$WORK" "$generate_tokens" bundled allocated llama3 llama-linear qwen2 qwen3 mistral <<'PY'
import importlib.util, json, sys
import h5py
import numpy as np
import torch

work, tokens, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
BOUND = 1e-4  # of a prompt's largest |logit|, the family reference tests' bound
torch.set_grad_enabled(False)


def module_of(folder):
    """modeling_circal as a user imports it: from the exported folder."""
    spec = importlib.util.spec_from_file_location(f"modeling_circal_{abs(hash(folder))}", f"{folder}/modeling_circal.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare_logits(what, model, logits_file, dataset):
    worst = 0.0
    with h5py.File(logits_file) as f:
        prompts = [f[f"prompt{i}/tokens"][()].astype(np.int64) for i in range(f.attrs["prompts"])]
        for i, ids in enumerate(prompts):
            want = f[f"prompt{i}/{dataset}"][()]
            got = model(torch.from_numpy(ids)[None])[0].numpy()
            assert got.shape == want.shape, (what, got.shape, want.shape)
            worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
    print(f"{what}: modeling_circal.py logits vs circal's, max |diff| / max |logit| {worst:.2e} (bound {BOUND})")
    assert worst < BOUND, what
    return prompts


def compare_generation(what, model, prompts, circal_ids, eos):
    """circal generate stops before config.json's (first) EOS id; here all `tokens` are made."""
    for i, ids in enumerate(prompts):
        ours = model.generate(torch.from_numpy(ids)[None], max_new_tokens=tokens, eos_token_id=None)[0, len(ids):].tolist()
        theirs = circal_ids[i] + ([eos] if len(circal_ids[i]) < tokens else [])
        # Logits along circal's continuation: the margin at every step, and where the two part.
        logits = model(torch.tensor([ids.tolist() + theirs]))[0, len(ids) - 1:]
        scale = logits.abs().max()
        top2 = logits.topk(2, dim=-1).values
        margins = (top2[:, 0] - top2[:, 1]) / scale
        parted = next((j for j in range(len(theirs)) if ours[j] != theirs[j]), None)
        if parted is None:
            print(f"{what} prompt {i}: {len(theirs)} tokens equal (EOS included: {theirs[-1] == eos}); "
                  f"smallest top-2 margin {margins[:len(theirs)].min():.2e} of max |logit|")
            continue
        gap = float((logits[parted, ours[parted]] - logits[parted, theirs[parted]]) / scale)
        print(f"{what} prompt {i}: equal for {parted} tokens, then a tie within float32 rounding at token {parted}: "
              f"ours {ours[parted]}, circal's {theirs[parted]}, margin {gap:.2e} of max |logit| (bound {BOUND})")
        assert 0 <= gap < BOUND, (what, i, parted, gap)


for name in names:
    folder = f"{work}/{name}/circulant"
    config = json.load(open(f"{folder}/config.json"))
    section = config["circal"]
    model = module_of(folder).from_pretrained(folder)
    assert isinstance(model, torch.nn.Module)
    what = f"{name} ({config['model_type']}, {section['structure']} b={section['block_size']}, {section['student']})"
    prompts = compare_logits(what, model, f"{work}/{name}/logits.h5", "student_logits")
    circal_ids = {}
    for line in open(f"{work}/{name}/generated.txt"):
        key, _, ids = line.partition(":")
        circal_ids[int(key[len("prompt"):])] = [int(t) for t in ids.split()]
    eos = config["eos_token_id"][0] if isinstance(config["eos_token_id"], list) else config["eos_token_id"]
    compare_generation(what, model, prompts, circal_ids, eos)

section = json.load(open(f"{work}/allocated/circulant/config.json"))["circal"]
sizes = [m["block_size"] for m in section["matrices"]]
assert section["block_size"] == 0 and len(set(sizes)) >= 2 and len(sizes) < 6, section
print(f"allocated: {len(sizes)} of 6 matrices circulant at block sizes {sizes}, the rest the teacher's")

# Rows of a batch are sequences of their own: the first 8 tokens of two prompts, together and apart.
model = module_of(f"{work}/bundled/circulant").from_pretrained(f"{work}/bundled/circulant")
with h5py.File(f"{work}/bundled/logits.h5") as f:
    rows = torch.stack([torch.from_numpy(f[f"prompt{i}/tokens"][()][:8].astype(np.int64)) for i in (0, 1)])
together, apart = model(rows), torch.cat([model(rows[i:i + 1]) for i in (0, 1)])
assert (together - apart).abs().max() <= 1e-5 * apart.abs().max(), "batched rows differ from single rows"
generated = model.generate(rows, max_new_tokens=6, eos_token_id=None)
assert all(torch.equal(generated[i], model.generate(rows[i:i + 1], max_new_tokens=6, eos_token_id=None)[0]) for i in (0, 1))
print("a batch of two rows: each row's logits and continuation as alone")

folder = f"{work}/bundled/lowrank"
section = json.load(open(f"{folder}/config.json"))["circal"]
assert section["structure"] == "lowrank" and section["student"] == "lowrank_aware", section
compare_logits("bundled low-rank aware (U, V)", module_of(folder).from_pretrained(folder), f"{work}/bundled/lowrank.h5", "logits")
PY

# The dense exports through the float64 reference: the student's logits, not the teacher's.
for name in bundled allocated llama3 llama-linear qwen2 qwen3 mistral; do
  /usr/bin/python3 "$CIRCAL_SOURCE_DIR/tests/reference/family_forward.py" "$WORK/$name/dense" "$WORK/$name/logits.h5" student_logits
done
set +e
/usr/bin/python3 "$CIRCAL_SOURCE_DIR/tests/reference/family_forward.py" "$WORK/qwen3/dense" "$WORK/qwen3/logits.h5" logits > "$WORK/teacher.txt"
code=$?
set -e
cat "$WORK/teacher.txt"
check "the dense export is not the teacher" test "$code" = 1
echo "export torch e2e: ok"

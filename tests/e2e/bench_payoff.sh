#!/usr/bin/env bash
# `circal bench model --student-blocks` and bench/torch_payoff.py on the bundled teacher (one
# round, a few prompts, to keep the test short): each prints its table, a row for the teacher
# (dense) and one per block size; circal's weight bytes per decoded token equal those counted
# here from the safetensors shapes (every tensor but the embedding, one embedding row, the
# embedding again as the head when tied; a patched matrix read as its (b/2 + 1) p q complex
# spectrum). Timings are printed, never compared.
source "$(dirname "$0")/common.bash"
need_python_modules h5py numpy torch
model=data/models/manpages-llama-5m
head -4 "$CIRCAL_SOURCE_DIR/data/splits/test.txt" > "$WORK/prompts.txt"
circal_np 1 bench model --model "$model" --prompts "$WORK/prompts.txt" --batch 1 --decode-tokens 3 --repeats 1 \
  --student-blocks 16 64 > "$WORK/circal.txt"
cat "$WORK/circal.txt"
check "circal's table: rows, bytes per token" /usr/bin/python3 - "$CIRCAL_SOURCE_DIR/$model" "$WORK/circal.txt" <<'PY'
import json, math, struct, sys
folder, table = sys.argv[1:]
config = json.load(open(f"{folder}/config.json"))
raw = open(f"{folder}/model.safetensors", "rb").read()
header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
header.pop("__metadata__", None)
shapes = {name: entry["shape"] for name, entry in header.items()}
H = config["hidden_size"]
floats = sum(math.prod(s) for n, s in shapes.items() if n != "model.embed_tokens.weight") + H
if "lm_head.weight" not in shapes:
    floats += math.prod(shapes["model.embed_tokens.weight"])
rows = {line.split()[0]: line.split() for line in open(table) if line.split() and line.split()[0] in ("teacher", "b=16", "b=64")}
assert set(rows) == {"teacher", "b=16", "b=64"}, rows
for name, row in rows.items():
    want = floats
    if name != "teacher":
        b = int(name[2:])
        for n, (m, k) in ((n, s) for n, s in shapes.items() if ".mlp." in n):
            want += 2 * (b // 2 + 1) * math.ceil(m / b) * math.ceil(k / b) - m * k
    got = float(row[1]) * 1e6
    print(f"{name}: {got / 1e6:.1f} MB a decoded token (counted here: {4 * want / 1e6:.2f})")
    assert abs(got - 4 * want) <= 0.051e6, (name, got, 4 * want)
    float(row[2]), float(row[5])  # prompt and decode tokens/s printed as numbers (timings are not checked)
PY
check "the load average is stated" grep -q 'load average' "$WORK/circal.txt"

circal_np 1 logits --model "$model" --prompts "$WORK/prompts.txt" --out "$WORK/ids.h5" > /dev/null
/usr/bin/python3 "$CIRCAL_SOURCE_DIR/bench/torch_payoff.py" --model "$CIRCAL_SOURCE_DIR/$model" --ids "$WORK/ids.h5" \
  --prompts 4 --blocks 16 64 --decode-tokens 3 --rounds 1 > "$WORK/torch.txt"
cat "$WORK/torch.txt"
check "torch's table: a row each" test "$(grep -cE '^(dense|b=16|b=64) ' "$WORK/torch.txt")" = 3
echo "bench payoff e2e: ok"

#!/usr/bin/env bash
# `circal logits` on a tiny seeded checkpoint of each architecture family circal reads (llama
# with rope_scaling llama3; llama with rope_scaling linear and attention biases; qwen2 with
# q/k/v biases and tied embeddings; qwen3 with q/k norm and head_dim 32; mistral with a sliding
# window), generated here by bench/make_synthetic_checkpoint.py, against a float64 PyTorch
# forward written from transformers' formulas (tests/reference/family_forward.py): every
# prompt's logits within 1e-4 of its largest |logit|, at 1 rank, and batched at 2 ranks for
# qwen2 and qwen3. Then the refusals: a sequence longer than mistral's sliding_window and an
# unsupported rope_scaling type end with exit 3 and one line naming what.
source "$(dirname "$0")/common.bash"
need_python_modules h5py numpy torch
work=$WORK
cat > "$work/prompts.txt" <<'TXT'
the quick brown fox jumps over the lazy dog
ls -l lists the files of a directory
man pages describe commands and their options
TXT

for family in llama3 llama-linear qwen2 qwen3 mistral; do
  model="$work/$family"
  /usr/bin/python3 "$CIRCAL_SOURCE_DIR/bench/make_synthetic_checkpoint.py" --shape "$family-test" --seed 3 --out "$model" > /dev/null
  "$CIRCAL_BIN" logits --model "$model" --prompts "$work/prompts.txt" --out "$work/$family.h5"
  /usr/bin/python3 "$CIRCAL_SOURCE_DIR/tests/reference/family_forward.py" "$model" "$work/$family.h5"
done
# Stacked prompts (biases and q/k norm over rows of several prompts) at 2 ranks.
for family in qwen2 qwen3; do
  mpirun -np 2 "$CIRCAL_BIN" logits --model "$work/$family" --prompts "$work/prompts.txt" --out "$work/$family-np2.h5" --batch 2
  /usr/bin/python3 "$CIRCAL_SOURCE_DIR/tests/reference/family_forward.py" "$work/$family" "$work/$family-np2.h5"
done

# expect_refusal WHAT MODEL PROMPTS PATTERN: circal logits exits 3 with PATTERN on stderr.
expect_refusal() {
  local code=0
  "$CIRCAL_BIN" logits --model "$2" --prompts "$3" --out "$work/refused.h5" 2> "$work/stderr" || code=$?
  check "$1: exit 3 (got $code)" test "$code" -eq 3
  check "$1: stderr names it" grep -q "$4" "$work/stderr"
}

# 48 positions of window: a prompt of some 60 tokens does not fit.
for _ in 1 2 3 4 5 6; do printf 'the quick brown fox jumps over the lazy dog '; done > "$work/long.txt"
echo >> "$work/long.txt"
expect_refusal "mistral, a prompt longer than sliding_window" "$work/mistral" "$work/long.txt" \
  "exceeds the model's sliding_window 48"

/usr/bin/python3 - "$work/qwen3/config.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    config = json.load(f)
config["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}
with open(sys.argv[1], "w") as f:
    json.dump(config, f)
PY
expect_refusal "qwen3 with rope_scaling yarn" "$work/qwen3" "$work/prompts.txt" \
  "qwen3/config.json: key rope_scaling.rope_type \"yarn\" is not supported"
echo "family reference e2e: ok"

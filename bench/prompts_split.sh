#!/usr/bin/env bash
# Every calibrated point of a sweep tested a second time, on the seed-prompt test split
# (data.test_source: prompts), beside the test data its config names:
#   bench/prompts_split.sh BUILD_DIR SWEEP_DIR
# Point NAME of SWEEP_DIR/{points,uniform}/NAME is evaluated into SWEEP_DIR/prompts-test/
# {points,uniform}/NAME, its capture, project and calibrate files linked (nothing recomputed but
# evaluate). SWEEP_DIR/prompts-test gets a copy of sweep.json, so `circal report
# SWEEP_DIR/prompts-test` tabulates the second split as the sweep's own report does.
set -euo pipefail
build=$(cd "${1:?usage: bench/prompts_split.sh BUILD_DIR SWEEP_DIR}" && pwd)
sweep=$(cd "${2:?usage: bench/prompts_split.sh BUILD_DIR SWEEP_DIR}" && pwd)
source_dir=$(cd "$(dirname "$0")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
cd "$source_dir"
mkdir -p "$sweep/prompts-test"
cp "$sweep/sweep.json" "$sweep/prompts-test/sweep.json"
for dir in "$sweep"/points/*/ "$sweep"/uniform/*/; do
  [ -f "$dir/calibrate.h5" ] || continue
  dir=${dir%/}
  twin=$sweep/prompts-test/$(basename "$(dirname "$dir")")/$(basename "$dir")
  mkdir -p "$twin"
  for f in capture.h5 project.h5 calibrate.h5; do ln -sf "$(readlink -f "$dir/$f")" "$twin/$f"; done
  [ -f "$twin/metrics.json" ] || mpirun -np "${RANKS:-2}" "$build/circal" evaluate --config "$dir/config.yaml" \
    --run-dir "$twin" --set data.test_source=prompts > "$twin.log"
done

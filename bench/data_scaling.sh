#!/usr/bin/env bash
# Data scaling, seed prompts against corpus windows: the bundled teacher at block size 16, all layers, config/default.yaml
# otherwise, calibrated on the seed prompts and on corpus windows of about 16k and 64k tokens;
# every calibrated student is tested on the seed-prompt test split and on the corpus test
# windows. Usage: bench/data_scaling.sh [RUNS_DIR] (default runs/scaling); prints the table of
# bench/README.md. RANKS (default 2) ranks; circal from build/.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-runs/scaling}
ranks=${RANKS:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
circal() { mpirun -np "$ranks" build/circal "$@"; }

# Evaluate only what the table needs; the corpus windows are 128 tokens, 16 validation and
# 32 test windows (4,096 test positions), the seed-prompt split is data/splits.
common=(--config config/default.yaml --set 'evaluate.students=[least_squares, calibrated]'
        --set evaluate.generate_tokens=0 --set data.window_tokens=128 --set data.validation_windows=16
        --set data.test_windows=32)
declare -A extra=(
  [prompts]=""
  [corpus16k]="--set data.source=corpus --set data.calibration_windows=128"
  [corpus64k]="--set data.source=corpus --set data.calibration_windows=512"
)
for name in prompts corpus16k corpus64k; do
  dir=$runs/$name
  # shellcheck disable=SC2086
  circal run "${common[@]}" ${extra[$name]} --run-dir "$dir"
  cp "$dir/metrics.json" "$dir/metrics-own.json"
  other=corpus
  [[ $name == prompts ]] || other=prompts
  # Re-evaluates only: capture, project and calibrate stay current.
  # shellcheck disable=SC2086
  circal evaluate "${common[@]}" ${extra[$name]} --set data.test_source=$other --run-dir "$dir"
  cp "$dir/metrics.json" "$dir/metrics-$other.json"
  cp "$dir/metrics-own.json" "$dir/metrics-$([[ $name == prompts ]] && echo prompts || echo corpus).json"
done

/usr/bin/python3 - "$runs" <<'EOF'
import json, sys
import h5py, numpy as np
runs = sys.argv[1]
print("| calibration data | tokens | steps run | train KL (last 25 steps) | best val KL "
      "| LS test KL prompts | calibrated test KL prompts [95% CI] | LS test KL corpus | calibrated test KL corpus [95% CI] |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name in ["prompts", "corpus16k", "corpus64k"]:
    d = f"{runs}/{name}"
    with h5py.File(f"{d}/capture.h5", "r") as f:
        split = f["/prompts/split"][:]
        offsets = f["/prompts/offsets"][:]
        tokens = int(sum(offsets[i + 1] - offsets[i] for i in range(len(split)) if split[i] == 0))
    with h5py.File(f"{d}/calibrate.h5", "r") as f:
        loss = f["/history/train_loss"][:]
        best = float(f["/history"].attrs["best_validation_kl"])
    cells = []
    for test in ["prompts", "corpus"]:
        s = json.load(open(f"{d}/metrics-{test}.json"))["students"]
        kl = lambda st: s[st]["kl"]
        c = kl("calibrated")
        cells += [f"{kl('least_squares')['mean']:.3f}",
                  f"{c['mean']:.3f} [{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}]"]
    print(f"| {name} | {tokens} | {len(loss)} | {np.mean(loss[-25:]):.3f} | {best:.3f} | " + " | ".join(cells) + " |")
EOF

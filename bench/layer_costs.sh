#!/usr/bin/env bash
# bench/layer_costs.sh [SHAPE...]: what one decoder layer costs in a calibration step at real
# shapes, the measured input of bench/SCALE.md's plan for 7B and 70B runs.
#
# For each shape (default: tinyllama-1.1b llama-2-7b) it takes the first 1 and the first 2
# layers of the synthetic checkpoint (bench/make_synthetic_checkpoint.py, written under
# build/synth when missing), makes every MLP matrix circulant at block size $BLOCK (64), and
# times the same steps twice: `circal bench calibrate` (1 rank x 1 thread) and PyTorch autograd
# with circal's batching (bench/torch_calibrate_step.py --modes grouped, which also checks that
# the first-step loss is circal's). One layer costs the 2-layer step less the 1-layer step; the
# rest (embedding, lm_head, loss) is the 1-layer step less one layer. Differences of wall times
# on a loaded machine are noisy: the CPU columns are the ones to plan with.
# JSON lines go to build/bench/layer_costs.jsonl (circal's and torch's, tagged by shape/layers).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- tinyllama-1.1b llama-2-7b
BLOCK=${BLOCK:-64}
STEPS=${STEPS:-3}
PY=/usr/bin/python3  # Debian's python3-torch, -h5py and -numpy
CIRCAL=${CIRCAL:-build/circal}
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=build/bench/layer_costs.jsonl
mkdir -p build/bench

for shape in "$@"; do
  for layers in 1 2; do
    model=build/synth/$shape-L$layers
    [ -f "$model/config.json" ] ||
      "$PY" bench/make_synthetic_checkpoint.py --shape "$shape" --layers "$layers" --out "$model"
    run=build/bench/layers-$shape-L$layers
    line=$run/bench_calibrate.jsonl
    rm -f "$line"
    echo "== $shape, $layers layer(s): circal bench calibrate ($STEPS steps, block $BLOCK, load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$CIRCAL" bench calibrate --set model.path="$model" --set project.block_size="$BLOCK" --set patch.layers=all \
      --set runtime.threads=1 --run-dir "$run" --steps "$STEPS" --json "$line" | tail -n 4
    echo "== $shape, $layers layer(s): PyTorch, the same steps"
    "$PY" bench/torch_calibrate_step.py --circal "$line" --modes grouped --warmup-steps 1 --json "$line.torch" |
      tail -n 1
    "$PY" - "$shape" "$layers" "$line" "$line.torch" >> "$out" <<'PY'
import json, sys
shape, layers, circal, torch_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = json.loads(open(circal).read().splitlines()[-1])
t = json.loads(open(torch_file).read().splitlines()[-1])
# circal's "positions" counts every timed step's
print(json.dumps({"benchmark": "layer_costs", "shape": shape, "layers": layers,
                  "positions_per_step": c["positions"] // c["steps"],
                  "block_size": c["block_size"], "circal_step_ms": c["step_ms_median"],
                  "circal_cpu_ms": c["phases"][0]["cpu_ms_median"], "torch_step_ms": t["step_ms_median"],
                  "torch_cpu_ms": t["cpu_ms_median"], "first_loss_rel_diff": t["first_loss_rel_diff"],
                  "load_average": c["load_average"]}))
PY
  done
done

"$PY" - "$out" "$@" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\nper shape, ms a step (median of the timed steps), CPU ms in brackets; a layer = L2 - L1")
print(f"{'shape':16s} {'pos/step':>9s} {'circal L1':>18s} {'circal layer':>18s} {'torch L1':>18s} {'torch layer':>18s} {'torch/circal (layer CPU)':>25s}")
for shape in sys.argv[2:]:
    latest = {}
    for r in rows:
        if r["shape"] == shape: latest[r["layers"]] = r
    if 1 not in latest or 2 not in latest: continue
    one, two = latest[1], latest[2]
    def cell(key): return f"{one[key + '_step_ms']:8.0f} ({one[key + '_cpu_ms']:6.0f})"
    def layer(key): return f"{two[key + '_step_ms'] - one[key + '_step_ms']:8.0f} ({two[key + '_cpu_ms'] - one[key + '_cpu_ms']:6.0f})"
    ratio = (two["torch_cpu_ms"] - one["torch_cpu_ms"]) / (two["circal_cpu_ms"] - one["circal_cpu_ms"])
    print(f"{shape:16s} {one['positions_per_step']:9d} {cell('circal'):>18s} {layer('circal'):>18s} {cell('torch'):>18s} {layer('torch'):>18s} {ratio:25.2f}")
PY

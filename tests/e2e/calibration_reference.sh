#!/usr/bin/env bash
# Two calibration steps of `circal capture/project/calibrate` (2 ranks, 2 prompts per group)
# against the independent float64 reference tests/reference/calibration_steps.h5 (made by
# tests/reference/make_calibration_steps.py: dense PyTorch autograd, no circal code): the same
# tokens, the same Frobenius starting point, and per step the batch loss, the pre-clip gradient
# norm, the learning rate and the parameters after Adam to 1e-5 (the parameters relative to
# the largest |c| of each matrix). The run uses the config keys stored in the fixture.
source "$(dirname "$0")/common.bash"
need_python_modules h5py numpy
FIXTURE=$CIRCAL_SOURCE_DIR/tests/reference/calibration_steps.h5
REF_DIR=$CIRCAL_SOURCE_DIR/tests/reference

# The config: the fixture's keys (JSON is YAML), its prompts, a run directory in $WORK.
/usr/bin/python3 - "$FIXTURE" "$WORK" "$CIRCAL_SOURCE_DIR" <<'PY'
import json, os, sys
import h5py
fixture, work, source = sys.argv[1:]
with h5py.File(fixture, "r") as f:
    config = json.loads(f["config"].attrs["circal_config"])
    model = f["config"].attrs["model"]
    for split in ("calibration", "validation"):
        with open(os.path.join(work, split + ".txt"), "w") as out:
            out.writelines(p.decode() + "\n" if isinstance(p, bytes) else p + "\n" for p in f["prompts/" + split][()])
config["run_dir"] = os.path.join(work, "run")
config["model"] = {"path": os.path.join(source, model)}
config["prompts"] = {"calibration": os.path.join(work, "calibration.txt"),
                     "validation": os.path.join(work, "validation.txt")}
config["calibrate"]["group_prompts"] = 2  # two groups, one per rank: the exact sum across ranks
config["capture"]["compression"] = 0
config["runtime"] = {"fftw_planner": "estimate"}
with open(os.path.join(work, "reference.yaml"), "w") as out:
    json.dump(config, out, indent=1)
PY
for stage in capture project calibrate; do
  circal_np 2 "$stage" --config "$WORK/reference.yaml" > "$WORK/$stage.log" 2>&1 ||
    { cat "$WORK/$stage.log"; echo "FAILED: circal $stage"; exit 1; }
done
check "circal's two calibration steps match the float64 reference" \
  /usr/bin/python3 "$REF_DIR/compare_calibration_steps.py" "$FIXTURE" "$WORK/run"

#!/usr/bin/env bash
# `circal bench scale` (what `make bench-scale` runs) with config/scale.yaml shrunk to the
# tiny-test shape: from a model folder that does not exist yet (the benchmark writes the
# synthetic checkpoint itself) through load, capture, project, calibrate and evaluate on corpus
# windows at 2 ranks. The JSON line must count what the stages did: the captured tokens are the
# windows' tokens, calibration's positions are the steps' windows' positions, the output sizes
# are the files' sizes, and the memory figures are consistent (a node's peak is at least a
# rank's). Times are printed, never compared.
source "$(dirname "$0")/common.bash"
need_python_modules numpy

WINDOW=32 CAL=8 VAL=2 TEST=4 STEPS=2 BATCH=4
RUN=$WORK/bench/run
circal_np 2 bench scale --config config/scale.yaml --shape tiny-test --set run_dir="$RUN" \
  --set model.path="$WORK/model" --set data.window_tokens=$WINDOW --set data.calibration_windows=$CAL \
  --set data.validation_windows=$VAL --set data.test_windows=$TEST --set calibrate.steps=$STEPS \
  --set calibrate.batch_prompts=$BATCH --set calibrate.eval_every=$STEPS --set calibrate.checkpoint_every=$STEPS \
  --set calibrate.warmup_steps=1 --set project.block_size=16 --set evaluate.bootstrap_samples=20 \
  --set evaluate.generate_tokens=1 > "$WORK/bench.log" 2>&1 || { cat "$WORK/bench.log"; echo "FAILED: bench scale"; exit 1; }
grep -A8 '^bench scale:' "$WORK/bench.log"

check "the benchmark wrote the synthetic checkpoint" test -f "$WORK/model/config.json"
check "and ran the whole pipeline (metrics.json)" test -f "$RUN/metrics.json"
/usr/bin/python3 - "$WORK/bench/bench_scale.jsonl" "$RUN" $WINDOW $CAL $VAL $STEPS $BATCH <<'PY' || exit 1
import json, os, sys
line_file, run, window, cal, val, steps, batch = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
line = json.loads(open(line_file).read().splitlines()[-1])
stages = {s["stage"]: s for s in line["stages"]}
problems = []
def expect(what, got, want):
    print(f"{'ok' if got == want else 'FAILED'}: {what}: {got} (expected {want})")
    if got != want: problems.append(what)
expect("stages", list(stages), ["load", "capture", "project", "calibrate", "evaluate"])
expect("data source", (line["data_source"], line["window_tokens"], line["calibration_windows"]), ("corpus", window, cal))
expect("captured tokens: calibration + validation windows", stages["capture"]["tokens"], (cal + val) * window)
# the KL loss compares the teacher's and the student's distributions at every position of a window
expect("calibration positions: steps x windows x window", stages["calibrate"]["tokens"], steps * batch * window)
expect("capture output bytes = capture.h5's size", stages["capture"]["output_bytes"], os.path.getsize(f"{run}/capture.h5"))
expect("project output bytes = project.h5's size", stages["project"]["output_bytes"], os.path.getsize(f"{run}/project.h5"))
for name, s in stages.items():
    ranks, nodes = s["peak_pss_per_rank"], s["peak_pss_per_node"]
    # a node sample is the sum of its ranks at one instant: at most the sum of their peaks
    ok = len(ranks) == 2 and min(ranks) > 0 and max(ranks) <= max(nodes) <= sum(ranks)
    expect(f"{name}: PSS of 2 ranks, rank peak <= node peak <= sum of rank peaks", ok, True)
sys.exit(1 if problems else 0)
PY

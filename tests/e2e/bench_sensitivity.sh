#!/usr/bin/env bash
# `circal bench sensitivity` on the micro config with one patched matrix (layer 3 down_proj)
# at b = 16 and 32: its measured KL at b = 16 equals the evaluate stage's least_squares KL for
# the same matrix, projection and test prompts (the dense twin of the measurement), and every
# estimate is positive and finite. Rank 0 does the work: at 2 ranks the same JSON comes out.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/micro.bash"
micro_setup "$WORK/m"
one=(--config "$WORK/m/micro.yaml" --set patch.projections=[down_proj] --set runtime.fftw_planner=estimate)
circal_np 1 run "${one[@]}" --run-dir "$WORK/run" --set calibrate.enabled=false \
  --set evaluate.students=[least_squares] > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; exit 1; }
for np in 1 2; do
  circal_np "$np" bench sensitivity "${one[@]}" --run-dir "$WORK/bench" --samples 4 \
    --json "$WORK/np$np.json" > "$WORK/np$np.log" 2>&1 || { cat "$WORK/np$np.log"; exit 1; }
done
cat "$WORK/np1.log"
check "1 and 2 ranks write the same result" cmp <(grep -v seconds "$WORK/np1.json") <(grep -v seconds "$WORK/np2.json")
check "measured KL at b = 16 = evaluate's least_squares KL; estimates positive" python3 - "$WORK/np1.json" "$WORK/run/metrics.json" <<'PY'
import json, math, sys
bench, metrics = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert bench["block_sizes"] == [16, 32], bench["block_sizes"]
(matrix,) = bench["matrices"]
assert (matrix["layer"], matrix["projection"]) == (3, "down_proj"), matrix
evaluated = metrics["students"]["least_squares"]["kl"]["mean"]
measured = matrix["measured_kl"][0]
print(f"bench {measured!r}, evaluate {evaluated!r}")
assert abs(measured - evaluated) <= 1e-9 * evaluated, (measured, evaluated)
for key in ("measured_kl", "gauss_newton", "diagonal", "channel_mean"):
    assert all(math.isfinite(x) and x > 0 for x in matrix[key]), (key, matrix[key])
PY

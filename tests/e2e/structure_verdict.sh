#!/usr/bin/env bash
# An ordinary circulant run (micro config, default evaluate.students) also evaluates the
# low-rank aware student of equal parameters and says in one sentence which structure wins:
# the sentence must name the student of lower test KL in metrics.json with its numbers, and
# the low-rank factors in project.h5 must have the rank floor(m n / (b (m + n))) computed here,
# so r (m + n) <= the circulant's p q b. Default students list nothing the run cannot produce.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/micro.bash"
need_python_modules h5py numpy
micro_setup "$WORK/m"
circal_np 2 run --config "$WORK/m/micro.yaml" --run-dir "$WORK/run" > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; exit 1; }

check "no student of the defaults is skipped" bash -c "! grep -q 'skipped' '$WORK/run.log'"
check "the verdict names the winner and its numbers, consistent with metrics.json" \
  /usr/bin/python3 - "$WORK/run/metrics.json" "$WORK/run/report.md" "$WORK/run.log" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
report, log = open(sys.argv[2]).read(), open(sys.argv[3]).read()
students = m["students"]
assert list(students) == ["dense", "zeroed", "frobenius", "least_squares", "calibrated", "lowrank_aware"], list(students)
kl = {n: s["kl"]["mean"] for n, s in students.items()}
print(kl)
v = m["structure_comparison"]
# The best of each structure, chosen here from the per-student numbers.
circ = min(["calibrated", "least_squares", "frobenius"], key=lambda n: kl[n])
assert v["circulant"]["student"] == circ and v["lowrank"]["student"] == "lowrank_aware", v
winner = "circulant" if kl[circ] <= kl["lowrank_aware"] else "lowrank"
assert v["winner"] == winner, (v["winner"], winner)
prose = {"calibrated": "circulant calibrated", "least_squares": "circulant least squares",
         "frobenius": "circulant Frobenius", "lowrank_aware": "low-rank aware (whitened SVD)"}
win, lose = (circ, "lowrank_aware") if winner == "circulant" else ("lowrank_aware", circ)
fmt = lambda s: "%.4f [%.4f, %.4f]" % (students[s]["kl"]["mean"], *students[s]["kl"]["ci95"])
s = v["sentence"]
print(s)
assert (prose[win] + " beats " + prose[lose]) in s, s
assert ("test KL %s vs %s nats" % (fmt(win), fmt(lose))) in s, s
assert abs(v["kl_difference"] - (kl[lose] - kl[win])) < 1e-12
assert ("%.4f nats (%.0f%%) lower" % (kl[lose] - kl[win], 100 * (1 - kl[win] / kl[lose]))) in s, s
lo_w, hi_w = students[win]["kl"]["ci95"]; lo_l, hi_l = students[lose]["kl"]["ci95"]
overlap = hi_w >= lo_l and hi_l >= lo_w
assert v["intervals_overlap"] == overlap
assert ("do not overlap" not in s) == overlap, s
# Honest about calibration: only the circulant side was calibrated here.
assert v["circulant"]["calibrated"] == (circ == "calibrated") and v["lowrank"]["calibrated"] is False
if circ == "calibrated":
    assert "low-rank was not calibrated in this run" in s, s
    assert v["projection_sentence"].startswith("Before calibration, "), v
c = m["compression"]
ratio = c["mlp_params_dense"] / c["mlp_params_circulant"]
assert s.startswith("At %.1fx MLP compression (%d circulant vs %d low-rank MLP parameters)"
                    % (ratio, c["mlp_params_circulant"], v["lowrank"]["mlp_params"])), s
assert s in report and s in log, "report.md and the run's output carry the sentence"
PY

check "low-rank factors at r = floor(m n / (b (m + n))), r (m + n) <= p q b; counts in metrics.json" \
  /usr/bin/python3 - "$WORK/run/project.h5" "$WORK/run/metrics.json" <<'PY'
import json, math, sys
import h5py
m = json.load(open(sys.argv[2]))
b = 16
lowrank_total = circulant_total = dense_patched = 0
with h5py.File(sys.argv[1], "r") as f:
    comparison = f.attrs["lowrank_comparison"]
    assert (comparison.decode() if isinstance(comparison, bytes) else str(comparison)) == "aware", comparison
    for layer in f["layers"]:
        for proj in ("gate_proj", "up_proj", "down_proj"):
            g = f["layers"][layer][proj]
            mm, nn = g["c"].attrs["m"], g["c"].attrs["n"]
            r = mm * nn // (b * (mm + nn))
            circ = math.ceil(mm / b) * math.ceil(nn / b) * b
            assert g["U_aware"].shape == (mm, r) and g["V_aware"].shape == (r, nn), (g["U_aware"].shape, r)
            assert r * (mm + nn) <= circ and (r + 1) * (mm + nn) > circ, (r, mm, nn, circ)
            assert g["U_aware"].attrs["parameters"] == r * (mm + nn)
            lowrank_total += r * (mm + nn); circulant_total += circ; dense_patched += mm * nn
            print(layer, proj, mm, nn, "rank", r, r * (mm + nn), "<=", circ)
    assert f.attrs["mlp_params_lowrank"] == lowrank_total
c = m["compression"]
unpatched = c["mlp_params_dense"] - dense_patched
assert c["mlp_params_circulant"] == unpatched + circulant_total, c
v = m["structure_comparison"]
assert v["lowrank"]["mlp_params"] == unpatched + lowrank_total <= c["mlp_params_circulant"], (v, c)
PY

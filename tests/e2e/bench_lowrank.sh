#!/usr/bin/env bash
# `circal bench circulant --lowrank` (one round, to keep the test short): every TinyLlama-1.1B
# MLP shape x b 4..64 x T 1, 128 has a row; the low-rank rank is floor(m n / (b (m + n))),
# computed here, so r (m + n) <= the circulant's p q b; tokens/s is T over the time. Timings
# are printed, never compared.
source "$(dirname "$0")/common.bash"
circal_np 1 bench circulant --lowrank --reps 1 --csv "$WORK/lowrank.csv" > "$WORK/bench.log" 2>&1 || { cat "$WORK/bench.log"; exit 1; }
cat "$WORK/bench.log"
check "a row per shape, b and T at equal parameters, tokens/s = T / time" python3 - "$WORK/lowrank.csv" <<'PY'
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
seen = set()
for r in rows:
    m, n, b, rank, T = (int(r[k]) for k in ("out", "in", "b", "rank", "T"))
    assert rank == m * n // (b * (m + n)), r
    assert rank * (m + n) <= math.ceil(m / b) * math.ceil(n / b) * b < (rank + 1) * (m + n), r
    for kind in ("circulant", "lowrank"):
        ms, tok = float(r[kind + "_fwd_ms"]), float(r[kind + "_tok_s"])
        assert ms > 0 and abs(tok - T / (ms * 1e-3)) <= 1e-4 * tok, r
    seen.add((m, n, b, T))
want = {(m, n, b, T) for m, n in ((5632, 2048), (2048, 5632)) for b in (4, 8, 16, 32, 64) for T in (1, 128)}
assert seen == want and len(rows) == len(want), sorted(want - seen)
PY
check "the load average is stated" grep -q 'load average before' "$WORK/bench.log"

#!/usr/bin/env bash
# project.down_inputs: student against a dense float64 twin that shares no code with circal's
# projection: the teacher forward is PyTorch's (tests/reference/make_calibration_steps.py, the
# calibration fixture's model), down_proj's inputs are silu(Cg x) * (Cu x) with Cg, Cu the
# gate_proj and up_proj circulants of project.h5 materialised densely, and the least-squares fit
# is solved in the entries of c from the raw rows (normal equations, no FFT, no per-frequency
# statistics). The twin must give project.h5's down_proj of every patched layer, and the same
# output error; the same fit to the teacher's own down_proj inputs must not (else the test could
# not tell the two options apart).
source "$(dirname "$0")/common.bash"
need_python_modules h5py numpy torch
# tiny.yaml's two patched layers (each down_proj reads its own layer's student gate and up);
# 32 calibration prompts (556 tokens), so the 768 unknowns of a block row are well determined.
head -n 32 "$CIRCAL_SOURCE_DIR/data/splits/calibration.txt" > "$WORK/calibration.txt"
head -n 2 "$CIRCAL_SOURCE_DIR/data/splits/validation.txt" > "$WORK/validation.txt"
SET=(--config "$CIRCAL_SOURCE_DIR/config/tiny.yaml" --run-dir "$WORK/run" --set "capture.block_sizes=[16]"
  --set prompts.calibration="$WORK/calibration.txt" --set prompts.validation="$WORK/validation.txt")
circal_np 2 capture "${SET[@]}" > "$WORK/capture.log" 2>&1 || { cat "$WORK/capture.log"; exit 1; }
circal_np 2 project "${SET[@]}" --set project.down_inputs=student > "$WORK/project.log" 2>&1 ||
  { cat "$WORK/project.log"; exit 1; }

check "down_proj fitted to the student's inputs equals the dense float64 twin" \
  /usr/bin/python3 - "$WORK/run" "$CIRCAL_SOURCE_DIR" <<'PY'
import os, sys
import h5py, numpy as np, torch
run, source = sys.argv[1:]
sys.path.insert(0, os.path.join(source, "tests", "reference"))
from make_calibration_steps import Model, block_index
torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

def dense(c, m, n):
    b = c.shape[2]
    return c.astype(np.float64).reshape(-1)[block_index(m, n, b).numpy()]

def silu(z):
    return z / (1.0 + np.exp(-z))

def least_squares(H, Y, b, ridge):
    """argmin_c sum_t ||y_t - C h_t||^2 + ridge_abs ||C||_F^2 in the entries of c, where
    (C h)[i b + r] = sum_{j, d} c[i, j, d] h[j b + (r - d) mod b], ||C||_F^2 = b ||c||^2 and
    ridge_abs = ridge * sum_t ||h_t||^2 / n (project.ridge is relative to the mean Gram diagonal)."""
    n, q, p = H.shape[1], H.shape[1] // b, Y.shape[1] // b
    # The normal equations gathered from the dense sums H^T H and H^T Y: row r of each output
    # block reads input j b + (r - d) mod b through c[i, j, d].
    G, K = H.T @ H, H.T @ Y
    M, R = np.zeros((q * b, q * b)), np.zeros((q * b, p))
    j, d = np.arange(q)[:, None], np.arange(b)[None, :]
    for r in range(b):
        rows = (j * b + (r - d) % b).reshape(-1)
        M += G[np.ix_(rows, rows)]
        R += K[rows][:, r::b]
    ridge_abs = ridge * (H * H).sum() / n
    return np.linalg.solve(M + ridge_abs * b * np.eye(q * b), R).T.reshape(p, q, b)

def output_error(H, Y, c):
    return np.linalg.norm(Y - H @ dense(c, *Y.shape[1:], H.shape[1]).T) / np.linalg.norm(Y)

model = Model(os.path.join(source, "data", "models", "manpages-llama-5m"))
with h5py.File(os.path.join(run, "capture.h5"), "r") as f:
    tokens, offsets, split = f["/tokens"][()], f["/prompts/offsets"][()], f["/prompts/split"][()]
with h5py.File(os.path.join(run, "project.h5"), "r") as f:
    config = f.attrs["config"]
    config = config.decode() if isinstance(config, bytes) else config
    layers = sorted(int(name) for name in f["/layers"])
    c = {(l, proj): f[f"/layers/{l}/{proj}/c"][()] for l in layers for proj in ("gate_proj", "up_proj", "down_proj")}
    reported = {l: float(f[f"/layers/{l}/down_proj/c"].attrs["rel_output_error"]) for l in layers}
    assert f[f"/layers/{layers[0]}/down_proj/c"].attrs["method"] in ("least_squares", b"least_squares")
ridge = float(next(line.split(":", 1)[1] for line in config.splitlines() if line.strip().startswith("ridge:")))
assert len(layers) == 2, layers

inputs = {l: [] for l in layers}
with torch.no_grad():
    for i in np.flatnonzero(split == 0):  # the calibration prompts
        record = {}
        model.logits(tokens[offsets[i]:offsets[i + 1]].tolist(), mlp_inputs=record)
        for l in layers:
            inputs[l].append(record[l].numpy())
for l in layers:
    X = np.concatenate(inputs[l])
    W = {proj: model.w[f"model.layers.{l}.mlp.{proj}.weight"].numpy() for proj in ("gate_proj", "up_proj", "down_proj")}
    m, n = W["down_proj"].shape
    b = c[(l, "down_proj")].shape[2]
    student = silu(X @ dense(c[(l, "gate_proj")], n, m).T) * (X @ dense(c[(l, "up_proj")], n, m).T)
    teacher = silu(X @ W["gate_proj"].T) * (X @ W["up_proj"].T)
    scale = np.abs(c[(l, "down_proj")]).max()
    twin = least_squares(student, student @ W["down_proj"].T, b, ridge)
    error = np.abs(twin - c[(l, "down_proj")]).max() / scale
    other = np.abs(least_squares(teacher, teacher @ W["down_proj"].T, b, ridge) - c[(l, "down_proj")]).max() / scale
    out = output_error(student, student @ W["down_proj"].T, c[(l, "down_proj")])
    print(f"layer {l}: {X.shape[0]} tokens, max |c_twin - c| / max |c| = {error:.3g} "
          f"(fit to the teacher's inputs: {other:.3g}); output error {out:.6f}, project.h5 says {reported[l]:.6f}")
    assert error < 1e-5, error
    assert other > 1e-2, other
    assert abs(out - reported[l]) < 1e-5 * reported[l], (out, reported[l])
PY

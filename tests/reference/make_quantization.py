#!/usr/bin/python3
"""Writes quantization.h5: RTN and GPTQ of small random matrices, in float64 PyTorch, written
from the GPTQ paper's Algorithm 1 (Frantar et al. 2023) with the details of the authors'
reference implementation (gptq.py, quant.py): asymmetric min/max grid holding 0, scales stored
as IEEE half, dead inputs, dampening, activation order, lazy blocks, groups fitted when their
first column comes up from the block-start weights. Run: /usr/bin/python3 make_quantization.py
(deterministic: fixed seeds). tests/unit/test_quantize.cpp compares circal against it."""
import h5py
import torch

torch.manual_seed(2025)
SMALLEST_HALF = 2.0 ** -24


def fit(x, maxq):
    """Scale and zero point of each row of x [m, count]."""
    zeros = torch.zeros(x.shape[0], dtype=torch.float64)
    xmin = torch.minimum(x.min(1).values, zeros)
    xmax = torch.maximum(x.max(1).values, zeros)
    both = (xmin == 0) & (xmax == 0)
    xmin[both] = -1
    xmax[both] = 1
    scale = ((xmax - xmin) / maxq).float().half().float().double()
    scale = torch.clamp(scale, min=SMALLEST_HALF)
    zero = torch.clamp(torch.round(-xmin / scale), 0, maxq)
    return scale, zero


def quantize(x, scale, zero, maxq):
    q = torch.clamp(torch.round(x / scale) + zero, 0, maxq)
    return scale * (q - zero)


def rtn(W, bits, group):
    maxq = 2 ** bits - 1
    Q = torch.zeros_like(W)
    for g in range(0, W.shape[1], group):
        scale, zero = fit(W[:, g:g + group], maxq)
        Q[:, g:g + group] = quantize(W[:, g:g + group], scale.unsqueeze(1), zero.unsqueeze(1), maxq)
    return Q


def gptq(W, H, bits, group, percdamp, act_order, blocksize):
    W = W.clone()
    H = H.clone()
    m, n = W.shape
    maxq = 2 ** bits - 1
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    perm = torch.sort(torch.diag(H), descending=True, stable=True).indices if act_order else torch.arange(n)
    W = W[:, perm]
    H = H[perm][:, perm]
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(n, dtype=torch.float64)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    Q = torch.zeros_like(W)
    for i1 in range(0, n, blocksize):
        i2 = min(i1 + blocksize, n)
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        U1 = U[i1:i2, i1:i2]
        for i in range(i2 - i1):
            if (i1 + i) % group == 0:
                scale, zero = fit(W[:, i1 + i:i1 + i + group], maxq)
            w = W1[:, i]
            q = quantize(w, scale, zero, maxq)
            Q[:, i1 + i] = q
            err = (w - q) / U1[i, i]
            W1[:, i:] -= err.unsqueeze(1) @ U1[i, i:].unsqueeze(0)
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
    return Q[:, torch.argsort(perm)]


def inputs(T, n, dead_column):
    """Correlated inputs with a few loud features, as an MLP's inputs are."""
    mix = torch.randn(n, n, dtype=torch.float64) / n ** 0.5 + torch.eye(n, dtype=torch.float64)
    X = torch.randn(T, n, dtype=torch.float64) @ mix
    X[:, torch.randperm(n)[:3]] *= 8
    if dead_column is not None:
        X[:, dead_column] = 0
    return X


CASES = [  # name, m, n, bits, group, act_order, blocksize, dead column
    ("b4_g16_block8", 12, 40, 4, 16, False, 8, None),
    ("b3_g16_act_dead", 10, 48, 3, 16, True, 16, 5),
    ("b2_g8_act_ragged", 8, 33, 2, 8, True, 8, None),
    ("b8_g32_block32", 6, 64, 8, 32, False, 32, 0),
    ("b4_g16_block32_stale", 9, 40, 4, 16, True, 32, None),
]

with h5py.File("quantization.h5", "w") as f:
    f.attrs["percdamp"] = 0.01
    for name, m, n, bits, group, act_order, blocksize, dead in CASES:
        W = (0.05 * torch.randn(m, n, dtype=torch.float64)).float().double()
        W[0, 1] = 0.4  # an outlier weight
        X = inputs(4 * n, n, dead)
        H = X.T @ X
        g = f.create_group(name)
        g.attrs.update(dict(m=m, n=n, bits=bits, group_size=group, act_order=int(act_order), block_columns=blocksize))
        g["W"] = W.numpy()
        g["H"] = H.numpy()
        g["rtn"] = rtn(W, bits, group).numpy()
        g["gptq"] = gptq(W, H, bits, group, 0.01, act_order, blocksize).numpy()

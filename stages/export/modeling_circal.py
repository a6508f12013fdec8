"""circal's student as a PyTorch module: a LLaMA-family decoder (llama, qwen2, qwen3, mistral)
whose patched MLP matrices are block-circulant (multiplied through torch.fft) or low rank (U V).

Written by `circal export --format circulant` into the folder it describes; needs only torch
(tested with Debian's python3-torch 1.13):

    import sys; sys.path.insert(0, DIR)
    import modeling_circal
    model = modeling_circal.from_pretrained(DIR)        # a torch.nn.Module, float32, eval mode
    logits = model(input_ids)                           # LongTensor [B, T] -> [B, T, vocab]
    ids = model.generate(input_ids, max_new_tokens=32)  # greedy, with a KV cache

It also loads a plain Hugging Face folder of the same families (no `circal` section in
config.json: every MLP matrix dense), e.g. `circal export --format dense`.

The patched matrices (config.json's `circal` section, stages/FILES.md in circal's sources):
- circulant: `model.layers.{l}.mlp.{proj}.c` [p, q, b] with p = ceil(m / b), q = ceil(n / b),
  W[r, s] = c[r // b, s // b, (r - s) mod b] for r < m, s < n: block (i, j) is the b x b
  circulant C_ij[r, s] = c_ij[(r - s) mod b], and W is [p b, q b] cut to [m, n] (the input
  zero-padded to q b, the padded outputs dropped). C_ij x = c_ij (*) x (circular convolution),
  so for every frequency k, FFT(y_i)[k] = sum_j FFT(c_ij)[k] FFT(x_j)[k]: one complex
  [p, q] x [q, tokens] product per frequency.
- lowrank: `...{proj}.U` [m, r] and `...{proj}.V` [r, n], W = U V.
"""
import json
import math
import mmap
import os
import struct

import torch
import torch.nn.functional as F

__all__ = ["from_pretrained", "CircalModel", "CirculantLinear", "LowRankLinear", "KVCache"]

_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def _read_safetensors(path, tensors):
    """Adds every tensor of one safetensors file to `tensors`, as float32 (memory-mapped, so a
    large shard needs no read buffer next to its float32 copy)."""
    with open(path, "rb") as f:
        blob = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name} has dtype {entry['dtype']} (F32, BF16 or F16 expected)")
        begin, end = entry["data_offsets"]
        count = (end - begin) // torch.tensor([], dtype=_DTYPES[entry["dtype"]]).element_size()
        raw = torch.frombuffer(blob, dtype=_DTYPES[entry["dtype"]], count=count, offset=8 + n + begin)
        tensors[name] = raw.to(torch.float32).reshape(entry["shape"])


def load_weights(folder):
    """{name: float32 tensor} of model.safetensors or of the shards model.safetensors.index.json lists."""
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    else:
        shards = ["model.safetensors"]
    tensors = {}
    for shard in shards:
        _read_safetensors(os.path.join(folder, shard), tensors)
    return tensors


def rope_inverse_frequencies(config, head_dim):
    """Float64 [head_dim / 2], as transformers computes them (rope_scaling none, linear, llama3)."""
    f = config.get("rope_theta", 10000.0) ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    scaling = config.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "linear":
        return f / scaling["factor"]
    if kind == "llama3":
        factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        wavelength = 2 * math.pi / f
        scaled = torch.where(wavelength > old / low, f / factor, f)
        smooth = (old / wavelength - low) / (high - low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelength >= old / high) & (wavelength <= old / low)
        return torch.where(medium, blended, scaled)
    if kind != "default":
        raise ValueError(f"rope_scaling type {kind!r} is not supported (none, linear, llama3)")
    return f


def _parameter(tensor):
    return torch.nn.Parameter(tensor, requires_grad=False)


class CirculantLinear(torch.nn.Module):
    """y = W x for the block-circulant W [m, n] of c [p, q, b] (module docstring)."""

    def __init__(self, c, out_features, in_features):
        super().__init__()
        p, q, b = c.shape
        if b % 2 or p != -(-out_features // b) or q != -(-in_features // b):
            raise ValueError(f"c of shape {list(c.shape)} does not cover a [{out_features}, {in_features}] matrix")
        self.out_features, self.in_features, self.block = out_features, in_features, b
        self.c = _parameter(c)
        self._spectrum, self._version = None, None

    def spectrum(self):
        """FFT(c) as [b/2 + 1, p, q], kept while c is unchanged and no gradient is wanted."""
        if torch.is_grad_enabled() and self.c.requires_grad:
            return torch.fft.rfft(self.c, dim=-1).permute(2, 0, 1)
        if self._spectrum is None or self._version != self.c._version:
            self._spectrum = torch.fft.rfft(self.c.detach(), dim=-1).permute(2, 0, 1).contiguous()
            self._version = self.c._version
        return self._spectrum

    def forward(self, x):
        shape, b = x.shape[:-1], self.block
        rows = x.reshape(-1, self.in_features)
        p, q = self.c.shape[0], self.c.shape[1]
        if q * b != self.in_features:
            rows = F.pad(rows, (0, q * b - self.in_features))
        xf = torch.fft.rfft(rows.reshape(-1, q, b), dim=-1).permute(2, 1, 0)  # [b/2 + 1, q, N]
        yf = torch.matmul(self.spectrum(), xf)  # [b/2 + 1, p, N]
        y = torch.fft.irfft(yf.permute(2, 1, 0), n=b, dim=-1).reshape(-1, p * b)
        return y[:, : self.out_features].reshape(*shape, self.out_features)

    def dense_weight(self):
        """W [m, n] by indexing c (for checks; the forward never forms it)."""
        b = self.block
        r = torch.arange(self.out_features)[:, None]
        s = torch.arange(self.in_features)[None, :]
        return self.c[r // b, s // b, (r - s) % b]


class LowRankLinear(torch.nn.Module):
    """y = U (V x)."""

    def __init__(self, U, V):
        super().__init__()
        if U.shape[1] != V.shape[0]:
            raise ValueError(f"U {list(U.shape)} and V {list(V.shape)} do not multiply")
        self.U, self.V = _parameter(U), _parameter(V)

    def forward(self, x):
        return F.linear(F.linear(x, self.V), self.U)


class Linear(torch.nn.Module):
    """A dense projection with an optional bias (the teacher's tensors)."""

    def __init__(self, weight, bias=None):
        super().__init__()
        self.weight = _parameter(weight)
        self.bias = None if bias is None else _parameter(bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class RMSNorm(torch.nn.Module):
    def __init__(self, weight, eps):
        super().__init__()
        self.weight, self.eps = _parameter(weight), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class KVCache:
    """Keys and values of every layer, [B, kv_heads, capacity, head_dim] each, filled up to `length`."""

    def __init__(self, model, batch, capacity):
        c = model.config
        shape = (batch, c["num_key_value_heads"], capacity, model.head_dim)
        dtype = model.embed_tokens.dtype
        self.k = [torch.zeros(shape, dtype=dtype) for _ in range(c["num_hidden_layers"])]
        self.v = [torch.zeros(shape, dtype=dtype) for _ in range(c["num_hidden_layers"])]
        self.length = 0
        self.capacity = capacity


def _sliding_window(config):
    family = config.get("model_type", "llama")
    if family == "mistral":
        return config.get("sliding_window")
    if family in ("qwen2", "qwen3") and config.get("use_sliding_window", False):
        return config.get("sliding_window")
    return None


class Attention(torch.nn.Module):
    def __init__(self, weights, prefix, config, head_dim):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = config["num_attention_heads"], config["num_key_value_heads"], head_dim
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            setattr(self, name, Linear(weights.pop(prefix + name + ".weight"), weights.pop(prefix + name + ".bias", None)))
        eps = config.get("rms_norm_eps", 1e-6)
        # Qwen3: a per-head RMSNorm of q and k, after the projection, before RoPE.
        self.q_norm = RMSNorm(weights.pop(prefix + "q_norm.weight"), eps) if prefix + "q_norm.weight" in weights else None
        self.k_norm = RMSNorm(weights.pop(prefix + "k_norm.weight"), eps) if prefix + "k_norm.weight" in weights else None

    @staticmethod
    def rope(x, cos, sin):  # transformers' rotate_half convention
        half = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin

    def forward(self, x, cos, sin, mask, cache, layer):
        B, T, _ = x.shape
        d = self.head_dim
        q = self.q_proj(x).view(B, T, self.heads, d)
        k = self.k_proj(x).view(B, T, self.kv_heads, d)
        v = self.v_proj(x).view(B, T, self.kv_heads, d).transpose(1, 2)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q = self.rope(q.transpose(1, 2), cos, sin)  # [B, heads, T, d]
        k = self.rope(k.transpose(1, 2), cos, sin)
        if cache is not None:
            start = cache.length
            cache.k[layer][:, :, start : start + T] = k
            cache.v[layer][:, :, start : start + T] = v
            k, v = cache.k[layer][:, :, : start + T], cache.v[layer][:, :, : start + T]
        group = self.heads // self.kv_heads
        # Grouped-query attention without copying keys: query heads [B, kv, group, T, d].
        q = q.reshape(B, self.kv_heads, group, T, d)
        scores = torch.matmul(q, k.unsqueeze(2).transpose(-1, -2)) / math.sqrt(d)
        scores = scores.masked_fill(~mask, float("-inf"))
        out = torch.matmul(torch.softmax(scores, dim=-1), v.unsqueeze(2))  # [B, kv, group, T, d]
        return self.o_proj(out.reshape(B, self.heads, T, d).transpose(1, 2).reshape(B, T, self.heads * d))


class MLP(torch.nn.Module):
    def __init__(self, weights, prefix, patched):
        super().__init__()
        for name in ("gate_proj", "up_proj", "down_proj"):
            stem = prefix + name + "."
            entry = patched.get(stem)
            if entry is None:
                setattr(self, name, Linear(weights.pop(stem + "weight")))
            elif stem + "c" in weights:
                setattr(self, name, CirculantLinear(weights.pop(stem + "c"), entry["out_features"], entry["in_features"]))
            else:
                setattr(self, name, LowRankLinear(weights.pop(stem + "U"), weights.pop(stem + "V")))

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(torch.nn.Module):
    def __init__(self, weights, layer, config, head_dim, patched):
        super().__init__()
        prefix = f"model.layers.{layer}."
        eps = config.get("rms_norm_eps", 1e-6)
        self.input_layernorm = RMSNorm(weights.pop(prefix + "input_layernorm.weight"), eps)
        self.self_attn = Attention(weights, prefix + "self_attn.", config, head_dim)
        self.post_attention_layernorm = RMSNorm(weights.pop(prefix + "post_attention_layernorm.weight"), eps)
        self.mlp = MLP(weights, prefix + "mlp.", patched)
        self.layer = layer

    def forward(self, x, cos, sin, mask, cache):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, self.layer)
        return x + self.mlp(self.post_attention_layernorm(x))


class CircalModel(torch.nn.Module):
    """The decoder of config.json with the weights of the folder; forward(input_ids) -> logits."""

    def __init__(self, config, weights):
        super().__init__()
        self.config = config
        self.head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
        config.setdefault("num_key_value_heads", config["num_attention_heads"])
        section = config.get("circal") or {}
        patched = {f"model.layers.{m['layer']}.mlp.{m['projection']}.": m for m in section.get("matrices", [])}
        weights = dict(weights)
        self.embed_tokens = _parameter(weights.pop("model.embed_tokens.weight"))
        self.layers = torch.nn.ModuleList(
            DecoderLayer(weights, layer, config, self.head_dim, patched) for layer in range(config["num_hidden_layers"])
        )
        self.norm = RMSNorm(weights.pop("model.norm.weight"), config.get("rms_norm_eps", 1e-6))
        head = weights.pop("lm_head.weight", None)
        if head is None and not config.get("tie_word_embeddings", False):
            raise ValueError("no lm_head.weight and tie_word_embeddings is not set")
        self.lm_head = None if head is None else _parameter(head)
        if weights:
            raise ValueError(f"tensors this model does not use: {sorted(weights)[:5]}")
        self.inverse_frequencies = rope_inverse_frequencies(config, self.head_dim)
        self.window = _sliding_window(config)

    def rope_tables(self, positions):
        angles = positions.to(torch.float64)[:, None] * self.inverse_frequencies[None, :]
        angles = torch.cat((angles, angles), dim=-1)
        dtype = self.embed_tokens.dtype
        return angles.cos().to(dtype), angles.sin().to(dtype)

    def forward(self, input_ids, cache=None):
        """Logits [B, T, vocab] of input_ids [B, T] (every row a sequence of its own); with a
        KVCache, the rows continue the cached ones at position cache.length, and the cache grows."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, tokens], got shape {list(input_ids.shape)}")
        T = input_ids.shape[1]
        start = 0 if cache is None else cache.length
        if cache is not None and start + T > cache.capacity:
            raise ValueError(f"KV cache of {cache.capacity} positions cannot take {start + T}")
        positions = torch.arange(start, start + T)
        cos, sin = self.rope_tables(positions)
        keys = torch.arange(start + T)[None, :]
        mask = keys <= positions[:, None]
        if self.window:
            mask &= keys > positions[:, None] - self.window
        x = F.embedding(input_ids, self.embed_tokens)
        for layer in self.layers:
            x = layer(x, cos, sin, mask, cache)
        if cache is not None:
            cache.length += T
        head = self.embed_tokens if self.lm_head is None else self.lm_head
        return F.linear(self.norm(x), head)

    @torch.no_grad()
    def generate(self, input_ids, max_new_tokens=32, eos_token_id="config"):
        """Greedy continuation with a KV cache: input_ids [B, T] (LongTensor) -> [B, T + n],
        n <= max_new_tokens. A row that produced EOS (config.json's eos_token_id, or the id or
        ids given; None: never stop) keeps producing it; decoding stops when every row has."""
        if eos_token_id == "config":
            eos_token_id = self.config.get("eos_token_id")
        eos = torch.tensor(eos_token_id if isinstance(eos_token_id, list) else [] if eos_token_id is None else [eos_token_id])
        B, T = input_ids.shape
        cache = KVCache(self, B, T + max_new_tokens)
        logits = self.forward(input_ids, cache)
        out, done = [input_ids], torch.zeros(B, dtype=torch.bool)
        for step in range(max_new_tokens):
            next_ids = logits[:, -1].argmax(dim=-1)
            if len(eos):
                next_ids = torch.where(done, eos[0], next_ids)
                done |= torch.isin(next_ids, eos)
            out.append(next_ids[:, None])
            if bool(done.all()) or step + 1 == max_new_tokens:
                break
            logits = self.forward(next_ids[:, None], cache)
        return torch.cat(out, dim=1)


def from_pretrained(folder, dtype=torch.float32):
    """The model of a `circal export` folder (or any Hugging Face folder of the supported
    families), in eval mode, parameters of `dtype` (float32 by default, as circal computes)."""
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    family = config.get("model_type", "llama")
    if family not in ("llama", "qwen2", "qwen3", "mistral"):
        raise ValueError(f"{folder}: model_type {family!r} is not supported (llama, qwen2, qwen3, mistral)")
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError(f"{folder}: hidden_act {config['hidden_act']!r} is not supported (silu)")
    model = CircalModel(config, load_weights(folder))
    return model.to(dtype).eval()

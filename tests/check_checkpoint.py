#!/usr/bin/env python3
"""check_checkpoint.py — check a DeepSeek-V2/V3 checkpoint directory against its own config.json,
using only the standard library: every tensor the config implies exists with the right dtype and
shape (and nothing else), headers are consistent, FP8 block scales match their weights.

usage: check_checkpoint.py DIR [--layers N] [--fp8 | --no-fp8] [--shards M] [--vocab V] [--values]
  --layers/--fp8/--shards/--vocab also assert those properties of the checkpoint;
  --values checks value statistics of a random-weight checkpoint written by `latte init-model`.
"""
import json
import math
import os
import struct
import sys

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "I32": 4, "I64": 8, "U8": 1, "BOOL": 1}


def fail(msg):
    print("check_checkpoint: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def expected_tensors(cfg):
    """{name: (dtype, shape)} that config.json implies (Hugging Face DeepseekV2/V3 layout)."""
    fp8 = (cfg.get("quantization_config") or {}).get("quant_method") == "fp8"
    bn, bk = (cfg.get("quantization_config") or {}).get("weight_block_size", [128, 128]) if fp8 else (128, 128)
    v3 = cfg["model_type"] == "deepseek_v3"
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    dn, dr, dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    ql, kl = cfg.get("q_lora_rank"), cfg["kv_lora_rank"]
    ne = cfg.get("n_routed_experts") or 0
    first_dense, freq = cfg.get("first_k_dense_replace", 0), cfg.get("moe_layer_freq", 1)
    out = {}

    def linear(name, n, k):
        if fp8:
            out[name + ".weight"] = ("F8_E4M3", [n, k])
            out[name + ".weight_scale_inv"] = ("F32", [-(-n // bn), -(-k // bk)])
        else:
            out[name + ".weight"] = ("BF16", [n, k])

    def norm(name, n):
        out[name + ".weight"] = ("BF16", [n])

    def mlp(pre, inter):
        linear(pre + ".gate_proj", inter, h)
        linear(pre + ".up_proj", inter, h)
        linear(pre + ".down_proj", h, inter)

    out["model.embed_tokens.weight"] = ("BF16", [cfg["vocab_size"], h])
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d" % l
        norm(p + ".input_layernorm", h)
        norm(p + ".post_attention_layernorm", h)
        a = p + ".self_attn"
        if ql:
            linear(a + ".q_a_proj", ql, h)
            norm(a + ".q_a_layernorm", ql)
            linear(a + ".q_b_proj", nh * (dn + dr), ql)
        else:
            linear(a + ".q_proj", nh * (dn + dr), h)
        linear(a + ".kv_a_proj_with_mqa", kl + dr, h)
        norm(a + ".kv_a_layernorm", kl)
        linear(a + ".kv_b_proj", nh * (dn + dv), kl)
        linear(a + ".o_proj", h, nh * dv)
        if ne > 0 and l >= first_dense and l % freq == 0:
            out[p + ".mlp.gate.weight"] = ("BF16", [ne, h])
            if v3:
                out[p + ".mlp.gate.e_score_correction_bias"] = ("F32", [ne])
            for e in range(ne):
                mlp("%s.mlp.experts.%d" % (p, e), cfg["moe_intermediate_size"])
            if cfg.get("n_shared_experts"):
                mlp(p + ".mlp.shared_experts", cfg["moe_intermediate_size"] * cfg["n_shared_experts"])
        else:
            mlp(p + ".mlp", cfg["intermediate_size"])
    norm("model.norm", h)
    if not cfg.get("tie_word_embeddings"):
        out["lm_head.weight"] = ("BF16", [cfg["vocab_size"], h])
    return out


def read_header(path):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if size < 8:
            fail("%s: shorter than 8 bytes" % path)
        n = struct.unpack("<Q", f.read(8))[0]
        if n > size - 8:
            fail("%s: header length %d past end of file" % (path, n))
        hdr = json.loads(f.read(n))
    data_len = size - 8 - n
    spans = []
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        numel = math.prod(e["shape"])
        if not (0 <= b <= en <= data_len) or numel * DTYPE_SIZE[e["dtype"]] != en - b:
            fail("%s: tensor %s: bad data_offsets %s for %s %s" % (path, name, e["data_offsets"], e["dtype"], e["shape"]))
        spans.append((b, en, name))
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            fail("%s: tensors %s and %s overlap" % (path, n0, n1))
    return hdr, 8 + n


def bf16(b):
    return struct.unpack("<f", b"\0\0" + b)[0]


def e4m3(v):
    s, e, m = v >> 7, (v >> 3) & 15, v & 7
    x = m / 8 * 2.0 ** -6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7)
    return -x if s else x


def check_values(d, loc, exp, cfg):
    """Statistics of an init-model checkpoint: norms near 1, linears with std 1/sqrt(fan_in), FP8 blocks whose
    largest element is exactly ±448 (scale = amax / 448)."""
    def raw(name):
        path, hdr, off = loc[name]
        b, e = hdr[name]["data_offsets"]
        with open(path, "rb") as f:
            f.seek(off + b)
            return f.read(e - b)

    vals = [bf16(raw("model.norm.weight")[i:i + 2]) for i in range(0, 2 * cfg["hidden_size"], 2)]
    if not all(0.89 <= v <= 1.11 for v in vals) or max(vals) - min(vals) < 0.05:
        fail("model.norm.weight values not 1 + U(-0.1, 0.1): min %g max %g" % (min(vals), max(vals)))
    name = "model.layers.0.self_attn.kv_a_proj_with_mqa"
    dt, (n, k) = exp[name + ".weight"]
    w = raw(name + ".weight")
    if dt == "BF16":
        x = [bf16(w[i:i + 2]) for i in range(0, len(w), 2)]
    else:
        sc = struct.unpack("<%df" % (len(raw(name + ".weight_scale_inv")) // 4), raw(name + ".weight_scale_inv"))
        nbk = -(-k // 128)
        x = []
        for r in range(n):
            for c in range(k):
                x.append(e4m3(w[r * k + c]) * sc[(r // 128) * nbk + c // 128])
        for br in range(-(-n // 128)):
            for bc in range(nbk):
                amax = max(e4m3(w[r * k + c] & 0x7F) for r in range(br * 128, min(n, br * 128 + 128))
                           for c in range(bc * 128, min(k, bc * 128 + 128)))
                if amax != 448.0:
                    fail("%s: block (%d, %d) has max |code| %g, expected 448" % (name, br, bc, amax))
    std = math.sqrt(sum(v * v for v in x) / len(x))
    if abs(std * math.sqrt(k) - 1.0) > 0.1 or abs(sum(x) / len(x)) > 0.05 / math.sqrt(k) * 10:
        fail("%s: std %g, expected about 1/sqrt(%d) = %g" % (name, std, k, 1 / math.sqrt(k)))


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    d = argv[1]
    opts, i = {}, 2
    while i < len(argv):
        a = argv[i]
        if a in ("--fp8", "--no-fp8", "--values"):
            opts[a] = True
            i += 1
        elif a in ("--layers", "--shards", "--vocab") and i + 1 < len(argv):
            opts[a] = int(argv[i + 1])
            i += 2
        else:
            fail("unknown argument %r" % a)
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") not in ("deepseek_v2", "deepseek_v3"):
        fail("config.json: model_type %r" % cfg.get("model_type"))
    exp = expected_tensors(cfg)
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            wm = json.load(f)["weight_map"]
        files = sorted(set(wm.values()))
    else:
        wm, files = None, ["model.safetensors"]
    loc = {}
    for fn in files:
        path = os.path.join(d, fn)
        if not os.path.exists(path):
            fail("shard %s missing" % fn)
        hdr, off = read_header(path)
        for name in hdr:
            if name == "__metadata__":
                continue
            if name in loc:
                fail("tensor %s in two files" % name)
            if wm is not None and wm.get(name) != fn:
                fail("tensor %s is in %s but the weight_map says %s" % (name, fn, wm.get(name)))
            loc[name] = (path, hdr, off)
    if wm is not None and set(wm) != set(loc):
        fail("weight_map and shards differ: %s" % sorted(set(wm) ^ set(loc))[:5])
    missing = sorted(set(exp) - set(loc))
    extra = sorted(set(loc) - set(exp))
    if missing:
        fail("%d expected tensors missing, e.g. %s" % (len(missing), missing[:3]))
    if extra:
        fail("%d unexpected tensors, e.g. %s" % (len(extra), extra[:3]))
    for name, (dt, shape) in exp.items():
        e = loc[name][1][name]
        if e["dtype"] != dt or e["shape"] != shape:
            fail("%s: %s %s, expected %s %s" % (name, e["dtype"], e["shape"], dt, shape))
    fp8 = (cfg.get("quantization_config") or {}).get("quant_method") == "fp8"
    if opts.get("--fp8") and not fp8:
        fail("expected an fp8 checkpoint")
    if opts.get("--no-fp8") and fp8:
        fail("expected a bf16 checkpoint")
    if "--layers" in opts and cfg["num_hidden_layers"] != opts["--layers"]:
        fail("num_hidden_layers %d, expected %d" % (cfg["num_hidden_layers"], opts["--layers"]))
    if "--shards" in opts and len(files) != opts["--shards"]:
        fail("%d files, expected %d" % (len(files), opts["--shards"]))
    if "--vocab" in opts and cfg["vocab_size"] != opts["--vocab"]:
        fail("vocab_size %d, expected %d" % (cfg["vocab_size"], opts["--vocab"]))
    if opts.get("--values"):
        check_values(d, loc, exp, cfg)
    print("check_checkpoint: %s: ok (%s, %d layers, %d tensors in %d file%s%s)" % (
        d, cfg["model_type"], cfg["num_hidden_layers"], len(exp), len(files), "s" if len(files) > 1 else "",
        ", fp8" if fp8 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

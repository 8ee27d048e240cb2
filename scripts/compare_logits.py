#!/usr/bin/env python3
"""compare_logits.py A.safetensors B.safetensors [--tol T] — two `latte logits` outputs (one F32 tensor
`logits` [T, vocab] each): prints ‖a−b‖/‖b‖ over all rows, the worst row, and how many rows pick the same
argmax; exits 1 when the relative error exceeds --tol (default 2e-2, the CUDA backend's end-to-end bound).
Needs numpy only (the safetensors header is parsed here)."""
import json
import struct
import sys

import numpy as np


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        meta = head["logits"]
        if meta["dtype"] != "F32":
            sys.exit(f"{path}: logits dtype {meta['dtype']}, expected F32")
        a, b = meta["data_offsets"]
        f.seek(8 + n + a)
        return np.frombuffer(f.read(b - a), dtype=np.float32).reshape(meta["shape"])


def main():
    args = sys.argv[1:]
    tol = 2e-2
    if "--tol" in args:
        i = args.index("--tol")
        tol = float(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    a, b = load(args[0]), load(args[1])
    if a.shape != b.shape:
        sys.exit(f"shapes differ: {a.shape} vs {b.shape}")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    rel = np.linalg.norm(a64 - b64) / max(np.linalg.norm(b64), 1e-30)
    rows = np.linalg.norm(a64 - b64, axis=1) / np.maximum(np.linalg.norm(b64, axis=1), 1e-30)
    same = int((a.argmax(axis=1) == b.argmax(axis=1)).sum())
    finite = bool(np.isfinite(a).all() and np.isfinite(b).all())
    print(f"rows {a.shape[0]} vocab {a.shape[1]}: rel err {rel:.3e} (worst row {rows.max():.3e}), "
          f"argmax equal {same}/{a.shape[0]}, finite {finite}, tol {tol:g}: {'ok' if finite and rel <= tol else 'FAIL'}")
    sys.exit(0 if finite and rel <= tol else 1)


if __name__ == "__main__":
    main()

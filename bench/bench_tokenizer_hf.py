#!/usr/bin/env python3
"""bench_tokenizer_hf.py — the reference for bench_tokenizer.c: HF `tokenizers` encodes the same
corpus single-threaded, no special tokens, as one string and line by line (encode_batch of the
lines without their newlines); prints MB/s and the same id checksums.
Usage: bench_tokenizer_hf.py TOKENIZER_JSON CORPUS [REPS]"""
import os, sys, time
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer

def checksum(ids):
    h = 1469598103934665603
    for i in ids:
        h = ((h ^ i) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h

def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    tok = Tokenizer.from_file(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        data = f.read()
    text = data.decode("utf-8")
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    mb = len(data) / 1e6
    lines = text.split("\n")
    for mode in ("whole", "lines"):
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            if mode == "whole":
                ids = tok.encode(text, add_special_tokens=False).ids
            else:
                ids = [i for e in tok.encode_batch(lines, add_special_tokens=False) for i in e.ids]
            times.append(time.perf_counter() - t0)
        print(f"hf tokenizers {__import__('tokenizers').__version__} ({mode}): {len(data)} bytes, {len(ids)} tokens, "
              f"first {times[0]:.3f} s, best {min(times):.3f} s, {mb / min(times):.2f} MB/s (best), "
              f"{mb / times[0]:.2f} MB/s (first), checksum {checksum(ids):016x}")

if __name__ == "__main__":
    main()

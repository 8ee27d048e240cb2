#!/usr/bin/env python3
"""make_tok_corpus.py — write the tokenizer benchmark corpus: the dev-case texts of
tests/fixtures/tokenizer-cases-dev.jsonl joined by newlines, repeated until the file holds at least
10 MiB (deterministic). Usage: make_tok_corpus.py OUT [MiB]"""
import json, os, sys

def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out, mib = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "tests/fixtures/tokenizer-cases-dev.jsonl"), encoding="utf-8") as f:
        texts = [json.loads(l)["text"] for l in f if l.strip()]
    block = "\n".join(texts) + "\n"
    data = bytearray()
    target = int(mib * (1 << 20))
    while len(data) < target:
        data += block.encode("utf-8")
    with open(out, "wb") as f:
        f.write(data)
    print(f"{out}: {len(data)} bytes")

if __name__ == "__main__":
    main()

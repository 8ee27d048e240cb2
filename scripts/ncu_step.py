#!/usr/bin/env python3
"""ncu_step.py — folds scripts/gpu-profile.sh's ncu CSV (one row per kernel, gpu__time_duration) into
per-decode-step totals and a per-kernel table of the last step (steps start at the embedding kernel).
   python3 scripts/ncu_step.py ncu.csv"""
import csv
import io
import sys
from collections import defaultdict


def main(path):
    txt = open(path).read()
    rows = list(csv.reader(io.StringIO(txt[txt.index('"ID"'):])))
    hdr = rows[0]
    ki, ti = hdr.index("Kernel Name"), hdr.index("gpu__time_duration.sum")
    data = []
    for r in rows[1:]:
        try:
            data.append((r[ki], float(r[ti].replace(",", ""))))
        except (ValueError, IndexError):
            pass  # the units row
    starts = [i for i, (k, _) in enumerate(data) if "lt_k_embed" in k]
    if not starts:
        sys.exit("no lt_k_embed kernel in %s" % path)
    for s, a in enumerate(starts):
        seg = data[a:(starts[s + 1] if s + 1 < len(starts) else len(data))]
        print("step %d: %d kernels, %.1f us" % (s, len(seg), sum(t for _, t in seg) / 1e3))
    agg = defaultdict(lambda: [0, 0.0])
    for k, t in data[starts[-1]:]:
        n = k.split("(")[0]
        agg[n][0] += 1
        agg[n][1] += t
    print("last step, by kernel:\n%10s %6s  kernel" % ("us", "count"))
    for n, (c, t) in sorted(agg.items(), key=lambda x: -x[1][1]):
        print("%10.1f %6d  %s" % (t / 1e3, c, n[:100]))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ncu.csv")

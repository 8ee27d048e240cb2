#!/usr/bin/env python3
"""ncu_step.py — folds scripts/gpu-profile.sh's ncu CSV (one row per kernel, gpu__time_duration) into
per-step totals and a per-kernel table of one step (steps start at the embedding kernel): the last step (a
decode step), or with --largest the step of most kernel time (a prefill step).
   python3 scripts/ncu_step.py [--largest] ncu.csv"""
import csv
import io
import sys
from collections import defaultdict


def main(path, largest=False):
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
    ends = starts[1:] + [len(data)]
    pick = len(starts) - 1
    if largest:
        pick = max(range(len(starts)), key=lambda i: sum(t for _, t in data[starts[i]:ends[i]]))
    agg = defaultdict(lambda: [0, 0.0])
    for k, t in data[starts[pick]:ends[pick]]:
        n = k.split("(")[0]
        agg[n][0] += 1
        agg[n][1] += t
    print("%s step (%d), by kernel:\n%10s %6s  kernel" % ("largest" if largest else "last", pick, "us", "count"))
    for n, (c, t) in sorted(agg.items(), key=lambda x: -x[1][1]):
        print("%10.1f %6d  %s" % (t / 1e3, c, n[:100]))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--largest"]
    main(args[0] if args else "ncu.csv", "--largest" in sys.argv[1:])

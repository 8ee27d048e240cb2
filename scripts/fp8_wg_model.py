#!/usr/bin/env python3
"""fp8_wg_model.py — host-side index model of lt_k_fp8_wg (src/backend/cuda/cuda_gemm_fp8_wg.cu), written
without a GPU to check what careful reading alone cannot:

 1. the copy mapping: every (row, 16-byte chunk) of a stage's W tile [R][128 B] and x tile [NN][128 B] is
    copied by exactly one thread, to the 128B-swizzled position (chunk c of row r at chunk c ^ (r % 8));
 2. the wgmma's view: for every k32 step j and every operand (row, byte k) of A (a warpgroup's 64 W rows)
    and B (the NN token rows), the byte the descriptor (start + 32j, SBO 1024, 128B swizzle = XOR of
    address bits 4-6 with bits 7-9, 1024-aligned atoms) addresses holds W[row][32j + k] / x[row][32j + k];
 3. the accumulator → partial tile → lt_cluster_sum_store mapping is a bijection onto (token, W row) and
    the tile stores are free of shared-memory bank conflicts;
 4. the cp.async group accounting of the ring (which group holds which stage, wait_group ST−2, the slot
    each refill overwrites) over whole runs;
 5. the shared-memory layout after the ring (token scales read as float2 must be 8-byte aligned);
 6. the host's choice of (S, ST, shared memory) at the DeepSeek-V3 shapes (printed).
The hardware semantics in 2 (descriptor fields, swizzle) are the model's assumption, the same the MLA
decode's bf16 wgmma (cuda_mla.cu, validated on an H200) relies on; the FP8 k32 step is 32 bytes as the
bf16 k16 step is. Run: python3 scripts/fp8_wg_model.py (exit status 0 = every check passed)."""
import sys

FAIL = []


def check(ok, what):
    if not ok:
        FAIL.append(what)


def swz(addr):
    """128B swizzle of a shared-memory byte address (atoms 1024-aligned): bits 4-6 ^= bits 7-9"""
    return addr ^ (((addr >> 7) & 7) << 4)


def stage_bytes(WG, NN):
    return (64 * WG + NN) * 128


def copy_map(WG, N8):
    """kernel's copy assignment: {(tile, row, chunk): stage byte offset} from every thread"""
    T, R, NN = WG * 128, WG * 64, N8 * 8
    RS = T // 8
    XJ = (NN * 8 + T - 1) // T
    got = {}
    for tid in range(T):
        c, r0 = tid & 7, tid >> 3
        cs = (c ^ (r0 & 7)) << 4
        dst0 = r0 * 128 + cs
        for j in range(4):
            row = r0 + j * RS
            key = ("w", row, c)
            check(key not in got, f"W chunk copied twice {key}")
            got[key] = dst0 + j * RS * 128
        for j in range(XJ):
            m = r0 + j * RS
            if m < NN:  # xhas
                key = ("x", m, c)
                check(key not in got, f"x chunk copied twice {key}")
                got[key] = R * 128 + dst0 + j * RS * 128
    for row in range(R):
        for c in range(8):
            check(("w", row, c) in got, f"W chunk not copied {(row, c)} WG={WG}")
    for m in range(NN):
        for c in range(8):
            check(("x", m, c) in got, f"x chunk not copied {(m, c)} N8={N8}")
    check(len(got) == (R + NN) * 8, "copy count")
    return got


def check_wgmma_view(WG, N8, base=0x4000):
    """byte-level: fill a stage from the copy map, read it back the way the descriptors address it"""
    R, NN = WG * 64, N8 * 8
    got = copy_map(WG, N8)
    mem = {}
    for (kind, row, c), off in got.items():
        for b in range(16):
            # the kernel writes chunk c's bytes b at the offset the map gives (the swizzle is in the map)
            mem[base + off + b] = (kind, row, c * 16 + b)
    check(base % 1024 == 0 and stage_bytes(WG, NN) % 1024 == 0 and (R * 128) % 1024 == 0, "alignment")
    for wg in range(WG):
        a_start = base + wg * 64 * 128
        b_start = base + R * 128
        for j in range(4):
            for r in range(64):
                for k in range(32):
                    logical = a_start + 32 * j + (r // 8) * 1024 + (r % 8) * 128 + k
                    v = mem.get(swz(logical))
                    check(v == ("w", wg * 64 + r, 32 * j + k), f"A view wg {wg} step {j} row {r} k {k}: {v}")
            for r in range(NN):
                for k in range(32):
                    logical = b_start + 32 * j + (r // 8) * 1024 + (r % 8) * 128 + k
                    v = mem.get(swz(logical))
                    check(v == ("x", r, 32 * j + k), f"B view step {j} row {r} k {k}: {v}")
    # the descriptor's start field moves by (32 j) >> 4 = 2 j and never carries out of bits 0-13
    check(((base + stage_bytes(WG, NN) * 8) >> 4) + 6 < (1 << 14), "descriptor start field range")


def check_epilogue(WG, N8, S):
    R, NN = WG * 64, N8 * 8
    RP = R + 4
    seen = {}
    for tid in range(WG * 128):
        wg, lane, t = tid >> 7, tid & 31, tid & 3
        q = (tid >> 5) & 3
        row = wg * 64 + q * 16 + (lane >> 2)
        for cc in range(N8):
            for e in range(4):
                # accumulator element (cc, e) of warp q, lane: W row 16q + lane/4 + 8(e >> 1), token 8cc + 2t + (e & 1)
                wrow = wg * 64 + 16 * q + (lane >> 2) + 8 * (e >> 1)
                tok = 8 * cc + 2 * t + (e & 1)
                idx = (cc * 8 + 2 * t + (e & 1)) * RP + row + (e >> 1) * 8
                check(idx not in seen, "tile element written twice")
                seen[idx] = (tok, wrow)
                check(idx == tok * RP + wrow, "tile index = token · RP + W row")
    check(len(seen) == NN * R, "tile covered")
    check(NN * RP * 4 <= 4 * stage_bytes(WG, NN), "tile fits the ring (ST >= 4)")
    # bank conflicts of the tile stores: per warp, per (cc, e), 32 distinct banks
    for w in range(WG * 4):
        for cc in range(N8):
            for e in range(4):
                banks = set()
                for lane in range(32):
                    tid = w * 32 + lane
                    wg, t, q = tid >> 7, lane & 3, (tid >> 5) & 3
                    row = wg * 64 + q * 16 + (lane >> 2)
                    idx = (cc * 8 + 2 * t + (e & 1)) * RP + row + (e >> 1) * 8
                    banks.add(idx % 32)
                check(len(banks) == 32, f"tile store bank conflict WG {WG} warp {w}")
    # lt_cluster_sum_store's read: rank z sums pieces e in [z·per, (z+1)·per) of E = C·P, ml = e / P, nl = 4(e % P)
    P, E = R // 4, NN * (R // 4)
    per = (E + S - 1) // S
    cover = set()
    for z in range(S):
        for e in range(z * per, min(E, (z + 1) * per)):
            ml, nl = e // P, (e % P) * 4
            for u in range(4):
                cover.add(ml * RP + nl + u)
    check(cover == set(seen), "cluster sum reads exactly the written tile")


def check_ring(ST, ng):
    """cp.async groups: prologue commits ST−1 groups (stage s = group s, empty past ng); iteration i waits
    (wait_group ST−2), barrier, commits group i+ST−1 (refill of slot (i+ST−1) % ST, empty past ng)."""
    committed = ST - 1
    slot_of_group = {g: g % ST for g in range(ST - 1) if g < ng}
    last_read = {}
    for i in range(ng):
        done = committed - (ST - 2)  # groups 0 .. done−1 complete
        check(i < done, f"stage {i} not complete at its wait (ST {ST})")
        gi = i + ST - 1
        if gi < ng:
            s = gi % ST
            check(s == (i - 1) % ST, "refill goes to the slot of group i−1")
            check(last_read.get(s, -1) < i, "refill of a slot read this iteration")
            # every group still in flight (i+1 .. gi−1) lives in another slot, as does the one read now
            for g in range(i, gi):
                check(g % ST != s, "refill over a live stage")
            slot_of_group[gi] = s
        committed += 1
        last_read[i % ST] = i
        check(slot_of_group.get(i) == i % ST, "stage i read from its slot")


def check_smem_layout(WG, N8, ST, gs):
    """ring at 0 (1024-aligned), token scales sxs [gs][NN] right after it, weight scales sws [WG][gs] after those"""
    NN = 8 * N8
    sxs = ST * stage_bytes(WG, NN)
    sws = sxs + 4 * gs * NN
    end = sws + 4 * WG * gs
    check(end + 1024 == 1024 + ST * stage_bytes(WG, NN) + 4 * (WG * gs + gs * NN), "smem size formula")
    for i in range(gs):
        for t in range(4):
            for cc in range(N8):
                check((sxs + 4 * (i * NN + 8 * cc + 2 * t)) % 8 == 0, "float2 token-scale read misaligned")


def host_choice(n, k, rows, sms=132, optin=232448, wg_knob=0, s_knob=0, st_knob=0):
    """lt_cuda_fp8_wg's choice (mirror of the C code); None = declined"""
    cdiv = lambda a, b: (a + b - 1) // b
    if k % 128 or rows < 1 or rows > 64:
        return None
    G, N8 = k // 128, cdiv(rows, 8)
    NN = 8 * N8
    WG = 2 if wg_knob == 2 else 1
    R = 64 * WG
    tiles = cdiv(n, R)
    S = s_knob if s_knob >= 1 else min(cdiv(4 * sms, 3 * tiles), 8)
    S = min(S, 8, G)
    ST = st_knob if st_knob in (6, 8) else 4

    def smem(st, gs):
        return 1024 + st * stage_bytes(WG, NN) + 4 * (WG * gs + gs * NN)

    while True:
        if S > 8 or S > G:
            return None
        gs = cdiv(G, S)
        if smem(ST, gs) <= optin:
            Se = cdiv(G, gs)
            return dict(WG=WG, tiles=tiles, S=Se, gs=gs, ST=ST, smem=smem(ST, gs), blocks=tiles * Se)
        S += 1


def main():
    for WG in (1, 2):
        for N8 in range(1, 9):
            copy_map(WG, N8)
            check_epilogue(WG, N8, S=3)
    for WG in (1, 2):
        for N8 in (1, 3, 8):
            check_wgmma_view(WG, N8)
    for ST in (4, 6, 8):
        for ng in range(1, 20):
            check_ring(ST, ng)
        for WG in (1, 2):
            for N8 in range(1, 9):
                for gs in (1, 3, 7, 12):
                    check_smem_layout(WG, N8, ST, gs)
    print("automatic choice (H200: 132 SMs, 227 KB opt-in):")
    for n, k in ((7168, 2048), (2048, 7168), (24576, 1536), (7168, 16384), (576, 7168)):
        for rows in (8, 17, 33, 64):
            ch = host_choice(n, k, rows)
            print(f"  {n:5d}x{k:<5d} M={rows:2d}: {ch}")
            check(ch is not None, f"declined {n}x{k} M={rows}")
    check(host_choice(384, 192, 17) is None, "k % 128 != 0 declines")
    if FAIL:
        print(f"FAILED: {len(FAIL)} checks, first: {FAIL[:5]}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

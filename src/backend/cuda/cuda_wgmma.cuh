/* cuda_wgmma.cuh — Hopper warpgroup MMA (wgmma, sm_90a), bf16 or e4m3 in, fp32 accumulate: the 64-bit
 * shared-memory matrix descriptors of the 128-byte-swizzled layouts, the fences / commit / wait around a batch,
 * the shapes the MLA decode uses and the FP8 m64nNk32 ones of the wgmma FP8 linear (cuda_gemm_fp8_wg.cu).
 * Accumulators are in the mma.sync m16n8 fragment order per warp (warp w of the group: rows 16w..16w+15;
 * 8-column chunk i in d[4i..4i+3]); a register A operand is the m16n8k16 A fragment.
 * Header-only: every function is static __forceinline__. */
#ifndef LT_CUDA_WGMMA_CUH
#define LT_CUDA_WGMMA_CUH
#include <stdint.h>

/* Descriptor of a 128B-swizzled operand at shared address a (its 8-row × 128-byte atoms 1024-byte aligned):
 * start >> 4 in bits 0-13, leading byte offset >> 4 in 16-29, stride byte offset >> 4 in 32-45, base offset
 * 0, layout 1 (128B swizzle) in 62-63. K-major: sbo = bytes between 8-row groups, lbo unused (1).
 * MN-major: lbo = bytes between 64-element blocks of M/N, sbo = bytes between 8-row groups of K. Moving the
 * start by b bytes (k inside an atom, or whole atoms) is adding b >> 4 to the descriptor. */
static __device__ __forceinline__ uint64_t lt_wg_desc(uint32_t a, uint32_t lbo, uint32_t sbo) {
  return (uint64_t)((a & 0x3FFFFu) >> 4) | (uint64_t)((lbo >> 4) & 0x3FFFu) << 16 |
         (uint64_t)((sbo >> 4) & 0x3FFFu) << 32 | (uint64_t)1 << 62;
}

/* before a batch: orders earlier register writes (accumulators, A fragments) before the wgmma reads */
static __device__ __forceinline__ void lt_wg_fence(void) { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
static __device__ __forceinline__ void lt_wg_commit(void) {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
/* until at most N committed batches of this warpgroup are in flight */
template <int N> static __device__ __forceinline__ void lt_wg_wait(void) {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* shared memory written through the generic proxy (stores, cp.async) → visible to wgmma; each writing
 * thread, before the barrier that precedes the wgmma */
static __device__ __forceinline__ void lt_fence_proxy_async(void) {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
/* pins accumulator x between the volatile wgmma statements (no use moves above a wait, no write below a fence) */
static __device__ __forceinline__ void lt_wg_keep(float &x) { asm volatile("" : "+f"(x)::"memory"); }
/* the same for a whole fragment array d[N][4] */
template <int N> static __device__ __forceinline__ void lt_wg_keep_all(float (&d)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; i++)
#pragma unroll
    for (int e = 0; e < 4; e++) lt_wg_keep(d[i][e]);
}

/* the accumulator operands d[0..N) of a wgmma asm statement; LT_WG_R128: the operand list %0 .. %127 */
#define LT_WG_F8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
                    "+f"(d[i + 6]), "+f"(d[i + 7])
#define LT_WG_F32 LT_WG_F8(0), LT_WG_F8(8), LT_WG_F8(16), LT_WG_F8(24)
#define LT_WG_F128 LT_WG_F32, LT_WG_F8(32), LT_WG_F8(40), LT_WG_F8(48), LT_WG_F8(56), LT_WG_F8(64), LT_WG_F8(72), \
                   LT_WG_F8(80), LT_WG_F8(88), LT_WG_F8(96), LT_WG_F8(104), LT_WG_F8(112), LT_WG_F8(120)
#define LT_WG_R128                                                                                                    \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                                            \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "                                  \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "                                  \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "                                  \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "                                  \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "                                  \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "                      \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"

/* d [64, 32] (+)= A [64, 16] · B [32, 16]ᵀ, both K-major in shared memory; scale_d 0: d = A·Bᵀ */
static __device__ __forceinline__ void lt_wg_m64n32k16(float *d, uint64_t da, uint64_t db, int scale_d) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {"
               "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15"
               "}, %16, %17, p, 1, 1, 0, 0;\n}\n"
               :
      LT_WG_F8(0), LT_WG_F8(8)
               : "l"(da), "l"(db), "r"(scale_d));
}

/* d [64, 64] (+)= A [64, 16] · B [64, 16]ᵀ, both K-major in shared memory; scale_d 0: d = A·Bᵀ */
static __device__ __forceinline__ void lt_wg_m64n64k16(float *d, uint64_t da, uint64_t db, int scale_d) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
               "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
               "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
               "}, %32, %33, p, 1, 1, 0, 0;\n}\n"
               :
      LT_WG_F32
               : "l"(da), "l"(db), "r"(scale_d));
}

/* d [64, 256] += A [64, 16] (K-major, shared memory) · B [16, 256] (MN-major: imm-trans-b 1) */
static __device__ __forceinline__ void lt_wg_m64n256k16_tb(float *d, uint64_t da, uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
               LT_WG_R128
               "}, %128, %129, 1, 1, 1, 0, 1;\n"
               :
      LT_WG_F128
               : "l"(da), "l"(db));
}

/* d [64, 256] += A [64, 16] (registers: the m16n8k16 A fragment of this warp's 16 rows) · B [16, 256] (MN-major) */
static __device__ __forceinline__ void lt_wg_m64n256k16_rs_tb(float *d, const uint32_t *a, uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
               LT_WG_R128
               "}, {%128, %129, %130, %131}, %132, 1, 1, 1, 1;\n"
               :
      LT_WG_F128
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}

/* the same pin for a register A operand (a P fragment of an in-flight m64nNk16 with A from registers): placed
 * after the wait, it keeps the register's value alive, so it is not reused while the wgmma still reads it */
static __device__ __forceinline__ void lt_wg_keep_u(uint32_t &x) { asm volatile("" : "+r"(x)::"memory"); }

/* N = 128 shapes (the extend attention, cuda_attn_wg.cu): 64 accumulators d[0..64) and their operand list */
#define LT_WG_F64 LT_WG_F32, LT_WG_F8(32), LT_WG_F8(40), LT_WG_F8(48), LT_WG_F8(56)
#define LT_WG_R64                                                                                                     \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                                            \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "                                  \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "                                  \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"

/* d [64, 128] (+)= A [64, 16] · B [128, 16]ᵀ, both K-major in shared memory; scale_d 0: d = A·Bᵀ */
static __device__ __forceinline__ void lt_wg_m64n128k16(float *d, uint64_t da, uint64_t db, int scale_d) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
               LT_WG_R64
               "}, %64, %65, p, 1, 1, 0, 0;\n}\n"
               :
      LT_WG_F64
               : "l"(da), "l"(db), "r"(scale_d));
}

/* d [64, 128] += A [64, 16] (registers: the m16n8k16 A fragment of this warp's 16 rows) · B [16, 128] (MN-major) */
static __device__ __forceinline__ void lt_wg_m64n128k16_rs_tb(float *d, const uint32_t *a, uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
               LT_WG_R64
               "}, {%64, %65, %66, %67}, %68, 1, 1, 1, 1;\n"
               :
      LT_WG_F64
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}

/* FP8: d [64, NN] (+)= A [64, 32] · B [NN, 32]ᵀ, e4m3 × e4m3 → f32, both K-major in shared memory (FP8 wgmma has
 * no transpose: K-major is the only layout), NN = 8..64 in steps of 8; scale_d 0: d = A·Bᵀ. d: NN/2 floats,
 * 8-column chunk i in d[4i..4i+3] (the m16n8 fragment order, as above). PTX: "d, a-desc, b-desc, scale-d,
 * imm-scale-a, imm-scale-b" (no imm-trans operands for e4m3). A k32 step is 32 bytes of a 128-byte row, so the
 * descriptors move as the bf16 k16 steps above do. */
#define LT_WG_F4(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
/* the operand lists %0 .. %(4k − 1) of the NN = 8k shapes */
#define LT_WG_R4 "%0, %1, %2, %3"
#define LT_WG_R8 LT_WG_R4 ", %4, %5, %6, %7"
#define LT_WG_R12 LT_WG_R8 ", %8, %9, %10, %11"
#define LT_WG_R16 LT_WG_R12 ", %12, %13, %14, %15"
#define LT_WG_R20 LT_WG_R16 ", %16, %17, %18, %19"
#define LT_WG_R24 LT_WG_R20 ", %20, %21, %22, %23"
#define LT_WG_R28 LT_WG_R24 ", %24, %25, %26, %27"
#define LT_WG_R32 LT_WG_R28 ", %28, %29, %30, %31"
/* one m64nNk32 e4m3 statement: N, the accumulators' operand list (RL: %0 .. %(R − 1)), the operand numbers of
 * the two descriptors and of scale-d (R, R + 1, R + 2), then the accumulator operands */
#define LT_WG_E4M3(N, RL, DA, DB, SD, ...)                                                                           \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" #SD ", 0;\n"                                                  \
               "wgmma.mma_async.sync.aligned.m64n" #N "k32.f32.e4m3.e4m3 {" RL "}, %" #DA ", %" #DB ", p, 1, 1;\n}\n" \
               : __VA_ARGS__                                                                                     \
               : "l"(da), "l"(db), "r"(scale_d))
template <int NN>
static __device__ __forceinline__ void lt_wg_m64k32_e4m3(float *d, uint64_t da, uint64_t db, int scale_d) {
  static_assert(NN % 8 == 0 && NN >= 8 && (NN <= 64 || NN == 128), "wgmma e4m3: N is 8..64 in steps of 8, or 128");
  if constexpr (NN == 8) LT_WG_E4M3(8, LT_WG_R4, 4, 5, 6, LT_WG_F4(0));
  else if constexpr (NN == 16) LT_WG_E4M3(16, LT_WG_R8, 8, 9, 10, LT_WG_F8(0));
  else if constexpr (NN == 24) LT_WG_E4M3(24, LT_WG_R12, 12, 13, 14, LT_WG_F8(0), LT_WG_F4(8));
  else if constexpr (NN == 32) LT_WG_E4M3(32, LT_WG_R16, 16, 17, 18, LT_WG_F8(0), LT_WG_F8(8));
  else if constexpr (NN == 40) LT_WG_E4M3(40, LT_WG_R20, 20, 21, 22, LT_WG_F8(0), LT_WG_F8(8), LT_WG_F4(16));
  else if constexpr (NN == 48) LT_WG_E4M3(48, LT_WG_R24, 24, 25, 26, LT_WG_F8(0), LT_WG_F8(8), LT_WG_F8(16));
  else if constexpr (NN == 56)
    LT_WG_E4M3(56, LT_WG_R28, 28, 29, 30, LT_WG_F8(0), LT_WG_F8(8), LT_WG_F8(16), LT_WG_F4(24));
  else if constexpr (NN == 64) LT_WG_E4M3(64, LT_WG_R32, 32, 33, 34, LT_WG_F32);
  else if constexpr (NN == 128) LT_WG_E4M3(128, LT_WG_R64, 64, 65, 66, LT_WG_F64);  /* the prefill grouped GEMM */
}

/* One 128-wide e4m3 K-group (128-byte rows): 4 m64nNNk32 steps into a fresh partial p [NN/8][4] (scale-d 0 on
 * the first; descriptor start + 32 bytes per step), issued after the fence, committed and waited for */
template <int NN>
static __device__ __forceinline__ void lt_wg_fp8_group(float (&p)[NN / 8][4], uint64_t da, uint64_t db) {
  lt_wg_keep_all(p);
  lt_wg_fence();
#pragma unroll
  for (int j = 0; j < 4; j++) lt_wg_m64k32_e4m3<NN>(&p[0][0], da + (uint64_t)(2 * j), db + (uint64_t)(2 * j), j);
  lt_wg_commit();
  lt_wg_wait<0>();
  lt_wg_keep_all(p);
}

/* a = 0 for accumulator fragments [n][4] */
template <int N8>
static __device__ __forceinline__ void lt_wg_zero(float (&a)[N8][4]) {
#pragma unroll
  for (int i = 0; i < N8; i++)
#pragma unroll
    for (int e = 0; e < 4; e++) a[i][e] = 0.0f;
}

/* acc += a K-group's partial p scaled by the weight block scales (swl: the thread's rows lane/4, swh: rows
 * lane/4 + 8) and the token scales sx (this thread's columns 8c + 2(lane%4) (+1) at sx[8c], sx[8c + 1]) */
template <int N8>
static __device__ __forceinline__ void lt_wg_fp8_scale_add(float (&acc)[N8][4], const float (&p)[N8][4], float swl,
                                                           float swh, const float *sx) {
#pragma unroll
  for (int cc = 0; cc < N8; cc++) {
    const float2 s = *(const float2 *)(sx + cc * 8);
    acc[cc][0] += p[cc][0] * (swl * s.x);
    acc[cc][1] += p[cc][1] * (swl * s.y);
    acc[cc][2] += p[cc][2] * (swh * s.x);
    acc[cc][3] += p[cc][3] * (swh * s.y);
  }
}

#endif

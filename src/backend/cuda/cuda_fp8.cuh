/* cuda_fp8.cuh — FP8 (e4m3, 1×128 activation groups, 128×128 weight blocks) device pieces shared by the
 * FP8 linear kernels (cuda_gemm.cu, cuda_gemv_fp8.cu, cuda_gemm_fp8_mid.cu): the activation group
 * quantisation, the e4m3 mma.sync, one scaled 128-channel group of MMAs, and a warp's cp.async copy of
 * one K-group of its weight rows. */
#ifndef LT_CUDA_FP8_CUH
#define LT_CUDA_FP8_CUH
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <stdint.h>
#include "backend/cuda/cuda_async.cuh"

/* The quantisation of one 1×128 activation group (the CPU's lt_cpu_quant_rows arithmetic): with amax
 * over the group, inv = 448/amax (0 for an all-zero group), q = e4m3(v·inv) RNE saturating, scale
 * s = amax/448. lt_quant_inv gives inv; lt_quant4 packs 4 values (byte j = v[j]). */
__device__ __forceinline__ float lt_quant_inv(float amax) {
  return amax > 0.0f ? __fdiv_rn(448.0f, amax) : 0.0f;  /* exact division even under fast-math */
}
__device__ __forceinline__ float lt_quant_scale(float amax) { return __fdiv_rn(amax, 448.0f); }
__device__ __forceinline__ uint32_t lt_quant4(const float *v, float inv) {
  uint32_t packed = 0;
  for (int j = 0; j < 4; j++) {
    __nv_fp8_storage_t q = __nv_cvt_float_to_fp8(__fmul_rn(v[j], inv), __NV_SATFINITE, __NV_E4M3);
    packed |= (uint32_t)q << (8 * j);
  }
  return packed;
}

/* One 128-value group held 4 per lane by a warp (lane l: values 4l .. 4l+3): the lane's 4 bytes;
 * *s = the group's scale on every lane. */
__device__ __forceinline__ uint32_t lt_quant_group4(const float (&v)[4], float *s) {
  float amax = 0.0f;
  for (int j = 0; j < 4; j++) amax = fmaxf(amax, fabsf(v[j]));
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  *s = lt_quant_scale(amax);
  return lt_quant4(v, lt_quant_inv(amax));
}

/* One 128-value group held 16 per lane by 8 consecutive lanes (lane & 7 = j: values 16j .. 16j+15 as
 * two 16-byte bf16 loads v[0], v[1]; every lane of the warp calls it, four groups per warp): the lane's
 * 16 e4m3 bytes (byte i = value 16j + i) and *s = the group's scale on its 8 lanes — lt_quant_group4's
 * arithmetic (amax over the group, lt_quant_inv, lt_quant4). */
__device__ __forceinline__ uint4 lt_quant16_bf16(const uint4 (&v)[2], float *s) {
  float f[16];
  float amax = 0.0f;
#pragma unroll
  for (int h = 0; h < 2; h++) {
    const __nv_bfloat162 *b2 = (const __nv_bfloat162 *)&v[h];
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const float2 q = __bfloat1622float2(b2[j]);
      f[h * 8 + 2 * j] = q.x;
      f[h * 8 + 2 * j + 1] = q.y;
    }
  }
#pragma unroll
  for (int j = 0; j < 16; j++) amax = fmaxf(amax, fabsf(f[j]));
  for (int o = 1; o < 8; o <<= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  const float inv = lt_quant_inv(amax);
  *s = lt_quant_scale(amax);
  return make_uint4(lt_quant4(f, inv), lt_quant4(f + 4, inv), lt_quant4(f + 8, inv), lt_quant4(f + 12, inv));
}

/* Byte offset in a 128-byte K-group of quad lane tq's h-th 16-byte piece (h = 0, 1), the same for W rows
 * and x: a warp's load of piece h covers 64 contiguous bytes (whole sectors) of each of its rows.
 * (32 contiguous bytes per lane, 32t + 16h, left two half sectors per row per load: the FP8 decode GEMV
 * ran 12.4 vs 9.3 µs at 7168×2048 M = 1, H200.) */
__host__ __device__ constexpr int lt_fp8_piece(int tq, int h) { return tq * 16 + h * 64; }

/* D (16×8, f32) += A (16×32 e4m3, row) · B (32×8 e4m3, col) */
__device__ __forceinline__ void lt_mma_e4m3(float *d, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                            uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t lt_word(const uint4 &v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

/* One 128-channel group of the FP8 kernels: for each of NT 16-row weight tiles, four m16n8k32 MMAs of
 * the tile's fragments wa[nt] ([row g / g+8][16-byte piece]: lt_fp8_piece(t, 0 / 1) of each of the quad
 * lane's two rows) with the 8-token fragment xb (the same 32 bytes of token g), scaled by the weight
 * block scale ws[nt] and the two tokens' activation scales (s0, s1), added to acc[nt][mt]. */
template <int NT, int MT>
__device__ __forceinline__ void lt_fp8_group_mma(float (&acc)[NT][MT][4], int mt, const uint4 (&wa)[NT][2][2],
                                                 const uint4 (&xb)[2], const float (&ws)[NT], float s0, float s1) {
#pragma unroll
  for (int nt = 0; nt < NT; nt++) {
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int h = j >> 1, wi = (j & 1) * 2;
      lt_mma_e4m3(t, lt_word(wa[nt][0][h], wi), lt_word(wa[nt][1][h], wi), lt_word(wa[nt][0][h], wi + 1),
                  lt_word(wa[nt][1][h], wi + 1), lt_word(xb[h], wi), lt_word(xb[h], wi + 1));
    }
    acc[nt][mt][0] += t[0] * (ws[nt] * s0);
    acc[nt][mt][1] += t[1] * (ws[nt] * s1);
    acc[nt][mt][2] += t[2] * (ws[nt] * s0);
    acc[nt][mt][3] += t[3] * (ws[nt] * s1);
  }
}

/* A warp's copy of one K-group of its NT 16-row weight tiles into a ring slot (uint4 [NT·4][32]): lane
 * (g, t) copies W[row g (+8) of tile nt][o + lt_fp8_piece(t, h) .. +16] (h = 0, 1) to
 * slot[(nt·2 + r)·2 + h][lane], exactly the pieces it later reads back for lt_fp8_group_mma, so the ring
 * needs no barrier. wr / rv: the lane's row pointers at its byte t·16 of the warp's K range and their
 * validity (lt_gemv_rows); o: the group's byte offset in that range; klim: the range's length − 16t (a
 * piece exists iff o + 64h < klim); pieces outside W are zero-filled from the never-read address safe. */
template <int NT>
__device__ __forceinline__ void lt_fp8_issue(uint4 *slot, const uint8_t *const (&wr)[NT][2], const bool (&rv)[NT][2],
                                             const uint8_t *safe, int o, int klim) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int h = 0; h < 2; h++) {
    const bool kv = o + h * 64 < klim;
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const bool ok = kv && rv[nt][r];
        lt_cp16(slot + ((nt * 2 + r) * 2 + h) * 32 + lane, ok ? wr[nt][r] + o + lt_fp8_piece(0, h) : safe, ok);
      }
  }
}


#endif

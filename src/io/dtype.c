/* dtype.c — element sizes and names of safetensors dtypes, and the scalar conversions between f32
 * and bf16 / f16 / OCP fp8 e4m3fn (bias 7, max 448, 0x7f/0xff NaN, no infinities, subnormals).
 * f32 -> bf16 and f32 -> e4m3 round to nearest even; e4m3 saturates to ±448. */
#include "io/safetensors.h"
#include <math.h>
#include <string.h>

static const size_t lt_dt_size[LT_NDTYPE] = {4, 2, 2, 1, 4, 8, 1};
static const char *const lt_dt_name[LT_NDTYPE] = {"F32", "F16", "BF16", "F8_E4M3", "I32", "I64", "U8"};

size_t lt_dtype_size(lt_dtype t) { return (unsigned)t < LT_NDTYPE ? lt_dt_size[t] : 0; }
const char *lt_dtype_name(lt_dtype t) { return (unsigned)t < LT_NDTYPE ? lt_dt_name[t] : "?"; }

int lt_dtype_from_name(const char *s, lt_dtype *out) {
  for (int i = 0; i < LT_NDTYPE; i++)
    if (!strcmp(s, lt_dt_name[i])) { *out = (lt_dtype)i; return 1; }
  if (!strcmp(s, "BOOL")) { *out = LT_U8; return 1; }   /* one byte per element, read as 0/1 */
  return 0;
}

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float lt_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t lt_f32_to_bf16(float f) {
  uint32_t u = f2u(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float lt_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0) {   /* zero or subnormal: m * 2^-24 */
    float v = (float)m * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  if (e == 31) return u2f(sign | 0x7f800000u | (m << 13));
  return u2f(sign | ((e + 112) << 23) | (m << 13));
}

float lt_fp8e4m3_to_f32(uint8_t v) {
  uint32_t s = (uint32_t)(v & 0x80) << 24, e = (v >> 3) & 0xf, m = v & 7;
  if (e == 15 && m == 7) return u2f(s | 0x7fc00000u);                  /* NaN */
  if (e == 0) return u2f(s | f2u((float)m * 0.001953125f));             /* subnormal: m * 2^-9 */
  return u2f(s | ((e + 120) << 23) | (m << 20));                        /* rebias 7 -> 127 */
}

/* Round-to-nearest-even of a non-negative float to an integer, independent of the FP environment. */
static float lt_rne(float x) {
  float fl = floorf(x), d = x - fl;
  if (d > 0.5f) return fl + 1.0f;
  if (d < 0.5f) return fl;
  return fmodf(fl, 2.0f) == 0.0f ? fl : fl + 1.0f;
}

uint8_t lt_f32_to_fp8e4m3(float f) {
  uint8_t sign = (f2u(f) >> 24) & 0x80;
  if (isnan(f)) return (uint8_t)(sign | 0x7f);
  float a = fabsf(f);
  if (a >= 448.0f) return (uint8_t)(sign | 0x7e);
  if (a < 0.015625f) {                                 /* below the smallest normal 2^-6 */
    int q = (int)lt_rne(a * 512.0f);                   /* units of 2^-9; q == 8 is the normal 0x08 */
    return (uint8_t)(sign | q);
  }
  /* normal: round the f32 mantissa to 3 bits (ties to even); a carry moves into the exponent */
  uint32_t u = f2u(a);
  int code = (int)((u + 0x7ffffu + ((u >> 20) & 1u)) >> 20) - 0x3c0;   /* 0x3c0 = (127 - 7) << 3 */
  if (code > 0x7e) code = 0x7e;
  return (uint8_t)(sign | code);
}

void lt_to_f32(lt_dtype dt, const void *src, float *dst, size_t n) {
  const uint8_t *b = src;
  switch (dt) {
  case LT_F32: memcpy(dst, src, n * 4); break;
  case LT_BF16: for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, b + 2 * i, 2); dst[i] = lt_bf16_to_f32(h); } break;
  case LT_F16: for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, b + 2 * i, 2); dst[i] = lt_f16_to_f32(h); } break;
  case LT_F8E4M3: for (size_t i = 0; i < n; i++) dst[i] = lt_fp8e4m3_to_f32(b[i]); break;
  case LT_I32: for (size_t i = 0; i < n; i++) { int32_t v; memcpy(&v, b + 4 * i, 4); dst[i] = (float)v; } break;
  case LT_I64: for (size_t i = 0; i < n; i++) { int64_t v; memcpy(&v, b + 8 * i, 8); dst[i] = (float)v; } break;
  case LT_U8: for (size_t i = 0; i < n; i++) dst[i] = (float)b[i]; break;
  default: break;
  }
}

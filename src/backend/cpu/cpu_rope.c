/* cpu_rope.c — CPU reference RoPE (DeepSeek-YaRN on interleaved pairs) fused with the write of
 * [c | rope(k_pe)] into the paged latent cache, and the gather of each sequence's context. */
#include "backend/cpu/cpu_ops.h"
#include <string.h>

/* Rotates pairs (x[2i], x[2i+1]) by the angle of frequency i at position pos. */
static void rope_row(float *x, const lt_rope *rp, int pos, int dr) {
  const float *cs = rp->cos + (int64_t)pos * (dr / 2), *sn = rp->sin + (int64_t)pos * (dr / 2);
  for (int i = 0; i < dr / 2; i++) {
    float a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * cs[i] - b * sn[i];
    x[2 * i + 1] = b * cs[i] + a * sn[i];
  }
}

latte_status lt_cpu_rope_cache_write(lt_backend *b, const lt_fwd *f, const lt_rope *rope, void *qv, int heads,
                                     int dn, int dr, const void *cv, int64_t c_stride, const float *c_norm, float eps,
                                     const void *kv, int64_t kpe_stride, int r, void *cachev) {
  float *q = qv, *cache = cachev;
  const float *c = cv, *kpe = kv;
  int w = r + dr;
  #pragma omp parallel for schedule(static)
  for (int t = 0; t < f->num_tokens; t++) {
    int pos = f->h_positions[t];
    for (int h = 0; h < heads; h++) rope_row(q + ((int64_t)t * heads + h) * (dn + dr) + dn, rope, pos, dr);
    float *dst = cache + (int64_t)f->h_out_slots[t] * w;
    if (c_norm) lt_cpu_norm_row(c + (int64_t)t * c_stride, c_norm, dst, r, eps);
    else memcpy(dst, c + (int64_t)t * c_stride, (size_t)r * sizeof(float));
    memcpy(dst + r, kpe + (int64_t)t * kpe_stride, (size_t)dr * sizeof(float));
    rope_row(dst + r, rope, pos, dr);
  }
  return LATTE_OK;
}

latte_status lt_cpu_gather_kv(lt_backend *b, const lt_fwd *f, const void *cachev, int width, void *latv) {
  const float *cache = cachev;
  float *lat = latv;
  for (int s = 0; s < f->num_seqs; s++) {
    int64_t base = f->h_kv_tok_indptr[s];
    #pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < f->h_seq_lens[s]; j++)
      memcpy(lat + (base + j) * width, cache + lt_cpu_slot(f, s, j) * width, (size_t)width * sizeof(float));
  }
  return LATTE_OK;
}

/* rope.c — DeepSeek-YaRN rotary tables: inverse frequencies blended between interpolation and
 * extrapolation by a linear ramp over the correction range, cos/sin scaled by YaRN's mscale ratio
 * (as Hugging Face's _compute_yarn_parameters). Plain RoPE when rope_scaling is absent. */
#include "model/model.h"
#include "base/err.h"
#include <math.h>
#include <stdlib.h>

static double yarn_mscale(double scale, double mscale) {
  return scale <= 1 ? 1.0 : 0.1 * mscale * log(scale) + 1.0;
}

static double correction_dim(double rot, int dim, double base, double max_pos) {
  return (dim * log(max_pos / (rot * 2 * M_PI))) / (2 * log(base));
}

/* inv_freq [dim/2] and the cos/sin attention factor */
void lt_rope_inv_freq(const lt_config *c, double *inv_freq, double *attn_factor) {
  int dim = c->qk_rope_head_dim;
  double base = c->rope_theta;
  *attn_factor = 1.0;
  for (int i = 0; i < dim / 2; i++) inv_freq[i] = 1.0 / pow(base, (2.0 * i) / dim);
  if (!c->rope_yarn) return;
  double factor = c->rope_factor;
  double orig = c->rope_original_max_pos > 0 ? c->rope_original_max_pos : c->max_position_embeddings;
  if (c->rope_original_max_pos > 0 && c->max_position_embeddings > 0)  /* HF: factor from the two lengths */
    factor = (double)c->max_position_embeddings / c->rope_original_max_pos;
  if (c->rope_mscale != 0 && c->rope_mscale_all_dim != 0)
    *attn_factor = yarn_mscale(factor, c->rope_mscale) / yarn_mscale(factor, c->rope_mscale_all_dim);
  else
    *attn_factor = yarn_mscale(factor, 1.0);
  double low = floor(correction_dim(c->rope_beta_fast, dim, base, orig));
  double high = ceil(correction_dim(c->rope_beta_slow, dim, base, orig));
  if (low < 0) low = 0;
  if (high > dim - 1) high = dim - 1;
  if (low == high) high += 0.001;
  for (int i = 0; i < dim / 2; i++) {
    double pos_freq = pow(base, (2.0 * i) / dim);
    double extra = 1.0 / pos_freq, inter = 1.0 / (factor * pos_freq);
    double ramp = (i - low) / (high - low);
    ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
    double ef = 1.0 - ramp;  /* extrapolation weight */
    inv_freq[i] = inter * (1 - ef) + extra * ef;
  }
}

latte_status lt_rope_build(const lt_config *c, int max_pos, float **cos_out, float **sin_out) {
  int half = c->qk_rope_head_dim / 2;
  double *inv = malloc(sizeof(double) * (size_t)half + 1);
  float *cs = malloc(sizeof(float) * (size_t)max_pos * half + 1);
  float *sn = malloc(sizeof(float) * (size_t)max_pos * half + 1);
  if (!inv || !cs || !sn) { free(inv); free(cs); free(sn); return lt_err(LATTE_ERR_NOMEM, "rope table: out of memory"); }
  double af;
  lt_rope_inv_freq(c, inv, &af);
  for (int p = 0; p < max_pos; p++)
    for (int i = 0; i < half; i++) {
      float ang = (float)p * (float)inv[i];  /* fp32 angle, as the reference computes it */
      cs[(int64_t)p * half + i] = (float)(cosf(ang) * af);
      sn[(int64_t)p * half + i] = (float)(sinf(ang) * af);
    }
  free(inv);
  *cos_out = cs;
  *sin_out = sn;
  return LATTE_OK;
}

/* cpu_moe.c — CPU reference MoE: the router (softmax or sigmoid + correction bias, greedy /
 * group-limited / noaux_tc grouped top-k, renormalisation, scaling), the routed experts, and the
 * dense / shared-expert MLP down(silu(gate(x)) * up(x)). */
#include "backend/cpu/cpu_ops.h"
#include "base/err.h"
#include "io/config.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* indices of the k largest of v[0..n) (ties: lower index first), written to idx */
static void topk(const float *v, int n, int k, int *idx) {
  for (int j = 0; j < k; j++) {
    int best = -1;
    for (int i = 0; i < n; i++) {
      int taken = 0;
      for (int q = 0; q < j; q++) if (idx[q] == i) { taken = 1; break; }
      if (!taken && (best < 0 || v[i] > v[best])) best = i;
    }
    idx[j] = best;
  }
}

static void route_row(const lt_route_cfg *cfg, const float *logit, const float *bias, int32_t *ids, float *wts) {
  int E = cfg->num_experts, K = cfg->top_k;
  float score[1024], choice[1024];
  int idx[64];
  if (cfg->sigmoid) {
    for (int e = 0; e < E; e++) score[e] = 1.0f / (1.0f + expf(-logit[e]));
  } else {
    float m = -INFINITY;
    double sum = 0;
    for (int e = 0; e < E; e++) m = fmaxf(m, logit[e]);
    for (int e = 0; e < E; e++) { score[e] = expf(logit[e] - m); sum += score[e]; }
    for (int e = 0; e < E; e++) score[e] = (float)(score[e] / sum);
  }
  for (int e = 0; e < E; e++) choice[e] = score[e] + (bias ? bias[e] : 0.0f);
  if (cfg->method != LT_TOPK_GREEDY && cfg->n_group > 1) {
    int G = cfg->n_group, per = E / G;
    float gscore[64];
    int gidx[64];
    for (int g = 0; g < G; g++) {
      const float *c = choice + g * per;
      if (cfg->method == LT_TOPK_NOAUX_TC) {  /* group score: sum of its top-2 */
        int t2[2] = {0, 0};
        topk(c, per, per < 2 ? per : 2, t2);
        gscore[g] = c[t2[0]] + (per < 2 ? 0 : c[t2[1]]);
      } else {                                /* group score: its max */
        float m = -INFINITY;
        for (int i = 0; i < per; i++) m = fmaxf(m, c[i]);
        gscore[g] = m;
      }
    }
    topk(gscore, G, cfg->topk_group, gidx);
    for (int g = 0; g < G; g++) {
      int keep = 0;
      for (int q = 0; q < cfg->topk_group; q++) if (gidx[q] == g) keep = 1;
      if (!keep) for (int i = 0; i < per; i++) choice[g * per + i] = 0.0f;
    }
  }
  topk(choice, E, K, idx);
  double sum = 0;
  for (int j = 0; j < K; j++) { ids[j] = idx[j]; wts[j] = score[idx[j]]; sum += wts[j]; }
  if (cfg->norm_topk_prob) for (int j = 0; j < K; j++) wts[j] = (float)(wts[j] / (sum + 1e-20));
  if (cfg->scale_always || !cfg->norm_topk_prob)
    for (int j = 0; j < K; j++) wts[j] *= cfg->routed_scaling_factor;
}

latte_status lt_cpu_moe_route(lt_backend *b, const void *x, const lt_weight *gate, const float *bias,
                              const lt_route_cfg *cfg, int rows, int32_t *ids, float *weights,
                              const lt_moe_w *experts) {
  (void)experts;
  if (cfg->num_experts > 1024 || cfg->top_k > 64 || cfg->n_group > 64)
    return lt_err(LATTE_ERR_UNSUPPORTED, "moe_route: %d experts / top-%d / %d groups exceed the CPU router's limits",
                  cfg->num_experts, cfg->top_k, cfg->n_group);
  float *logits = malloc(sizeof(float) * (size_t)rows * cfg->num_experts + 1);
  if (!logits) return lt_err(LATTE_ERR_NOMEM, "moe_route: out of memory");
  /* logits [rows, E] = x [rows, H] · gateᵀ */
  latte_status s = lt_cpu_linear_f32out(b, x, gate, logits, rows);
  if (s == LATTE_OK) {
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < rows; t++)
      route_row(cfg, logits + (int64_t)t * cfg->num_experts, bias, ids + (int64_t)t * cfg->top_k,
                weights + (int64_t)t * cfg->top_k);
  }
  free(logits);
  return s;
}

/* h [rows, I] = silu(g) * u */
static void silu_mul(const float *g, const float *u, float *h, int64_t n) {
  for (int64_t i = 0; i < n; i++) h[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* out [rows, H] = down(silu(gate(x)) * up(x)) */
static latte_status mlp3(lt_backend *b, const float *x, const lt_weight *gw, const lt_weight *uw,
                         const lt_weight *dw, float *out, int rows) {
  int64_t I = gw->n;
  float *g = malloc(sizeof(float) * (size_t)(rows * I * 2) + 1);
  if (!g) return lt_err(LATTE_ERR_NOMEM, "mlp: out of memory");
  float *u = g + rows * I;
  latte_status s = lt_cpu_linear(b, x, gw->k, gw, g, rows);          /* g [rows, I] = x · gateᵀ */
  if (!s) s = lt_cpu_linear(b, x, uw->k, uw, u, rows);               /* u [rows, I] = x · upᵀ */
  if (!s) { silu_mul(g, u, g, rows * I); s = lt_cpu_linear(b, g, I, dw, out, rows); } /* out [rows, H] */
  free(g);
  return s;
}

latte_status lt_cpu_mlp(lt_backend *b, const void *x, const lt_mlp_w *w, void *out, int rows) {
  return mlp3(b, x, &w->gate, &w->up, &w->down, out, rows);
}

latte_status lt_cpu_moe_experts(lt_backend *b, const void *xv, const lt_moe_w *w, const int32_t *ids,
                                const float *weights, int K, int rows, void *outv) {
  const float *x = xv;
  float *out = outv;
  int64_t H = w->hidden;
  memset(out, 0, sizeof(float) * (size_t)(rows * H));
  int *tok = malloc(sizeof(int) * (size_t)rows * K + 1);
  float *tw = malloc(sizeof(float) * (size_t)rows * K + 1);
  float *xs = malloc(sizeof(float) * (size_t)(rows * K * H) + 1);
  float *ys = malloc(sizeof(float) * (size_t)(rows * K * H) + 1);
  latte_status s = LATTE_OK;
  if (!tok || !tw || !xs || !ys) s = lt_err(LATTE_ERR_NOMEM, "moe_experts: out of memory");
  for (int e = 0; e < w->num_experts && s == LATTE_OK; e++) {
    int n = 0;  /* the tokens routed to expert e, and their routing weights */
    for (int t = 0; t < rows; t++)
      for (int j = 0; j < K; j++)
        if (ids[t * K + j] == e) { tok[n] = t; tw[n] = weights[t * K + j]; n++; }
    if (!n) continue;
    for (int i = 0; i < n; i++) memcpy(xs + i * H, x + tok[i] * H, sizeof(float) * (size_t)H);
    s = mlp3(b, xs, &w->gate[e], &w->up[e], &w->down[e], ys, n);
    for (int i = 0; i < n && s == LATTE_OK; i++)
      for (int64_t c = 0; c < H; c++) out[tok[i] * H + c] += tw[i] * ys[i * H + c];
  }
  free(tok); free(tw); free(xs); free(ys);
  return s;
}

/* sampler.h — turning a row of logits into a token: penalties (repetition HF-style over prompt +
 * generated, frequency/presence OpenAI-style over generated), then greedy (temperature 0) or
 * temperature, top-k, top-p, min-p with a per-request seeded generator (same seed, same tokens);
 * also the chosen token's logprob and the top-n logprobs. */
#ifndef LT_SAMPLER_H
#define LT_SAMPLER_H
#include <stdint.h>
#include "latte.h"

typedef struct {
  float temperature;   /* 0 = greedy */
  int top_k;           /* 0 = off */
  float top_p;         /* 1 (or 0) = off */
  float min_p;         /* 0 = off */
  uint64_t rng;        /* generator state (seeded by lt_sampler_seed) */
  float repetition_penalty;                   /* 1 (or 0) = off */
  float frequency_penalty, presence_penalty;  /* 0 = off */
} lt_sampler;

void lt_sampler_seed(lt_sampler *s, uint64_t seed);
/* Greedy argmax (lowest index on ties). */
int lt_argmax(const float *logits, int n);
/* Samples one id (temperature / top-k / top-p / min-p only; no penalties). */
int lt_sample(lt_sampler *s, const float *logits, int n);
/* Uniform double in [0, 1) from the sampler's generator. */
double lt_sampler_uniform(lt_sampler *s);

#define LT_MAX_TOP_LOGPROBS 20

/* Scratch for lt_sample_full over a vocabulary of n (reuse it across calls; one per thread). */
typedef struct lt_sample_scratch lt_sample_scratch;
latte_status lt_sample_scratch_new(int n, lt_sample_scratch **out);
void lt_sample_scratch_free(lt_sample_scratch *s);

typedef struct {
  int32_t id;
  float logprob;                          /* log-softmax of id after penalties and temperature */
  int n_top;
  int32_t top_ids[LT_MAX_TOP_LOGPROBS];   /* descending logprob, lower id first on ties */
  float top_logprobs[LT_MAX_TOP_LOGPROBS];
} lt_sample_result;

/* Full sampling step: penalties from prompt[0..n_prompt) and gen[0..n_gen), then the draw; reports
 * the logprob of the drawn id and the n_top (0..20) best. logits are not modified. */
void lt_sample_full(lt_sampler *s, const float *logits, int n, const int32_t *prompt, int n_prompt,
                    const int32_t *gen, int n_gen, int n_top, lt_sample_scratch *scr, lt_sample_result *out);

/* The penalties alone, in place on x[0..n) (cnt: n zeroed ints, left zeroed). */
void lt_apply_penalties(const lt_sampler *s, float *x, int n, const int32_t *prompt, int n_prompt,
                        const int32_t *gen, int n_gen, int32_t *cnt);
#endif

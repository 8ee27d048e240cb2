/* sampler.h — turning a row of logits into a token: greedy (temperature 0), temperature, top-k,
 * top-p, min-p, with a per-request seeded generator (same seed, same tokens). */
#ifndef LT_SAMPLER_H
#define LT_SAMPLER_H
#include <stdint.h>

typedef struct {
  float temperature;   /* 0 = greedy */
  int top_k;           /* 0 = off */
  float top_p;         /* 1 = off */
  float min_p;         /* 0 = off */
  uint64_t rng;        /* generator state (seeded by lt_sampler_seed) */
} lt_sampler;

void lt_sampler_seed(lt_sampler *s, uint64_t seed);
/* Greedy argmax (lowest index on ties). */
int lt_argmax(const float *logits, int n);
/* Samples one id; scratch must hold 2*n floats/ints (NULL: allocated internally). */
int lt_sample(lt_sampler *s, const float *logits, int n);
/* Uniform double in [0, 1) from the sampler's generator. */
double lt_sampler_uniform(lt_sampler *s);
#endif

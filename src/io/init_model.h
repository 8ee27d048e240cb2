/* init_model.h — write a random-weight DeepSeek checkpoint in the Hugging Face layout (config.json,
 * safetensors shards + index, tokenizer files) for the presets tiny, deepseek-v2-lite, deepseek-v3.
 * Values are a pure function of (seed, tensor index, element index): any thread count, same bytes. */
#ifndef LT_INIT_MODEL_H
#define LT_INIT_MODEL_H
#include <stdint.h>
#include "latte.h"
#include "io/config.h"

typedef struct {
  const char *preset;     /* "tiny", "deepseek-v2-lite" or "deepseek-v3" */
  int layers;             /* > 0: truncate num_hidden_layers (first_k_dense_replace = min(it, layers)) */
  int fp8;                /* decoder linears in F8_E4M3 with 128x128 F32 weight_scale_inv */
  uint64_t seed;
  const char *out_dir;    /* created if missing */
  uint64_t shard_bytes;   /* largest shard's data; 0 = 4 GiB (one model.safetensors when it all fits) */
  int progress;           /* -1 auto (on for checkpoints over 1 GiB), 0 off, 1 on: lines on stderr */
  const char *assets_dir; /* holds tokenizers/deepseek-v3/; NULL = $LATTE_ASSETS, else LATTE_SOURCE_DIR/assets */
} lt_init_opts;

/* The config a preset (with opts->layers / opts->fp8 applied) describes. */
latte_status lt_init_preset_config(const lt_init_opts *o, lt_config *out);
/* Write the checkpoint. */
latte_status lt_init_model(const lt_init_opts *o);
#endif

/* test_config.c — config.json parsing: the three fixture configs give the right fields (and the MLA
 * softmax scale computed by hand), Hugging Face defaults fill absent fields, and missing fields,
 * wrong types and unknown model types are errors that name config.json and the field. */
#include "io/config.h"
#include "io/init_model.h"
#include "base/err.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char g_dir[4096];

/* Write text as <tmp>/test_config.d/<name>/config.json and return the directory. */
static const char *write_cfg(const char *name, const char *text) {
  static char dir[4352];
  char path[4400];
  snprintf(dir, sizeof dir, "%s/%s", g_dir, name);
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/config.json", dir);
  FILE *f = fopen(path, "wb");
  if (!f) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
  fputs(text, f);
  fclose(f);
  return dir;
}

/* A V3-like config with required fields; extra is appended as more members (the last duplicate wins). */
static const char *cfg_with(const char *name, const char *extra) {
  static char text[4096];
  snprintf(text, sizeof text,
           "{\"model_type\":\"deepseek_v3\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":2,"
           "\"vocab_size\":100,\"kv_lora_rank\":16,\"qk_nope_head_dim\":8,\"qk_rope_head_dim\":4,\"v_head_dim\":8,"
           "\"intermediate_size\":96,\"n_routed_experts\":4,\"num_experts_per_tok\":2,\"n_group\":2,\"topk_group\":1%s%s}",
           *extra ? "," : "", extra);
  return write_cfg(name, text);
}

static void expect_err(const char *dir, const char *n1, const char *n2) {
  lt_config c;
  latte_status s = lt_config_load(dir, &c);
  const char *m = latte_last_error();
  CHECK(s != LATTE_OK, "%s should fail", dir);
  CHECK(strstr(m, "config.json") != NULL, "message '%s' should name config.json", m);
  if (n1) CHECK(strstr(m, n1) != NULL, "message '%s' should contain '%s'", m, n1);
  if (n2) CHECK(strstr(m, n2) != NULL, "message '%s' should contain '%s'", m, n2);
}

static void test_fixtures(void) {
  lt_config c;
  CHECK(lt_config_load(lt_fixture("tiny-v3"), &c) == LATTE_OK, "%s", latte_last_error());
  CHECK(c.is_v3 == 1 && c.vocab_size == 2048 && c.hidden_size == 256 && c.intermediate_size == 512, "v3 sizes");
  CHECK(c.moe_intermediate_size == 96 && c.num_hidden_layers == 3 && c.num_attention_heads == 4 &&
        c.num_key_value_heads == 4, "v3 sizes 2");
  CHECK(c.n_shared_experts == 1 && c.n_routed_experts == 16 && c.num_experts_per_tok == 4 && c.n_group == 4 &&
        c.topk_group == 2, "v3 moe");
  CHECK(c.first_k_dense_replace == 1 && c.moe_layer_freq == 1 && c.routed_scaling_factor == 2.5f &&
        c.norm_topk_prob == 1, "v3 moe 2");
  CHECK(c.topk_method == LT_TOPK_NOAUX_TC && c.scoring_func == LT_SCORE_SIGMOID, "v3 routing");
  CHECK(c.q_lora_rank == 192 && c.kv_lora_rank == 128 && c.qk_nope_head_dim == 64 && c.qk_rope_head_dim == 32 &&
        c.v_head_dim == 64, "v3 mla");
  CHECK(c.max_position_embeddings == 163840 && c.rms_norm_eps == 1e-6f && c.rope_theta == 10000.0f, "v3 misc");
  CHECK(c.rope_yarn == 1 && c.rope_factor == 40.0f && c.rope_original_max_pos == 4096 && c.rope_beta_fast == 32.0f &&
        c.rope_beta_slow == 1.0f && c.rope_mscale == 1.0f && c.rope_mscale_all_dim == 1.0f, "v3 yarn");
  CHECK(c.fp8 == 0 && c.tie_word_embeddings == 0 && c.bos_token_id == 0 && c.eos_token_id == 1 &&
        c.num_nextn_predict_layers == 0, "v3 flags");
  /* (64+32)^-0.5 * (0.1*1.0*ln 40 + 1)^2 = 0.19124944415602058 */
  CHECK(fabs(lt_config_softmax_scale(&c) - 0.19124944415602058) < 1e-7, "v3 scale %.9g", lt_config_softmax_scale(&c));
  CHECK(!lt_config_is_moe_layer(&c, 0) && lt_config_is_moe_layer(&c, 1) && lt_config_is_moe_layer(&c, 2), "moe layers");

  CHECK(lt_config_load(lt_fixture("tiny-v3-fp8"), &c) == LATTE_OK, "%s", latte_last_error());
  CHECK(c.fp8 == 1 && c.weight_block_n == 128 && c.weight_block_k == 128 && c.is_v3, "fp8 quantization_config");

  CHECK(lt_config_load(lt_fixture("tiny-v2-lite"), &c) == LATTE_OK, "%s", latte_last_error());
  CHECK(c.is_v3 == 0 && c.q_lora_rank == 0, "v2: q_lora_rank null -> 0 (%d)", c.q_lora_rank);
  CHECK(c.n_shared_experts == 2 && c.n_routed_experts == 16 && c.num_experts_per_tok == 4 && c.n_group == 1 &&
        c.topk_group == 1, "v2 moe");
  CHECK(c.topk_method == LT_TOPK_GREEDY && c.scoring_func == LT_SCORE_SOFTMAX && c.norm_topk_prob == 0 &&
        c.routed_scaling_factor == 1.0f, "v2 routing");
  CHECK(c.rope_mscale == 0.707f && c.rope_mscale_all_dim == 0.707f && c.fp8 == 0, "v2 yarn mscale");
  CHECK(c.num_nextn_predict_layers == 0, "v2 has no MTP layer");
  /* (64+32)^-0.5 * (0.1*0.707*ln 40 + 1)^2 = 0.1622405410968058 */
  CHECK(fabs(lt_config_softmax_scale(&c) - 0.1622405410968058) < 1e-7, "v2 scale %.9g", lt_config_softmax_scale(&c));
}

static void test_defaults(void) {
  lt_config c;
  /* no rope_scaling => plain RoPE, scale = (8+4)^-0.5; V3 defaults elsewhere */
  CHECK(lt_config_load(cfg_with("plain", ""), &c) == LATTE_OK, "%s", latte_last_error());
  CHECK(c.rope_yarn == 0 && fabs(lt_config_softmax_scale(&c) - 0.28867513459481287) < 1e-7, "plain rope scale %g",
        lt_config_softmax_scale(&c));
  CHECK(c.num_key_value_heads == 2 && c.q_lora_rank == 1536 && c.first_k_dense_replace == 3 &&
        c.topk_method == LT_TOPK_NOAUX_TC && c.scoring_func == LT_SCORE_SIGMOID && c.routed_scaling_factor == 2.5f &&
        c.norm_topk_prob == 1 && c.num_nextn_predict_layers == 1 && c.moe_layer_freq == 1 && c.rms_norm_eps == 1e-6f,
        "V3 defaults");
  CHECK(!lt_config_is_moe_layer(&c, 1), "layer 1 < first_k_dense_replace 3 is dense");
  CHECK(lt_config_load(cfg_with("nullrope", "\"rope_scaling\":null,\"q_lora_rank\":null"), &c) == LATTE_OK, "%s",
        latte_last_error());
  CHECK(c.rope_yarn == 0 && c.q_lora_rank == 0, "null rope_scaling / q_lora_rank");
  /* yarn with factor 1 or mscale_all_dim 0: no mscale correction */
  CHECK(lt_config_load(cfg_with("yarn0", "\"rope_scaling\":{\"type\":\"yarn\",\"factor\":40,\"mscale\":1.0}"), &c) ==
        LATTE_OK, "%s", latte_last_error());
  CHECK(c.rope_yarn && c.rope_mscale_all_dim == 0.0f && fabs(lt_config_softmax_scale(&c) - 0.28867513459481287) < 1e-7,
        "mscale_all_dim defaults to 0");
  /* moe_layer_freq 2: layers 0 (dense by first_k) and 1 (odd) dense */
  CHECK(lt_config_load(cfg_with("freq", "\"moe_layer_freq\":2,\"first_k_dense_replace\":0"), &c) == LATTE_OK, "%s",
        latte_last_error());
  CHECK(lt_config_is_moe_layer(&c, 0) && !lt_config_is_moe_layer(&c, 1) && lt_config_is_moe_layer(&c, 2), "freq 2");
  /* deepseek_v2 defaults: greedy softmax, no experts => dense everywhere */
  CHECK(lt_config_load(write_cfg("v2dense",
        "{\"model_type\":\"deepseek_v2\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":2,"
        "\"vocab_size\":100,\"kv_lora_rank\":16,\"qk_nope_head_dim\":8,\"qk_rope_head_dim\":4,\"v_head_dim\":8,"
        "\"intermediate_size\":96,\"eos_token_id\":[7,8]}"), &c) == LATTE_OK, "%s", latte_last_error());
  CHECK(c.n_routed_experts == 0 && !lt_config_is_moe_layer(&c, 1) && c.topk_method == LT_TOPK_GREEDY &&
        c.scoring_func == LT_SCORE_SOFTMAX && c.bos_token_id == 100000 && c.eos_token_id == 7 &&
        c.routed_scaling_factor == 1.0f && c.norm_topk_prob == 0, "V2 defaults");
  CHECK(lt_config_load(cfg_with("glg", "\"topk_method\":\"group_limited_greedy\",\"scoring_func\":\"softmax\"," 
                                "\"quantization_config\":{\"quant_method\":\"fp8\",\"weight_block_size\":[64,32]}"), &c) ==
        LATTE_OK, "%s", latte_last_error());
  CHECK(c.topk_method == LT_TOPK_GROUP_LIMITED && c.scoring_func == LT_SCORE_SOFTMAX && c.fp8 && c.weight_block_n == 64 &&
        c.weight_block_k == 32, "group_limited_greedy, block size");
}

static void test_errors(void) {
  lt_config c;
  char name[64], extra[256];
  /* unknown model_type: the exact wording */
  expect_err(cfg_with("llama", "\"model_type\":\"llama\""),
             "config.json: unknown model_type 'llama' (expected deepseek_v2 or deepseek_v3)", NULL);
  /* each required field missing (written as null: counts as missing), and of the wrong type */
  const char *req[] = {"hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size", "kv_lora_rank",
                       "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "intermediate_size"};
  for (int i = 0; i < 9; i++) {
    snprintf(name, sizeof name, "null_%s", req[i]);
    snprintf(extra, sizeof extra, "\"%s\":null", req[i]);
    expect_err(cfg_with(name, extra), req[i], "null");
    snprintf(name, sizeof name, "str_%s", req[i]);
    snprintf(extra, sizeof extra, "\"%s\":\"64\"", req[i]);
    expect_err(cfg_with(name, extra), req[i], "expected an integer");
  }
  expect_err(write_cfg("missing", "{\"model_type\":\"deepseek_v3\",\"hidden_size\":64}"),
             "missing required field 'num_hidden_layers'", NULL);
  expect_err(write_cfg("nomt", "{\"hidden_size\":64}"), "'model_type'", NULL);
  expect_err(cfg_with("frac", "\"hidden_size\":64.5"), "'hidden_size'", "non-integral");
  expect_err(cfg_with("eps", "\"rms_norm_eps\":\"1e-6\""), "'rms_norm_eps'", "expected a number");
  expect_err(cfg_with("ntp", "\"norm_topk_prob\":1"), "'norm_topk_prob'", "true or false");
  expect_err(cfg_with("topk", "\"topk_method\":\"random\""), "'topk_method'", "random");
  expect_err(cfg_with("score", "\"scoring_func\":7"), "'scoring_func'", "expected a string");
  expect_err(cfg_with("rope", "\"rope_scaling\":{\"type\":\"linear\",\"factor\":2}"), "rope_scaling", "linear");
  expect_err(cfg_with("ropef", "\"rope_scaling\":{\"type\":\"yarn\",\"factor\":\"40\"}"), "'rope_scaling.factor'", NULL);
  expect_err(cfg_with("ropet", "\"rope_scaling\":[1]"), "'rope_scaling'", NULL);
  expect_err(cfg_with("quant", "\"quantization_config\":{\"quant_method\":\"awq\"}"), "quant_method", "awq");
  expect_err(cfg_with("qbs", "\"quantization_config\":{\"quant_method\":\"fp8\",\"weight_block_size\":[128]}"),
             "weight_block_size", NULL);
  expect_err(cfg_with("neg", "\"hidden_size\":-4"), "'hidden_size'", "out of range");
  expect_err(cfg_with("topk2", "\"num_experts_per_tok\":9"), "'num_experts_per_tok'", NULL);
  expect_err(cfg_with("ngroup", "\"n_group\":3"), "'n_group'", NULL);
  expect_err(cfg_with("odd", "\"qk_rope_head_dim\":5"), "'qk_rope_head_dim'", NULL);
  expect_err(cfg_with("act", "\"hidden_act\":\"gelu\""), "'hidden_act'", "gelu");
  expect_err(write_cfg("notjson", "{\"model_type\": "), "line 1", NULL);
  expect_err(write_cfg("array", "[]"), "expected an object", NULL);
  char nodir[4352];
  snprintf(nodir, sizeof nodir, "%s/nonexistent", g_dir);
  CHECK(lt_config_load(nodir, &c) == LATTE_ERR_IO && strstr(latte_last_error(), "nonexistent/config.json"), "missing: %s",
        latte_last_error());
}

/* The init-model presets carry the real models' dimensions. */
static void test_presets(void) {
  lt_config c;
  lt_init_opts o = {.preset = "deepseek-v2-lite"};
  CHECK(lt_init_preset_config(&o, &c) == LATTE_OK, "%s", latte_last_error());
  CHECK(!c.is_v3 && c.hidden_size == 2048 && c.intermediate_size == 10944 && c.moe_intermediate_size == 1408 &&
        c.num_hidden_layers == 27 && c.num_attention_heads == 16 && c.q_lora_rank == 0 && c.kv_lora_rank == 512 &&
        c.n_routed_experts == 64 && c.num_experts_per_tok == 6 && c.n_shared_experts == 2 &&
        c.first_k_dense_replace == 1 && c.topk_method == LT_TOPK_GREEDY && c.scoring_func == LT_SCORE_SOFTMAX &&
        !c.norm_topk_prob && c.rope_mscale_all_dim == 0.707f && c.vocab_size == 129280 &&
        c.max_position_embeddings == 163840, "v2-lite preset");
  o.preset = "deepseek-v3";
  o.layers = 2;
  o.fp8 = 1;
  CHECK(lt_init_preset_config(&o, &c) == LATTE_OK, "%s", latte_last_error());
  CHECK(c.is_v3 && c.hidden_size == 7168 && c.intermediate_size == 18432 && c.moe_intermediate_size == 2048 &&
        c.num_hidden_layers == 2 && c.first_k_dense_replace == 2 && c.num_attention_heads == 128 &&
        c.q_lora_rank == 1536 && c.n_routed_experts == 256 && c.num_experts_per_tok == 8 && c.n_group == 8 &&
        c.topk_group == 4 && c.routed_scaling_factor == 2.5f && c.topk_method == LT_TOPK_NOAUX_TC && c.fp8 &&
        c.weight_block_n == 128, "v3 preset, --layers 2 keeps first_k_dense_replace = 2");
  o.preset = "tiny";
  o.layers = 0;
  o.fp8 = 0;
  CHECK(lt_init_preset_config(&o, &c) == LATTE_OK, "%s", latte_last_error());
  CHECK(c.hidden_size == 128 && c.num_hidden_layers == 2 && c.first_k_dense_replace == 1 && c.n_routed_experts == 8 &&
        c.num_experts_per_tok == 2 && c.n_group == 2 && c.topk_group == 1 && c.qk_nope_head_dim == 32 &&
        c.qk_rope_head_dim == 16 && c.v_head_dim == 32 && c.kv_lora_rank == 64 && c.q_lora_rank == 96 && !c.fp8,
        "tiny preset");
  o.preset = "llama";
  CHECK(lt_init_preset_config(&o, &c) == LATTE_ERR_INVALID && strstr(latte_last_error(), "unknown preset 'llama'"),
        "%s", latte_last_error());
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "%s/test_config.d", lt_tmpdir());
  mkdir(g_dir, 0755);
  test_fixtures();
  test_defaults();
  test_errors();
  test_presets();
  return lt_test_done();
}

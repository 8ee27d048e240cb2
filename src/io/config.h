/* config.h — a DeepSeek-V2/V3 config.json as a plain struct, with every field those models use.
 * Absent optional fields take Hugging Face's defaults; a field of the wrong type or a missing
 * required one is an error naming config.json and the field. */
#ifndef LT_CONFIG_H
#define LT_CONFIG_H
#include "latte.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LT_TOPK_GREEDY, LT_TOPK_GROUP_LIMITED, LT_TOPK_NOAUX_TC } lt_topk_method;
typedef enum { LT_SCORE_SOFTMAX, LT_SCORE_SIGMOID } lt_scoring;

typedef struct {
  int is_v3;                    /* model_type "deepseek_v3" (else "deepseek_v2") */
  int vocab_size, hidden_size, intermediate_size, moe_intermediate_size;
  int num_hidden_layers, num_attention_heads, num_key_value_heads;
  int n_shared_experts, n_routed_experts, num_experts_per_tok;   /* n_routed_experts 0 => dense model */
  int first_k_dense_replace, moe_layer_freq;
  int q_lora_rank;              /* 0 when null: q_proj instead of q_a/q_b */
  int kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
  int max_position_embeddings;
  float rms_norm_eps, rope_theta, routed_scaling_factor;
  lt_topk_method topk_method;
  lt_scoring scoring_func;
  int n_group, topk_group, norm_topk_prob;
  int tie_word_embeddings;
  int bos_token_id, eos_token_id;   /* -1 when absent */
  /* rope_scaling (yarn); rope_type "none" => plain RoPE */
  int rope_yarn;
  float rope_factor, rope_beta_fast, rope_beta_slow, rope_mscale, rope_mscale_all_dim;
  int rope_original_max_pos;
  /* quantization_config: fp8 block-scaled when fp8 != 0 */
  int fp8, weight_block_n, weight_block_k;
  /* V3 multi-token-prediction layers stored after the decoder layers (index num_hidden_layers..);
   * the model loader skips them. */
  int num_nextn_predict_layers;
} lt_config;

/* Parse dir/config.json. */
latte_status lt_config_load(const char *dir, lt_config *out);
/* Layer l uses a routed MoE (else a dense MLP). */
int lt_config_is_moe_layer(const lt_config *c, int l);
/* Softmax scale of MLA: (dn+dr)^-0.5 * m^2 with YaRN mscale m. */
float lt_config_softmax_scale(const lt_config *c);
#ifdef __cplusplus
}
#endif
#endif

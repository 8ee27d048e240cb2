/* server.c — bringing the server up: after the HTTP side listens (answering 503), load the tokenizer,
 * tokenizer_config.json (BOS/EOS, chat template), the model (with progress) and start the scheduler. */
#include "server/server.h"
#include "base/err.h"
#include "text/tokconfig.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

latte_status lt_server_load(lt_server *s, const latte_load_opts *lo, const lt_sched_opts *so) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tokenizer.json", s->o.model_dir);
  LT_TRY(lt_tok_load(path, &s->tok));
  lt_tok_config tc = {0};
  LT_TRY(lt_tok_config_load(s->o.model_dir, &tc));
  latte_status st = LATTE_OK;
  if (tc.chat_template && (st = lt_chat_template_new(tc.chat_template, &s->tpl)))
    st = lt_err_prefix(st, "%s/tokenizer_config.json: chat_template", s->o.model_dir);
  s->bos_text = tc.bos_token;
  s->eos_text = tc.eos_token;
  tc.bos_token = tc.eos_token = NULL;
  s->add_bos = tc.add_bos_token;
  lt_tok_config_free(&tc);
  if (st) return st;
  s->bos_id = s->bos_text ? lt_tok_token_id(s->tok, s->bos_text) : -1;
  LT_TRY(latte_model_load(s->o.model_dir, lo, &s->m));
  lt_sched_opts o = *so;
  if (!o.max_context || o.max_context > latte_model_max_context(s->m)) o.max_context = latte_model_max_context(s->m);
  s->max_context = o.max_context;
  LT_TRY(lt_sched_new(s->m, &o, &s->sched));
  LT_TRY(lt_sched_start(s->sched));
  s->eos_id = lt_sched_eos_id(s->sched);
  atomic_store(&s->ready, 1);
  return LATTE_OK;
}

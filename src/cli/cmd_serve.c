/* cmd_serve.c — `latte serve`: the OpenAI-compatible HTTP server (src/server/). Listens first (GET
 * /health answers 503 while loading), loads the model with progress on stderr, starts the scheduler,
 * then serves until SIGINT/SIGTERM. */
#include "cli/args.h"
#include "cli/cli.h"
#include "latte.h"
#include "server/server.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void help(void) {
  printf("usage: latte serve --model DIR [--host 127.0.0.1] [--port 8000] [--backend cpu|cuda] [--api-key KEY]\n"
         "         [--served-model-name NAME] [--max-running N] [--step-tokens N] [--page-size P]\n"
         "         [--num-pages N] [--mem-fraction F] [--max-model-len N] [--allow-special-tokens]\n"
         "         [--max-body-bytes B] [--max-queue N] [--threads N] [--w8a8]\n"
         "OpenAI-compatible endpoints: POST /v1/completions, POST /v1/chat/completions (\"stream\": true for\n"
         "server-sent events), GET /v1/models, GET /health (503 while loading), GET /metrics (Prometheus),\n"
         "POST /tokenize, POST /detokenize. With --api-key every endpoint but /health and /metrics needs\n"
         "\"Authorization: Bearer KEY\". Special-token text in prompts and message content is plain text\n"
         "unless --allow-special-tokens. Unknown request fields are rejected (400 naming the field).\n"
         "KV pool: --num-pages pages of --page-size tokens, or (0) --mem-fraction of free GPU memory.\n"
         "See docs/server.md.\n");
}

int lt_cmd_serve(int argc, char **argv) {
  const char *model = NULL, *backend = NULL, *v;
  lt_server_opts so = {.host = "127.0.0.1", .port = 8000};
  long port = 8000, max_running = 64, step_tokens = 2048, page = 0, num_pages = 0, threads = 0, max_len = 0;
  long max_body = 32L << 20, max_queue = 4096;
  double mem_fraction = 0.85;
  int w8a8 = 0, r;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(); return 0; }
    if (!strcmp(argv[i], "--w8a8")) { w8a8 = 1; continue; }
    if (!strcmp(argv[i], "--allow-special-tokens")) { so.allow_special = 1; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--model", &model))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--host", &so.host))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--backend", &backend))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--api-key", &so.api_key))) { if (r < 0) return 2; continue; }
    if ((r = lt_arg_val(argc, argv, &i, "--served-model-name", &so.model_name))) { if (r < 0) return 2; continue; }
#define INTOPT(name, var, lo, hi) \
    if ((r = lt_arg_val(argc, argv, &i, name, &v))) { if (r < 0 || lt_parse_int(name, v, lo, hi, &var)) return 2; continue; }
    INTOPT("--port", port, 0, 65535)
    INTOPT("--max-running", max_running, 1, 65536)
    INTOPT("--step-tokens", step_tokens, 1, 1 << 24)
    INTOPT("--page-size", page, 1, 256)
    INTOPT("--num-pages", num_pages, 0, 1L << 30)
    INTOPT("--threads", threads, 0, 4096)
    INTOPT("--max-model-len", max_len, 0, 1L << 30)
    INTOPT("--max-body-bytes", max_body, 1024, 1L << 40)
    INTOPT("--max-queue", max_queue, 1, 1 << 24)
    if ((r = lt_arg_val(argc, argv, &i, "--mem-fraction", &v))) {
      if (r < 0 || lt_parse_float("--mem-fraction", v, 0.01, 1, &mem_fraction)) return 2;
      continue;
    }
    lt_cli_error("serve: unknown option '%s' (try --help)", argv[i]);
    return 2;
  }
  if (!model) { lt_cli_error("serve: --model is required"); return 2; }
  so.port = (int)port;
  so.model_dir = model;
  if (!so.model_name) so.model_name = model;
  so.max_body = (size_t)max_body;
  so.max_queue = (int)max_queue;

  /* SIGINT/SIGTERM are taken by sigwait below; every thread started from here inherits the mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  lt_server *srv = NULL;
  if (lt_server_start(&so, &srv)) { lt_cli_error("%s", latte_last_error()); return 1; }
  fprintf(stderr, "latte serve: listening on http://%s:%d (loading %s)\n", so.host, srv->port, model);
  latte_load_opts lo = {.backend = backend, .w8a8 = w8a8, .threads = (int)threads, .verbose = 1};
  lt_sched_opts sch = {.max_running = (int)max_running, .step_tokens = (int)step_tokens, .page_size = (int)page,
                       .num_pages = (int)num_pages, .mem_fraction = (float)mem_fraction, .max_context = (int)max_len};
  if (lt_server_load(srv, &lo, &sch)) {
    lt_cli_error("%s", latte_last_error());
    lt_server_free(srv);
    return 1;
  }
  fprintf(stderr, "latte serve: ready — model '%s' (%s backend, context %d) on http://%s:%d\n", so.model_name,
          latte_model_backend(srv->m), srv->max_context, so.host, srv->port);
  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr, "latte serve: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  lt_server_free(srv);
  return 0;
}

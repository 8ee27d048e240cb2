/* test_loader.c — the safetensors reader on the three fixture checkpoints (shapes, dtypes, values,
 * FP8 dequantisation against numbers from numpy + ml_dtypes), every header/shard check on crafted
 * broken files, a sharded write/read round trip, and the bf16/f16/e4m3 conversions. */
#include "io/safetensors.h"
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

static const char *tpath(const char *name) {
  static char buf[8][4352];
  static int k;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
  return buf[k];
}

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
  if (n) fwrite(p, 1, n, f);
  fclose(f);
}

/* A safetensors file with the given header text (length written as hlen, normally its size) and
 * data_len zero bytes of data. */
static void write_st(const char *path, const char *header, unsigned long long hlen, size_t data_len) {
  size_t hn = strlen(header), n = 8 + hn + data_len;
  unsigned char *b = calloc(1, n);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
  memcpy(b + 8, header, hn);
  write_bytes(path, b, n);
  free(b);
}

/* Expect lt_st_open_file(path) to fail with a message containing every non-NULL needle. */
static void expect_err_file(const char *path, const char *n1, const char *n2, const char *n3) {
  lt_st_set *s = (lt_st_set *)1;
  latte_status st = lt_st_open_file(path, &s);
  const char *m = latte_last_error();
  CHECK(st != LATTE_OK && s == NULL, "%s should fail", path);
  CHECK(strstr(m, path) != NULL, "message '%s' should name %s", m, path);
  const char *need[3] = {n1, n2, n3};
  for (int i = 0; i < 3; i++)
    if (need[i]) CHECK(strstr(m, need[i]) != NULL, "message '%s' should contain '%s'", m, need[i]);
  CHECK(strchr(m, '\n') == NULL, "one line: '%s'", m);
}

static void expect_err_dir(const char *dir, const char *n1, const char *n2, const char *n3) {
  lt_st_set *s = (lt_st_set *)1;
  latte_status st = lt_st_open_dir(dir, &s);
  const char *m = latte_last_error();
  CHECK(st != LATTE_OK && s == NULL, "%s should fail", dir);
  const char *need[3] = {n1, n2, n3};
  for (int i = 0; i < 3; i++)
    if (need[i]) CHECK(strstr(m, need[i]) != NULL, "message '%s' should contain '%s'", m, need[i]);
}

static float f32_at(const lt_st_tensor *t, long i) {
  float v;
  lt_to_f32(t->dtype, (const char *)t->data + i * (long)lt_dtype_size(t->dtype), &v, 1);
  return v;
}

static void test_fixtures(void) {
  lt_st_set *s;
  CHECK(lt_st_open_dir(lt_fixture("tiny-v3"), &s) == LATTE_OK, "%s", latte_last_error());
  if (s) {
    CHECK(lt_st_count(s) == 139, "tiny-v3 has %zu tensors", lt_st_count(s));
    const lt_st_tensor *t = lt_st_find(s, "model.embed_tokens.weight");
    CHECK(t && t->dtype == LT_BF16 && t->ndim == 2 && t->shape[0] == 2048 && t->shape[1] == 256 &&
          t->numel == 2048 * 256 && t->nbytes == 2048 * 256 * 2, "embed_tokens");
    t = lt_st_find(s, "model.layers.0.self_attn.q_b_proj.weight");
    CHECK(t && t->shape[0] == 384 && t->shape[1] == 192, "q_b_proj shape");
    t = lt_st_find(s, "model.layers.0.input_layernorm.weight");
    CHECK(t && f32_at(t, 0) == 1.375f && f32_at(t, 1) == 0.828125f && f32_at(t, 2) == 0.76953125f, "norm values");
    if (t) {
      double sum = 0;
      for (long i = 0; i < t->numel; i++) sum += f32_at(t, i);
      CHECK(sum == 255.51953125, "norm sum %.10g", sum);
    }
    t = lt_st_find(s, "model.layers.1.mlp.gate.e_score_correction_bias");
    CHECK(t && t->dtype == LT_F32 && t->ndim == 1 && t->shape[0] == 16 && f32_at(t, 0) == 0.0050048828125f &&
          f32_at(t, 1) == -0.05224609375f, "e_score_correction_bias");
    CHECK(lt_st_find(s, "model.layers.3.input_layernorm.weight") == NULL, "absent tensor");
    CHECK(lt_st_find(s, "model.norm.weight") != NULL, "model.norm.weight");
    CHECK(lt_st_at(s, 0) && lt_st_at(s, lt_st_count(s)) == NULL, "lt_st_at bounds");
    lt_st_close(s);
  }

  CHECK(lt_st_open_dir(lt_fixture("tiny-v2-lite"), &s) == LATTE_OK, "%s", latte_last_error());
  if (s) {
    CHECK(lt_st_count(s) == 131, "tiny-v2-lite has %zu tensors", lt_st_count(s));
    const lt_st_tensor *t = lt_st_find(s, "model.layers.0.self_attn.q_proj.weight");
    CHECK(t && t->shape[0] == 384 && t->shape[1] == 256, "q_proj");
    if (t) {
      CHECK(f32_at(t, 0) == -0.0634765625f && f32_at(t, 2) == -0.056884765625f, "q_proj values");
      float *buf = malloc(t->numel * sizeof *buf);
      lt_to_f32(t->dtype, t->data, buf, (size_t)t->numel);
      double sum = 0;
      for (long i = 0; i < t->numel; i++) sum += buf[i];
      CHECK(fabs(sum - -28.581734764855355) < 1e-9, "q_proj sum %.15g", sum);
      free(buf);
    }
    CHECK(lt_st_find(s, "model.layers.0.self_attn.q_a_proj.weight") == NULL, "no q_a_proj in v2-lite");
    lt_st_close(s);
  }

  CHECK(lt_st_open_file(lt_fixture("tiny-v3-fp8/model.safetensors"), &s) == LATTE_OK, "%s", latte_last_error());
  if (s) {
    CHECK(lt_st_count(s) == 259, "tiny-v3-fp8 has %zu tensors", lt_st_count(s));
    const lt_st_tensor *w = lt_st_find(s, "model.layers.0.self_attn.q_b_proj.weight");
    const lt_st_tensor *sc = lt_st_find(s, "model.layers.0.self_attn.q_b_proj.weight_scale_inv");
    CHECK(w && w->dtype == LT_F8E4M3 && w->shape[0] == 384 && w->shape[1] == 192, "fp8 q_b_proj");
    CHECK(sc && sc->dtype == LT_F32 && sc->shape[0] == 3 && sc->shape[1] == 2, "scale_inv [3,2]");
    if (w && sc && w->dtype == LT_F8E4M3 && sc->numel == 6) {
      const unsigned char *q = w->data;
      float scale[6];
      lt_to_f32(LT_F32, sc->data, scale, 6);
      CHECK(scale[0] == 0.00067138671875f && scale[1] == 0.0006321498076431453f, "scales %g %g", scale[0], scale[1]);
      /* (row, col, code, e4m3 value, dequantised) from numpy + ml_dtypes.float8_e4m3fn */
      struct { int r, c; unsigned code; float v; double deq; } k[] = {
        {0, 0, 0xf7, -240.0f, -0.1611328125},       {0, 1, 0xc5, -3.25f, -0.0021820068359375},
        {130, 5, 0xd9, -18.0f, -0.01373291015625},   {300, 150, 0x65, 52.0f, 0.02947126142680645},
        {383, 191, 0xd9, -18.0f, -0.01020159013569355}};
      for (int i = 0; i < 5; i++) {
        unsigned char c = q[k[i].r * 192 + k[i].c];
        float v = lt_fp8e4m3_to_f32(c);
        float d = v * scale[(k[i].r / 128) * 2 + k[i].c / 128];
        CHECK(c == k[i].code && v == k[i].v, "code at (%d,%d) = 0x%02x -> %g", k[i].r, k[i].c, c, v);
        CHECK(fabs(d - k[i].deq) <= 1e-7 * fabs(k[i].deq), "deq (%d,%d) %.10g vs %.10g", k[i].r, k[i].c, d, k[i].deq);
      }
      double sum = 0, sabs = 0;
      for (int r = 0; r < 384; r++)
        for (int c = 0; c < 192; c++) {
          double d = lt_fp8e4m3_to_f32(q[r * 192 + c]) * scale[(r / 128) * 2 + c / 128];   /* f32 product, as numpy */
          sum += d;
          sabs += fabs(d);
        }
      CHECK(fabs(sum - -4.933081189538825) < 1e-6 && fabs(sabs - 4224.281418898349) < 1e-6, "deq sums %.12g %.12g",
            sum, sabs);
    }
    const lt_st_tensor *g = lt_st_find(s, "model.layers.1.mlp.gate.weight");
    CHECK(g && g->dtype == LT_BF16 && g->shape[0] == 16 && g->shape[1] == 256, "router stays bf16");
    lt_st_close(s);
  }
}

static void test_errors(void) {
  char hdr[2048];
  /* missing file and directory */
  expect_err_file(tpath("nope.safetensors"), "cannot open", NULL, NULL);
  expect_err_dir(tpath("no-such-dir"), tpath("no-such-dir"), "cannot open directory", NULL);
  write_st(tpath("plain"), "{}", 2, 0);
  expect_err_dir(tpath("plain"), tpath("plain"), "not a directory", NULL);
  mkdir(tpath("empty-dir"), 0755);
  expect_err_dir(tpath("empty-dir"), tpath("empty-dir"), "no model.safetensors", NULL);
  /* short file */
  write_bytes(tpath("short.safetensors"), "\x10\0\0\0", 4);
  expect_err_file(tpath("short.safetensors"), "4 bytes", "shorter than the 8-byte header", NULL);
  /* header length past EOF */
  write_st(tpath("hlen.safetensors"), "{}", 1000, 0);
  expect_err_file(tpath("hlen.safetensors"), "header length 1000", "past the end", NULL);
  /* header not JSON */
  const char *bad = "{\"a\": {\"dtype\": \"F32\",";
  write_st(tpath("json.safetensors"), bad, strlen(bad), 0);
  expect_err_file(tpath("json.safetensors"), "header is not valid JSON", "line 1", NULL);
  write_st(tpath("arr.safetensors"), "[1, 2]", 6, 0);
  expect_err_file(tpath("arr.safetensors"), "expected a JSON object", NULL, NULL);

  struct { const char *file, *entry, *n1, *n2; } cases[] = {
    {"nodtype", "{\"shape\":[2],\"data_offsets\":[0,8]}", "missing \"dtype\"", NULL},
    {"noshape", "{\"dtype\":\"F32\",\"data_offsets\":[0,8]}", "missing \"shape\"", NULL},
    {"nooff", "{\"dtype\":\"F32\",\"shape\":[2]}", "missing \"data_offsets\"", NULL},
    {"dtypenum", "{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}", "\"dtype\" is a number", NULL},
    {"shapestr", "{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}", "\"shape\" is a string", NULL},
    {"shapeneg", "{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}", "\"shape\"[0]", NULL},
    {"offs3", "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}", "\"data_offsets\" must be", NULL},
    {"offsstr", "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0,8\"}", "\"data_offsets\" must be", NULL},
    {"entrynum", "5", "entry is a number", NULL},
    {"dtype", "{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}", "unknown dtype 'F64'", NULL},
    {"past", "{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}", "run past the end of the data (16 bytes)", NULL},
    {"order", "{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}", "begin 8 > end 4", NULL},
    {"size", "{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,16]}", "[2, 3]", "span of 16 bytes"},
    {"huge", "{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}", "does not match", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char name[128];
    snprintf(name, sizeof name, "%s.safetensors", cases[i].file);
    snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"format\":\"pt\"},\"ok.t\":{\"dtype\":\"U8\",\"shape\":[0],"
             "\"data_offsets\":[0,0]},\"layer.%s\":%s}", cases[i].file, cases[i].entry);
    write_st(tpath(name), hdr, strlen(hdr), 16);
    char tname[128];
    snprintf(tname, sizeof tname, "'layer.%s'", cases[i].file);
    expect_err_file(tpath(name), tname, cases[i].n1, cases[i].n2);
  }
  /* overlapping tensors (also hidden behind an empty one) */
  snprintf(hdr, sizeof hdr, "{\"a.w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
           "\"e.w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
           "\"b.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}");
  write_st(tpath("overlap.safetensors"), hdr, strlen(hdr), 24);
  expect_err_file(tpath("overlap.safetensors"), "'a.w'", "'b.w'", "overlap");
  /* a valid crafted file with an unaligned F32 and BOOL/I64 tensors */
  {
    const char *h = "{\"x\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                    "\"m\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[8,9]},"
                    "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[9,13]}}";
    size_t hn = strlen(h);
    unsigned char b[512] = {0};
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((unsigned long long)hn >> (8 * i));
    memcpy(b + 8, h, hn);
    long long x = -5;
    float f = 2.5f;
    memcpy(b + 8 + hn, &x, 8);
    b[8 + hn + 8] = 1;
    memcpy(b + 8 + hn + 9, &f, 4);
    write_bytes(tpath("valid.safetensors"), b, 8 + hn + 13);
    lt_st_set *s;
    CHECK(lt_st_open_file(tpath("valid.safetensors"), &s) == LATTE_OK, "%s", latte_last_error());
    if (s) {
      const lt_st_tensor *tx = lt_st_find(s, "x"), *tm = lt_st_find(s, "m"), *tf = lt_st_find(s, "f");
      CHECK(tx && tm && tf && tx->dtype == LT_I64 && tm->dtype == LT_U8 && tf->dtype == LT_F32, "dtypes");
      if (tx && tm && tf) CHECK(f32_at(tx, 0) == -5.0f && f32_at(tm, 0) == 1.0f && f32_at(tf, 0) == 2.5f, "values");
      lt_st_close(s);
    }
  }
}

/* Two shards + index written with the writer (one shard streamed), read back through the index. */
static void test_sharded(void) {
  char dir[4352];
  snprintf(dir, sizeof dir, "%s/sharded", g_dir);
  mkdir(dir, 0755);
  float a[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
  uint16_t b[4] = {lt_f32_to_bf16(1.5f), lt_f32_to_bf16(-0.25f), 0x7f80, 0};
  uint8_t c[3] = {0x38, 0x7e, 0x81};
  int64_t sa[2] = {2, 3}, sb[1] = {4}, sc[1] = {3};
  char p1[4400], p2[4400], pi[4400];
  snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir);
  snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
  snprintf(pi, sizeof pi, "%s/model.safetensors.index.json", dir);
  lt_st_writer *w = lt_st_writer_new();
  CHECK(lt_st_writer_meta(w, "format", "pt") == LATTE_OK, "meta");
  CHECK(lt_st_writer_add(w, "t.a", LT_F32, 2, sa, a, sizeof a) == LATTE_OK, "%s", latte_last_error());
  CHECK(lt_st_writer_add(w, "t.b", LT_BF16, 1, sb, b, sizeof b) == LATTE_OK, "%s", latte_last_error());
  CHECK(lt_st_writer_add(w, "t.bad", LT_BF16, 1, sb, b, 7) != LATTE_OK, "size mismatch rejected");
  CHECK(lt_st_writer_add(w, "t.a", LT_F32, 2, sa, a, sizeof a) != LATTE_OK, "duplicate rejected");
  CHECK(lt_st_writer_write(w, p1) == LATTE_OK, "%s", latte_last_error());
  lt_st_writer_free(w);
  w = lt_st_writer_new();
  CHECK(lt_st_writer_add(w, "t.c", LT_F8E4M3, 1, sc, NULL, sizeof c) == LATTE_OK, "%s", latte_last_error());
  CHECK(lt_st_writer_begin(w, p2) == LATTE_OK, "%s", latte_last_error());
  CHECK(lt_st_writer_append(w, c, 1) == LATTE_OK && lt_st_writer_append(w, c + 1, 2) == LATTE_OK, "append");
  CHECK(lt_st_writer_append(w, c, 1) != LATTE_OK, "append past the end rejected");
  CHECK(lt_st_writer_finish(w) == LATTE_OK, "%s", latte_last_error());
  lt_st_writer_free(w);
  const char *idx = "{\"metadata\":{\"total_size\":35},\"weight_map\":{\"t.a\":\"model-00001-of-00002.safetensors\","
                    "\"t.c\":\"model-00002-of-00002.safetensors\",\"t.b\":\"model-00001-of-00002.safetensors\"}}";
  write_bytes(pi, idx, strlen(idx));
  lt_st_set *s;
  CHECK(lt_st_open_dir(dir, &s) == LATTE_OK, "%s", latte_last_error());
  if (s) {
    CHECK(lt_st_count(s) == 3 && lt_st_nfiles(s) == 2, "count %zu files %zu", lt_st_count(s), lt_st_nfiles(s));
    const lt_st_tensor *ta = lt_st_find(s, "t.a"), *tb = lt_st_find(s, "t.b"), *tc = lt_st_find(s, "t.c");
    CHECK(ta && ta->ndim == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 && !memcmp(ta->data, a, sizeof a), "t.a");
    CHECK(tb && tb->dtype == LT_BF16 && !memcmp(tb->data, b, sizeof b), "t.b");
    CHECK(tc && tc->dtype == LT_F8E4M3 && !memcmp(tc->data, c, sizeof c) && strstr(tc->file, "00002"), "t.c");
    lt_st_close(s);
  }
  /* a tensor of the weight_map absent from its shard */
  const char *idx2 = "{\"weight_map\":{\"t.a\":\"model-00001-of-00002.safetensors\","
                     "\"t.zz\":\"model-00002-of-00002.safetensors\"}}";
  write_bytes(pi, idx2, strlen(idx2));
  expect_err_dir(dir, "model.safetensors.index.json", "'t.zz'", "absent from shard 'model-00002-of-00002.safetensors'");
  /* a shard named in the weight_map missing */
  const char *idx3 = "{\"weight_map\":{\"t.a\":\"model-00001-of-00002.safetensors\","
                     "\"t.c\":\"model-00003-of-00003.safetensors\"}}";
  write_bytes(pi, idx3, strlen(idx3));
  expect_err_dir(dir, "shard 'model-00003-of-00003.safetensors'", "'t.c'", "missing");
  /* malformed index: not JSON, no weight_map, non-string entry */
  write_bytes(pi, "{\"weight_map\": {", 16);
  expect_err_dir(dir, "model.safetensors.index.json", "line 1", NULL);
  write_bytes(pi, "{\"metadata\": {}}", 16);
  expect_err_dir(dir, "model.safetensors.index.json", "\"weight_map\"", NULL);
  write_bytes(pi, "{\"weight_map\": {\"t.a\": 3}}", 26);
  expect_err_dir(dir, "model.safetensors.index.json", "'t.a'", NULL);
  write_bytes(pi, "{\"weight_map\": {\"t.a\": \"../x.safetensors\"}}", 43);
  expect_err_dir(dir, "model.safetensors.index.json", "'t.a'", NULL);
  /* a broken shard: its error names the shard and the tensor */
  write_bytes(pi, idx, strlen(idx));
  char h[512];
  snprintf(h, sizeof h, "{\"t.c\":{\"dtype\":\"F8_E5M2\",\"shape\":[3],\"data_offsets\":[0,3]}}");
  write_st(p2, h, strlen(h), 3);
  expect_err_dir(dir, p2, "'t.c'", "unknown dtype 'F8_E5M2'");
  /* the same tensor in two shards */
  snprintf(h, sizeof h, "{\"t.a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
           "\"t.c\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[3,6]}}");
  write_st(p2, h, strlen(h), 6);
  expect_err_dir(dir, "'t.a'", "model-00001-of-00002", NULL);
}

static void test_dtypes(void) {
  /* bf16: round to nearest even at the halfway points, NaN stays NaN, every finite code round-trips */
  CHECK(lt_f32_to_bf16(1.0f) == 0x3f80, "1.0");
  CHECK(lt_f32_to_bf16(1.00390625f) == 0x3f80, "1 + 2^-8 ties to even (down)");
  CHECK(lt_f32_to_bf16(1.01171875f) == 0x3f82, "1 + 3*2^-8 ties to even (up)");
  CHECK(lt_f32_to_bf16(nextafterf(1.00390625f, 2.0f)) == 0x3f81, "just above the tie rounds up");
  CHECK(lt_f32_to_bf16(-2.0f) == 0xc000, "-2");
  CHECK(lt_f32_to_bf16(INFINITY) == 0x7f80 && lt_f32_to_bf16(3.4e38f) == 0x7f80, "inf / overflow to inf");
  CHECK(isnan(lt_bf16_to_f32(lt_f32_to_bf16(NAN))), "NaN");
  int bad = 0;
  for (unsigned h = 0; h < 65536; h++) {
    float f = lt_bf16_to_f32((uint16_t)h);
    if (!isnan(f) && lt_f32_to_bf16(f) != h) bad++;
  }
  CHECK(bad == 0, "%d bf16 codes do not round-trip", bad);
  /* f16 */
  CHECK(lt_f16_to_f32(0x3c00) == 1.0f && lt_f16_to_f32(0xc000) == -2.0f, "f16 1, -2");
  CHECK(lt_f16_to_f32(0x0001) == ldexpf(1, -24) && lt_f16_to_f32(0x7bff) == 65504.0f, "f16 subnormal, max");
  CHECK(isinf(lt_f16_to_f32(0xfc00)) && lt_f16_to_f32(0xfc00) < 0 && isnan(lt_f16_to_f32(0x7e00)), "f16 inf, nan");
  /* e4m3fn: known codes */
  CHECK(lt_fp8e4m3_to_f32(0x38) == 1.0f && lt_fp8e4m3_to_f32(0x7e) == 448.0f && lt_fp8e4m3_to_f32(0xfe) == -448.0f,
        "1, ±448");
  CHECK(lt_fp8e4m3_to_f32(0x08) == 0.015625f && lt_fp8e4m3_to_f32(0x01) == 0.001953125f &&
        lt_fp8e4m3_to_f32(0x07) == 0.013671875f, "min normal, subnormals");
  CHECK(isnan(lt_fp8e4m3_to_f32(0x7f)) && isnan(lt_fp8e4m3_to_f32(0xff)), "NaN codes");
  CHECK(lt_fp8e4m3_to_f32(0x78) == 256.0f && lt_fp8e4m3_to_f32(0x77) == 240.0f, "256, 240");
  /* all 256 codes decode and re-encode to themselves (NaN only at 0x7f/0xff) */
  int nan_count = 0;
  bad = 0;
  for (int c = 0; c < 256; c++) {
    float f = lt_fp8e4m3_to_f32((uint8_t)c);
    if (isnan(f)) { nan_count++; continue; }
    if (lt_f32_to_fp8e4m3(f) != c) bad++;
  }
  CHECK(nan_count == 2 && bad == 0, "%d NaN codes, %d codes do not round-trip", nan_count, bad);
  /* saturation and rounding */
  CHECK(lt_f32_to_fp8e4m3(1000.0f) == 0x7e && lt_f32_to_fp8e4m3(-1e9f) == 0xfe, "saturate");
  CHECK(lt_f32_to_fp8e4m3(INFINITY) == 0x7e && lt_f32_to_fp8e4m3(-INFINITY) == 0xfe, "inf saturates");
  CHECK(lt_f32_to_fp8e4m3(464.0f) == 0x7e && lt_f32_to_fp8e4m3(449.0f) == 0x7e, "just above max");
  CHECK((lt_f32_to_fp8e4m3(NAN) & 0x7f) == 0x7f, "NaN encodes as NaN");
  CHECK(lt_f32_to_fp8e4m3(1.0625f) == 0x38, "1 + 1/16 ties to even (1.0)");
  CHECK(lt_f32_to_fp8e4m3(1.1875f) == 0x3a, "1 + 3/16 ties to even (1.25)");
  CHECK(lt_f32_to_fp8e4m3(ldexpf(1, -10)) == 0x00, "2^-10 ties to 0");
  CHECK(lt_f32_to_fp8e4m3(3 * ldexpf(1, -10)) == 0x02, "3*2^-10 ties to 2*2^-9");
  CHECK(lt_f32_to_fp8e4m3(-0.0f) == 0x80 && lt_f32_to_fp8e4m3(1e-30f) == 0x00, "-0, tiny");
  CHECK(lt_f32_to_fp8e4m3(0.0146484375f) == 0x08, "top subnormal tie rounds to min normal");
  /* random values: the code is the nearest representable value (ties to an even mantissa) */
  unsigned long long seed = 12345;
  float xs[4000];
  lt_rand_fill(xs, 4000, 1.0f, &seed);
  bad = 0;
  for (int i = 0; i < 4000; i++) {
    float x = xs[i] * ldexpf(1.0f, (i % 24) - 12);
    uint8_t q = lt_f32_to_fp8e4m3(x);
    float dq = lt_fp8e4m3_to_f32(q), best = INFINITY;
    for (int c = 0; c < 256; c++) {
      float v = lt_fp8e4m3_to_f32((uint8_t)c);
      if (!isnan(v) && fabsf(v - x) < best) best = fabsf(v - x);
    }
    if (fabsf(dq - x) != best) bad++;
  }
  CHECK(bad == 0, "%d of 4000 random values not encoded to the nearest e4m3", bad);
  /* lt_to_f32 on each float dtype */
  uint16_t hb[2] = {0x3f80, 0xc040};
  uint16_t hh[2] = {0x3c00, 0x4200};
  uint8_t h8[2] = {0x38, 0xc4};
  float o[2];
  lt_to_f32(LT_BF16, hb, o, 2);
  CHECK(o[0] == 1.0f && o[1] == -3.0f, "bf16 %g %g", o[0], o[1]);
  lt_to_f32(LT_F16, hh, o, 2);
  CHECK(o[0] == 1.0f && o[1] == 3.0f, "f16 %g %g", o[0], o[1]);
  lt_to_f32(LT_F8E4M3, h8, o, 2);
  CHECK(o[0] == 1.0f && o[1] == -3.0f, "e4m3 %g %g", o[0], o[1]);
  CHECK(lt_dtype_size(LT_F8E4M3) == 1 && lt_dtype_size(LT_I64) == 8 && !strcmp(lt_dtype_name(LT_F8E4M3), "F8_E4M3"),
        "dtype table");
}

/* `init-model` output read back: a sharded tiny FP8 checkpoint opens through its index, matches its
 * config, and every FP8 block's largest code is ±448 (scale = amax / 448). */
static void test_init_model(void) {
  char dir[4352];
  snprintf(dir, sizeof dir, "%s/init-tiny-fp8", g_dir);
  lt_init_opts o = {.preset = "tiny", .fp8 = 1, .seed = 3, .out_dir = dir, .shard_bytes = 8u << 20, .progress = 0};
  CHECK(lt_init_model(&o) == LATTE_OK, "%s", latte_last_error());
  lt_config c;
  CHECK(lt_config_load(dir, &c) == LATTE_OK, "%s", latte_last_error());
  CHECK(c.fp8 && c.hidden_size == 128 && c.vocab_size == 129280 && c.num_hidden_layers == 2 && c.q_lora_rank == 96,
        "tiny config");
  lt_st_set *s;
  CHECK(lt_st_open_dir(dir, &s) == LATTE_OK, "%s", latte_last_error());
  if (!s) return;
  CHECK(lt_st_nfiles(s) > 2 && lt_st_count(s) == 93, "%zu files, %zu tensors", lt_st_nfiles(s), lt_st_count(s));
  int nfp8 = 0, bad = 0;
  for (size_t i = 0; i < lt_st_count(s); i++) {
    const lt_st_tensor *t = lt_st_at(s, i);
    if (t->dtype != LT_F8E4M3) continue;
    nfp8++;
    char sn[256];
    snprintf(sn, sizeof sn, "%s_scale_inv", t->name);
    const lt_st_tensor *sc = lt_st_find(s, sn);
    int64_t n = t->shape[0], k = t->shape[1], nbk = (k + 127) / 128;
    if (!sc || sc->shape[0] != (n + 127) / 128 || sc->shape[1] != nbk) { bad++; continue; }
    const uint8_t *q = t->data;
    double ss = 0;
    for (int64_t br = 0; br < sc->shape[0]; br++)
      for (int64_t bc = 0; bc < nbk; bc++) {
        int mx = 0;
        float scale = f32_at(sc, br * nbk + bc);
        for (int64_t r = br * 128; r < n && r < br * 128 + 128; r++)
          for (int64_t cc = bc * 128; cc < k && cc < bc * 128 + 128; cc++) {
            uint8_t v = q[r * k + cc] & 0x7f;
            if (v > mx) mx = v;
            double d = lt_fp8e4m3_to_f32(q[r * k + cc]) * scale;
            ss += d * d;
          }
        if (mx != 0x7e) bad++;
      }
    double std_ = sqrt(ss / (double)(n * k));   /* uniform with std 1/sqrt(fan_in) */
    if (fabs(std_ * sqrt((double)k) - 1.0) > 0.05) bad++;
  }
  CHECK(nfp8 == 40 && bad == 0, "%d fp8 tensors, %d bad blocks/scales", nfp8, bad);
  const lt_st_tensor *g = lt_st_find(s, "model.layers.1.mlp.gate.weight");
  const lt_st_tensor *b = lt_st_find(s, "model.layers.1.mlp.gate.e_score_correction_bias");
  CHECK(g && g->dtype == LT_BF16 && g->shape[0] == 8 && b && b->dtype == LT_F32 && fabsf(f32_at(b, 0)) <= 0.01f,
        "router bf16, bias f32 small");
  lt_st_close(s);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "%s/test_loader.d", lt_tmpdir());
  mkdir(g_dir, 0755);
  test_fixtures();
  test_errors();
  test_sharded();
  test_dtypes();
  test_init_model();
  return lt_test_done();
}

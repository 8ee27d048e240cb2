/* safetensors.c — the memory-mapped safetensors reader: one file, or a checkpoint directory
 * (model.safetensors.index.json and its shards, model.safetensors, or every *.safetensors).
 * Each header is checked before any pointer into the mapping is handed out; see docs/loader.md. */
#include "io/safetensors.h"
#include "base/err.h"
#include "base/json.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  char *path;
  void *map;
  size_t size;
} lt_st_file;

struct lt_st_set {
  lt_st_file *files;
  size_t nfiles, cap_files;
  lt_st_tensor *t;
  size_t n, cap;
  size_t *hash;      /* open addressing: index+1 into t, 0 = empty; nhash is a power of two */
  size_t nhash;
};

static uint64_t lt_fnv(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static latte_status lt_hash_build(lt_st_set *s) {
  size_t nh = 16;
  while (nh < 2 * s->n + 2) nh *= 2;
  free(s->hash);
  s->hash = calloc(nh, sizeof *s->hash);
  if (!s->hash) return lt_err(LATTE_ERR_NOMEM, "safetensors: out of memory for the tensor index");
  s->nhash = nh;
  for (size_t i = 0; i < s->n; i++) {
    size_t h = lt_fnv(s->t[i].name) & (nh - 1);
    while (s->hash[h]) {
      const lt_st_tensor *o = &s->t[s->hash[h] - 1];
      if (!strcmp(o->name, s->t[i].name)) {
        if (!strcmp(o->file, s->t[i].file))
          return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s' appears twice", o->file, o->name);
        return lt_err(LATTE_ERR_FORMAT, "tensor '%s' appears in both %s and %s", o->name, o->file,
                      s->t[i].file);
      }
      h = (h + 1) & (nh - 1);
    }
    s->hash[h] = i + 1;
  }
  return LATTE_OK;
}

const lt_st_tensor *lt_st_find(const lt_st_set *s, const char *name) {
  if (!s || !s->nhash || !name) return NULL;
  size_t h = lt_fnv(name) & (s->nhash - 1);
  while (s->hash[h]) {
    const lt_st_tensor *t = &s->t[s->hash[h] - 1];
    if (!strcmp(t->name, name)) return t;
    h = (h + 1) & (s->nhash - 1);
  }
  return NULL;
}

size_t lt_st_count(const lt_st_set *s) { return s ? s->n : 0; }
size_t lt_st_nfiles(const lt_st_set *s) { return s ? s->nfiles : 0; }
const lt_st_tensor *lt_st_at(const lt_st_set *s, size_t i) { return s && i < s->n ? &s->t[i] : NULL; }

void lt_st_close(lt_st_set *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) free((char *)s->t[i].name);
  for (size_t i = 0; i < s->nfiles; i++) {
    if (s->files[i].map) munmap(s->files[i].map, s->files[i].size);
    free(s->files[i].path);
  }
  free(s->files);
  free(s->t);
  free(s->hash);
  free(s);
}

static const char *lt_jtype_name(const lt_json *v) {
  static const char *const n[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
  return v ? n[v->type] : "absent";
}

/* A non-negative JSON integer. */
static int lt_juint(const lt_json *v, uint64_t *out) {
  if (!v || v->type != LT_JNUM || !v->is_int || v->inum < 0) return 0;
  *out = (uint64_t)v->inum;
  return 1;
}

typedef struct { uint64_t begin, end; size_t idx; } lt_span;

static int lt_span_cmp(const void *a, const void *b) {
  const lt_span *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

static void lt_shape_str(char *buf, size_t cap, const int64_t *shape, int ndim) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, cap - k, "[");
  for (int i = 0; i < ndim && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%" PRId64, i ? ", " : "", shape[i]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
}

static const char *lt_u64_str(char *buf, int overflow, uint64_t v) {
  if (overflow) snprintf(buf, 32, "more than 2^64");
  else snprintf(buf, 32, "%" PRIu64, v);
  return buf;
}

/* Parse one tensor entry of the header. */
static latte_status lt_parse_entry(const char *path, const char *name, const lt_json *e, uint64_t data_len,
                                   lt_st_tensor *t, lt_span *sp) {
  if (e->type != LT_JOBJ)
    return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s': entry is %s, expected an object", path, name,
                  lt_jtype_name(e));
  const lt_json *dt = lt_json_get(e, "dtype"), *sh = lt_json_get(e, "shape"), *off = lt_json_get(e, "data_offsets");
  if (!dt) return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s': missing \"dtype\"", path, name);
  if (dt->type != LT_JSTR)
    return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is %s, expected a string", path, name,
                  lt_jtype_name(dt));
  if (!lt_dtype_from_name(dt->str, &t->dtype))
    return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", path, name, dt->str);
  if (!sh) return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s': missing \"shape\"", path, name);
  if (sh->type != LT_JARR)
    return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s': \"shape\" is %s, expected an array", path, name,
                  lt_jtype_name(sh));
  if (sh->len > LT_MAX_DIMS)
    return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s': \"shape\" has %zu dimensions (at most %d)", path, name,
                  sh->len, LT_MAX_DIMS);
  t->ndim = (int)sh->len;
  uint64_t numel = 1;
  int overflow = 0;
  for (size_t i = 0; i < sh->len; i++) {
    uint64_t d;
    if (!lt_juint(&sh->items[i], &d) || d > (uint64_t)INT64_MAX)
      return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s': \"shape\"[%zu] is not a non-negative integer", path,
                    name, i);
    t->shape[i] = (int64_t)d;
    if (__builtin_mul_overflow(numel, d, &numel)) overflow = 1;
  }
  if (!off) return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s': missing \"data_offsets\"", path, name);
  uint64_t b, en;
  if (off->type != LT_JARR || off->len != 2 || !lt_juint(&off->items[0], &b) || !lt_juint(&off->items[1], &en))
    return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" must be an array of two non-negative integers",
                  path, name);
  if (b > en)
    return lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s': data_offsets begin %" PRIu64 " > end %" PRIu64, path, name,
                  b, en);
  if (en > data_len)
    return lt_err(LATTE_ERR_FORMAT,
                  "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 ") run past the end of the data (%" PRIu64
                  " bytes)", path, name, b, en, data_len);
  uint64_t nbytes = 0;
  char shs[160], nbs[32];
  lt_shape_str(shs, sizeof shs, t->shape, t->ndim);
  if (!overflow) overflow = __builtin_mul_overflow(numel, (uint64_t)lt_dtype_size(t->dtype), &nbytes);
  if (overflow || nbytes != en - b)
    return lt_err(LATTE_ERR_FORMAT,
                  "%s: tensor '%s': shape %s x %s (%zu bytes each) = %s bytes does not match data_offsets span of %"
                  PRIu64 " bytes", path, name, shs, dt->str, lt_dtype_size(t->dtype), lt_u64_str(nbs, overflow, nbytes),
                  en - b);
  t->numel = (int64_t)numel;
  t->nbytes = (size_t)nbytes;
  sp->begin = b;
  sp->end = en;
  return LATTE_OK;
}

static latte_status lt_grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return LATTE_OK;
  size_t nc = *cap ? *cap * 2 : 16;
  while (nc < need) nc *= 2;
  void *q = realloc(*p, nc * elem);
  if (!q) return lt_err(LATTE_ERR_NOMEM, "safetensors: out of memory");
  *p = q;
  *cap = nc;
  return LATTE_OK;
}

/* mmap one file, validate its header and append its tensors to s. */
static latte_status lt_st_add_file(lt_st_set *s, const char *path) {
  LT_TRY(lt_grow((void **)&s->files, &s->cap_files, s->nfiles + 1, sizeof *s->files));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lt_err(LATTE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return lt_err(LATTE_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return lt_err(LATTE_ERR_IO, "%s: not a regular file", path);
  }
  size_t size = (size_t)st.st_size;
  if (size < 8) {
    close(fd);
    return lt_err(LATTE_ERR_FORMAT, "%s: file is %zu bytes, shorter than the 8-byte header length", path, size);
  }
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (map == MAP_FAILED) return lt_err(LATTE_ERR_IO, "%s: cannot mmap: %s", path, strerror(e));
  lt_st_file *f = &s->files[s->nfiles];
  f->map = map;
  f->size = size;
  f->path = strdup(path);
  if (!f->path) { munmap(map, size); return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", path); }
  s->nfiles++;

  const uint8_t *p = map;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
  if (hlen > size - 8)
    return lt_err(LATTE_ERR_FORMAT, "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes)", path,
                  hlen, size);
  uint64_t data_len = size - 8 - hlen;
  const uint8_t *data = p + 8 + hlen;
  lt_json_doc *doc;
  latte_status st_ = lt_json_parse((const char *)p + 8, (size_t)hlen, &doc);
  if (st_) return lt_err_prefix(st_, "%s: header is not valid JSON", path);
  const lt_json *root = lt_json_root(doc);
  latte_status rs = LATTE_OK;
  lt_span *spans = NULL;
  size_t nsp = 0;
  if (root->type != LT_JOBJ) {
    rs = lt_err(LATTE_ERR_FORMAT, "%s: header is %s, expected a JSON object", path, lt_jtype_name(root));
    goto done;
  }
  spans = malloc((root->len + 1) * sizeof *spans);
  if (!spans) { rs = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", path); goto done; }
  for (size_t i = 0; i < root->len; i++) {
    const char *name = root->keys[i];
    if (!strcmp(name, "__metadata__")) continue;
    if ((rs = lt_grow((void **)&s->t, &s->cap, s->n + 1, sizeof *s->t))) goto done;
    lt_st_tensor *t = &s->t[s->n];
    memset(t, 0, sizeof *t);
    if ((rs = lt_parse_entry(path, name, &root->items[i], data_len, t, &spans[nsp]))) goto done;
    t->name = strdup(name);
    if (!t->name) { rs = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", path); goto done; }
    t->file = f->path;
    t->data = data + spans[nsp].begin;
    spans[nsp].idx = s->n;
    nsp++;
    s->n++;
  }
  qsort(spans, nsp, sizeof *spans, lt_span_cmp);
  const lt_span *far = NULL;   /* the non-empty span reaching furthest so far */
  for (size_t i = 0; i < nsp; i++) {
    const lt_span *b = &spans[i];
    if (b->end == b->begin) continue;
    if (far && b->begin < far->end) {
      rs = lt_err(LATTE_ERR_FORMAT,
                  "%s: tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%" PRIu64 ", %" PRIu64 ") overlap", path,
                  s->t[far->idx].name, far->begin, far->end, s->t[b->idx].name, b->begin, b->end);
      goto done;
    }
    if (!far || b->end > far->end) far = b;
  }
done:
  free(spans);
  lt_json_free(doc);
  return rs;
}

static latte_status lt_st_new(lt_st_set **out) {
  *out = calloc(1, sizeof **out);
  return *out ? LATTE_OK : lt_err(LATTE_ERR_NOMEM, "safetensors: out of memory");
}

latte_status lt_st_open_file(const char *path, lt_st_set **out) {
  *out = NULL;
  lt_st_set *s;
  LT_TRY(lt_st_new(&s));
  latte_status st = lt_st_add_file(s, path);
  if (!st) st = lt_hash_build(s);
  if (st) { lt_st_close(s); return st; }
  *out = s;
  return LATTE_OK;
}

static int lt_is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *lt_join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static int lt_str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Open every shard named in index.json once, then check that each listed tensor is in its shard. */
static latte_status lt_st_open_index(lt_st_set *s, const char *dir, const char *ipath) {
  lt_json_doc *doc;
  LT_TRY(lt_json_parse_file(ipath, &doc));
  const lt_json *wm = lt_json_get(lt_json_root(doc), "weight_map");
  latte_status rs = LATTE_OK;
  const char **names = NULL;
  if (!wm || wm->type != LT_JOBJ) {
    rs = lt_err(LATTE_ERR_FORMAT, "%s: \"weight_map\" is %s, expected an object", ipath, lt_jtype_name(wm));
    goto done;
  }
  if (wm->len == 0) { rs = lt_err(LATTE_ERR_FORMAT, "%s: \"weight_map\" is empty", ipath); goto done; }
  /* shard names, sorted and deduplicated (a V3 index lists ~91k tensors over 163 shards) */
  names = malloc(wm->len * sizeof *names);
  if (!names) { rs = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", ipath); goto done; }
  for (size_t i = 0; i < wm->len; i++) {
    const lt_json *v = &wm->items[i];
    if (v->type != LT_JSTR || v->len == 0 || memchr(v->str, '/', v->len) || strlen(v->str) != v->len ||
        !strcmp(v->str, "..") || !strcmp(v->str, ".")) {
      rs = lt_err(LATTE_ERR_FORMAT, "%s: weight_map entry for tensor '%s' is not a file name in the directory",
                  ipath, wm->keys[i]);
      goto done;
    }
    names[i] = v->str;
  }
  qsort(names, wm->len, sizeof *names, lt_str_cmp);
  for (size_t i = 0; i < wm->len; i++) {
    if (i && !strcmp(names[i], names[i - 1])) continue;
    char *sp = lt_join(dir, names[i]);
    if (!sp) { rs = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", ipath); goto done; }
    if (!lt_is_file(sp)) {
      const char *who = "";
      for (size_t j = 0; j < wm->len && !*who; j++)
        if (!strcmp(wm->items[j].str, names[i])) who = wm->keys[j];
      rs = lt_err(LATTE_ERR_IO, "%s: shard '%s' (named in the weight_map for tensor '%s') is missing", ipath,
                  names[i], who);
      free(sp);
      goto done;
    }
    rs = lt_st_add_file(s, sp);
    free(sp);
    if (rs) goto done;
  }
  if ((rs = lt_hash_build(s))) goto done;
  for (size_t i = 0; i < wm->len; i++) {
    const lt_st_tensor *t = lt_st_find(s, wm->keys[i]);
    const char *base = t ? strrchr(t->file, '/') : NULL;
    base = base ? base + 1 : (t ? t->file : NULL);
    if (!t || strcmp(base, wm->items[i].str)) {
      rs = lt_err(LATTE_ERR_FORMAT, "%s: tensor '%s' listed in the weight_map is absent from shard '%s'", ipath,
                  wm->keys[i], wm->items[i].str);
      goto done;
    }
  }
done:
  free(names);
  lt_json_free(doc);
  return rs;
}

latte_status lt_st_open_dir(const char *dir, lt_st_set **out) {
  *out = NULL;
  struct stat st;
  if (stat(dir, &st) != 0) return lt_err(LATTE_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return lt_err(LATTE_ERR_IO, "%s: not a directory", dir);
  lt_st_set *s;
  LT_TRY(lt_st_new(&s));
  latte_status rs = LATTE_OK;
  char *ipath = lt_join(dir, "model.safetensors.index.json"), *mpath = lt_join(dir, "model.safetensors");
  if (!ipath || !mpath) { rs = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", dir); goto done; }
  if (lt_is_file(ipath)) {
    rs = lt_st_open_index(s, dir, ipath);
  } else if (lt_is_file(mpath)) {
    rs = lt_st_add_file(s, mpath);
    if (!rs) rs = lt_hash_build(s);
  } else {
    DIR *d = opendir(dir);
    if (!d) { rs = lt_err(LATTE_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno)); goto done; }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *de;
    while (!rs && (de = readdir(d))) {
      size_t l = strlen(de->d_name);
      if (l <= 12 || strcmp(de->d_name + l - 12, ".safetensors")) continue;
      if ((rs = lt_grow((void **)&names, &cap, nn + 1, sizeof *names))) break;
      if (!(names[nn] = lt_join(dir, de->d_name))) rs = lt_err(LATTE_ERR_NOMEM, "%s: out of memory", dir);
      else nn++;
    }
    closedir(d);
    if (!rs && nn == 0)
      rs = lt_err(LATTE_ERR_IO, "%s: no model.safetensors.index.json, model.safetensors or *.safetensors", dir);
    if (!rs) qsort(names, nn, sizeof *names, lt_str_cmp);
    for (size_t i = 0; i < nn && !rs; i++) rs = lt_st_add_file(s, names[i]);
    for (size_t i = 0; i < nn; i++) free(names[i]);
    free(names);
    if (!rs) rs = lt_hash_build(s);
  }
done:
  free(ipath);
  free(mpath);
  if (rs) { lt_st_close(s); return rs; }
  *out = s;
  return LATTE_OK;
}

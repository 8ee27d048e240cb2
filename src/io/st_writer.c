/* st_writer.c — write one .safetensors file: tensors are declared first (data given now or streamed
 * later in declaration order), the JSON header is padded with spaces to a multiple of 8 bytes, and
 * data follows in declaration order with no gaps. Streaming keeps big checkpoints out of memory. */
#include "io/safetensors.h"
#include "base/err.h"
#include "base/json.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  char *name;
  lt_dtype dt;
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  const void *data;
  uint64_t nbytes;
} lt_stw_entry;

struct lt_st_writer {
  lt_stw_entry *e;
  size_t n, cap;
  char **meta;        /* key, value pairs */
  size_t nmeta;
  uint64_t total;     /* data bytes declared */
  uint64_t written;   /* data bytes appended since begin */
  int fd;             /* -1 when no file is open */
  char *path;
};

lt_st_writer *lt_st_writer_new(void) {
  lt_st_writer *w = calloc(1, sizeof *w);
  if (w) w->fd = -1;
  return w;
}

void lt_st_writer_free(lt_st_writer *w) {
  if (!w) return;
  if (w->fd >= 0) { close(w->fd); unlink(w->path); }   /* an unfinished file is not a checkpoint */
  for (size_t i = 0; i < w->n; i++) free(w->e[i].name);
  for (size_t i = 0; i < 2 * w->nmeta; i++) free(w->meta[i]);
  free(w->meta);
  free(w->e);
  free(w->path);
  free(w);
}

uint64_t lt_st_writer_data_bytes(const lt_st_writer *w) { return w ? w->total : 0; }

latte_status lt_st_writer_meta(lt_st_writer *w, const char *key, const char *value) {
  char **m = realloc(w->meta, (2 * w->nmeta + 2) * sizeof *m);
  if (!m) return lt_err(LATTE_ERR_NOMEM, "safetensors writer: out of memory");
  w->meta = m;
  m[2 * w->nmeta] = strdup(key);
  m[2 * w->nmeta + 1] = strdup(value);
  w->nmeta++;
  if (!m[2 * w->nmeta - 2] || !m[2 * w->nmeta - 1]) return lt_err(LATTE_ERR_NOMEM, "safetensors writer: out of memory");
  return LATTE_OK;
}

latte_status lt_st_writer_add(lt_st_writer *w, const char *name, lt_dtype dt, int ndim, const int64_t *shape,
                              const void *data, size_t nbytes) {
  if (!w || !name || !*name || !strcmp(name, "__metadata__"))
    return lt_err(LATTE_ERR_INVALID, "safetensors writer: bad tensor name '%s'", name ? name : "(null)");
  if (w->fd >= 0) return lt_err(LATTE_ERR_INVALID, "safetensors writer: tensor '%s' added after begin", name);
  if ((unsigned)dt >= LT_NDTYPE || ndim < 0 || ndim > LT_MAX_DIMS)
    return lt_err(LATTE_ERR_INVALID, "safetensors writer: tensor '%s': bad dtype or ndim %d", name, ndim);
  uint64_t numel = 1;
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0 || __builtin_mul_overflow(numel, (uint64_t)shape[i], &numel))
      return lt_err(LATTE_ERR_INVALID, "safetensors writer: tensor '%s': bad shape", name);
  if (numel * lt_dtype_size(dt) != nbytes)
    return lt_err(LATTE_ERR_INVALID, "safetensors writer: tensor '%s': %zu bytes given, shape x %s needs %" PRIu64, name,
                  nbytes, lt_dtype_name(dt), numel * lt_dtype_size(dt));
  for (size_t i = 0; i < w->n; i++)
    if (!strcmp(w->e[i].name, name)) return lt_err(LATTE_ERR_INVALID, "safetensors writer: tensor '%s' added twice", name);
  if (w->n == w->cap) {
    size_t nc = w->cap ? 2 * w->cap : 64;
    lt_stw_entry *e = realloc(w->e, nc * sizeof *e);
    if (!e) return lt_err(LATTE_ERR_NOMEM, "safetensors writer: out of memory");
    w->e = e;
    w->cap = nc;
  }
  lt_stw_entry *e = &w->e[w->n];
  memset(e, 0, sizeof *e);
  if (!(e->name = strdup(name))) return lt_err(LATTE_ERR_NOMEM, "safetensors writer: out of memory");
  e->dt = dt;
  e->ndim = ndim;
  for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
  e->data = data;
  e->nbytes = nbytes;
  w->total += nbytes;
  w->n++;
  return LATTE_OK;
}

static latte_status lt_write_all(int fd, const char *path, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t k = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return lt_err(LATTE_ERR_IO, "%s: write failed: %s", path, k < 0 ? strerror(errno) : "short write");
    c += k;
    n -= (size_t)k;
  }
  return LATTE_OK;
}

latte_status lt_st_writer_begin(lt_st_writer *w, const char *path) {
  if (w->fd >= 0) return lt_err(LATTE_ERR_INVALID, "%s: safetensors writer already begun", path);
  lt_sbuf b = {0};
  lt_sbuf_putc(&b, '{');
  if (w->nmeta) {
    lt_sbuf_puts(&b, "\"__metadata__\":{");
    for (size_t i = 0; i < w->nmeta; i++) {
      if (i) lt_sbuf_putc(&b, ',');
      lt_sbuf_json_str(&b, w->meta[2 * i], strlen(w->meta[2 * i]));
      lt_sbuf_putc(&b, ':');
      lt_sbuf_json_str(&b, w->meta[2 * i + 1], strlen(w->meta[2 * i + 1]));
    }
    lt_sbuf_putc(&b, '}');
  }
  uint64_t off = 0;
  for (size_t i = 0; i < w->n; i++) {
    const lt_stw_entry *e = &w->e[i];
    if (i || w->nmeta) lt_sbuf_putc(&b, ',');
    lt_sbuf_json_str(&b, e->name, strlen(e->name));
    lt_sbuf_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", lt_dtype_name(e->dt));
    for (int d = 0; d < e->ndim; d++) lt_sbuf_printf(&b, "%s%" PRId64, d ? "," : "", e->shape[d]);
    lt_sbuf_printf(&b, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + e->nbytes);
    off += e->nbytes;
  }
  lt_sbuf_putc(&b, '}');
  while (b.n % 8) lt_sbuf_putc(&b, ' ');
  if (b.oom) { lt_sbuf_free(&b); return lt_err(LATTE_ERR_NOMEM, "%s: out of memory for the header", path); }
  free(w->path);
  if (!(w->path = strdup(path))) { lt_sbuf_free(&b); return lt_err(LATTE_ERR_NOMEM, "%s: out of memory", path); }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) { lt_sbuf_free(&b); return lt_err(LATTE_ERR_IO, "%s: cannot create: %s", path, strerror(errno)); }
  w->fd = fd;
  w->written = 0;
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)b.n >> (8 * i));
  latte_status s = lt_write_all(fd, path, len8, 8);
  if (!s) s = lt_write_all(fd, path, b.p, b.n);
  lt_sbuf_free(&b);
  return s;
}

latte_status lt_st_writer_append(lt_st_writer *w, const void *data, size_t nbytes) {
  if (w->fd < 0) return lt_err(LATTE_ERR_INVALID, "safetensors writer: append before begin");
  if (nbytes > w->total - w->written)
    return lt_err(LATTE_ERR_INVALID, "%s: %zu bytes appended past the declared %" PRIu64 " data bytes", w->path, nbytes,
                  w->total);
  LT_TRY(lt_write_all(w->fd, w->path, data, nbytes));
  w->written += nbytes;
  return LATTE_OK;
}

latte_status lt_st_writer_finish(lt_st_writer *w) {
  if (w->fd < 0) return lt_err(LATTE_ERR_INVALID, "safetensors writer: finish before begin");
  if (w->written != w->total)
    return lt_err(LATTE_ERR_INVALID, "%s: %" PRIu64 " of %" PRIu64 " declared data bytes were written", w->path,
                  w->written, w->total);
  int fd = w->fd;
  w->fd = -1;
  if (close(fd) != 0) return lt_err(LATTE_ERR_IO, "%s: close failed: %s", w->path, strerror(errno));
  return LATTE_OK;
}

latte_status lt_st_writer_write(lt_st_writer *w, const char *path) {
  for (size_t i = 0; i < w->n; i++)
    if (!w->e[i].data && w->e[i].nbytes)
      return lt_err(LATTE_ERR_INVALID, "%s: tensor '%s' has no data (use the streaming calls)", path, w->e[i].name);
  LT_TRY(lt_st_writer_begin(w, path));
  for (size_t i = 0; i < w->n; i++) LT_TRY(lt_st_writer_append(w, w->e[i].data, w->e[i].nbytes));
  return lt_st_writer_finish(w);
}

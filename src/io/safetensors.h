/* safetensors.h — memory-mapped safetensors reader (single file or sharded via
 * model.safetensors.index.json) and a writer. Every header is validated: length, JSON, dtype,
 * shape × dtype size == byte span, offsets inside the file, no overlapping tensors. */
#ifndef LT_SAFETENSORS_H
#define LT_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include "latte.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LT_F32 = 0, LT_F16, LT_BF16, LT_F8E4M3, LT_I32, LT_I64, LT_U8, LT_NDTYPE } lt_dtype;
size_t lt_dtype_size(lt_dtype t);
const char *lt_dtype_name(lt_dtype t);   /* "F32", "BF16", "F8_E4M3", ... */

#define LT_MAX_DIMS 6
typedef struct {
  const char *name;     /* tensor name (owned by the set) */
  lt_dtype dtype;
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  int64_t numel;
  const void *data;     /* points into the mmap */
  size_t nbytes;
  const char *file;     /* the file it lives in (owned by the set) */
} lt_st_tensor;

typedef struct lt_st_set lt_st_set;   /* all tensors of one checkpoint (one or many files) */

/* Open a single .safetensors file. Errors name the file and the tensor/field. */
latte_status lt_st_open_file(const char *path, lt_st_set **out);
/* Open a checkpoint directory: model.safetensors.index.json if present (all shards it names), else
 * model.safetensors, else every *.safetensors in the directory. */
latte_status lt_st_open_dir(const char *dir, lt_st_set **out);
void lt_st_close(lt_st_set *s);
const lt_st_tensor *lt_st_find(const lt_st_set *s, const char *name);  /* NULL if absent */
size_t lt_st_count(const lt_st_set *s);
const lt_st_tensor *lt_st_at(const lt_st_set *s, size_t i);

/* Writer: collect tensors (data is copied or referenced until lt_st_write_file), then write one file. */
typedef struct lt_st_writer lt_st_writer;
lt_st_writer *lt_st_writer_new(void);
/* data must stay valid until write; nbytes must equal numel(shape) * dtype size. */
latte_status lt_st_writer_add(lt_st_writer *w, const char *name, lt_dtype dt, int ndim, const int64_t *shape,
                              const void *data, size_t nbytes);
latte_status lt_st_writer_write(lt_st_writer *w, const char *path);
void lt_st_writer_free(lt_st_writer *w);

/* Numeric conversions used everywhere. */
float lt_bf16_to_f32(uint16_t h);
uint16_t lt_f32_to_bf16(float f);       /* round to nearest even */
float lt_f16_to_f32(uint16_t h);
float lt_fp8e4m3_to_f32(uint8_t v);     /* OCP e4m3fn: no inf, 0x7f/0xff NaN */
uint8_t lt_f32_to_fp8e4m3(float f);     /* round to nearest even, saturate to ±448 */
/* Convert n elements of any float dtype to f32. */
void lt_to_f32(lt_dtype dt, const void *src, float *dst, size_t n);
/* ---- additions (loader owner) ---- */
/* Parse a safetensors dtype name ("BF16", "F8_E4M3", ...; "BOOL" reads as U8). 1 if known. */
int lt_dtype_from_name(const char *s, lt_dtype *out);
/* Number of files (shards) the set mmapped. */
size_t lt_st_nfiles(const lt_st_set *s);
/* Writer extras. A string entry of "__metadata__" (e.g. "format" = "pt"). */
latte_status lt_st_writer_meta(lt_st_writer *w, const char *key, const char *value);
/* Streaming: add tensors with data == NULL, then begin (writes the header), append every tensor's
 * bytes in the order they were added (any chunking), and finish (checks the byte count, closes). */
latte_status lt_st_writer_begin(lt_st_writer *w, const char *path);
latte_status lt_st_writer_append(lt_st_writer *w, const void *data, size_t nbytes);
latte_status lt_st_writer_finish(lt_st_writer *w);
/* Total data bytes of the tensors added so far (without the header). */
uint64_t lt_st_writer_data_bytes(const lt_st_writer *w);
#ifdef __cplusplus
}
#endif
#endif

/* backend.c — picks a backend by name: "cpu", "cuda", or NULL ($LATTE_BACKEND, else cuda when one is
 * built and a GPU is visible, else cpu). Asking for cuda where it cannot run is one clear error. */
#include "backend/backend.h"
#include "base/err.h"
#include <stdlib.h>
#include <string.h>

latte_status lt_backend_create(const char *name, int w8a8, int threads, lt_backend **out) {
  *out = NULL;
  if (!name || !*name) name = getenv("LATTE_BACKEND");
  if (!name || !*name) {
#ifdef LATTE_HAVE_CUDA
    name = lt_cuda_device_count() > 0 ? "cuda" : "cpu";
#else
    name = "cpu";
#endif
  }
  if (!strcmp(name, "cpu")) return lt_cpu_backend_create(w8a8, threads, out);
  if (!strcmp(name, "cuda")) {
#ifdef LATTE_HAVE_CUDA
    if (lt_cuda_device_count() <= 0)
      return lt_err(LATTE_ERR_BACKEND, "backend cuda: no CUDA GPU is visible on this machine");
    return lt_cuda_backend_create(w8a8, out);
#else
    return lt_err(LATTE_ERR_BACKEND, "backend cuda: this latte was built without CUDA (configure with -DLATTE_CUDA=ON)");
#endif
  }
  return lt_err(LATTE_ERR_INVALID, "unknown backend '%s' (expected cpu or cuda)", name);
}

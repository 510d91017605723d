/* Every allocation of the library goes through here so that the fault
 * injection test can fail the n-th one (as SQLite's faultsim does). */
#include "util.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

static _Atomic uint64_t g_count;
static _Atomic uint64_t g_fail_at;

uint64_t ql_fault_inject_set(uint64_t fail_at) {
  uint64_t n = atomic_exchange(&g_count, 0);
  atomic_store(&g_fail_at, fail_at);
  return n;
}

static int should_fail(void) {
  uint64_t n = atomic_fetch_add(&g_count, 1) + 1;
  uint64_t f = atomic_load(&g_fail_at);
  return f != 0 && n >= f;
}

void *ql_malloc(size_t n) {
  if (should_fail()) return NULL;
  return malloc(n ? n : 1);
}
void *ql_calloc(size_t n, size_t size) {
  if (should_fail()) return NULL;
  if (n == 0 || size == 0) n = size = 1;
  return calloc(n, size);
}
void *ql_realloc(void *p, size_t n) {
  if (should_fail()) return NULL;
  return realloc(p, n ? n : 1);
}
void ql_free(void *p) { free(p); }

char *ql_strdup(const char *s) { return ql_strndup(s, s ? strlen(s) : 0); }
char *ql_strndup(const char *s, size_t n) {
  char *r = ql_malloc(n + 1);
  if (!r) return NULL;
  if (n) memcpy(r, s, n);
  r[n] = 0;
  return r;
}

void *ql_malloc_aligned(size_t n) {
  if (should_fail()) return NULL;
  void *p = NULL;
  /* round up so kernels may read whole vectors past the end of the data */
  size_t sz = (n + 127) & ~(size_t)63;
  if (sz < n) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  /* Large blocks (packed weights, the arena) on 2 MiB pages where the
   * kernel allows them (transparent huge pages in madvise mode, as on this
   * Debian): a GEMV streaming 16 MiB of weights took 3% less time. */
  if (sz >= ((size_t)4 << 20)) {
    if (posix_memalign(&p, (size_t)2 << 20, sz)) return NULL;
    madvise(p, sz & ~(((size_t)2 << 20) - 1), MADV_HUGEPAGE); /* advice only: failure is fine */
    return p;
  }
#endif
  if (posix_memalign(&p, 64, sz)) return NULL;
  return p;
}
void ql_free_aligned(void *p) { free(p); }

int ql_grow(void **arr, size_t *cap, size_t need, size_t es) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 8;
  while (nc < need) {
    if (nc > SIZE_MAX / 2) return -1;
    nc *= 2;
  }
  size_t bytes;
  if (ql_mul_overflow_size(nc, es, &bytes)) return -1;
  void *p = ql_realloc(*arr, bytes);
  if (!p) return -1;
  *arr = p;
  *cap = nc;
  return 0;
}

int64_t ql_dims_numel(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0 || ql_mul_overflow_i64(n, dims[i], &n) || n > ((int64_t)1 << 62)) return -1;
  }
  return n;
}

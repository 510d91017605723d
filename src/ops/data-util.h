/* Helpers shared by the data-movement op families (shape-ops.c,
 * index-ops.c): element copies that understand strings, output-size caps. */
#ifndef QL_OPS_DATA_UTIL_H
#define QL_OPS_DATA_UTIL_H

#include "op.h"

/* Outputs that an op computes from sizes taken out of tensors (Expand,
 * Tile, ConstantOfShape, Range, Pad) are capped here, well before an
 * allocation could exhaust memory: a model is untrusted input. Matches the
 * loader's default max_tensor_bytes. */
#define QL_SHAPE_OPS_MAX_BYTES ((int64_t)1 << 31)

static inline ql_status check_out_size(ql_op_ctx *c, ql_dtype t, int rank, const int64_t *dims) {
  int64_t n = ql_dims_numel(rank, dims), bytes;
  if (n < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output dims are negative or their product overflows");
  if (ql_mul_overflow_i64(n, (int64_t)ql_dtype_size(t), &bytes) || bytes > QL_SHAPE_OPS_MAX_BYTES)
    return ql_op_fail(c, QL_ERR_LIMIT, "output of %lld elements exceeds the %lld-byte limit", (long long)n,
                      (long long)QL_SHAPE_OPS_MAX_BYTES);
  return QL_OK;
}

/* dst[di + k] = src[si + k] for k < n; strings are duplicated. */
static inline int copy_elems(const ql_tensor *dst, int64_t di, const ql_tensor *src, int64_t si, int64_t n) {
  if (n <= 0) return 0;
  if (src->dtype == QL_STRING) {
    char **d = (char **)dst->data + di;
    char *const *s = (char *const *)src->data + si;
    for (int64_t k = 0; k < n; k++) {
      ql_free(d[k]);
      if (!(d[k] = ql_strdup(s[k] ? s[k] : ""))) return -1;
    }
    return 0;
  }
  size_t es = ql_dtype_size(src->dtype);
  memcpy((char *)dst->data + (size_t)di * es, (const char *)src->data + (size_t)si * es, (size_t)n * es);
  return 0;
}

static inline ql_status oom(ql_op_ctx *c) { return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory"); }

static inline void row_strides(int rank, const int64_t *dims, int64_t *st) {
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    st[i] = s;
    s *= dims[i];
  }
}

#endif

/* Helpers shared by the index, bit, misc and nn-extra op families: generic
 * element access by dtype (any type, strings included), a stable index sort,
 * and the output-size cap for sizes that come out of tensor values. */
#ifndef QL_XOPS_UTIL_H
#define QL_XOPS_UTIL_H

#include "op.h"
#include <math.h>
#include <stdlib.h>

/* Outputs whose size is read from tensor values (OneHot depth, CenterCropPad
 * shape, Col2Im image_shape, ...) are capped well before an allocation could
 * exhaust memory, as shape-ops does: a model is untrusted input. */
#define XO_MAX_OUT_BYTES ((int64_t)1 << 31)

static inline ql_status xo_oom(ql_op_ctx *c) { return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory"); }

static inline ql_status xo_missing(ql_op_ctx *c, int i) {
  return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input %d is required", i);
}

/* QL_OK when an output of this dtype and shape is allowed. */
static inline ql_status xo_check_out(ql_op_ctx *c, ql_dtype t, int rank, const int64_t *dims) {
  if (rank > QL_MAX_RANK) return ql_op_fail(c, QL_ERR_LIMIT, "output rank %d exceeds %d", rank, QL_MAX_RANK);
  int64_t n = ql_dims_numel(rank, dims), bytes;
  if (n < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output dims are negative or their product overflows");
  if (ql_mul_overflow_i64(n, (int64_t)ql_dtype_size(t), &bytes) || bytes > XO_MAX_OUT_BYTES)
    return ql_op_fail(c, QL_ERR_LIMIT, "output of %lld elements exceeds the %lld-byte limit", (long long)n,
                      (long long)XO_MAX_OUT_BYTES);
  return QL_OK;
}

/* 1 when t is one of the listed dtypes (list ends with QL_UNDEFINED). */
static inline int xo_type_in(ql_dtype t, const ql_dtype *list) {
  for (; *list != QL_UNDEFINED; list++)
    if (*list == t) return 1;
  return 0;
}

/* dst[di] = src[si] for one element of any type; strings are duplicated
 * (the old string in dst is freed). -1 when out of memory. */
static inline int xo_copy1(ql_dtype t, void *dst, int64_t di, const void *src, int64_t si) {
  switch (t) {
  case QL_STRING: {
    char **d = (char **)dst + di;
    const char *s = ((char *const *)src)[si];
    char *n = ql_strdup(s ? s : "");
    if (!n) return -1;
    ql_free(*d);
    *d = n;
    return 0;
  }
  default: break;
  }
  size_t es = ql_dtype_size(t);
  switch (es) {
  case 1: ((uint8_t *)dst)[di] = ((const uint8_t *)src)[si]; break;
  case 2: ((uint16_t *)dst)[di] = ((const uint16_t *)src)[si]; break;
  case 4: ((uint32_t *)dst)[di] = ((const uint32_t *)src)[si]; break;
  case 8: ((uint64_t *)dst)[di] = ((const uint64_t *)src)[si]; break;
  default: memcpy((char *)dst + (size_t)di * es, (const char *)src + (size_t)si * es, es); break;
  }
  return 0;
}

/* n consecutive elements; -1 when out of memory. */
static inline int xo_copyn(ql_dtype t, void *dst, int64_t di, const void *src, int64_t si, int64_t n) {
  if (n <= 0) return 0;
  if (t == QL_STRING) {
    for (int64_t k = 0; k < n; k++)
      if (xo_copy1(t, dst, di + k, src, si + k)) return -1;
    return 0;
  }
  size_t es = ql_dtype_size(t);
  memmove((char *)dst + (size_t)di * es, (const char *)src + (size_t)si * es, (size_t)n * es);
  return 0;
}

/* Every element of a string tensor becomes "" (a zero-filled output holds
 * NULL pointers; consumers accept them, but "" keeps outputs self-contained). */
static inline int xo_fill_empty_strings(ql_tensor *t) {
  if (t->dtype != QL_STRING) return 0;
  for (int64_t i = 0; i < t->numel; i++)
    if (!((char **)t->data)[i] && !(((char **)t->data)[i] = ql_strdup(""))) return -1;
  return 0;
}

/* Output i as a copy of x. */
static inline ql_tensor *xo_clone_out(ql_op_ctx *c, size_t i, const ql_tensor *x) {
  ql_tensor *y = ql_op_output(c, i, x->dtype, x->rank, x->dims);
  if (!y) return NULL;
  if (xo_copyn(x->dtype, y->data, 0, x->data, 0, x->numel)) {
    xo_oom(c);
    return NULL;
  }
  return y;
}

static inline int xo_is_nan(ql_dtype t, const void *p, int64_t i) {
  if (!ql_dtype_is_float(t)) return 0;
  double v = ql_load_f64(t, p, i);
  return v != v;
}

static inline int xo_cmp_f64(double a, double b) {
  /* NaN sorts after everything, as numpy's sort does */
  int na = a != a, nb = b != b;
  if (na || nb) return na - nb;
  return a < b ? -1 : a > b;
}

/* Three-way comparison of a[ia] and b[ib] (same dtype) in numpy's sort
 * order: numbers by value with NaN last, strings by bytes (code-point order
 * for UTF-8), complex numbers by real then imaginary part. */
static inline int xo_cmp(ql_dtype t, const void *a, int64_t ia, const void *b, int64_t ib) {
  switch (t) {
  case QL_STRING: {
    const char *x = ((char *const *)a)[ia], *y = ((char *const *)b)[ib];
    int r = strcmp(x ? x : "", y ? y : "");
    return r < 0 ? -1 : r > 0;
  }
  case QL_UINT64: {
    uint64_t x = ((const uint64_t *)a)[ia], y = ((const uint64_t *)b)[ib];
    return x < y ? -1 : x > y;
  }
  case QL_COMPLEX64: {
    const float *x = (const float *)a + 2 * ia, *y = (const float *)b + 2 * ib;
    int r = xo_cmp_f64(x[0], y[0]);
    return r ? r : xo_cmp_f64(x[1], y[1]);
  }
  case QL_COMPLEX128: {
    const double *x = (const double *)a + 2 * ia, *y = (const double *)b + 2 * ib;
    int r = xo_cmp_f64(x[0], y[0]);
    return r ? r : xo_cmp_f64(x[1], y[1]);
  }
  default: break;
  }
  if (ql_dtype_is_float(t)) return xo_cmp_f64(ql_load_f64(t, a, ia), ql_load_f64(t, b, ib));
  int64_t x = ql_load_i64(t, a, ia), y = ql_load_i64(t, b, ib);
  return x < y ? -1 : x > y;
}

/* Stable merge sort of idx[0..n) by cmp(ctx, a, b); tmp holds n entries. */
typedef int (*xo_cmp_fn)(const void *ctx, int64_t a, int64_t b);

static inline void xo_sort_idx(int64_t *idx, int64_t *tmp, int64_t n, xo_cmp_fn cmp, const void *ctx) {
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      int64_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = cmp(ctx, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
      while (i < mid) tmp[k++] = idx[i++];
      while (j < hi) tmp[k++] = idx[j++];
    }
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
  }
}

/* Reads a tensor holding exactly one integer (int32/int64) into *v. */
static inline ql_status xo_scalar_int(ql_op_ctx *c, const ql_tensor *t, const char *what, int64_t *v) {
  if (!t || (t->dtype != QL_INT64 && t->dtype != QL_INT32))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s must be an int64 (or int32) tensor", what);
  if (t->numel != 1 || t->rank > 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s must hold exactly one value (has %lld)", what,
                      (long long)t->numel);
  *v = ql_load_i64(t->dtype, t->data, 0);
  return QL_OK;
}

/* Product of dims[lo..hi); saturates (only possible when another dim is 0,
 * since every tensor's prefix products are bounded). */
static inline int64_t xo_prod(const int64_t *dims, int lo, int hi) {
  int64_t p = 1;
  for (int d = lo; d < hi; d++)
    if (ql_mul_overflow_i64(p, dims[d], &p)) return INT64_MAX;
  return p;
}

/* outer/axis/inner split of a shape around one axis. */
static inline void xo_split(const ql_tensor *x, int axis, int64_t *outer, int64_t *n, int64_t *inner) {
  *outer = xo_prod(x->dims, 0, axis);
  *inner = xo_prod(x->dims, axis + 1, x->rank);
  *n = x->dims[axis];
  if (x->numel == 0) *outer = *n = *inner = 0;
}

#endif

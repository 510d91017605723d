/* Index and selection ops: TopK, CumSum, CumProd, Trilu, ScatterElements,
 * Scatter, ScatterND, GatherND, OneHot, Compress, NonZero, Unique,
 * ReverseSequence, EyeLike, TensorScatter. Every index read from a tensor
 * is bounds-checked before it addresses memory: the model is untrusted input. */
#include "xops-util.h"

#define END QL_UNDEFINED

/* The "all standard types" constraint of the data movement ops; bfloat16
 * joined most of them in a later schema version. */
static int std_type(ql_dtype t, int with_bf16) {
  static const ql_dtype k[] = {QL_UINT8,   QL_UINT16, QL_UINT32, QL_UINT64,    QL_INT8,
                               QL_INT16,   QL_INT32,  QL_INT64,  QL_FLOAT16,   QL_FLOAT,
                               QL_DOUBLE,  QL_STRING, QL_BOOL,   QL_COMPLEX64, QL_COMPLEX128,
                               END};
  return xo_type_in(t, k) || (with_bf16 && t == QL_BFLOAT16);
}

static ql_status bad_type(ql_op_ctx *c, const char *what, ql_dtype t) {
  return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has type %s, which schema version %d does not allow", what,
                    ql_dtype_name(t), c->version);
}

/* Row-major strides in elements; saturating products are only possible when
 * the tensor is empty, and callers never index an empty tensor. */
static void strides_of(int rank, const int64_t *dims, int64_t *st) {
  for (int d = 0; d < rank; d++) st[d] = xo_prod(dims, d + 1, rank);
}

/* ================================================================ arithmetic */

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

/* d[di] = f(d[di], s[si]) in the element type. Integers wrap as numpy's do
 * (bool: add = or, mul = and). Floats are computed in double and rounded
 * once to the type: exact for float16/bfloat16/float32 because double holds
 * more than 2p+2 bits, so the result equals the type's own correctly rounded
 * operation. max/min propagate NaN as np.maximum/np.minimum do.
 * -1 for types without arithmetic (string, complex, 8-bit floats). */
static int combine(ql_dtype t, void *d, int64_t di, const void *s, int64_t si, int op) {
  if (ql_dtype_is_int(t) || t == QL_BOOL) {
    int64_t a = ql_load_i64(t, d, di), b = ql_load_i64(t, s, si), r;
    switch (op) {
    case RED_ADD: r = (int64_t)((uint64_t)a + (uint64_t)b); break;
    case RED_MUL: r = (int64_t)((uint64_t)a * (uint64_t)b); break;
    case RED_MAX:
    case RED_MIN: {
      int gt = t == QL_UINT64 ? (uint64_t)b > (uint64_t)a : b > a;
      int lt = t == QL_UINT64 ? (uint64_t)b < (uint64_t)a : b < a;
      r = (op == RED_MAX ? gt : lt) ? b : a;
      break;
    }
    default: r = b; break;
    }
    ql_store_i64(t, d, di, r);
    return 0;
  }
  if (t == QL_FLOAT || t == QL_DOUBLE || t == QL_FLOAT16 || t == QL_BFLOAT16) {
    double a = ql_load_f64(t, d, di), b = ql_load_f64(t, s, si), r;
    if (op == RED_MAX || op == RED_MIN) {
      /* np.maximum/np.minimum: NaN wins, ties keep the first operand; the
       * winner's bits are kept exactly */
      if (a != a) return 0;
      int take = b != b || (op == RED_MAX ? b > a : b < a);
      return take ? xo_copy1(t, d, di, s, si) : 0;
    }
    if (op == RED_ADD) r = a + b;
    else if (op == RED_MUL) r = a * b;
    else r = b;
    ql_store_f64(t, d, di, r);
    return 0;
  }
  return -1;
}

static int parse_reduction(ql_op_ctx *c, int *op) {
  const char *r = c->version >= 16 ? ql_attr_string(c->node, "reduction", "none") : "none";
  if (!strcmp(r, "none")) *op = RED_NONE;
  else if (!strcmp(r, "add")) *op = RED_ADD;
  else if (!strcmp(r, "mul")) *op = RED_MUL;
  else if (!strcmp(r, "max") && c->version >= 18) *op = RED_MAX;
  else if (!strcmp(r, "min") && c->version >= 18) *op = RED_MIN;
  else {
    ql_op_fail(c, QL_ERR_INVALID_MODEL, "reduction '%s' is not allowed in schema version %d", r, c->version);
    return -1;
  }
  return 0;
}

/* ================================================================ CumSum, CumProd */

static ql_status cumulative(ql_op_ctx *c, int op) {
  const ql_tensor *x = ql_op_in(c, 0), *ax = ql_op_in(c, 1);
  if (!x) return xo_missing(c, 0);
  if (!ax) return xo_missing(c, 1);
  static const ql_dtype k11[] = {QL_UINT32, QL_UINT64, QL_INT32, QL_INT64, QL_FLOAT, QL_DOUBLE, END};
  int newer = op == RED_MUL || c->version >= 14;
  if (!xo_type_in(x->dtype, k11) && !(newer && (x->dtype == QL_FLOAT16 || x->dtype == QL_BFLOAT16)))
    return bad_type(c, "x", x->dtype);
  int64_t a64 = 0;
  if (xo_scalar_int(c, ax, "axis", &a64)) return c->err->code;
  int axis = ql_norm_axis(a64, x->rank);
  if (axis < 0)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)a64, x->rank);
  int exclusive = ql_attr_int(c->node, "exclusive", 0) != 0, reverse = ql_attr_int(c->node, "reverse", 0) != 0;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  int64_t outer, n, inner;
  xo_split(x, axis, &outer, &n, &inner);
  uint64_t acc[2]; /* one element of x's type: the running value, rounded each step */
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < inner; i++) {
      ql_store_f64(x->dtype, acc, 0, op == RED_MUL ? 1.0 : 0.0);
      for (int64_t j = 0; j < n; j++) {
        int64_t p = (o * n + (reverse ? n - 1 - j : j)) * inner + i;
        if (exclusive) xo_copy1(x->dtype, y->data, p, acc, 0);
        combine(x->dtype, acc, 0, x->data, p, op);
        if (!exclusive) xo_copy1(x->dtype, y->data, p, acc, 0);
      }
    }
  }
  return QL_OK;
}

static ql_status cumsum(ql_op_ctx *c) { return cumulative(c, RED_ADD); }
static ql_status cumprod(ql_op_ctx *c) { return cumulative(c, RED_MUL); }

/* ================================================================ TopK */

typedef struct topk_ctx {
  ql_dtype t;
  const void *data;
  int64_t base, inner;
  int largest;
} topk_ctx;

static int topk_cmp(const void *vc, int64_t a, int64_t b) {
  const topk_ctx *k = vc;
  int r = xo_cmp(k->t, k->data, k->base + a * k->inner, k->data, k->base + b * k->inner);
  return k->largest ? -r : r;
}

static ql_status topk(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return xo_missing(c, 0);
  static const ql_dtype kf[] = {QL_FLOAT16, QL_FLOAT, QL_DOUBLE, END};
  static const ql_dtype ki[] = {QL_UINT8, QL_UINT16, QL_UINT32, QL_UINT64, QL_INT8, QL_INT16, QL_INT32, QL_INT64, END};
  if (!xo_type_in(x->dtype, kf) && !(c->version >= 11 && xo_type_in(x->dtype, ki)) &&
      !(c->version >= 24 && x->dtype == QL_BFLOAT16))
    return bad_type(c, "X", x->dtype);
  int64_t k = 0;
  if (c->version < 10) {
    if (!ql_node_attr(c->node, "k")) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute k is required");
    k = ql_attr_int(c->node, "k", 0);
  } else {
    const ql_tensor *kt = ql_op_in(c, 1);
    if (!kt) return xo_missing(c, 1);
    if (kt->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "K must be int64");
    if (xo_scalar_int(c, kt, "K", &k)) return c->err->code;
  }
  int64_t a64 = ql_attr_int(c->node, "axis", -1);
  int axis = ql_norm_axis(a64, x->rank);
  if (axis < 0)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)a64, x->rank);
  if (k < 0 || k > x->dims[axis])
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "k = %lld is out of range [0, %lld]", (long long)k,
                      (long long)x->dims[axis]);
  int largest = c->version >= 11 ? ql_attr_int(c->node, "largest", 1) != 0 : 1;
  /* sorted = 0 leaves the order unspecified, so the sorted order is conformant */
  int64_t dims[QL_MAX_RANK];
  memcpy(dims, x->dims, sizeof dims);
  dims[axis] = k;
  ql_tensor *v = ql_op_output(c, 0, x->dtype, x->rank, dims);
  if (!v) return c->err->code;
  ql_tensor *ix = c->n_out > 1 ? ql_op_output(c, 1, QL_INT64, x->rank, dims) : NULL;
  if (c->n_out > 1 && !ix) return c->err->code;
  int64_t outer, n, inner;
  xo_split(x, axis, &outer, &n, &inner);
  if (v->numel == 0) return QL_OK;
  int64_t *idx = ql_op_scratch(c, sizeof(int64_t) * 2 * (size_t)n);
  if (!idx) return c->err->code;
  topk_ctx kc = {x->dtype, x->data, 0, inner, largest};
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < inner; i++) {
      for (int64_t j = 0; j < n; j++) idx[j] = j;
      kc.base = o * n * inner + i;
      xo_sort_idx(idx, idx + n, n, topk_cmp, &kc);
      for (int64_t j = 0; j < k; j++) {
        int64_t p = (o * k + j) * inner + i;
        xo_copy1(x->dtype, v->data, p, x->data, kc.base + idx[j] * inner);
        if (ix) ((int64_t *)ix->data)[p] = idx[j];
      }
    }
  }
  return QL_OK;
}

/* ================================================================ Trilu */

static ql_status trilu(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *kt = ql_op_in(c, 1);
  if (!x) return xo_missing(c, 0);
  if (!std_type(x->dtype, 1)) return bad_type(c, "input", x->dtype);
  if (x->rank < 2) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input must have rank >= 2 (has %d)", x->rank);
  int64_t k = 0;
  if (kt) {
    if (kt->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "k must be int64");
    if (xo_scalar_int(c, kt, "k", &k)) return c->err->code;
  }
  int upper = ql_attr_int(c->node, "upper", 1) != 0;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  if (x->numel == 0) return QL_OK;
  int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1], mats = x->numel / (rows * cols);
  for (int64_t m = 0; m < mats; m++) {
    for (int64_t i = 0; i < rows; i++) {
      int64_t p = (m * rows + i) * cols;
      for (int64_t j = 0; j < cols; j++) {
        int keep = upper ? j - i >= k : j - i <= k; /* |j - i| < 2^62: no overflow */
        if (keep && xo_copy1(x->dtype, y->data, p + j, x->data, p + j)) return xo_oom(c);
      }
    }
  }
  return xo_fill_empty_strings(y) ? xo_oom(c) : QL_OK;
}

/* ================================================================ ScatterElements, Scatter */

static ql_status scatter_elements(ql_op_ctx *c) {
  const ql_tensor *data = ql_op_in(c, 0), *ind = ql_op_in(c, 1), *upd = ql_op_in(c, 2);
  for (int i = 0; i < 3; i++)
    if (!ql_op_in(c, (size_t)i)) return xo_missing(c, i);
  int is_scatter = !strcmp(c->node->op_type, "Scatter");
  if (!std_type(data->dtype, !is_scatter && c->version >= 13)) return bad_type(c, "data", data->dtype);
  if (upd->dtype != data->dtype)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "updates type %s differs from data type %s", ql_dtype_name(upd->dtype),
                      ql_dtype_name(data->dtype));
  if (ind->dtype != QL_INT32 && ind->dtype != QL_INT64)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices must be int32 or int64");
  int op = RED_NONE;
  if (!is_scatter && parse_reduction(c, &op)) return c->err->code;
  int r = data->rank;
  if (r < 1 || ind->rank != r || upd->rank != r)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "data, indices and updates must share one rank >= 1 (have %d, %d, %d)",
                      r, ind->rank, upd->rank);
  int64_t a64 = ql_attr_int(c->node, "axis", 0);
  int axis = ql_norm_axis(a64, r);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)a64, r);
  for (int d = 0; d < r; d++) {
    if (ind->dims[d] != upd->dims[d])
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices and updates differ in dim %d (%lld vs %lld)", d,
                        (long long)ind->dims[d], (long long)upd->dims[d]);
    if (d != axis && ind->dims[d] > data->dims[d])
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices dim %d (%lld) exceeds data dim %lld", d,
                        (long long)ind->dims[d], (long long)data->dims[d]);
  }
  ql_tensor *y = xo_clone_out(c, 0, data);
  if (!y) return c->err->code;
  if (ind->numel == 0) return QL_OK;
  int64_t st[QL_MAX_RANK], cnt[QL_MAX_RANK] = {0}, s = data->dims[axis];
  strides_of(r, data->dims, st);
  for (int64_t p = 0; p < ind->numel; p++) {
    int64_t v = ql_load_i64(ind->dtype, ind->data, p);
    if (v < -s || v >= s)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "index %lld is out of range [-%lld, %lld]", (long long)v,
                        (long long)s, (long long)s - 1);
    if (v < 0) v += s;
    int64_t off = 0;
    for (int d = 0; d < r; d++) off += (d == axis ? v : cnt[d]) * st[d];
    int bad = op == RED_NONE ? xo_copy1(data->dtype, y->data, off, upd->data, p)
                             : combine(data->dtype, y->data, off, upd->data, p, op);
    if (bad)
      return op == RED_NONE ? xo_oom(c)
                            : ql_op_fail(c, QL_ERR_UNSUPPORTED, "reduction on %s is not supported",
                                         ql_dtype_name(data->dtype));
    for (int d = r - 1; d >= 0; d--) {
      if (++cnt[d] < ind->dims[d]) break;
      cnt[d] = 0;
    }
  }
  return QL_OK;
}

/* ================================================================ ScatterND, GatherND */

/* Offset (in elements) of the k-tuple at tup into a tensor with the given
 * dims/strides, or -1 after failing when an index is out of range. */
static int64_t tuple_offset(ql_op_ctx *c, const int64_t *tup, int k, const int64_t *dims, const int64_t *st) {
  int64_t off = 0;
  for (int j = 0; j < k; j++) {
    int64_t v = tup[j], s = dims[j];
    if (v < -s || v >= s) {
      ql_op_fail(c, QL_ERR_INVALID_MODEL, "index %lld is out of range [-%lld, %lld] for dim %d", (long long)v,
                 (long long)s, (long long)s - 1, j);
      return -1;
    }
    off += (v < 0 ? v + s : v) * st[j];
  }
  return off;
}

static ql_status scatter_nd(ql_op_ctx *c) {
  const ql_tensor *data = ql_op_in(c, 0), *ind = ql_op_in(c, 1), *upd = ql_op_in(c, 2);
  for (int i = 0; i < 3; i++)
    if (!ql_op_in(c, (size_t)i)) return xo_missing(c, i);
  if (!std_type(data->dtype, c->version >= 13)) return bad_type(c, "data", data->dtype);
  if (upd->dtype != data->dtype)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "updates type %s differs from data type %s", ql_dtype_name(upd->dtype),
                      ql_dtype_name(data->dtype));
  if (ind->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices must be int64");
  int op;
  if (parse_reduction(c, &op)) return c->err->code;
  int r = data->rank, q = ind->rank;
  if (r < 1 || q < 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "data and indices need rank >= 1");
  int64_t k = ind->dims[q - 1];
  if (k > r)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices.shape[-1] = %lld exceeds the data rank %d", (long long)k, r);
  /* updates.shape must be indices.shape[:-1] ++ data.shape[k:] */
  int ur = q - 1 + r - (int)k;
  int ok = upd->rank == ur;
  for (int d = 0; ok && d < q - 1; d++) ok = upd->dims[d] == ind->dims[d];
  for (int d = 0; ok && d < r - (int)k; d++) ok = upd->dims[q - 1 + d] == data->dims[k + d];
  if (!ok) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "updates shape must be indices.shape[:-1] + data.shape[k:]");
  ql_tensor *y = xo_clone_out(c, 0, data);
  if (!y) return c->err->code;
  int64_t st[QL_MAX_RANK];
  strides_of(r, data->dims, st);
  int64_t n_upd = xo_prod(ind->dims, 0, q - 1), slice = xo_prod(data->dims, (int)k, r);
  if (n_upd == 0) return QL_OK;
  const int64_t *iv = ind->data;
  for (int64_t u = 0; u < n_upd; u++) {
    int64_t off = tuple_offset(c, iv + u * k, (int)k, data->dims, st);
    if (off < 0) return c->err->code;
    for (int64_t e = 0; e < slice; e++) {
      int bad = op == RED_NONE ? xo_copy1(data->dtype, y->data, off + e, upd->data, u * slice + e)
                               : combine(data->dtype, y->data, off + e, upd->data, u * slice + e, op);
      if (bad)
        return op == RED_NONE ? xo_oom(c)
                              : ql_op_fail(c, QL_ERR_UNSUPPORTED, "reduction on %s is not supported",
                                           ql_dtype_name(data->dtype));
    }
  }
  return QL_OK;
}

static ql_status gather_nd(ql_op_ctx *c) {
  const ql_tensor *data = ql_op_in(c, 0), *ind = ql_op_in(c, 1);
  if (!data) return xo_missing(c, 0);
  if (!ind) return xo_missing(c, 1);
  if (!std_type(data->dtype, c->version >= 13)) return bad_type(c, "data", data->dtype);
  if (ind->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices must be int64");
  int r = data->rank, q = ind->rank;
  if (r < 1 || q < 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "data and indices need rank >= 1");
  int64_t b = c->version >= 12 ? ql_attr_int(c->node, "batch_dims", 0) : 0;
  if (b < 0 || b >= (q < r ? q : r))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "batch_dims %lld must be in [0, min(q, r) - 1]", (long long)b);
  for (int d = 0; d < b; d++)
    if (data->dims[d] != ind->dims[d])
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "batch dim %d differs between data and indices", d);
  int64_t k = ind->dims[q - 1];
  if (k < 1 || k > r - b)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices.shape[-1] = %lld must be in [1, %lld]", (long long)k,
                      (long long)(r - b));
  int64_t dims[QL_MAX_RANK * 2];
  int orank = 0;
  for (int d = 0; d < q - 1; d++) dims[orank++] = ind->dims[d];
  for (int d = (int)(b + k); d < r; d++) dims[orank++] = data->dims[d];
  if (xo_check_out(c, data->dtype, orank, dims)) return c->err->code;
  ql_tensor *y = ql_op_output(c, 0, data->dtype, orank, dims);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  int64_t st[QL_MAX_RANK];
  strides_of(r, data->dims, st);
  int64_t batch = xo_prod(ind->dims, 0, (int)b), per = xo_prod(ind->dims, (int)b, q - 1);
  int64_t slice = xo_prod(data->dims, (int)(b + k), r), bstride = xo_prod(data->dims, (int)b, r);
  const int64_t *iv = ind->data;
  for (int64_t bi = 0; bi < batch; bi++) {
    for (int64_t u = 0; u < per; u++) {
      int64_t t = bi * per + u;
      int64_t off = tuple_offset(c, iv + t * k, (int)k, data->dims + b, st + b);
      if (off < 0) return c->err->code;
      if (xo_copyn(data->dtype, y->data, t * slice, data->data, bi * bstride + off, slice)) return xo_oom(c);
    }
  }
  return QL_OK;
}

/* ================================================================ OneHot */

/* The value of element i cast to int64 as the spec says ("casted to int64");
 * 0 when it cannot be represented (NaN, infinities, out of range). */
static int to_i64(const ql_tensor *t, int64_t i, int64_t *v) {
  if (ql_dtype_is_float(t->dtype)) {
    double d = ql_load_f64(t->dtype, t->data, i);
    if (!(d > -9.2e18 && d < 9.2e18)) return 0;
    *v = (int64_t)d;
    return 1;
  }
  if (t->dtype == QL_UINT64 && ((const uint64_t *)t->data)[i] > (uint64_t)INT64_MAX) return 0;
  *v = ql_load_i64(t->dtype, t->data, i);
  return 1;
}

static ql_status one_hot(ql_op_ctx *c) {
  const ql_tensor *ind = ql_op_in(c, 0), *dt = ql_op_in(c, 1), *vals = ql_op_in(c, 2);
  for (int i = 0; i < 3; i++)
    if (!ql_op_in(c, (size_t)i)) return xo_missing(c, i);
  static const ql_dtype kn[] = {QL_UINT8, QL_UINT16, QL_UINT32,  QL_UINT64, QL_INT8,   QL_INT16,
                                QL_INT32, QL_INT64,  QL_FLOAT16, QL_FLOAT,  QL_DOUBLE, END};
  if (!xo_type_in(ind->dtype, kn)) return bad_type(c, "indices", ind->dtype);
  if (!xo_type_in(dt->dtype, kn)) return bad_type(c, "depth", dt->dtype);
  if (!std_type(vals->dtype, 0)) return bad_type(c, "values", vals->dtype);
  if (dt->numel != 1 || dt->rank > 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "depth must hold exactly one value");
  if (vals->numel != 2 || vals->rank != 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "values must be a 1-D tensor of two elements");
  int64_t depth = 0;
  if (!to_i64(dt, 0, &depth) || depth < 0)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "depth %g is not a non-negative integer",
                      ql_load_f64(dt->dtype, dt->data, 0));
  int r = ind->rank;
  int64_t a64 = ql_attr_int(c->node, "axis", -1);
  if (a64 < -r - 1 || a64 > r)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)a64, r + 1);
  int axis = (int)(a64 < 0 ? a64 + r + 1 : a64);
  int64_t dims[QL_MAX_RANK + 1];
  for (int d = 0, s = 0; d <= r; d++) dims[d] = d == axis ? depth : ind->dims[s++];
  if (xo_check_out(c, vals->dtype, r + 1, dims)) return c->err->code;
  ql_tensor *y = ql_op_output(c, 0, vals->dtype, r + 1, dims);
  if (!y) return c->err->code;
  for (int64_t p = 0; p < y->numel; p++)
    if (xo_copy1(vals->dtype, y->data, p, vals->data, 0)) return xo_oom(c);
  if (y->numel == 0) return QL_OK;
  int64_t outer = xo_prod(ind->dims, 0, axis), inner = xo_prod(ind->dims, axis, r);
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < inner; i++) {
      int64_t v;
      if (!to_i64(ind, o * inner + i, &v)) continue;
      if (v < 0 && c->version >= 11) v += depth; /* [-depth, -1] counts from the back */
      if (v < 0 || v >= depth) continue;
      if (xo_copy1(vals->dtype, y->data, (o * depth + v) * inner + i, vals->data, 1)) return xo_oom(c);
    }
  }
  return QL_OK;
}

/* ================================================================ Compress */

static ql_status compress(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *cond = ql_op_in(c, 1);
  if (!x) return xo_missing(c, 0);
  if (!cond) return xo_missing(c, 1);
  if (!std_type(x->dtype, 0)) return bad_type(c, "input", x->dtype);
  if (cond->dtype != QL_BOOL || cond->rank != 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "condition must be a 1-D bool tensor");
  int has_axis = ql_node_attr(c->node, "axis") != NULL, axis = 0;
  int64_t outer = 1, n = x->numel, inner = 1;
  if (has_axis) {
    int64_t a64 = ql_attr_int(c->node, "axis", 0);
    if ((axis = ql_norm_axis(a64, x->rank)) < 0)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)a64, x->rank);
    xo_split(x, axis, &outer, &n, &inner);
    n = x->dims[axis];
  }
  /* numpy.compress: entries past the condition's length are dropped; a true
   * entry past the selected dimension selects nothing that exists */
  const uint8_t *cv = cond->data;
  int64_t sel = 0;
  for (int64_t j = 0; j < cond->numel; j++) {
    if (!cv[j]) continue;
    if (j >= n)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "condition selects index %lld of a dimension of %lld",
                        (long long)j, (long long)n);
    sel++;
  }
  int64_t dims[QL_MAX_RANK];
  int orank = 1;
  dims[0] = sel;
  if (has_axis) {
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = sel;
    orank = x->rank;
  }
  ql_tensor *y = ql_op_output(c, 0, x->dtype, orank, dims);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  int64_t p = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < cond->numel && j < n; j++)
      if (cv[j]) {
        if (xo_copyn(x->dtype, y->data, p, x->data, (o * n + j) * inner, inner)) return xo_oom(c);
        p += inner;
      }
  return QL_OK;
}

/* ================================================================ NonZero */

static int nonzero_at(const ql_tensor *x, int64_t i) {
  switch (x->dtype) {
  case QL_STRING: {
    const char *s = ((char *const *)x->data)[i];
    return s && *s;
  }
  case QL_COMPLEX64: return ((const float *)x->data)[2 * i] != 0 || ((const float *)x->data)[2 * i + 1] != 0;
  case QL_COMPLEX128: return ((const double *)x->data)[2 * i] != 0 || ((const double *)x->data)[2 * i + 1] != 0;
  case QL_UINT64: return ((const uint64_t *)x->data)[i] != 0;
  default: break;
  }
  if (ql_dtype_is_float(x->dtype)) return ql_load_f64(x->dtype, x->data, i) != 0; /* NaN counts */
  return ql_load_i64(x->dtype, x->data, i) != 0;
}

static ql_status non_zero(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return xo_missing(c, 0);
  if (!std_type(x->dtype, c->version >= 13)) return bad_type(c, "X", x->dtype);
  int64_t nz = 0;
  for (int64_t i = 0; i < x->numel; i++) nz += nonzero_at(x, i);
  /* a scalar gives shape (0, nz), not numpy's (1, nz) */
  int64_t dims[2] = {x->rank, nz};
  ql_tensor *y = ql_op_output(c, 0, QL_INT64, 2, dims);
  if (!y) return c->err->code;
  if (x->rank == 0 || nz == 0) return QL_OK;
  int64_t cnt[QL_MAX_RANK] = {0}, col = 0, *yv = y->data;
  for (int64_t i = 0; i < x->numel; i++) {
    if (nonzero_at(x, i)) {
      for (int d = 0; d < x->rank; d++) yv[d * nz + col] = cnt[d];
      col++;
    }
    for (int d = x->rank - 1; d >= 0; d--) {
      if (++cnt[d] < x->dims[d]) break;
      cnt[d] = 0;
    }
  }
  return QL_OK;
}

/* ================================================================ Unique */

typedef struct uniq_ctx {
  const ql_tensor *x;
  int64_t outer, n, inner;
} uniq_ctx;

/* Lexicographic comparison of slices a and b along the axis (elements in
 * row-major order of the remaining dims), as numpy.unique(axis=) orders them. */
static int uniq_cmp(const void *vc, int64_t a, int64_t b) {
  const uniq_ctx *u = vc;
  for (int64_t o = 0; o < u->outer; o++)
    for (int64_t i = 0; i < u->inner; i++) {
      int r = xo_cmp(u->x->dtype, u->x->data, (o * u->n + a) * u->inner + i, u->x->data,
                     (o * u->n + b) * u->inner + i);
      if (r) return r;
    }
  return 0;
}

static int first_cmp(const void *vc, int64_t a, int64_t b) {
  const int64_t *first = vc;
  return first[a] < first[b] ? -1 : first[a] > first[b];
}

static ql_status unique(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return xo_missing(c, 0);
  if (!std_type(x->dtype, 0)) return bad_type(c, "X", x->dtype);
  int sorted = ql_attr_int(c->node, "sorted", 1) != 0, has_axis = ql_node_attr(c->node, "axis") != NULL, axis = 0;
  uniq_ctx u = {x, 1, x->numel, 1};
  if (has_axis) {
    int64_t a64 = ql_attr_int(c->node, "axis", 0);
    if ((axis = ql_norm_axis(a64, x->rank)) < 0)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)a64, x->rank);
    u.outer = xo_prod(x->dims, 0, axis);
    u.n = x->dims[axis];
    u.inner = xo_prod(x->dims, axis + 1, x->rank);
    if (x->numel == 0) u.outer = u.inner = 0; /* empty slices all compare equal */
  }
  int64_t n = u.n;
  if (n > XO_MAX_OUT_BYTES / 48)
    return ql_op_fail(c, QL_ERR_LIMIT, "%lld slices exceed the working-memory limit", (long long)n);
  /* perm/tmp: slice order; grp: group of each slice; first/count/order: per group */
  int64_t *buf = ql_op_scratch(c, sizeof(int64_t) * 6 * (size_t)n);
  if (!buf) return c->err->code;
  int64_t *perm = buf, *tmp = buf + n, *grp = buf + 2 * n, *first = buf + 3 * n, *count = buf + 4 * n,
          *order = buf + 5 * n;
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  xo_sort_idx(perm, tmp, n, uniq_cmp, &u);
  int64_t ng = 0;
  for (int64_t i = 0; i < n; i++) {
    if (i == 0 || uniq_cmp(&u, perm[i - 1], perm[i])) {
      first[ng] = perm[i]; /* the sort is stable: the first occurrence leads its group */
      count[ng++] = 0;
    }
    grp[perm[i]] = ng - 1;
    count[ng - 1]++;
  }
  for (int64_t g = 0; g < ng; g++) order[g] = g;
  if (!sorted) xo_sort_idx(order, tmp, ng, first_cmp, first);
  /* tmp: output position of each group */
  for (int64_t p = 0; p < ng; p++) tmp[order[p]] = p;
  int64_t dims[QL_MAX_RANK];
  int orank = 1;
  dims[0] = ng;
  if (has_axis) {
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = ng;
    orank = x->rank;
  }
  ql_tensor *y = ql_op_output(c, 0, x->dtype, orank, dims);
  if (!y) return c->err->code;
  if (y->numel) {
    for (int64_t o = 0; o < u.outer; o++)
      for (int64_t p = 0; p < ng; p++)
        if (xo_copyn(x->dtype, y->data, (o * ng + p) * u.inner, x->data, (o * n + first[order[p]]) * u.inner,
                     u.inner))
          return xo_oom(c);
  }
  int64_t d1 = ng, dn = n;
  ql_tensor *t;
  if (c->n_out > 1) {
    if (!(t = ql_op_output(c, 1, QL_INT64, 1, &d1))) return c->err->code;
    for (int64_t p = 0; p < ng; p++) ((int64_t *)t->data)[p] = first[order[p]];
  }
  if (c->n_out > 2) {
    if (!(t = ql_op_output(c, 2, QL_INT64, 1, &dn))) return c->err->code;
    for (int64_t i = 0; i < n; i++) ((int64_t *)t->data)[i] = tmp[grp[i]];
  }
  if (c->n_out > 3) {
    if (!(t = ql_op_output(c, 3, QL_INT64, 1, &d1))) return c->err->code;
    for (int64_t p = 0; p < ng; p++) ((int64_t *)t->data)[p] = count[order[p]];
  }
  return QL_OK;
}

/* ================================================================ ReverseSequence */

static ql_status reverse_sequence(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *lens = ql_op_in(c, 1);
  if (!x) return xo_missing(c, 0);
  if (!lens) return xo_missing(c, 1);
  if (!std_type(x->dtype, 0)) return bad_type(c, "input", x->dtype);
  if (x->rank < 2) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input must have rank >= 2");
  int64_t ba = ql_attr_int(c->node, "batch_axis", 1), ta = ql_attr_int(c->node, "time_axis", 0);
  if ((ba != 0 && ba != 1) || (ta != 0 && ta != 1) || ba == ta)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "batch_axis (%lld) and time_axis (%lld) must be 0 and 1 in some order",
                      (long long)ba, (long long)ta);
  int64_t B = x->dims[ba], T = x->dims[ta], inner = xo_prod(x->dims, 2, x->rank);
  if (lens->dtype != QL_INT64 || lens->rank != 1 || lens->dims[0] != B)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "sequence_lens must be a 1-D int64 tensor of %lld elements",
                      (long long)B);
  const int64_t *lv = lens->data;
  for (int64_t b = 0; b < B; b++)
    if (lv[b] < 0 || lv[b] > T)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "sequence_lens[%lld] = %lld is out of range [0, %lld]", (long long)b,
                        (long long)lv[b], (long long)T);
  ql_tensor *y = xo_clone_out(c, 0, x);
  if (!y) return c->err->code;
  if (x->numel == 0) return QL_OK;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < lv[b]; t++) {
      int64_t s = lv[b] - 1 - t;
      int64_t yo = (ba == 0 ? b * T + t : t * B + b) * inner, xo = (ba == 0 ? b * T + s : s * B + b) * inner;
      if (xo_copyn(x->dtype, y->data, yo, x->data, xo, inner)) return xo_oom(c);
    }
  return QL_OK;
}

/* ================================================================ EyeLike */

static ql_status eye_like(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return xo_missing(c, 0);
  static const ql_dtype k9[] = {QL_FLOAT16, QL_FLOAT,  QL_DOUBLE, QL_INT8,   QL_INT16, QL_INT32, QL_INT64,
                                QL_UINT8,   QL_UINT16, QL_UINT32, QL_UINT64, QL_BOOL,  END};
  if (!xo_type_in(x->dtype, k9) && !(c->version >= 22 && x->dtype == QL_BFLOAT16))
    return bad_type(c, "input", x->dtype);
  ql_dtype t = x->dtype;
  if (ql_node_attr(c->node, "dtype")) {
    int64_t d = ql_attr_int(c->node, "dtype", 0);
    if (d <= 0 || d >= QL_DTYPE_COUNT || !(xo_type_in((ql_dtype)d, k9) || (c->version >= 22 && d == QL_BFLOAT16)))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "dtype %lld is not allowed", (long long)d);
    t = (ql_dtype)d;
  }
  if (x->rank != 2) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input must be 2-D (has rank %d)", x->rank);
  int64_t k = ql_attr_int(c->node, "k", 0), rows = x->dims[0], cols = x->dims[1];
  ql_tensor *y = ql_op_output(c, 0, t, 2, x->dims);
  if (!y) return c->err->code;
  if (k >= cols || k <= -rows) return QL_OK; /* also keeps i + k below from overflowing */
  for (int64_t i = k < 0 ? -k : 0; i < rows && i + k < cols; i++) ql_store_f64(t, y->data, i * cols + i + k, 1.0);
  return QL_OK;
}

/* ================================================================ TensorScatter */

static ql_status tensor_scatter(ql_op_ctx *c) {
  const ql_tensor *past = ql_op_in(c, 0), *upd = ql_op_in(c, 1), *wi = ql_op_in(c, 2);
  if (!past) return xo_missing(c, 0);
  if (!upd) return xo_missing(c, 1);
  if (past->dtype == QL_UINT2 || past->dtype == QL_INT2) return bad_type(c, "past_cache", past->dtype);
  if (upd->dtype != past->dtype)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "update type %s differs from past_cache type %s",
                      ql_dtype_name(upd->dtype), ql_dtype_name(past->dtype));
  const char *mode = ql_attr_string(c->node, "mode", "linear");
  int circular = !strcmp(mode, "circular");
  if (!circular && strcmp(mode, "linear"))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "mode must be linear or circular, not '%s'", mode);
  int r = past->rank;
  int64_t a64 = ql_attr_int(c->node, "axis", -2);
  int axis = ql_norm_axis(a64, r);
  if (axis <= 0)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range or the batch axis (rank %d)",
                      (long long)a64, r);
  if (upd->rank != r) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "update must have past_cache's rank %d", r);
  for (int d = 0; d < r; d++)
    if (d == axis ? upd->dims[d] > past->dims[d] : upd->dims[d] != past->dims[d])
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "update dim %d (%lld) does not fit past_cache dim %lld", d,
                        (long long)upd->dims[d], (long long)past->dims[d]);
  int64_t B = past->dims[0], maxlen = past->dims[axis], len = upd->dims[axis];
  if (wi && (wi->dtype != QL_INT64 || wi->rank != 1 || wi->dims[0] != B))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "write_indices must be a 1-D int64 tensor of %lld elements",
                      (long long)B);
  /* every write position is checked before anything is written */
  for (int64_t b = 0; wi && b < B; b++) {
    int64_t w = ((const int64_t *)wi->data)[b];
    if (circular ? (maxlen == 0 && len > 0) : (w < 0 || w > maxlen - len))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "write_indices[%lld] = %lld does not fit %lld of %lld positions",
                        (long long)b, (long long)w, (long long)len, (long long)maxlen);
  }
  ql_tensor *y = xo_clone_out(c, 0, past);
  if (!y) return c->err->code;
  if (upd->numel == 0) return QL_OK;
  int64_t outer = xo_prod(past->dims, 0, axis), inner = xo_prod(past->dims, axis + 1, r), per_b = outer / B;
  for (int64_t o = 0; o < outer; o++) {
    int64_t w = wi ? ((const int64_t *)wi->data)[o / per_b] : 0;
    for (int64_t s = 0; s < len; s++) {
      int64_t p = circular ? ((w % maxlen) + s % maxlen) % maxlen : w + s;
      if (p < 0) p += maxlen; /* Python's modulo of a negative index */
      if (xo_copyn(past->dtype, y->data, (o * maxlen + p) * inner, upd->data, (o * len + s) * inner, inner))
        return xo_oom(c);
    }
  }
  return QL_OK;
}

const ql_op_def ql_ops_index_ops[] = {
    {"", "TopK", 1, 24, topk},
    {"", "CumSum", 11, 14, cumsum},
    {"", "CumProd", 26, 26, cumprod},
    {"", "Trilu", 14, 14, trilu},
    {"", "ScatterElements", 11, 18, scatter_elements},
    {"", "Scatter", 9, 11, scatter_elements},
    {"", "ScatterND", 11, 18, scatter_nd},
    {"", "GatherND", 11, 13, gather_nd},
    {"", "OneHot", 9, 11, one_hot},
    {"", "Compress", 9, 11, compress},
    {"", "NonZero", 9, 13, non_zero},
    {"", "Unique", 11, 11, unique},
    {"", "ReverseSequence", 10, 10, reverse_sequence},
    {"", "EyeLike", 9, 22, eye_like},
    {"", "TensorScatter", 24, 24, tensor_scatter},
    {0},
};

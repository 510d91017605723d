/* Data movement driven by index values or positions: DepthToSpace,
 * SpaceToDepth, Trilu, CumSum, TopK, NonZero, GatherND, ScatterND,
 * ScatterElements (and the older Scatter), OneHot, EyeLike, Compress.
 *
 * Every index read from a tensor is range-checked before anything is
 * written; a model is untrusted input. */
#include "op.h"
#include "data-util.h"
#include <math.h>
#include <stdlib.h>

static int is_index_type(ql_dtype t) { return t == QL_INT64 || t == QL_INT32; }

/* ================================================================ DepthToSpace, SpaceToDepth */

static ql_status depth_space(ql_op_ctx *c, int to_space) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  if (x->rank != 4) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input must be 4-D, it has rank %d", x->rank);
  int64_t b = ql_attr_int(c->node, "blocksize", 0);
  if (b <= 0 || b > 1 << 20) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "blocksize %lld is invalid", (long long)b);
  const char *mode = to_space && c->version >= 11 ? ql_attr_string(c->node, "mode", "DCR") : "DCR";
  int crd = !strcmp(mode, "CRD");
  if (!crd && strcmp(mode, "DCR")) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "mode must be DCR or CRD, not %s", mode);
  int64_t n = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], d[4];
  if (to_space) {
    if (C % (b * b)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "channels %lld are not divisible by blocksize^2", (long long)C);
    d[0] = n, d[1] = C / (b * b), d[2] = H * b, d[3] = W * b;
  } else {
    if (H % b || W % b) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "H and W must be divisible by the blocksize");
    d[0] = n, d[1] = C * b * b, d[2] = H / b, d[3] = W / b;
  }
  ql_tensor *y = ql_op_output(c, 0, x->dtype, 4, d);
  if (!y) return c->err->code;
  /* walk the space-side tensor; the depth side index follows */
  const ql_tensor *sp = to_space ? y : x, *dp = to_space ? x : y;
  int64_t Cs = sp->dims[1], Hs = sp->dims[2], Ws = sp->dims[3], Hd = dp->dims[2], Wd = dp->dims[3], Cd = dp->dims[1];
  for (int64_t in = 0; in < n; in++)
    for (int64_t ch = 0; ch < Cs; ch++)
      for (int64_t h = 0; h < Hs; h++)
        for (int64_t w = 0; w < Ws; w++) {
          int64_t i = h % b, j = w % b;
          int64_t dc = crd ? ch * b * b + i * b + j : (i * b + j) * Cs + ch;
          int64_t so = ((in * Cs + ch) * Hs + h) * Ws + w, doff = ((in * Cd + dc) * Hd + h / b) * Wd + w / b;
          if (to_space ? copy_elems(y, so, x, doff, 1) : copy_elems(y, doff, x, so, 1)) return oom(c);
        }
  return QL_OK;
}

static ql_status depth_to_space(ql_op_ctx *c) { return depth_space(c, 1); }
static ql_status space_to_depth(ql_op_ctx *c) { return depth_space(c, 0); }

/* ================================================================ Trilu, EyeLike */

static ql_status trilu(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *tk = ql_op_in(c, 1);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  if (x->rank < 2) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input must have rank >= 2");
  int64_t k = 0;
  if (tk) {
    if (tk->dtype != QL_INT64 || tk->numel != 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "k must be an int64 scalar");
    k = ((const int64_t *)tk->data)[0];
  }
  int upper = ql_attr_int(c->node, "upper", 1) != 0;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  int64_t N = x->dims[x->rank - 2], M = x->dims[x->rank - 1], mats = N * M ? x->numel / (N * M) : 0;
  for (int64_t m = 0; m < mats; m++)
    for (int64_t i = 0; i < N; i++)
      for (int64_t j = 0; j < M; j++) {
        /* j - i in int64 cannot overflow: both are dims */
        int keep = upper ? j - i >= k : j - i <= k;
        int64_t o = (m * N + i) * M + j;
        if (keep) {
          if (copy_elems(y, o, x, o, 1)) return oom(c);
        } else if (x->dtype == QL_STRING && !(((char **)y->data)[o] = ql_strdup(""))) {
          return oom(c);
        }
      }
  return QL_OK;
}

static ql_status eye_like(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  if (x->rank != 2) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input must be 2-D");
  const ql_attr *da = ql_node_attr(c->node, "dtype");
  ql_dtype t = da ? (ql_dtype)da->i : x->dtype;
  if (da && (da->i <= 0 || da->i >= QL_DTYPE_COUNT || ql_dtype_size(t) == 0 || t == QL_STRING))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "dtype %lld is not supported", (long long)da->i);
  if (!ql_dtype_is_float(t) && !ql_dtype_is_int(t) && t != QL_BOOL)
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported", ql_dtype_name(t));
  int64_t k = ql_attr_int(c->node, "k", 0);
  ql_tensor *y = ql_op_output(c, 0, t, 2, x->dims);
  if (!y) return c->err->code;
  for (int64_t i = 0; i < x->dims[0]; i++) {
    if (k > INT64_MAX - i) break;
    int64_t j = i + k;
    if (j >= 0 && j < x->dims[1]) ql_store_f64(t, y->data, i * x->dims[1] + j, 1.0);
  }
  return QL_OK;
}

/* ================================================================ CumSum */

static ql_status cum_sum(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *ta = ql_op_in(c, 1);
  if (!x || !ta) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x and axis are required");
  if (!is_index_type(ta->dtype) || ta->numel != 1 || ta->rank > 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis must be an int32/int64 scalar");
  ql_dtype t = x->dtype;
  if (!ql_dtype_is_float(t) && !ql_dtype_is_int(t))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported", ql_dtype_name(t));
  int64_t av = ql_load_i64(ta->dtype, ta->data, 0);
  int axis = ql_norm_axis(av, x->rank);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)av, x->rank);
  int excl = ql_attr_int(c->node, "exclusive", 0) != 0, rev = ql_attr_int(c->node, "reverse", 0) != 0;
  ql_tensor *y = ql_op_output(c, 0, t, x->rank, x->dims);
  if (!y) return c->err->code;
  int64_t outer = 1, inner = 1, n = x->dims[axis];
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  int fl = ql_dtype_is_float(t);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      double fs = 0;
      uint64_t is = 0; /* wraps like the element type once stored */
      for (int64_t kk = 0; kk < n; kk++) {
        int64_t k = rev ? n - 1 - kk : kk, off = (o * n + k) * inner + in;
        if (fl) {
          double v = ql_load_f64(t, x->data, off);
          if (!excl) fs += v;
          ql_store_f64(t, y->data, off, fs);
          if (excl) fs += v;
        } else {
          uint64_t v = (uint64_t)ql_load_i64(t, x->data, off);
          if (!excl) is += v;
          ql_store_i64(t, y->data, off, (int64_t)is);
          if (excl) is += v;
        }
      }
    }
  return QL_OK;
}

/* ================================================================ TopK */

typedef struct {
  double v;
  int64_t iv;
  int64_t idx;
} topk_item;

static int g_unused;
typedef struct {
  int largest, fl, sgn;
} topk_order;

/* qsort has no context argument; the order lives in the items' comparison
 * through a small per-call table instead of a global. */
static int topk_cmp_desc_f(const void *a, const void *b) {
  const topk_item *p = a, *q = b;
  /* NaN sorts as the largest value, as numpy does */
  int pn = p->v != p->v, qn = q->v != q->v;
  if (pn != qn) return pn ? -1 : 1;
  if (!pn && p->v != q->v) return p->v > q->v ? -1 : 1;
  return p->idx < q->idx ? -1 : p->idx > q->idx;
}
static int topk_cmp_asc_f(const void *a, const void *b) {
  const topk_item *p = a, *q = b;
  int pn = p->v != p->v, qn = q->v != q->v;
  if (pn != qn) return pn ? 1 : -1;
  if (!pn && p->v != q->v) return p->v < q->v ? -1 : 1;
  return p->idx < q->idx ? -1 : p->idx > q->idx;
}
static int topk_cmp_desc_i(const void *a, const void *b) {
  const topk_item *p = a, *q = b;
  if (p->iv != q->iv) return p->iv > q->iv ? -1 : 1;
  return p->idx < q->idx ? -1 : p->idx > q->idx;
}
static int topk_cmp_asc_i(const void *a, const void *b) {
  const topk_item *p = a, *q = b;
  if (p->iv != q->iv) return p->iv < q->iv ? -1 : 1;
  return p->idx < q->idx ? -1 : p->idx > q->idx;
}
static int topk_cmp_desc_u(const void *a, const void *b) {
  const topk_item *p = a, *q = b;
  if (p->iv != q->iv) return (uint64_t)p->iv > (uint64_t)q->iv ? -1 : 1;
  return p->idx < q->idx ? -1 : p->idx > q->idx;
}
static int topk_cmp_asc_u(const void *a, const void *b) {
  const topk_item *p = a, *q = b;
  if (p->iv != q->iv) return (uint64_t)p->iv < (uint64_t)q->iv ? -1 : 1;
  return p->idx < q->idx ? -1 : p->idx > q->idx;
}

static ql_status top_k(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  ql_dtype t = x->dtype;
  int fl = ql_dtype_is_float(t);
  if (!fl && !ql_dtype_is_int(t)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported", ql_dtype_name(t));
  int64_t k;
  if (c->version < 10) {
    const ql_attr *a = ql_node_attr(c->node, "k");
    if (!a) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute k is required");
    k = a->i;
  } else {
    const ql_tensor *tk = ql_op_in(c, 1);
    if (!tk || tk->dtype != QL_INT64 || tk->numel != 1 || tk->rank > 1)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "K must be a 1-element int64 tensor");
    k = ((const int64_t *)tk->data)[0];
  }
  int64_t av = ql_attr_int(c->node, "axis", -1);
  int axis = ql_norm_axis(av, x->rank);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)av, x->rank);
  int64_t n = x->dims[axis];
  if (k < 0 || k > n) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "k = %lld, the axis has %lld elements", (long long)k, (long long)n);
  int largest = c->version < 11 || ql_attr_int(c->node, "largest", 1) != 0;
  /* sorted=0 leaves the order unspecified; sorted output satisfies it */
  int64_t d[QL_MAX_RANK];
  memcpy(d, x->dims, sizeof(int64_t) * (size_t)x->rank);
  d[axis] = k;
  ql_tensor *yv = ql_op_output(c, 0, t, x->rank, d);
  if (!yv) return c->err->code;
  ql_tensor *yi = ql_op_output(c, 1, QL_INT64, x->rank, d);
  if (!yi) return c->err->code;
  if (!yv->numel) return QL_OK;
  topk_item *it = ql_malloc(sizeof *it * (size_t)(n ? n : 1));
  if (!it) return oom(c);
  int (*cmp)(const void *, const void *) =
      fl ? (largest ? topk_cmp_desc_f : topk_cmp_asc_f)
         : t == QL_UINT64 ? (largest ? topk_cmp_desc_u : topk_cmp_asc_u) : (largest ? topk_cmp_desc_i : topk_cmp_asc_i);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      for (int64_t j = 0; j < n; j++) {
        int64_t off = (o * n + j) * inner + in;
        it[j].idx = j;
        if (fl) it[j].v = ql_load_f64(t, x->data, off);
        else it[j].iv = ql_load_i64(t, x->data, off);
      }
      qsort(it, (size_t)n, sizeof *it, cmp);
      for (int64_t j = 0; j < k; j++) {
        int64_t yo = (o * k + j) * inner + in;
        copy_elems(yv, yo, x, (o * n + it[j].idx) * inner + in, 1);
        ((int64_t *)yi->data)[yo] = it[j].idx;
      }
    }
  ql_free(it);
  (void)g_unused;
  return QL_OK;
}

/* ================================================================ NonZero, Compress */

static int elem_nonzero(const ql_tensor *x, int64_t i) {
  if (x->dtype == QL_STRING) {
    const char *s = ((char *const *)x->data)[i];
    return s && *s;
  }
  if (ql_dtype_is_float(x->dtype)) return ql_load_f64(x->dtype, x->data, i) != 0; /* NaN counts */
  return ql_load_i64(x->dtype, x->data, i) != 0;
}

static ql_status non_zero(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  if (!ql_dtype_is_float(x->dtype) && !ql_dtype_is_int(x->dtype) && x->dtype != QL_BOOL && x->dtype != QL_STRING)
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported", ql_dtype_name(x->dtype));
  int64_t nnz = 0;
  for (int64_t i = 0; i < x->numel; i++) nnz += elem_nonzero(x, i);
  /* a scalar is treated as a 1-element vector (as onnxruntime does) */
  int r = x->rank ? x->rank : 1;
  int64_t d[2] = {r, nnz};
  ql_tensor *y = ql_op_output(c, 0, QL_INT64, 2, d);
  if (!y) return c->err->code;
  int64_t *o = y->data, cnt[QL_MAX_RANK] = {0}, col = 0;
  for (int64_t i = 0; i < x->numel; i++) {
    if (elem_nonzero(x, i)) {
      for (int k = 0; k < r; k++) o[k * nnz + col] = x->rank ? cnt[k] : 0;
      col++;
    }
    for (int k = x->rank - 1; k >= 0; k--) {
      if (++cnt[k] < x->dims[k]) break;
      cnt[k] = 0;
    }
  }
  return QL_OK;
}

static ql_status compress(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *cond = ql_op_in(c, 1);
  if (!x || !cond) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input and condition are required");
  if (cond->dtype != QL_BOOL || cond->rank != 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "condition must be 1-D bool");
  const ql_attr *aa = ql_node_attr(c->node, "axis");
  int64_t outer = 1, n, inner = 1, d[QL_MAX_RANK];
  int r, axis = 0;
  if (aa) {
    axis = ql_norm_axis(aa->i, x->rank);
    if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)aa->i, x->rank);
    for (int i = 0; i < axis; i++) outer *= x->dims[i];
    for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
    n = x->dims[axis];
    r = x->rank;
    memcpy(d, x->dims, sizeof(int64_t) * (size_t)r);
  } else {
    n = x->numel; /* no axis: the flattened input */
    r = 1;
  }
  if (cond->numel > n)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "condition has %lld entries, the axis %lld", (long long)cond->numel, (long long)n);
  const uint8_t *cv = cond->data;
  int64_t kept = 0;
  for (int64_t i = 0; i < cond->numel; i++) kept += cv[i] != 0;
  d[aa ? axis : 0] = kept;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, d);
  if (!y) return c->err->code;
  int64_t yo = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < cond->numel; i++)
      if (cv[i]) {
        if (copy_elems(y, yo, x, (o * n + i) * inner, inner)) return oom(c);
        yo += inner;
      }
  return QL_OK;
}

/* ================================================================ GatherND, ScatterND */

/* Offset of index tuple `tup` (m entries) into dims[0..m) with row strides
 * st; -1 when out of range. Negative values count from the end. */
static int64_t tuple_offset(const ql_tensor *ix, int64_t base, int m, const int64_t *dims, const int64_t *st) {
  int64_t off = 0;
  for (int k = 0; k < m; k++) {
    int64_t v = ql_load_i64(ix->dtype, ix->data, base + k);
    if (v < -dims[k] || v >= dims[k]) return -1;
    if (v < 0) v += dims[k];
    off += v * st[k];
  }
  return off;
}

static ql_status gather_nd(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *ix = ql_op_in(c, 1);
  if (!x || !ix) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "data and indices are required");
  if (ix->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices must be int64");
  int r = x->rank, q = ix->rank;
  int64_t b = c->version >= 12 ? ql_attr_int(c->node, "batch_dims", 0) : 0;
  if (r < 1 || q < 1 || b < 0 || b >= (q < r ? q : r))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "ranks %d, %d and batch_dims %lld are invalid", r, q, (long long)b);
  int m = (int)ix->dims[q - 1];
  if (ix->dims[q - 1] < 1 || ix->dims[q - 1] > r - b)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices.shape[-1] is %lld, it must be in [1, %lld]",
                      (long long)ix->dims[q - 1], (long long)(r - b));
  for (int i = 0; i < b; i++)
    if (ix->dims[i] != x->dims[i]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "batch dim %d differs", i);
  int yr = q - 1 + r - m - (int)b;
  if (yr > QL_MAX_RANK) return ql_op_fail(c, QL_ERR_LIMIT, "output rank %d exceeds %d", yr, QL_MAX_RANK);
  int64_t d[QL_MAX_RANK], xs[QL_MAX_RANK];
  int k = 0;
  for (int i = 0; i < q - 1; i++) d[k++] = ix->dims[i];
  for (int i = (int)b + m; i < r; i++) d[k++] = x->dims[i];
  ql_status st = check_out_size(c, x->dtype, yr, d);
  if (st) return st;
  row_strides(r, x->dims, xs);
  int64_t batch = 1, slice = 1;
  for (int i = 0; i < b; i++) batch *= x->dims[i];
  for (int i = (int)b + m; i < r; i++) slice *= x->dims[i];
  int64_t ntup = ix->numel / m, per_batch = batch ? ntup / batch : 0, bstride = b ? xs[b - 1] : 0;
  /* check every tuple first */
  for (int64_t t = 0; t < ntup; t++)
    if (tuple_offset(ix, t * m, m, x->dims + b, xs + b) < 0)
      return ql_op_fail(c, QL_ERR_INVALID_ARGUMENT, "index tuple %lld is out of range", (long long)t);
  ql_tensor *y = ql_op_output(c, 0, x->dtype, yr, d);
  if (!y) return c->err->code;
  for (int64_t t = 0; t < ntup; t++) {
    int64_t bi = per_batch ? t / per_batch : 0;
    int64_t off = bi * bstride + tuple_offset(ix, t * m, m, x->dims + b, xs + b);
    if (copy_elems(y, t * slice, x, off, slice)) return oom(c);
  }
  return QL_OK;
}

typedef enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } scat_red;

static int read_reduction(ql_op_ctx *c, scat_red *red) {
  const char *s = c->version >= 16 ? ql_attr_string(c->node, "reduction", "none") : "none";
  if (!strcmp(s, "none")) *red = RED_NONE;
  else if (!strcmp(s, "add")) *red = RED_ADD;
  else if (!strcmp(s, "mul")) *red = RED_MUL;
  else if (!strcmp(s, "max") && c->version >= 18) *red = RED_MAX;
  else if (!strcmp(s, "min") && c->version >= 18) *red = RED_MIN;
  else {
    ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown reduction \"%s\"", s);
    return -1;
  }
  return 0;
}

/* y[yo] = red(y[yo], u[uo]) */
static int scatter_one(ql_tensor *y, int64_t yo, const ql_tensor *u, int64_t uo, scat_red red) {
  if (red == RED_NONE) return copy_elems(y, yo, u, uo, 1);
  ql_dtype t = y->dtype;
  if (ql_dtype_is_float(t)) {
    double a = ql_load_f64(t, y->data, yo), b = ql_load_f64(t, u->data, uo);
    double r = red == RED_ADD ? a + b : red == RED_MUL ? a * b : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b);
    ql_store_f64(t, y->data, yo, r);
  } else if (t == QL_UINT64) {
    uint64_t a = ((uint64_t *)y->data)[yo], b = ((const uint64_t *)u->data)[uo];
    ((uint64_t *)y->data)[yo] = red == RED_ADD ? a + b : red == RED_MUL ? a * b : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b);
  } else {
    int64_t a = ql_load_i64(t, y->data, yo), b = ql_load_i64(t, u->data, uo);
    int64_t r = red == RED_ADD ? (int64_t)((uint64_t)a + (uint64_t)b)
                : red == RED_MUL ? (int64_t)((uint64_t)a * (uint64_t)b)
                : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b);
    ql_store_i64(t, y->data, yo, r);
  }
  return 0;
}

static ql_status check_red_type(ql_op_ctx *c, scat_red red, ql_dtype t) {
  if (red != RED_NONE && !ql_dtype_is_float(t) && !ql_dtype_is_int(t) && t != QL_BOOL)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "reduction on %s elements", ql_dtype_name(t));
  return QL_OK;
}

static ql_status scatter_nd(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *ix = ql_op_in(c, 1), *u = ql_op_in(c, 2);
  if (!x || !ix || !u) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "data, indices and updates are required");
  if (ix->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices must be int64");
  if (u->dtype != x->dtype) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "updates and data types differ");
  scat_red red;
  if (read_reduction(c, &red)) return c->err->code;
  ql_status st = check_red_type(c, red, x->dtype);
  if (st) return st;
  int r = x->rank, q = ix->rank;
  if (r < 1 || q < 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "data and indices must have rank >= 1");
  int64_t m = ix->dims[q - 1];
  if (m < 1 || m > r) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices.shape[-1] is %lld for data rank %d", (long long)m, r);
  /* updates.shape == indices.shape[:-1] ++ data.shape[m:] */
  int ur = q - 1 + r - (int)m, ok = u->rank == ur;
  for (int i = 0; ok && i < q - 1; i++) ok = u->dims[i] == ix->dims[i];
  for (int i = 0; ok && i < r - m; i++) ok = u->dims[q - 1 + i] == x->dims[m + i];
  if (!ok) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "updates shape does not match indices and data");
  int64_t xs[QL_MAX_RANK], slice = 1;
  row_strides(r, x->dims, xs);
  for (int i = (int)m; i < r; i++) slice *= x->dims[i];
  int64_t ntup = ix->numel / m;
  for (int64_t t = 0; t < ntup; t++)
    if (tuple_offset(ix, t * m, (int)m, x->dims, xs) < 0)
      return ql_op_fail(c, QL_ERR_INVALID_ARGUMENT, "index tuple %lld is out of range", (long long)t);
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, x->dims);
  if (!y) return c->err->code;
  if (copy_elems(y, 0, x, 0, x->numel)) return oom(c);
  for (int64_t t = 0; t < ntup; t++) {
    int64_t off = tuple_offset(ix, t * m, (int)m, x->dims, xs);
    for (int64_t j = 0; j < slice; j++)
      if (scatter_one(y, off + j, u, t * slice + j, red)) return oom(c);
  }
  return QL_OK;
}

static ql_status scatter_elements(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *ix = ql_op_in(c, 1), *u = ql_op_in(c, 2);
  if (!x || !ix || !u) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "data, indices and updates are required");
  if (!is_index_type(ix->dtype)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices must be int32 or int64");
  if (u->dtype != x->dtype) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "updates and data types differ");
  scat_red red = RED_NONE;
  if (strcmp(c->node->op_type, "Scatter") && read_reduction(c, &red)) return c->err->code;
  ql_status st = check_red_type(c, red, x->dtype);
  if (st) return st;
  int r = x->rank;
  if (r < 1 || ix->rank != r || u->rank != r)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "data, indices and updates must have the same rank >= 1");
  int64_t av = ql_attr_int(c->node, "axis", 0);
  int axis = ql_norm_axis(av, r);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)av, r);
  for (int i = 0; i < r; i++) {
    if (u->dims[i] != ix->dims[i]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "updates and indices shapes differ");
    if (i != axis && ix->dims[i] > x->dims[i])
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices dim %d (%lld) exceeds data dim (%lld)", i,
                        (long long)ix->dims[i], (long long)x->dims[i]);
  }
  int64_t dim = x->dims[axis];
  for (int64_t i = 0; i < ix->numel; i++) {
    int64_t v = ql_load_i64(ix->dtype, ix->data, i);
    if (v < -dim || v >= dim)
      return ql_op_fail(c, QL_ERR_INVALID_ARGUMENT, "index %lld is out of range [-%lld, %lld)", (long long)v,
                        (long long)dim, (long long)dim);
  }
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, x->dims);
  if (!y) return c->err->code;
  if (copy_elems(y, 0, x, 0, x->numel)) return oom(c);
  int64_t xs[QL_MAX_RANK], cnt[QL_MAX_RANK] = {0};
  row_strides(r, x->dims, xs);
  for (int64_t i = 0; i < ix->numel; i++) {
    int64_t v = ql_load_i64(ix->dtype, ix->data, i);
    if (v < 0) v += dim;
    int64_t off = 0;
    for (int k = 0; k < r; k++) off += (k == axis ? v : cnt[k]) * xs[k];
    if (scatter_one(y, off, u, i, red)) return oom(c);
    for (int k = r - 1; k >= 0; k--) {
      if (++cnt[k] < ix->dims[k]) break;
      cnt[k] = 0;
    }
  }
  return QL_OK;
}

/* ================================================================ OneHot */

static ql_status one_hot(ql_op_ctx *c) {
  const ql_tensor *ix = ql_op_in(c, 0), *td = ql_op_in(c, 1), *tv = ql_op_in(c, 2);
  if (!ix || !td || !tv) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices, depth and values are required");
  if (td->numel != 1 || td->dtype == QL_STRING || td->dtype == QL_BOOL)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "depth must be a numeric scalar");
  if (tv->numel != 2 || tv->rank != 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "values must be [off_value, on_value]");
  if (!ql_dtype_is_float(ix->dtype) && !ql_dtype_is_int(ix->dtype))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices must be numeric");
  /* non-integer depth and indices are truncated, as the reference casts them */
  double dd = ql_load_f64(td->dtype, td->data, 0);
  if (!(dd >= 1) || dd > (double)QL_SHAPE_OPS_MAX_BYTES)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "depth %g is invalid", dd);
  int64_t depth = (int64_t)dd;
  int r = ix->rank + 1;
  if (r > QL_MAX_RANK) return ql_op_fail(c, QL_ERR_LIMIT, "output rank %d exceeds %d", r, QL_MAX_RANK);
  int64_t av = ql_attr_int(c->node, "axis", -1);
  int axis = ql_norm_axis(av, r);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)av, r);
  int64_t d[QL_MAX_RANK];
  for (int i = 0, j = 0; i < r; i++) d[i] = i == axis ? depth : ix->dims[j++];
  ql_status st = check_out_size(c, tv->dtype, r, d);
  if (st) return st;
  ql_tensor *y = ql_op_output(c, 0, tv->dtype, r, d);
  if (!y) return c->err->code;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= d[i];
  for (int i = axis + 1; i < r; i++) inner *= d[i];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t k = 0; k < depth; k++)
      for (int64_t in = 0; in < inner; in++)
        if (copy_elems(y, (o * depth + k) * inner + in, tv, 0, 1)) return oom(c);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      double v = ql_load_f64(ix->dtype, ix->data, o * inner + in);
      if (v != v) continue;
      v = trunc(v);
      if (v < -(double)depth || v >= (double)depth) continue; /* all off */
      int64_t k = (int64_t)v;
      if (k < 0) k += depth;
      if (copy_elems(y, (o * depth + k) * inner + in, tv, 1, 1)) return oom(c);
    }
  return QL_OK;
}

const ql_op_def ql_ops_index_ops[] = {
    {"", "DepthToSpace", 1, 13, depth_to_space},
    {"", "SpaceToDepth", 1, 13, space_to_depth},
    {"", "Trilu", 14, 14, trilu},
    {"", "EyeLike", 9, 22, eye_like},
    {"", "CumSum", 11, 14, cum_sum},
    {"", "TopK", 1, 24, top_k},
    {"", "NonZero", 9, 13, non_zero},
    {"", "Compress", 9, 11, compress},
    {"", "GatherND", 11, 13, gather_nd},
    {"", "ScatterND", 11, 18, scatter_nd},
    {"", "ScatterElements", 11, 18, scatter_elements},
    {"", "Scatter", 9, 11, scatter_elements},
    {"", "OneHot", 9, 11, one_hot},
    {0},
};

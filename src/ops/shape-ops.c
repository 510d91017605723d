/* Ops that move or describe data without arithmetic. */
#include "op.h"
#include "data-util.h"
#include <math.h>

static ql_status copy_to_output(ql_op_ctx *c, size_t i, const ql_tensor *x, int rank, const int64_t *dims) {
  ql_tensor *y = ql_op_output(c, i, x->dtype, rank, dims);
  if (!y) return c->err->code;
  if (x->dtype == QL_STRING) {
    for (int64_t k = 0; k < x->numel; k++)
      if (!(((char **)y->data)[k] = ql_strdup(((char **)x->data)[k] ? ((char **)x->data)[k] : "")))
        return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  } else if (x->numel) {
    memcpy(y->data, x->data, ql_tensor_nbytes(x));
  }
  return QL_OK;
}

static ql_status identity(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  return copy_to_output(c, 0, x, x->rank, x->dims);
}

static ql_status constant(ql_op_ctx *c) {
  const ql_node *n = c->node;
  const ql_attr *a = NULL;
  for (size_t i = 0; i < n->n_attrs; i++)
    if (n->attrs[i].type != QL_ATTR_UNDEFINED) a = &n->attrs[i];
  if (!a || n->n_attrs != 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "Constant needs exactly one value attribute");
  ql_tensor *y;
  int64_t d1;
  if (!strcmp(a->name, "value") && a->t) return copy_to_output(c, 0, a->t, a->t->rank, a->t->dims);
  if (!strcmp(a->name, "value_float") && a->type == QL_ATTR_FLOAT) {
    if (!(y = ql_op_output(c, 0, QL_FLOAT, 0, NULL))) return c->err->code;
    ((float *)y->data)[0] = a->f;
  } else if (!strcmp(a->name, "value_int") && a->type == QL_ATTR_INT) {
    if (!(y = ql_op_output(c, 0, QL_INT64, 0, NULL))) return c->err->code;
    ((int64_t *)y->data)[0] = a->i;
  } else if (!strcmp(a->name, "value_floats") && a->type == QL_ATTR_FLOATS) {
    d1 = (int64_t)a->n;
    if (!(y = ql_op_output(c, 0, QL_FLOAT, 1, &d1))) return c->err->code;
    if (a->n) memcpy(y->data, a->floats, a->n * sizeof(float));
  } else if (!strcmp(a->name, "value_ints") && a->type == QL_ATTR_INTS) {
    d1 = (int64_t)a->n;
    if (!(y = ql_op_output(c, 0, QL_INT64, 1, &d1))) return c->err->code;
    if (a->n) memcpy(y->data, a->ints, a->n * sizeof(int64_t));
  } else if (!strcmp(a->name, "value_string") && a->type == QL_ATTR_STRING) {
    if (!(y = ql_op_output(c, 0, QL_STRING, 0, NULL))) return c->err->code;
    if (!(((char **)y->data)[0] = ql_strdup(a->s))) return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  } else if (!strcmp(a->name, "value_strings") && a->type == QL_ATTR_STRINGS) {
    d1 = (int64_t)a->n;
    if (!(y = ql_op_output(c, 0, QL_STRING, 1, &d1))) return c->err->code;
    for (size_t i = 0; i < a->n; i++)
      if (!(((char **)y->data)[i] = ql_strdup(a->strings[i]))) return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  } else {
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "Constant attribute '%s' is not supported", a->name);
  }
  return QL_OK;
}

/* ================================================================ helpers */

/* The engine behind Slice, Transpose, Expand, Tile and Pad:
 *   y[c_0, ..., c_{r-1}] = x[sum_d map[d][c_d]]
 * where map[d] holds y->dims[d] element offsets into x, or -1 for "fill"
 * (constant padding). fill points to one element of y's type or is NULL. */
static ql_status map_gather(ql_op_ctx *c, ql_tensor *y, const ql_tensor *x, int64_t *const *map, const void *fill) {
  if (y->numel == 0) return QL_OK;
  int r = y->rank, str = y->dtype == QL_STRING;
  size_t es = ql_dtype_size(y->dtype);
  if (r == 0) return copy_elems(y, 0, x, 0, 1) ? oom(c) : QL_OK;
  int64_t inner = y->dims[r - 1];
  const int64_t *m = map[r - 1];
  int contig = 1;
  for (int64_t j = 0; j < inner && contig; j++) contig = m[j] == m[0] + j && m[j] >= 0;
  int64_t cnt[QL_MAX_RANK] = {0};
  char *yd = y->data;
  const char *xd = x->data;
  for (int64_t row = 0; row < y->numel / inner; row++) {
    int64_t base = 0;
    for (int d = 0; d < r - 1; d++) {
      int64_t v = map[d][cnt[d]];
      if (v < 0) {
        base = -1;
        break;
      }
      base += v;
    }
    int64_t yo = row * inner;
    if (base >= 0 && contig && !str) {
      memcpy(yd + (size_t)yo * es, xd + (size_t)(base + m[0]) * es, (size_t)inner * es);
    } else {
      for (int64_t j = 0; j < inner; j++) {
        int64_t xo = base < 0 || m[j] < 0 ? -1 : base + m[j];
        if (str) {
          const char *s = xo >= 0 ? ((char *const *)xd)[xo] : fill ? *(char *const *)fill : "";
          if (!(((char **)yd)[yo + j] = ql_strdup(s ? s : ""))) return oom(c);
        } else if (xo >= 0) {
          switch (es) {
          case 1: ((uint8_t *)yd)[yo + j] = ((const uint8_t *)xd)[xo]; break;
          case 2: ((uint16_t *)yd)[yo + j] = ((const uint16_t *)xd)[xo]; break;
          case 4: ((uint32_t *)yd)[yo + j] = ((const uint32_t *)xd)[xo]; break;
          case 8: ((uint64_t *)yd)[yo + j] = ((const uint64_t *)xd)[xo]; break;
          default: memcpy(yd + (size_t)(yo + j) * es, xd + (size_t)xo * es, es); break;
          }
        } else if (fill) {
          memcpy(yd + (size_t)(yo + j) * es, fill, es);
        }
      }
    }
    for (int d = r - 2; d >= 0; d--) {
      if (++cnt[d] < y->dims[d]) break;
      cnt[d] = 0;
    }
  }
  return QL_OK;
}

/* The per-dim maps for y's dims, in one scratch block; NULL (c->err set)
 * when out of memory. */
static int64_t **maps_new(ql_op_ctx *c, int rank, const int64_t *dims, int64_t **maps) {
  size_t total = 1;
  for (int d = 0; d < rank; d++) total += (size_t)dims[d];
  int64_t *blk = ql_op_scratch(c, sizeof(int64_t) * total);
  if (!blk) return NULL;
  maps[0] = blk;
  for (int d = 0; d < rank; d++) {
    maps[d] = blk;
    blk += dims[d];
  }
  return maps;
}

/* Reads a 1-D (or scalar) int32/int64 tensor; -1 when it is not one. */
static int read_ints(ql_op_ctx *c, const ql_tensor *t, const char *what, int64_t *out, int max) {
  if (!t || (t->dtype != QL_INT64 && t->dtype != QL_INT32) || t->rank > 1) {
    ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s must be a 1-D int64 (or int32) tensor", what);
    return -1;
  }
  if (t->numel > max) {
    ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has %lld elements, at most %d are allowed", what, (long long)t->numel,
               max);
    return -1;
  }
  return ql_tensor_to_i64s(t, out, (size_t)max);
}

/* ================================================================ Shape, Size */

static ql_status shape(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  int64_t r = x->rank, start = 0, end = r;
  if (c->version >= 15) {
    start = ql_attr_int(c->node, "start", 0);
    end = ql_attr_int(c->node, "end", r);
  }
  /* out-of-range values are clamped, as for Slice */
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = start < 0 ? 0 : start > r ? r : start;
  end = end < 0 ? 0 : end > r ? r : end;
  int64_t n = end > start ? end - start : 0;
  ql_tensor *y = ql_op_output(c, 0, QL_INT64, 1, &n);
  if (!y) return c->err->code;
  for (int64_t i = 0; i < n; i++) ((int64_t *)y->data)[i] = x->dims[start + i];
  return QL_OK;
}

static ql_status size(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  ql_tensor *y = ql_op_output(c, 0, QL_INT64, 0, NULL);
  if (!y) return c->err->code;
  ((int64_t *)y->data)[0] = x->numel;
  return QL_OK;
}

/* ================================================================ Reshape family */

static ql_status reshape(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  int64_t sh[QL_MAX_RANK];
  int n;
  if (c->version < 5) {
    size_t cnt = 0;
    const int64_t *a = ql_attr_ints(c->node, "shape", &cnt);
    if (cnt > QL_MAX_RANK) return ql_op_fail(c, QL_ERR_LIMIT, "shape has %zu dims, at most %d", cnt, QL_MAX_RANK);
    for (size_t i = 0; i < cnt; i++) sh[i] = a[i];
    n = (int)cnt;
  } else {
    const ql_tensor *s = ql_op_in(c, 1);
    if (s && s->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "shape must be int64");
    if ((n = read_ints(c, s, "shape", sh, QL_MAX_RANK)) < 0) return c->err->code;
  }
  int allowzero = c->version >= 14 && ql_attr_int(c->node, "allowzero", 0);
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < n; i++) {
    if (sh[i] == -1) {
      if (infer >= 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "shape has more than one -1");
      infer = i;
      continue;
    }
    if (sh[i] == 0 && !allowzero) {
      if (i >= x->rank)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "shape[%d] is 0 (copy) but the input has rank %d", i, x->rank);
      sh[i] = x->dims[i];
    } else if (sh[i] < 0) {
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "shape[%d] is %lld", i, (long long)sh[i]);
    }
    if (ql_mul_overflow_i64(known, sh[i], &known)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "shape overflows");
  }
  if (infer >= 0) {
    if (allowzero)
      for (int i = 0; i < n; i++)
        if (sh[i] == 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "allowzero shape has both 0 and -1");
    if (known == 0 || x->numel % known)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "cannot infer the -1 dim: %lld elements into blocks of %lld",
                        (long long)x->numel, (long long)known);
    sh[infer] = x->numel / known;
    known = x->numel;
  }
  if (known != x->numel)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "cannot reshape %lld elements into %lld", (long long)x->numel,
                      (long long)known);
  return copy_to_output(c, 0, x, n, sh);
}

static ql_status flatten(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  int64_t axis = ql_attr_int(c->node, "axis", 1), r = x->rank;
  if (axis < 0 && c->version >= 11) axis += r;
  if (axis < 0 || axis > r) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %lld",
                                              (long long)ql_attr_int(c->node, "axis", 1), (long long)r);
  int64_t d[2] = {1, 1};
  for (int i = 0; i < r; i++) d[i >= axis] *= x->dims[i];
  return copy_to_output(c, 0, x, 2, d);
}

/* axes from the attribute (before `input_from`) or from input 1. */
static int read_axes_list(ql_op_ctx *c, int input_from, int64_t *axes, int max, int *given) {
  *given = 0;
  if (c->version < input_from) {
    size_t cnt = 0;
    const int64_t *a = ql_attr_ints(c->node, "axes", &cnt);
    if (!a) return 0;
    if (cnt > (size_t)max) {
      ql_op_fail(c, QL_ERR_INVALID_MODEL, "%zu axes, at most %d are possible", cnt, max);
      return -1;
    }
    for (size_t i = 0; i < cnt; i++) axes[i] = a[i];
    *given = 1;
    return (int)cnt;
  }
  const ql_tensor *t = ql_op_in(c, 1);
  if (!t) return 0;
  if (t->dtype != QL_INT64) {
    ql_op_fail(c, QL_ERR_INVALID_MODEL, "axes must be int64");
    return -1;
  }
  *given = 1;
  return read_ints(c, t, "axes", axes, max);
}

static ql_status squeeze(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  int64_t axes[QL_MAX_RANK];
  int given, n = read_axes_list(c, 13, axes, QL_MAX_RANK, &given);
  if (n < 0) return c->err->code;
  int drop[QL_MAX_RANK] = {0};
  if (n == 0) {
    /* no axes: every dim of size 1 goes */
    for (int i = 0; i < x->rank; i++) drop[i] = x->dims[i] == 1;
  }
  for (int k = 0; k < n; k++) {
    int a = ql_norm_axis(axes[k], x->rank);
    if (a < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)axes[k], x->rank);
    if (drop[a]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is repeated", (long long)axes[k]);
    if (x->dims[a] != 1)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a]);
    drop[a] = 1;
  }
  int64_t d[QL_MAX_RANK];
  int r = 0;
  for (int i = 0; i < x->rank; i++)
    if (!drop[i]) d[r++] = x->dims[i];
  return copy_to_output(c, 0, x, r, d);
}

static ql_status unsqueeze(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  int64_t axes[QL_MAX_RANK];
  int given, n = read_axes_list(c, 13, axes, QL_MAX_RANK, &given);
  if (n < 0) return c->err->code;
  if (!given) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axes are required");
  int r = x->rank + n;
  if (r > QL_MAX_RANK) return ql_op_fail(c, QL_ERR_LIMIT, "output rank %d exceeds %d", r, QL_MAX_RANK);
  int ins[QL_MAX_RANK] = {0};
  for (int k = 0; k < n; k++) {
    int a = ql_norm_axis(axes[k], r);
    if (a < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for output rank %d", (long long)axes[k], r);
    if (ins[a]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is repeated", (long long)axes[k]);
    ins[a] = 1;
  }
  int64_t d[QL_MAX_RANK];
  for (int i = 0, j = 0; i < r; i++) d[i] = ins[i] ? 1 : x->dims[j++];
  return copy_to_output(c, 0, x, r, d);
}

/* ================================================================ Concat, Split */

static ql_status concat(ql_op_ctx *c) {
  if (c->n_in == 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "at least one input is required");
  const ql_tensor *x0 = c->in[0];
  if (!x0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is missing");
  const ql_attr *aa = ql_node_attr(c->node, "axis");
  if (!aa && c->version >= 4) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis is required");
  int64_t axis_v = aa ? aa->i : 1;
  int r = x0->rank;
  int axis = c->version >= 11 ? ql_norm_axis(axis_v, r) : (axis_v >= 0 && axis_v < r ? (int)axis_v : -1);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)axis_v, r);
  int64_t d[QL_MAX_RANK];
  memcpy(d, x0->dims, sizeof(int64_t) * (size_t)r);
  d[axis] = 0;
  for (size_t k = 0; k < c->n_in; k++) {
    const ql_tensor *t = c->in[k];
    if (!t) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input %zu is missing", k);
    if (t->dtype != x0->dtype || t->rank != r)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input %zu has type %s rank %d, input 0 has %s rank %d", k,
                        ql_dtype_name(t->dtype), t->rank, ql_dtype_name(x0->dtype), r);
    for (int i = 0; i < r; i++)
      if (i != axis && t->dims[i] != x0->dims[i])
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input %zu dim %d is %lld, input 0 has %lld", k, i,
                          (long long)t->dims[i], (long long)x0->dims[i]);
    if (__builtin_add_overflow(d[axis], t->dims[axis], &d[axis]))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "concatenated dim overflows");
  }
  ql_status st = check_out_size(c, x0->dtype, r, d);
  if (st) return st;
  ql_tensor *y = ql_op_output(c, 0, x0->dtype, r, d);
  if (!y) return c->err->code;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= d[i];
  for (int i = axis + 1; i < r; i++) inner *= d[i];
  int64_t yo = 0;
  for (int64_t o = 0; o < outer; o++)
    for (size_t k = 0; k < c->n_in; k++) {
      int64_t blk = c->in[k]->dims[axis] * inner;
      if (copy_elems(y, yo, c->in[k], o * blk, blk)) return oom(c);
      yo += blk;
    }
  return QL_OK;
}

static ql_status split(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  size_t nout = c->n_out;
  if (nout == 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "Split has no outputs");
  int64_t axis_v = ql_attr_int(c->node, "axis", 0);
  int axis = ql_norm_axis(axis_v, x->rank);
  if (axis < 0 || (c->version < 11 && axis_v < 0))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)axis_v, x->rank);
  int64_t dim = x->dims[axis];
  int64_t *sz = ql_op_scratch(c, nout * sizeof *sz); /* every entry is set below */
  if (!sz) return c->err->code;
  const int64_t *given = NULL;
  size_t ngiven = 0;
  const ql_tensor *st_in = c->version >= 13 || c->version == 1 ? ql_op_in(c, 1) : NULL;
  if (st_in) {
    /* Split-1 declares `split` of type T (a float type); later versions int64 */
    int ok = c->version == 1 ? ql_dtype_is_int(st_in->dtype) || ql_dtype_is_float(st_in->dtype) : st_in->dtype == QL_INT64;
    if (!ok || st_in->rank > 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "split must be a 1-D int64 tensor");
    int64_t *tmp = ql_op_scratch(c, sizeof(int64_t) * (size_t)(st_in->numel + 1));
    if (!tmp) return c->err->code;
    for (int64_t i = 0; i < st_in->numel; i++) tmp[i] = ql_load_i64(st_in->dtype, st_in->data, i);
    given = tmp;
    ngiven = (size_t)st_in->numel;
  } else if (c->version < 13) {
    given = ql_attr_ints(c->node, "split", &ngiven);
  }
  if (given) {
    if (ngiven != nout)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "split has %zu entries for %zu outputs", ngiven, nout);
    int64_t sum = 0;
    for (size_t k = 0; k < nout; k++) {
      if (given[k] < 0 || __builtin_add_overflow(sum, given[k], &sum))
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "split[%zu] is %lld", k, (long long)given[k]);
      sz[k] = given[k];
    }
    if (sum != dim)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "split sums to %lld, the axis has %lld", (long long)sum,
                        (long long)dim);
  } else {
    const ql_attr *no = c->version >= 18 ? ql_node_attr(c->node, "num_outputs") : NULL;
    if (no && no->i != (int64_t)nout)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "num_outputs is %lld but the node has %zu outputs", (long long)no->i,
                        nout);
    /* equal parts of ceil(dim / n); the last ones take what is left */
    int64_t chunk = dim / (int64_t)nout + (dim % (int64_t)nout != 0);
    for (size_t k = 0; k < nout; k++) {
      int64_t left = dim - (int64_t)k * chunk;
      sz[k] = left < 0 ? 0 : left < chunk ? left : chunk;
    }
  }
  int64_t outer = 1, inner = 1, pos = 0;
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  for (size_t k = 0; k < nout; k++) {
    int64_t d[QL_MAX_RANK];
    memcpy(d, x->dims, sizeof(int64_t) * (size_t)x->rank);
    d[axis] = sz[k];
    ql_tensor *y = ql_op_output(c, k, x->dtype, x->rank, d);
    if (!y) return c->err->code;
    for (int64_t o = 0; o < outer; o++)
      if (copy_elems(y, o * sz[k] * inner, x, (o * dim + pos) * inner, sz[k] * inner)) return oom(c);
    pos += sz[k];
  }
  return QL_OK;
}

/* ================================================================ Slice */

static ql_status slice(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  int r = x->rank;
  int64_t starts[QL_MAX_RANK], ends[QL_MAX_RANK], axes[QL_MAX_RANK], steps[QL_MAX_RANK];
  int n, na = -1, ns = -1;
  if (c->version < 10) {
    size_t cs = 0, ce = 0, ca = 0;
    const int64_t *s = ql_attr_ints(c->node, "starts", &cs), *e = ql_attr_ints(c->node, "ends", &ce),
                  *a = ql_attr_ints(c->node, "axes", &ca);
    if (!s || !e || cs != ce || cs > (size_t)r)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "starts and ends must have the same length, at most the rank");
    n = (int)cs;
    for (int i = 0; i < n; i++) starts[i] = s[i], ends[i] = e[i];
    if (a) {
      if (ca != cs) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axes has %zu entries, starts has %zu", ca, cs);
      for (int i = 0; i < n; i++) axes[i] = a[i];
      na = n;
    }
  } else {
    const ql_tensor *ts = ql_op_in(c, 1), *te = ql_op_in(c, 2), *ta = ql_op_in(c, 3), *tp = ql_op_in(c, 4);
    int ne;
    if ((n = read_ints(c, ts, "starts", starts, r)) < 0 || (ne = read_ints(c, te, "ends", ends, r)) < 0)
      return c->err->code;
    if (ne != n) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "starts has %d entries, ends has %d", n, ne);
    if (ta && (na = read_ints(c, ta, "axes", axes, r)) < 0) return c->err->code;
    if (tp && (ns = read_ints(c, tp, "steps", steps, r)) < 0) return c->err->code;
    if ((na >= 0 && na != n) || (ns >= 0 && ns != n))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axes/steps must have as many entries as starts");
  }
  int64_t b[QL_MAX_RANK], st[QL_MAX_RANK], d[QL_MAX_RANK];
  int seen[QL_MAX_RANK] = {0};
  for (int i = 0; i < r; i++) b[i] = 0, st[i] = 1, d[i] = x->dims[i];
  for (int k = 0; k < n; k++) {
    int64_t av = na >= 0 ? axes[k] : k;
    int a = ql_norm_axis(av, r);
    if (a < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)av, r);
    if (seen[a]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is repeated", (long long)av);
    seen[a] = 1;
    int64_t step = ns >= 0 ? steps[k] : 1, dim = x->dims[a], s = starts[k], e = ends[k];
    if (step == 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "steps[%d] is 0", k);
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    /* clamp: [0, dim] going forward, [-1, dim-1] going backward */
    if (step > 0) {
      s = s < 0 ? 0 : s > dim ? dim : s;
      e = e < 0 ? 0 : e > dim ? dim : e;
    } else {
      s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
      e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
    }
    /* unsigned: -step overflows for INT64_MIN */
    uint64_t ustep = step > 0 ? (uint64_t)step : 0 - (uint64_t)step;
    int64_t len = step > 0 ? (e > s ? (int64_t)((uint64_t)(e - s - 1) / ustep) + 1 : 0)
                           : (s > e ? (int64_t)((uint64_t)(s - e - 1) / ustep) + 1 : 0);
    b[a] = s;
    st[a] = step;
    d[a] = len;
  }
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, d);
  if (!y) return c->err->code;
  if (!y->numel) return QL_OK;
  int64_t xs[QL_MAX_RANK], *maps[QL_MAX_RANK + 1];
  row_strides(r, x->dims, xs);
  if (!maps_new(c, r, d, maps)) return c->err->code;
  for (int i = 0; i < r; i++)
    for (int64_t j = 0; j < d[i]; j++) maps[i][j] = (b[i] + j * st[i]) * xs[i];
  return map_gather(c, y, x, maps, NULL);
}

/* ================================================================ Transpose, Expand, Tile */

/* Transpose of a fixed-size type as block copies: size-1 axes dropped,
 * output axes that are also consecutive in the input merged, so the
 * innermost run is as long as the layouts allow (NanoDet's channel
 * shuffles [0,2,1,3,4] become memcpys of whole planes). */
static void transpose_blocks(const ql_tensor *x, ql_tensor *y, int r, const int64_t *d, const int *perm,
                             const int64_t *xs) {
  int n = 0, last = -2;
  int64_t cd[QL_MAX_RANK], cs[QL_MAX_RANK]; /* merged dims and their input strides */
  for (int i = 0; i < r; i++) {
    if (d[i] == 1) continue;
    if (n && perm[i] == last + 1) {
      cd[n - 1] *= d[i];
      cs[n - 1] = xs[perm[i]];
    } else {
      cd[n] = d[i];
      cs[n++] = xs[perm[i]];
    }
    last = perm[i];
  }
  const size_t es = ql_dtype_size(x->dtype);
  const char *xd = x->data;
  char *yd = y->data;
  if (n == 0 || (n == 1 && cs[0] == 1)) { /* the same order: a copy */
    memcpy(yd, xd, (size_t)y->numel * es);
    return;
  }
  const int64_t len = cd[n - 1], step = cs[n - 1];
  int64_t cnt[QL_MAX_RANK] = {0}, off = 0;
  for (int64_t o = 0; o < y->numel; o += len) {
    char *dst = yd + (size_t)o * es;
    if (step == 1) {
      memcpy(dst, xd + (size_t)off * es, (size_t)len * es);
    } else {
      switch (es) {
      case 1: for (int64_t k = 0; k < len; k++) dst[k] = xd[off + k * step]; break;
      case 2: for (int64_t k = 0; k < len; k++) ((uint16_t *)dst)[k] = ((const uint16_t *)xd)[off + k * step]; break;
      case 4: for (int64_t k = 0; k < len; k++) ((uint32_t *)dst)[k] = ((const uint32_t *)xd)[off + k * step]; break;
      case 8: for (int64_t k = 0; k < len; k++) ((uint64_t *)dst)[k] = ((const uint64_t *)xd)[off + k * step]; break;
      default:
        for (int64_t k = 0; k < len; k++) memcpy(dst + (size_t)k * es, xd + (size_t)(off + k * step) * es, es);
        break;
      }
    }
    for (int a = n - 2; a >= 0; a--) { /* the next run's input offset */
      off += cs[a];
      if (++cnt[a] < cd[a]) break;
      off -= cs[a] * cd[a];
      cnt[a] = 0;
    }
  }
}

static ql_status transpose(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  int r = x->rank, perm[QL_MAX_RANK], seen[QL_MAX_RANK] = {0};
  size_t cnt = 0;
  const int64_t *p = ql_attr_ints(c->node, "perm", &cnt);
  if (p && cnt != (size_t)r)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "perm has %zu entries for rank %d", cnt, r);
  for (int i = 0; i < r; i++) {
    int64_t v = p ? p[i] : r - 1 - i;
    if (v < 0 || v >= r || seen[v]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "perm is not a permutation of 0..%d", r - 1);
    seen[v] = 1;
    perm[i] = (int)v;
  }
  int64_t d[QL_MAX_RANK], xs[QL_MAX_RANK], *maps[QL_MAX_RANK + 1];
  for (int i = 0; i < r; i++) d[i] = x->dims[perm[i]];
  /* every element is written (strings too: map_gather copies each) */
  ql_tensor *y = (x->dtype == QL_STRING ? ql_op_output : ql_op_output_nofill)(c, 0, x->dtype, r, d);
  if (!y) return c->err->code;
  if (!y->numel) return QL_OK;
  row_strides(r, x->dims, xs);
  if (x->dtype != QL_STRING) {
    transpose_blocks(x, y, r, d, perm, xs);
    return QL_OK;
  }
  if (!maps_new(c, r, d, maps)) return c->err->code;
  for (int i = 0; i < r; i++)
    for (int64_t j = 0; j < d[i]; j++) maps[i][j] = j * xs[perm[i]];
  return map_gather(c, y, x, maps, NULL);
}

static ql_status expand(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *s = ql_op_in(c, 1);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  if (s && s->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "shape must be int64");
  int64_t sh[QL_MAX_RANK], d[QL_MAX_RANK];
  int n = read_ints(c, s, "shape", sh, QL_MAX_RANK), r;
  if (n < 0) return c->err->code;
  for (int i = 0; i < n; i++)
    if (sh[i] < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "shape[%d] is %lld", i, (long long)sh[i]);
  if (ql_broadcast_shape(x->rank, x->dims, n, sh, &r, d) < 0)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input (rank %d) cannot be broadcast to the shape", x->rank);
  ql_status st = check_out_size(c, x->dtype, r, d);
  if (st) return st;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, d);
  if (!y) return c->err->code;
  if (!y->numel) return QL_OK;
  int64_t xs[QL_MAX_RANK], *maps[QL_MAX_RANK + 1];
  row_strides(x->rank, x->dims, xs);
  if (!maps_new(c, r, d, maps)) return c->err->code;
  for (int i = 0; i < r; i++) {
    int k = i - (r - x->rank);
    for (int64_t j = 0; j < d[i]; j++) maps[i][j] = k < 0 || x->dims[k] == 1 ? 0 : j * xs[k];
  }
  return map_gather(c, y, x, maps, NULL);
}

static ql_status tile(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  int r = x->rank;
  int64_t rep[QL_MAX_RANK];
  if (c->version < 6) {
    /* Tile-1: `tiles` copies along the single axis `axis` */
    const ql_tensor *tt = ql_op_in(c, 1), *ta = ql_op_in(c, 2);
    /* the schema types them T (the data's float type); their values are counts */
    if (!tt || !ta || tt->numel != 1 || ta->numel != 1 || tt->dtype == QL_STRING || ta->dtype == QL_STRING)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "tiles and axis must be scalars");
    int64_t a = ql_load_i64(ta->dtype, ta->data, 0);
    int ax = ql_norm_axis(a, r);
    if (ax < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)a, r);
    for (int i = 0; i < r; i++) rep[i] = 1;
    rep[ax] = ql_load_i64(tt->dtype, tt->data, 0);
  } else {
    const ql_tensor *t = ql_op_in(c, 1);
    if (t && t->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "repeats must be int64");
    int n = read_ints(c, t, "repeats", rep, QL_MAX_RANK);
    if (n < 0) return c->err->code;
    if (n != r) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "repeats has %d entries for rank %d", n, r);
  }
  int64_t d[QL_MAX_RANK];
  for (int i = 0; i < r; i++) {
    if (rep[i] < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "repeats[%d] is %lld", i, (long long)rep[i]);
    if (ql_mul_overflow_i64(x->dims[i], rep[i], &d[i])) return ql_op_fail(c, QL_ERR_LIMIT, "tiled dim overflows");
  }
  ql_status st = check_out_size(c, x->dtype, r, d);
  if (st) return st;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, d);
  if (!y) return c->err->code;
  if (!y->numel) return QL_OK;
  int64_t xs[QL_MAX_RANK], *maps[QL_MAX_RANK + 1];
  row_strides(r, x->dims, xs);
  if (!maps_new(c, r, d, maps)) return c->err->code;
  for (int i = 0; i < r; i++)
    for (int64_t j = 0; j < d[i]; j++) maps[i][j] = (j % x->dims[i]) * xs[i];
  return map_gather(c, y, x, maps, NULL);
}

/* ================================================================ Pad */

/* Index into [0, n) for a position i outside it, per mode (n >= 1). */
static int64_t pad_index(int mode, int64_t i, int64_t n) {
  switch (mode) {
  case 1: { /* reflect (numpy): mirror without repeating the edge */
    if (n == 1) return 0;
    int64_t p = 2 * (n - 1), m = i % p;
    if (m < 0) m += p;
    return m < n ? m : p - m;
  }
  case 2: return i < 0 ? 0 : n - 1; /* edge */
  case 3: { /* wrap */
    int64_t m = i % n;
    return m < 0 ? m + n : m;
  }
  default: return -1;
  }
}

static ql_status pad(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  int r = x->rank;
  const char *ms = ql_attr_string(c->node, "mode", "constant");
  int mode = !strcmp(ms, "constant") ? 0 : !strcmp(ms, "reflect") ? 1 : !strcmp(ms, "edge") ? 2
             : !strcmp(ms, "wrap") && c->version >= 19 ? 3 : -1;
  if (mode < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown pad mode \"%s\"", ms);
  int64_t pads[2 * QL_MAX_RANK], axes[QL_MAX_RANK];
  int np, na = r;
  unsigned char fill[16] = {0};
  const void *fillp = fill;
  if (c->version < 11) {
    size_t cnt = 0;
    const int64_t *p = ql_attr_ints(c->node, c->version < 2 ? "paddings" : "pads", &cnt);
    if (!p || cnt > 2 * QL_MAX_RANK) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "pads attribute is missing or too long");
    for (size_t i = 0; i < cnt; i++) pads[i] = p[i];
    np = (int)cnt;
    if (x->dtype != QL_STRING) ql_store_f64(x->dtype, fill, 0, ql_attr_float(c->node, "value", 0.0f));
  } else {
    const ql_tensor *tp = ql_op_in(c, 1), *tv = ql_op_in(c, 2), *ta = ql_op_in(c, 3);
    if (tp && tp->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "pads must be int64");
    if ((np = read_ints(c, tp, "pads", pads, 2 * QL_MAX_RANK)) < 0) return c->err->code;
    if (tv && tv->numel > 0) {
      if (tv->dtype != x->dtype || tv->numel != 1)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "constant_value must be one element of the input type");
      if (x->dtype == QL_STRING) fillp = tv->data;
      else memcpy(fill, tv->data, ql_dtype_size(x->dtype));
    }
    if (c->version >= 18 && ta) {
      if ((na = read_ints(c, ta, "axes", axes, r)) < 0) return c->err->code;
    } else {
      for (int i = 0; i < r; i++) axes[i] = i;
    }
  }
  if (c->version < 18 || !ql_op_in(c, 3))
    for (int i = 0; i < r; i++) axes[i] = i;
  if (np != 2 * na)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "pads has %d entries, expected %d", np, 2 * na);
  int64_t pb[QL_MAX_RANK] = {0}, pe[QL_MAX_RANK] = {0}, d[QL_MAX_RANK];
  int seen[QL_MAX_RANK] = {0};
  for (int k = 0; k < na; k++) {
    int a = ql_norm_axis(axes[k], r);
    if (a < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)axes[k], r);
    if (seen[a]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is repeated", (long long)axes[k]);
    seen[a] = 1;
    pb[a] = pads[k];
    pe[a] = pads[na + k];
  }
  /* negative pads crop first; the remaining input is then padded */
  int64_t lo[QL_MAX_RANK], n[QL_MAX_RANK];
  for (int i = 0; i < r; i++) {
    int64_t cb = pb[i] < 0 ? -pb[i] : 0, ce = pe[i] < 0 ? -pe[i] : 0;
    if (pb[i] < -x->dims[i] || pe[i] < -x->dims[i] || cb + ce > x->dims[i])
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "pads crop more than dim %d (%lld) holds", i, (long long)x->dims[i]);
    lo[i] = cb;
    n[i] = x->dims[i] - cb - ce;
    pb[i] = pb[i] > 0 ? pb[i] : 0;
    pe[i] = pe[i] > 0 ? pe[i] : 0;
    if (__builtin_add_overflow(n[i], pb[i], &d[i]) || __builtin_add_overflow(d[i], pe[i], &d[i]))
      return ql_op_fail(c, QL_ERR_LIMIT, "padded dim overflows");
    if (mode && n[i] == 0 && d[i] > 0)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s padding of an empty dim %d", ms, i);
  }
  ql_status st = check_out_size(c, x->dtype, r, d);
  if (st) return st;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, d);
  if (!y) return c->err->code;
  if (!y->numel) return QL_OK;
  int64_t xs[QL_MAX_RANK], *maps[QL_MAX_RANK + 1];
  row_strides(r, x->dims, xs);
  if (!maps_new(c, r, d, maps)) return c->err->code;
  for (int i = 0; i < r; i++)
    for (int64_t j = 0; j < d[i]; j++) {
      int64_t k = j - pb[i];
      if (k < 0 || k >= n[i]) k = pad_index(mode, k, n[i]);
      maps[i][j] = k < 0 ? -1 : (lo[i] + k) * xs[i];
    }
  return map_gather(c, y, x, maps, fillp);
}

/* ================================================================ Gather */

static ql_status gather(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *ix = ql_op_in(c, 1);
  if (!x || !ix) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "data and indices are required");
  if (ix->dtype != QL_INT64 && ix->dtype != QL_INT32) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices must be int32 or int64");
  int64_t av = ql_attr_int(c->node, "axis", 0);
  int axis = ql_norm_axis(av, x->rank);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)av, x->rank);
  int r = x->rank - 1 + ix->rank;
  if (r > QL_MAX_RANK) return ql_op_fail(c, QL_ERR_LIMIT, "output rank %d exceeds %d", r, QL_MAX_RANK);
  int64_t d[QL_MAX_RANK], dim = x->dims[axis];
  int k = 0;
  for (int i = 0; i < axis; i++) d[k++] = x->dims[i];
  for (int i = 0; i < ix->rank; i++) d[k++] = ix->dims[i];
  for (int i = axis + 1; i < x->rank; i++) d[k++] = x->dims[i];
  /* every index is checked before anything is copied */
  for (int64_t i = 0; i < ix->numel; i++) {
    int64_t v = ql_load_i64(ix->dtype, ix->data, i);
    if (v < -dim || v >= dim)
      return ql_op_fail(c, QL_ERR_INVALID_ARGUMENT, "index %lld is out of range [-%lld, %lld)", (long long)v,
                        (long long)dim, (long long)dim);
  }
  ql_status st = check_out_size(c, x->dtype, r, d);
  if (st) return st;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, d);
  if (!y) return c->err->code;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  int64_t yo = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < ix->numel; i++) {
      int64_t v = ql_load_i64(ix->dtype, ix->data, i);
      if (v < 0) v += dim;
      if (copy_elems(y, yo, x, (o * dim + v) * inner, inner)) return oom(c);
      yo += inner;
    }
  return QL_OK;
}

static ql_status gather_elements(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *ix = ql_op_in(c, 1);
  if (!x || !ix) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "data and indices are required");
  if (ix->dtype != QL_INT64 && ix->dtype != QL_INT32) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices must be int32 or int64");
  int r = x->rank;
  if (ix->rank != r || r == 0)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices rank %d must equal data rank %d (>= 1)", ix->rank, r);
  int64_t av = ql_attr_int(c->node, "axis", 0);
  int axis = ql_norm_axis(av, r);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)av, r);
  for (int i = 0; i < r; i++)
    if (i != axis && ix->dims[i] > x->dims[i])
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "indices dim %d (%lld) exceeds data dim (%lld)", i,
                        (long long)ix->dims[i], (long long)x->dims[i]);
  int64_t dim = x->dims[axis], xs[QL_MAX_RANK], cnt[QL_MAX_RANK] = {0};
  row_strides(r, x->dims, xs);
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, ix->dims);
  if (!y) return c->err->code;
  for (int64_t i = 0; i < ix->numel; i++) {
    int64_t v = ql_load_i64(ix->dtype, ix->data, i);
    if (v < -dim || v >= dim)
      return ql_op_fail(c, QL_ERR_INVALID_ARGUMENT, "index %lld is out of range [-%lld, %lld)", (long long)v,
                        (long long)dim, (long long)dim);
    if (v < 0) v += dim;
    int64_t off = 0;
    for (int k = 0; k < r; k++) off += (k == axis ? v : cnt[k]) * xs[k];
    if (copy_elems(y, i, x, off, 1)) return oom(c);
    for (int k = r - 1; k >= 0; k--) {
      if (++cnt[k] < ix->dims[k]) break;
      cnt[k] = 0;
    }
  }
  return QL_OK;
}

/* ================================================================ generators */

static ql_status constant_of_shape(ql_op_ctx *c) {
  const ql_tensor *s = ql_op_in(c, 0);
  if (!s || s->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input must be an int64 shape");
  int64_t d[QL_MAX_RANK];
  int n = read_ints(c, s, "shape", d, QL_MAX_RANK);
  if (n < 0) return c->err->code;
  for (int i = 0; i < n; i++)
    if (d[i] < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "shape[%d] is %lld", i, (long long)d[i]);
  const ql_attr *a = ql_node_attr(c->node, "value");
  const ql_tensor *v = a ? a->t : NULL;
  if (a && (!v || v->numel != 1)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "value must be a one-element tensor");
  if (v && v->dtype == QL_STRING) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "value must not be a string");
  ql_dtype t = v ? v->dtype : QL_FLOAT;
  ql_status st = check_out_size(c, t, n, d);
  if (st) return st;
  ql_tensor *y = ql_op_output(c, 0, t, n, d);
  if (!y) return c->err->code;
  if (v) {
    size_t es = ql_dtype_size(t);
    for (int64_t i = 0; i < y->numel; i++) memcpy((char *)y->data + (size_t)i * es, v->data, es);
  }
  return QL_OK;
}

static ql_status range(ql_op_ctx *c) {
  const ql_tensor *ts = ql_op_in(c, 0), *tl = ql_op_in(c, 1), *td = ql_op_in(c, 2);
  if (!ts || !tl || !td) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "start, limit and delta are required");
  ql_dtype t = ts->dtype;
  if (tl->dtype != t || td->dtype != t || ts->numel != 1 || tl->numel != 1 || td->numel != 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "start, limit and delta must be scalars of one type");
  int64_t n;
  ql_tensor *y;
  if (ql_dtype_is_int(t)) {
    int64_t s = ql_load_i64(t, ts->data, 0), l = ql_load_i64(t, tl->data, 0), dl = ql_load_i64(t, td->data, 0);
    if (dl == 0) return ql_op_fail(c, QL_ERR_INVALID_ARGUMENT, "delta is 0");
    /* ceil((l - s) / dl) without overflow: the distance fits in uint64 */
    uint64_t dist, step = dl > 0 ? (uint64_t)dl : 0 - (uint64_t)dl;
    if (dl > 0) dist = l > s ? (uint64_t)l - (uint64_t)s : 0;
    else dist = s > l ? (uint64_t)s - (uint64_t)l : 0;
    uint64_t un = dist / step + (dist % step != 0);
    if (un > (uint64_t)QL_SHAPE_OPS_MAX_BYTES) return ql_op_fail(c, QL_ERR_LIMIT, "Range of %llu elements", (unsigned long long)un);
    n = (int64_t)un;
    ql_status st = check_out_size(c, t, 1, &n);
    if (st) return st;
    if (!(y = ql_op_output(c, 0, t, 1, &n))) return c->err->code;
    for (int64_t i = 0; i < n; i++) ql_store_i64(t, y->data, i, (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)dl));
    return QL_OK;
  }
  if (!ql_dtype_is_float(t)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported", ql_dtype_name(t));
  double s = ql_load_f64(t, ts->data, 0), l = ql_load_f64(t, tl->data, 0), dl = ql_load_f64(t, td->data, 0);
  /* float16/bfloat16 with stash_type 0: every step rounds to the type */
  int narrow = (t == QL_FLOAT16 || t == QL_BFLOAT16) && c->version >= 27 && ql_attr_int(c->node, "stash_type", 1) == 0;
  if (dl == 0 || !isfinite(s) || !isfinite(l) || !isfinite(dl))
    return ql_op_fail(c, QL_ERR_INVALID_ARGUMENT, "start, limit and delta must be finite and delta non-zero");
  double cnt = ceil((l - s) / dl);
  if (cnt > (double)QL_SHAPE_OPS_MAX_BYTES) return ql_op_fail(c, QL_ERR_LIMIT, "Range of %.0f elements", cnt);
  n = cnt > 0 ? (int64_t)cnt : 0;
  ql_status st = check_out_size(c, t, 1, &n);
  if (st) return st;
  if (!(y = ql_op_output(c, 0, t, 1, &n))) return c->err->code;
  for (int64_t i = 0; i < n; i++) {
    if (narrow) {
      ql_store_f64(t, y->data, i, (double)i * dl);
      ql_store_f64(t, y->data, i, s + ql_load_f64(t, y->data, i));
    } else if (t == QL_FLOAT) {
      ((float *)y->data)[i] = (float)s + (float)i * (float)dl;
    } else {
      ql_store_f64(t, y->data, i, s + (double)i * dl);
    }
  }
  return QL_OK;
}

/* ================================================================ Dropout */

/* Inference: output = input, mask all ones. Training mode (Dropout-12+)
 * with a non-zero ratio draws random numbers that no runtime reproduces
 * bit for bit; it is refused. */
static ql_status dropout(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  if (c->version >= 12) {
    const ql_tensor *tr = ql_op_in(c, 1), *tm = ql_op_in(c, 2);
    double ratio = tr && tr->numel == 1 && ql_dtype_is_float(tr->dtype) ? ql_load_f64(tr->dtype, tr->data, 0) : 0.5;
    if (tr && (tr->numel != 1 || !ql_dtype_is_float(tr->dtype)))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "ratio must be a float scalar");
    if (!(ratio >= 0 && ratio < 1)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "ratio %g is not in [0, 1)", ratio);
    if (tm && (tm->dtype != QL_BOOL || tm->numel != 1))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "training_mode must be a bool scalar");
    if (tm && ((const uint8_t *)tm->data)[0] && ratio != 0)
      return ql_op_fail(c, QL_ERR_UNSUPPORTED, "Dropout in training mode with ratio %g is not supported", ratio);
  }
  ql_status st = copy_to_output(c, 0, x, x->rank, x->dims);
  if (st || c->n_out < 2) return st;
  ql_dtype mt = c->version >= 10 ? QL_BOOL : x->dtype;
  ql_tensor *m = ql_op_output(c, 1, mt, x->rank, x->dims);
  if (!m) return c->err->code;
  for (int64_t i = 0; i < m->numel; i++) ql_store_f64(mt, m->data, i, 1.0);
  return QL_OK;
}

const ql_op_def ql_ops_shape_ops[] = {
    {"", "Identity", 1, 25, identity},
    {"", "Constant", 1, 25, constant},
    {"", "Shape", 1, 25, shape},
    {"", "Size", 1, 25, size},
    {"", "Reshape", 1, 25, reshape},
    {"", "Flatten", 1, 25, flatten},
    {"", "Squeeze", 1, 25, squeeze},
    {"", "Unsqueeze", 1, 25, unsqueeze},
    {"", "Concat", 1, 13, concat},
    {"", "Split", 1, 18, split},
    {"", "Slice", 1, 13, slice},
    {"", "Transpose", 1, 25, transpose},
    {"", "Expand", 8, 13, expand},
    {"", "Tile", 1, 13, tile},
    {"", "Pad", 1, 25, pad},
    {"", "Gather", 1, 13, gather},
    {"", "GatherElements", 11, 13, gather_elements},
    {"", "ConstantOfShape", 9, 25, constant_of_shape},
    {"", "Range", 11, 27, range},
    {"", "Dropout", 1, 22, dropout},
    {0},
};

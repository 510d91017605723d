/* Pooling: MaxPool, AveragePool, LpPool and their Global forms.
 *
 * All variants share one geometry (kernel, strides, dilations, pads or
 * auto_pad, ceil_mode) and one window walk; they differ only in how a window
 * is reduced. Values are reduced in double: exact for max over every input
 * type, and at least as accurate as float accumulation for the averages. */
#include "op.h"
#include <math.h>

#include "../runtime/threadpool.h"

#define SP_MAX (QL_MAX_RANK - 2)

typedef struct pool_geom {
  int nsp;                       /* spatial rank */
  int64_t in[SP_MAX], out[SP_MAX];
  int64_t k[SP_MAX], s[SP_MAX], d[SP_MAX];
  int64_t pb[SP_MAX], pe[SP_MAX]; /* pads at the beginning / end */
} pool_geom;

typedef enum pool_kind { POOL_MAX, POOL_AVG, POOL_LP } pool_kind;

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}
static int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

/* Reads the list attribute `name` into out[n], or fills `def` when absent. */
static ql_status read_list(ql_op_ctx *c, const char *name, int n, int64_t def, int64_t min, int64_t *out) {
  size_t cnt = 0;
  const int64_t *v = ql_attr_ints(c->node, name, &cnt);
  if (!v) {
    for (int i = 0; i < n; i++) out[i] = def;
    return QL_OK;
  }
  if (cnt != (size_t)n)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "'%s' has %zu values, expected %d", name, cnt, n);
  for (int i = 0; i < n; i++) {
    /* a cap far above any real window keeps the index arithmetic in range */
    if (v[i] < min || v[i] > ((int64_t)1 << 31))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "'%s'[%d] = %lld is out of range", name, i, (long long)v[i]);
    out[i] = v[i];
  }
  return QL_OK;
}

/* Output shape and effective pads, as the MaxPool-22 / AveragePool-22 text
 * gives them: explicit pads with floor or ceil (a window that would start in
 * the end padding is dropped), or the deprecated auto_pad rules. */
static ql_status pool_geometry(ql_op_ctx *c, const ql_tensor *x, pool_geom *g) {
  if (x->rank < 3 || x->rank > QL_MAX_RANK)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input has rank %d, expected N x C x D1 ... (rank >= 3)", x->rank);
  int n = g->nsp = x->rank - 2;
  for (int i = 0; i < n; i++) g->in[i] = x->dims[i + 2];
  size_t kn = 0;
  if (!ql_attr_ints(c->node, "kernel_shape", &kn)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "kernel_shape is required");
  ql_status st;
  int64_t pads[2 * SP_MAX];
  if ((st = read_list(c, "kernel_shape", n, 1, 1, g->k)) || (st = read_list(c, "strides", n, 1, 1, g->s)) ||
      (st = read_list(c, "dilations", n, 1, 1, g->d)) || (st = read_list(c, "pads", 2 * n, 0, 0, pads)))
    return st;
  int ceil_mode = ql_attr_int(c->node, "ceil_mode", 0) != 0;
  const char *ap = ql_attr_string(c->node, "auto_pad", "NOTSET");
  for (int i = 0; i < n; i++) {
    int64_t ek = (g->k[i] - 1) * g->d[i] + 1; /* extent of a dilated window */
    int64_t in = g->in[i], o;
    if (!strcmp(ap, "NOTSET") || !*ap) {
      g->pb[i] = pads[i];
      g->pe[i] = pads[i + n];
      int64_t span = in + g->pb[i] + g->pe[i] - ek;
      if (ceil_mode) {
        o = ceil_div(span, g->s[i]) + 1;
        if (o > 0 && (o - 1) * g->s[i] >= in + g->pb[i]) o--;
      } else {
        o = floor_div(span, g->s[i]) + 1;
      }
    } else if (!strcmp(ap, "VALID")) {
      g->pb[i] = g->pe[i] = 0;
      o = ceil_mode ? ceil_div(in - ek + 1, g->s[i]) : floor_div(in - ek, g->s[i]) + 1;
    } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
      o = ceil_div(in, g->s[i]);
      int64_t total = (o - 1) * g->s[i] + ek - in;
      if (total < 0) total = 0;
      int64_t small = total / 2, big = total - small;
      g->pb[i] = ap[5] == 'U' ? small : big;
      g->pe[i] = ap[5] == 'U' ? big : small;
    } else {
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown auto_pad '%s'", ap);
    }
    if (o < 1 && in > 0)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL,
                        "spatial axis %d: input %lld with kernel %lld, dilation %lld, pads %lld+%lld leaves no output",
                        i, (long long)in, (long long)g->k[i], (long long)g->d[i], (long long)g->pb[i],
                        (long long)g->pe[i]);
    g->out[i] = o < 0 ? 0 : o;
  }
  return QL_OK;
}

/* Copies x into a double buffer in the op's scratch (one conversion per
 * element, not per read); NULL with c->err set when out of memory. */
static double *to_f64(ql_op_ctx *c, const ql_tensor *x) {
  double *v = ql_op_scratch(c, (size_t)x->numel * sizeof *v);
  if (!v) return NULL;
  if (x->dtype == QL_FLOAT)
    for (int64_t i = 0; i < x->numel; i++) v[i] = ((const float *)x->data)[i];
  else
    for (int64_t i = 0; i < x->numel; i++) v[i] = ql_load_f64(x->dtype, x->data, i);
  return v;
}

static void store(ql_tensor *y, int64_t i, double v) {
  if (y->dtype == QL_FLOAT) ((float *)y->data)[i] = (float)v;
  else ql_store_f64(y->dtype, y->data, i, v);
}

static int pool_type_ok(pool_kind kind, ql_dtype t) {
  if (t == QL_FLOAT || t == QL_DOUBLE || t == QL_FLOAT16 || t == QL_BFLOAT16) return 1;
  return kind == POOL_MAX && (t == QL_INT8 || t == QL_UINT8);
}

/* The window walk. For each (n, c) plane and output position, visits the
 * in-range taps of the dilated window in row-major order. */
/* 2-D MaxPool without dilation or indices, for float32 and 8-bit integers:
 * the window walk below with the same reduction (the first tap inside the
 * input, then a tap replaces it only when greater, in row-major order), in
 * the element type, one plane per task. Comparing as the type or as doubles
 * is the same. An all-padding window gives 0, as below. */
typedef struct maxpool2d {
  const pool_geom *g;
  const void *x;
  void *y;
  ql_op_ctx *c; /* the integer tasks' scratch */
  int failed;
} maxpool2d;

#define MAXPOOL2D_TASK(NAME, T)                                                                          \
  static void NAME(void *ctx, size_t thread, size_t p0, size_t j0, size_t np, size_t nj) {                \
    (void)thread;                                                                                        \
    (void)j0;                                                                                            \
    (void)nj;                                                                                            \
    const maxpool2d *t = ctx;                                                                            \
    const pool_geom *g = t->g;                                                                           \
    for (size_t pl = p0; pl < p0 + np; pl++) {                                                           \
      const T *xp = (const T *)t->x + (int64_t)pl * g->in[0] * g->in[1];                                 \
      T *yp = (T *)t->y + (int64_t)pl * g->out[0] * g->out[1];                                           \
      for (int64_t oy = 0; oy < g->out[0]; oy++) {                                                       \
        const int64_t sy = oy * g->s[0] - g->pb[0];                                                      \
        const int64_t ylo = sy < 0 ? -sy : 0, yhi = g->in[0] - sy < g->k[0] ? g->in[0] - sy : g->k[0];  \
        for (int64_t ox = 0; ox < g->out[1]; ox++) {                                                     \
          const int64_t sx = ox * g->s[1] - g->pb[1];                                                    \
          const int64_t xlo = sx < 0 ? -sx : 0, xhi = g->in[1] - sx < g->k[1] ? g->in[1] - sx : g->k[1]; \
          if (ylo >= yhi || xlo >= xhi) {                                                                \
            yp[oy * g->out[1] + ox] = 0;                                                                 \
            continue;                                                                                    \
          }                                                                                              \
          T acc = xp[(sy + ylo) * g->in[1] + sx + xlo];                                                  \
          for (int64_t r = ylo; r < yhi; r++) {                                                          \
            const T *row = xp + (sy + r) * g->in[1];                                                     \
            for (int64_t q = xlo; q < xhi; q++) {                                                        \
              const T v = row[sx + q];                                                                   \
              acc = v > acc ? v : acc;                                                                   \
            }                                                                                            \
          }                                                                                              \
          yp[oy * g->out[1] + ox] = acc;                                                                 \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
  }
MAXPOOL2D_TASK(maxpool2d_f32, float)

/* 8-bit integers: the max does not depend on the order of the taps (no
 * NaN), so it is separable: the max down the window's rows first, then
 * across each window's columns, both over whole rows (which vectorize);
 * windows that cross the row's ends take their in-range taps alone. */
#define MAXPOOL2D_INT_TASK(NAME, T)                                                                      \
  static void NAME(void *ctx, size_t thread, size_t p0, size_t j0, size_t np, size_t nj) {                \
    (void)j0;                                                                                            \
    (void)nj;                                                                                            \
    maxpool2d *t = ctx;                                                                                  \
    const pool_geom *g = t->g;                                                                           \
    const int64_t iw = g->in[1], ow = g->out[1], kw = g->k[1], sw = g->s[1], pw = g->pb[1];             \
    /* col: the max down the window's rows; h[i]: the max of col[i .. i + kw) */                         \
    T *col = ql_op_thread_scratch(t->c, thread, 2 * (size_t)iw * sizeof(T));                             \
    if (!col) {                                                                                          \
      t->failed = 1; /* a benign race: every writer stores 1 */                                         \
      return;                                                                                            \
    }                                                                                                    \
    T *h = col + iw;                                                                                     \
    for (size_t pl = p0; pl < p0 + np; pl++) {                                                           \
      const T *xp = (const T *)t->x + (int64_t)pl * g->in[0] * iw;                                       \
      T *yp = (T *)t->y + (int64_t)pl * g->out[0] * ow;                                                  \
      for (int64_t oy = 0; oy < g->out[0]; oy++) {                                                       \
        const int64_t sy = oy * g->s[0] - g->pb[0];                                                      \
        const int64_t ylo = sy < 0 ? -sy : 0, yhi = g->in[0] - sy < g->k[0] ? g->in[0] - sy : g->k[0];  \
        T *yr = yp + oy * ow;                                                                            \
        if (ylo >= yhi) {                                                                                \
          for (int64_t ox = 0; ox < ow; ox++) yr[ox] = 0;                                                \
          continue;                                                                                      \
        }                                                                                                \
        memcpy(col, xp + (sy + ylo) * iw, (size_t)iw * sizeof(T));                                       \
        for (int64_t r = ylo + 1; r < yhi; r++) {                                                        \
          const T *row = xp + (sy + r) * iw;                                                             \
          for (int64_t q = 0; q < iw; q++) col[q] = row[q] > col[q] ? row[q] : col[q];                   \
        }                                                                                                \
        for (int64_t i = 0; i + kw <= iw; i++) h[i] = col[i];                                            \
        for (int64_t q = 1; q < kw; q++)                                                                 \
          for (int64_t i = 0; i + kw <= iw; i++) h[i] = col[i + q] > h[i] ? col[i + q] : h[i];           \
        for (int64_t ox = 0; ox < ow; ox++) {                                                            \
          const int64_t sx = ox * sw - pw;                                                               \
          if (sx >= 0 && sx + kw <= iw) { /* the whole window inside the row */                          \
            yr[ox] = h[sx];                                                                              \
            continue;                                                                                    \
          }                                                                                              \
          const int64_t xlo = sx < 0 ? -sx : 0, xhi = iw - sx < kw ? iw - sx : kw;                       \
          T acc = 0;                                                                                     \
          if (xlo < xhi) {                                                                               \
            acc = col[sx + xlo];                                                                         \
            for (int64_t q = xlo + 1; q < xhi; q++) acc = col[sx + q] > acc ? col[sx + q] : acc;         \
          }                                                                                              \
          yr[ox] = acc;                                                                                  \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
  }
MAXPOOL2D_INT_TASK(maxpool2d_u8, uint8_t)
MAXPOOL2D_INT_TASK(maxpool2d_s8, int8_t)

static ql_status pool_run(ql_op_ctx *c, pool_kind kind) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input X is required");
  if (!pool_type_ok(kind, x->dtype))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "input type %s is not supported", ql_dtype_name(x->dtype));
  pool_geom g;
  ql_status st = pool_geometry(c, x, &g);
  if (st) return st;
  int n = g.nsp;
  int count_include_pad = ql_attr_int(c->node, "count_include_pad", 0) != 0;
  int storage_order = (int)ql_attr_int(c->node, "storage_order", 0);
  if (storage_order != 0 && storage_order != 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "storage_order must be 0 or 1, got %d", storage_order);
  double p = 2;
  if (kind == POOL_LP) {
    const ql_attr *pa = ql_node_attr(c->node, "p");
    if (pa) p = pa->type == QL_ATTR_FLOAT ? pa->f : (double)pa->i;
    if (!(p > 0) || !isfinite(p)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "p must be positive, got %g", p);
  }
  int64_t ydims[QL_MAX_RANK];
  ydims[0] = x->dims[0];
  ydims[1] = x->dims[1];
  for (int i = 0; i < n; i++) ydims[i + 2] = g.out[i];
  if (ql_dims_numel(x->rank, ydims) < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output shape overflows");
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, ydims);
  if (!y) return c->err->code;
  ql_tensor *yi = NULL;
  if (kind == POOL_MAX && c->n_out > 1 && c->node->n_outputs > 1 && c->node->outputs[1][0]) {
    if (!(yi = ql_op_output(c, 1, QL_INT64, x->rank, ydims))) return c->err->code;
  }
  if (y->numel == 0) return QL_OK;
  if (c->state && kind == POOL_MAX && !yi && n == 2 && g.d[0] == 1 && g.d[1] == 1 &&
      (x->dtype == QL_FLOAT || x->dtype == QL_UINT8 || x->dtype == QL_INT8)) {
    maxpool2d t = {&g, x->data, y->data, c, 0};
    ql_threadpool_parallel_for_2d(c->pool,
                                  x->dtype == QL_FLOAT ? maxpool2d_f32 : x->dtype == QL_UINT8 ? maxpool2d_u8 : maxpool2d_s8,
                                  &t, (size_t)(x->dims[0] * x->dims[1]), 1, 1, 1);
    return t.failed ? ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory") : QL_OK;
  }
  double *xv = to_f64(c, x);
  if (!xv) return c->err->code;

  int64_t planes = x->dims[0] * x->dims[1], in_plane = 1, out_plane = 1;
  int64_t cm_stride[SP_MAX]; /* column-major strides for storage_order 1 */
  for (int i = 0; i < n; i++) {
    cm_stride[i] = in_plane;
    in_plane *= g.in[i];
    out_plane *= g.out[i];
  }
  /* Only the taps that land inside the input are visited, in row-major
   * order: t in [lo, hi] per axis. The cost stays bounded by the input even
   * for absurd kernels or pads. */
  int64_t opos[SP_MAX], kpos[SP_MAX], start[SP_MAX], lo[SP_MAX], hi[SP_MAX];
  for (int64_t pl = 0; pl < planes; pl++) {
    const double *xp = xv + pl * in_plane;
    for (int i = 0; i < n; i++) opos[i] = 0;
    for (int64_t o = 0; o < out_plane; o++) {
      /* one window */
      int64_t inpad = 1; /* taps inside the (explicitly) padded input */
      int empty = 0;
      for (int i = 0; i < n; i++) {
        start[i] = opos[i] * g.s[i] - g.pb[i];
        lo[i] = start[i] >= 0 ? 0 : ceil_div(-start[i], g.d[i]);
        hi[i] = floor_div(g.in[i] - 1 - start[i], g.d[i]);
        if (hi[i] > g.k[i] - 1) hi[i] = g.k[i] - 1;
        if (hi[i] < lo[i]) empty = 1;
        kpos[i] = lo[i];
        int64_t phi = floor_div(g.in[i] + g.pe[i] - 1 - start[i], g.d[i]); /* start >= -pb always */
        inpad *= phi < 0 ? 0 : (phi > g.k[i] - 1 ? g.k[i] - 1 : phi) + 1;
      }
      double acc = 0;
      int64_t cnt = 0, best = -1;
      while (!empty) {
        int64_t idx = 0;
        for (int i = 0; i < n; i++) idx = idx * g.in[i] + start[i] + kpos[i] * g.d[i];
        double v = xp[idx];
        if (kind == POOL_MAX) {
          if (best < 0 || v > acc) {
            acc = v;
            best = idx;
          }
        } else if (kind == POOL_AVG) {
          acc += v;
        } else {
          acc += pow(fabs(v), p);
        }
        cnt++;
        int i = n - 1;
        for (; i >= 0; i--) {
          if (++kpos[i] <= hi[i]) break;
          kpos[i] = lo[i];
        }
        if (i < 0) break;
      }
      int64_t oi = pl * out_plane + o;
      if (kind == POOL_AVG) acc /= (double)(count_include_pad ? inpad : cnt);
      else if (kind == POOL_LP) acc = pow(acc, 1.0 / p);
      store(y, oi, acc);
      if (yi) {
        int64_t idx = best;
        if (best >= 0 && storage_order == 1) {
          /* best is row-major inside the plane: re-express it column-major */
          int64_t r = best;
          idx = 0;
          for (int i = n - 1; i >= 0; i--) {
            idx += (r % g.in[i]) * cm_stride[i];
            r /= g.in[i];
          }
        }
        ((int64_t *)yi->data)[oi] = best < 0 ? -1 : pl * in_plane + idx;
      }
      for (int i = n - 1; i >= 0; i--) {
        if (++opos[i] < g.out[i]) break;
        opos[i] = 0;
      }
    }
  }
  return QL_OK;
}

static ql_status max_pool(ql_op_ctx *c) { return pool_run(c, POOL_MAX); }

static ql_status average_pool(ql_op_ctx *c) { return pool_run(c, POOL_AVG); }
static ql_status lp_pool(ql_op_ctx *c) { return pool_run(c, POOL_LP); }

/* Global pools reduce each (n, c) plane to one value. */
static ql_status global_pool(ql_op_ctx *c, pool_kind kind) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input X is required");
  if (!pool_type_ok(kind, x->dtype))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "input type %s is not supported", ql_dtype_name(x->dtype));
  if (x->rank < 2) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input has rank %d, expected at least 2", x->rank);
  double p = 2;
  if (kind == POOL_LP) {
    const ql_attr *pa = ql_node_attr(c->node, "p");
    if (pa) p = pa->type == QL_ATTR_FLOAT ? pa->f : (double)pa->i;
    if (!(p > 0) || !isfinite(p)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "p must be positive, got %g", p);
  }
  int64_t ydims[QL_MAX_RANK];
  int64_t plane = 1;
  for (int i = 0; i < x->rank; i++) {
    ydims[i] = i < 2 ? x->dims[i] : 1;
    if (i >= 2) plane *= x->dims[i];
  }
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, ydims);
  if (!y) return c->err->code;
  int64_t planes = x->dims[0] * x->dims[1];
  for (int64_t pl = 0; pl < planes; pl++) {
    double acc = 0;
    for (int64_t i = 0; i < plane; i++) {
      double v = x->dtype == QL_FLOAT ? ((const float *)x->data)[pl * plane + i]
                                      : ql_load_f64(x->dtype, x->data, pl * plane + i);
      if (kind == POOL_MAX) {
        if (i == 0 || v > acc) acc = v;
      } else if (kind == POOL_AVG) {
        acc += v;
      } else {
        acc += pow(fabs(v), p);
      }
    }
    if (kind == POOL_AVG) acc /= (double)plane;
    else if (kind == POOL_LP) acc = pow(acc, 1.0 / p);
    store(y, pl, plane ? acc : (kind == POOL_AVG ? NAN : 0));
  }
  return QL_OK;
}

static ql_status global_max_pool(ql_op_ctx *c) { return global_pool(c, POOL_MAX); }
static ql_status global_average_pool(ql_op_ctx *c) { return global_pool(c, POOL_AVG); }
static ql_status global_lp_pool(ql_op_ctx *c) { return global_pool(c, POOL_LP); }

/* Scatters X into a zero tensor at the flat indices I (MaxPool's second
 * output), which index the inferred shape (in - 1) * stride + kernel - pads
 * per spatial axis. A larger output_shape keeps that block at its start and
 * zero-fills the rest (as the reference and ONNX Runtime do). */
static ql_status max_unpool(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *ix = ql_op_in(c, 1), *os = ql_op_in(c, 2);
  if (!x || !ix) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs X and I are required");
  if (!pool_type_ok(POOL_AVG, x->dtype))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "input type %s is not supported", ql_dtype_name(x->dtype));
  if (x->rank < 3) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X has rank %d, expected >= 3", x->rank);
  if (ix->dtype != QL_INT64 || ix->rank != x->rank || memcmp(ix->dims, x->dims, sizeof(int64_t) * (size_t)x->rank))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "I must be int64 with the shape of X");
  int n = x->rank - 2;
  int64_t k[SP_MAX], st[SP_MAX], pads[2 * SP_MAX], ydims[QL_MAX_RANK];
  size_t kn = 0;
  if (!ql_attr_ints(c->node, "kernel_shape", &kn)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "kernel_shape is required");
  ql_status s;
  if ((s = read_list(c, "kernel_shape", n, 1, 1, k)) || (s = read_list(c, "strides", n, 1, 1, st)) ||
      (s = read_list(c, "pads", 2 * n, 0, 0, pads)))
    return s;
  int64_t inf[QL_MAX_RANK];
  inf[0] = x->dims[0];
  inf[1] = x->dims[1];
  for (int i = 0; i < n; i++) inf[i + 2] = (x->dims[i + 2] - 1) * st[i] + k[i] - pads[i] - pads[i + n];
  memcpy(ydims, inf, sizeof inf);
  if (os && os->numel > 0 && ql_tensor_to_i64s(os, ydims, QL_MAX_RANK) != x->rank)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output_shape must list %d dims", x->rank);
  for (int i = 0; i < x->rank; i++)
    if (inf[i] < 0 || ydims[i] < inf[i])
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output dim %d is %lld, the unpooled size is %lld", i,
                        (long long)ydims[i], (long long)inf[i]);
  int64_t inf_numel = ql_dims_numel(x->rank, inf);
  if (inf_numel < 0 || ql_dims_numel(x->rank, ydims) < 0)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output shape overflows");
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, ydims);
  if (!y) return c->err->code;
  size_t es = ql_dtype_size(x->dtype);
  for (int64_t i = 0; i < x->numel; i++) {
    int64_t at = ((const int64_t *)ix->data)[i];
    if (at < 0 || at >= inf_numel)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "index %lld is outside the unpooled tensor (%lld elements)",
                        (long long)at, (long long)inf_numel);
    /* the same coordinates in the (possibly larger) output */
    int64_t r = at, o = 0, stride = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
      o += (r % inf[d]) * stride;
      r /= inf[d];
      stride *= ydims[d];
    }
    memcpy((char *)y->data + (size_t)o * es, (const char *)x->data + (size_t)i * es, es);
  }
  return QL_OK;
}

const ql_op_def ql_ops_pool[] = {
    /* reference sessions (no state) take the window walk, which the 2-D fast paths are tested against */
    {"", "MaxPool", 1, 22, max_pool, ql_op_isa_prepare, ql_op_isa_release},
    {"", "AveragePool", 1, 22, average_pool},
    {"", "LpPool", 1, 22, lp_pool},
    {"", "GlobalMaxPool", 1, 22, global_max_pool},
    {"", "GlobalAveragePool", 1, 22, global_average_pool},
    {"", "GlobalLpPool", 1, 22, global_lp_pool},
    {"", "MaxUnpool", 9, 22, max_unpool},
    {0},
};

/* Reductions: Reduce* over a set of axes, ArgMax/ArgMin along one axis,
 * and Softmax / LogSoftmax / Hardmax.
 *
 * Float inputs accumulate in double; integer inputs accumulate in 64 bits
 * with wrap-around and the result is wrapped to the element type, as the
 * reference (numpy with dtype=input dtype) does. */
#include "op.h"
#include <math.h>

typedef enum { R_MIN, R_MAX, R_MEAN, R_SUM, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ } red_op;

/* Reads the axes (attribute before `input_from`, input 1 from then on) and
 * marks them in red[]. Returns 1 in *noop when nothing is to be reduced. */
static ql_status read_axes(ql_op_ctx *c, int rank, int input_from, int *red) {
  int64_t axes[QL_MAX_RANK];
  int n = 0;
  int have = 0;
  for (int i = 0; i < rank; i++) red[i] = 0;
  if (c->version < input_from) {
    size_t cnt = 0;
    const int64_t *a = ql_attr_ints(c->node, "axes", &cnt);
    if (a) {
      if (cnt > (size_t)rank) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%zu axes for rank %d", cnt, rank);
      for (size_t i = 0; i < cnt; i++) axes[i] = a[i];
      n = (int)cnt;
      have = n > 0;
    }
  } else {
    const ql_tensor *t = ql_op_in(c, 1);
    if (t) {
      if (t->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axes must be int64");
      if (t->rank > 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axes must be 1-D");
      if (t->numel > rank) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%lld axes for rank %d", (long long)t->numel, rank);
      n = ql_tensor_to_i64s(t, axes, QL_MAX_RANK);
      have = n > 0;
    }
  }
  if (!have) {
    int noop = c->version >= input_from && ql_attr_int(c->node, "noop_with_empty_axes", 0);
    /* empty axes: reduce everything, or (noop_with_empty_axes) nothing */
    for (int i = 0; i < rank; i++) red[i] = !noop;
    return QL_OK;
  }
  for (int i = 0; i < n; i++) {
    int ax = ql_norm_axis(axes[i], rank);
    if (ax < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)axes[i], rank);
    if (red[ax]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is repeated", (long long)axes[i]);
    red[ax] = 1;
  }
  return QL_OK;
}

/* Calls body(in_index, out_index) for every input element, in input order. */
#define FOR_EACH_IN_OUT(x, ost, ...)                                                                    \
  do {                                                                                                   \
    int r_ = (x)->rank;                                                                                  \
    int64_t inner_ = r_ ? (x)->dims[r_ - 1] : 1, is_ = r_ ? (ost)[r_ - 1] : 0;                          \
    int64_t cnt_[QL_MAX_RANK] = {0}, off_ = 0;                                                           \
    for (int64_t base_ = 0; inner_ > 0 && base_ < (x)->numel; base_ += inner_) {                        \
      for (int64_t j_ = 0; j_ < inner_; j_++) {                                                          \
        int64_t ii = base_ + j_, oi = off_ + j_ * is_;                                                   \
        __VA_ARGS__;                                                                                     \
      }                                                                                                  \
      for (int d_ = r_ - 2; d_ >= 0; d_--) {                                                             \
        off_ += (ost)[d_];                                                                               \
        if (++cnt_[d_] < (x)->dims[d_]) break;                                                           \
        off_ -= (ost)[d_] * (x)->dims[d_];                                                               \
        cnt_[d_] = 0;                                                                                    \
      }                                                                                                  \
    }                                                                                                    \
  } while (0)

static ql_status run_reduce(ql_op_ctx *c, red_op op, int input_from) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  ql_dtype t = x->dtype;
  int fl = ql_dtype_is_float(t);
  if (!fl && !ql_dtype_is_int(t) && t != QL_BOOL)
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported", ql_dtype_name(t));
  if (t == QL_BOOL && op != R_MIN && op != R_MAX)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "bool input is only allowed for ReduceMin/ReduceMax");
  int red[QL_MAX_RANK];
  ql_status st = read_axes(c, x->rank, input_from, red);
  if (st) return st;
  int keep = ql_attr_int(c->node, "keepdims", 1) != 0;
  int64_t odims[QL_MAX_RANK], ost[QL_MAX_RANK], count = 1;
  int orank = 0;
  for (int i = 0; i < x->rank; i++) {
    if (red[i]) count *= x->dims[i];
    if (!red[i] || keep) odims[orank++] = red[i] ? 1 : x->dims[i];
  }
  ql_tensor *y = ql_op_output(c, 0, t, orank, odims);
  if (!y) return c->err->code;
  /* output strides per input dim, 0 along reduced dims */
  {
    int64_t s = 1;
    for (int i = x->rank - 1; i >= 0; i--) {
      ost[i] = red[i] ? 0 : s;
      if (!red[i]) s *= x->dims[i];
    }
  }
  int64_t on = y->numel;
  /* integer Mean/L2/LogSum*: computed in double, see the finalisers */
  int int_dom = !fl && op != R_L2 && op != R_LOGSUM && op != R_LOGSUMEXP;
  if (!int_dom) {
    double *acc = ql_op_scratch(c, sizeof(double) * (size_t)on);
    double *mx = NULL;
    if (!acc) return c->err->code;
    double init = op == R_MIN ? INFINITY : op == R_MAX ? -INFINITY : op == R_PROD ? 1 : 0;
    for (int64_t i = 0; i < on; i++) acc[i] = init;
    if (op == R_LOGSUMEXP) {
      /* shift by the largest finite value so exp cannot overflow */
      if (!(mx = ql_op_scratch(c, sizeof(double) * (size_t)on))) return c->err->code;
      for (int64_t i = 0; i < on; i++) mx[i] = -INFINITY;
      FOR_EACH_IN_OUT(x, ost, {
        double v = ql_load_f64(t, x->data, ii);
        if (isfinite(v) && v > mx[oi]) mx[oi] = v;
      });
      for (int64_t i = 0; i < on; i++)
        if (!isfinite(mx[i])) mx[i] = 0;
    }
    if (t == QL_FLOAT && (op == R_SUM || op == R_MEAN) && x->rank && red[x->rank - 1]) {
      /* the innermost dim is reduced: sum whole rows, four partial sums */
      const float *xp = x->data;
      int64_t w = x->dims[x->rank - 1];
      ql_tensor rows = *x;
      rows.dims[rows.rank - 1] = 1;
      rows.numel = w ? x->numel / w : 0;
      FOR_EACH_IN_OUT(&rows, ost, {
        const float *r = xp + ii * w;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t k = 0;
        for (; k + 4 <= w; k += 4) s0 += r[k], s1 += r[k + 1], s2 += r[k + 2], s3 += r[k + 3];
        for (; k < w; k++) s0 += r[k];
        acc[oi] += (s0 + s1) + (s2 + s3);
      });
    } else if (t == QL_FLOAT && (op == R_SUM || op == R_MEAN)) {
      const float *xp = x->data;
      FOR_EACH_IN_OUT(x, ost, acc[oi] += xp[ii]);
    } else {
      FOR_EACH_IN_OUT(x, ost, {
        double v = ql_load_f64(t, x->data, ii);
        double *a = &acc[oi];
        switch (op) {
        case R_MIN: if (v < *a || v != v) *a = v; break;
        case R_MAX: if (v > *a || v != v) *a = v; break;
        case R_SUM: case R_MEAN: case R_LOGSUM: *a += v; break;
        case R_PROD: *a *= v; break;
        case R_L1: *a += fabs(v); break;
        case R_L2: case R_SUMSQ: *a += v * v; break;
        case R_LOGSUMEXP: *a += exp(v - mx[oi]); break;
        }
      });
    }
    for (int64_t i = 0; i < on; i++) {
      double v = acc[i];
      switch (op) {
      case R_MEAN: v = v / (double)count; break;
      case R_L2: v = sqrt(v); break;
      case R_LOGSUM: v = log(v); break;
      case R_LOGSUMEXP: v = log(v) + mx[i]; break;
      default: break;
      }
      ql_store_f64(t, y->data, i, v);
    }
    return QL_OK;
  }
  /* integers: uint64 bit patterns; signed types compare as signed */
  int sgn = ql_dtype_is_signed(t);
  int64_t lo, hi;
  ql_dtype_int_range(t, &lo, &hi);
  uint64_t *acc = ql_op_scratch(c, sizeof(uint64_t) * (size_t)on);
  if (!acc) return c->err->code;
  uint64_t init = op == R_MIN ? (t == QL_UINT64 ? UINT64_MAX : (uint64_t)hi)
                  : op == R_MAX ? (uint64_t)lo
                  : op == R_PROD ? 1 : 0;
  for (int64_t i = 0; i < on; i++) acc[i] = init;
  FOR_EACH_IN_OUT(x, ost, {
    uint64_t v = (uint64_t)ql_load_i64(t, x->data, ii);
    uint64_t *a = &acc[oi];
    switch (op) {
    case R_MIN: if (sgn ? (int64_t)v < (int64_t)*a : v < *a) *a = v; break;
    case R_MAX: if (sgn ? (int64_t)v > (int64_t)*a : v > *a) *a = v; break;
    case R_SUM: case R_MEAN: *a += v; break;
    case R_PROD: *a *= v; break;
    case R_L1: *a += sgn && (int64_t)v < 0 ? 0 - v : v; break;
    case R_SUMSQ: *a += v * v; break;
    default: break;
    }
  });
  for (int64_t i = 0; i < on; i++) {
    ql_store_i64(t, y->data, i, (int64_t)acc[i]);
    if (op == R_MEAN) {
      /* numpy: the sum wraps in the element type, then truncating division */
      if (count == 0) {
        ql_store_i64(t, y->data, i, 0);
      } else if (t == QL_UINT64) {
        ((uint64_t *)y->data)[i] /= (uint64_t)count;
      } else {
        int64_t s = ql_load_i64(t, y->data, i);
        ql_store_i64(t, y->data, i, s / count);
      }
    }
  }
  return QL_OK;
}

static ql_status op_reduce_min(ql_op_ctx *c) { return run_reduce(c, R_MIN, 18); }
static ql_status op_reduce_max(ql_op_ctx *c) { return run_reduce(c, R_MAX, 18); }
static ql_status op_reduce_mean(ql_op_ctx *c) { return run_reduce(c, R_MEAN, 18); }
static ql_status op_reduce_sum(ql_op_ctx *c) { return run_reduce(c, R_SUM, 13); }
static ql_status op_reduce_prod(ql_op_ctx *c) { return run_reduce(c, R_PROD, 18); }
static ql_status op_reduce_l1(ql_op_ctx *c) { return run_reduce(c, R_L1, 18); }
static ql_status op_reduce_l2(ql_op_ctx *c) { return run_reduce(c, R_L2, 18); }
static ql_status op_reduce_log_sum(ql_op_ctx *c) { return run_reduce(c, R_LOGSUM, 18); }
static ql_status op_reduce_log_sum_exp(ql_op_ctx *c) { return run_reduce(c, R_LOGSUMEXP, 18); }
static ql_status op_reduce_sum_square(ql_op_ctx *c) { return run_reduce(c, R_SUMSQ, 18); }

/* ================================================================ ArgMax / ArgMin */

static ql_status run_arg(ql_op_ctx *c, int is_max) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  ql_dtype t = x->dtype;
  if (!ql_dtype_is_float(t) && !ql_dtype_is_int(t))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported", ql_dtype_name(t));
  int64_t axis_attr = ql_attr_int(c->node, "axis", 0);
  int r = x->rank ? x->rank : 1; /* a scalar behaves as a 1-element vector */
  int axis = ql_norm_axis(axis_attr, r);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)axis_attr, x->rank);
  int keep = ql_attr_int(c->node, "keepdims", 1) != 0;
  int last = c->version >= 12 && ql_attr_int(c->node, "select_last_index", 0) != 0;
  int64_t dims[QL_MAX_RANK] = {0}, odims[QL_MAX_RANK];
  for (int i = 0; i < r; i++) dims[i] = x->rank ? x->dims[i] : 1;
  if (dims[axis] == 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "ArgMax/ArgMin of an empty axis");
  int orank = 0;
  for (int i = 0; i < r; i++)
    if (i != axis || keep) odims[orank++] = i == axis ? 1 : dims[i];
  ql_tensor *y = ql_op_output(c, 0, QL_INT64, orank, odims);
  if (!y) return c->err->code;
  int64_t outer = 1, inner = 1, n = dims[axis];
  for (int i = 0; i < axis; i++) outer *= dims[i];
  for (int i = axis + 1; i < r; i++) inner *= dims[i];
  int64_t *out = y->data;
  int fl = ql_dtype_is_float(t), sgn = ql_dtype_is_signed(t) || t == QL_BOOL;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      int64_t base = o * n * inner + in, best = 0;
      if (fl) {
        /* NaN wins, as in numpy; the first (or last) one */
        double bv = ql_load_f64(t, x->data, base);
        for (int64_t k = 1; k < n; k++) {
          double v = ql_load_f64(t, x->data, base + k * inner);
          int better;
          if (bv != bv) better = last && v != v;
          else if (v != v) better = 1;
          else better = is_max ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv);
          if (better) {
            bv = v;
            best = k;
          }
        }
      } else {
        uint64_t bv = (uint64_t)ql_load_i64(t, x->data, base);
        for (int64_t k = 1; k < n; k++) {
          uint64_t v = (uint64_t)ql_load_i64(t, x->data, base + k * inner);
          int gt = sgn ? (int64_t)v > (int64_t)bv : v > bv, lt = sgn ? (int64_t)v < (int64_t)bv : v < bv;
          int better = is_max ? (gt || (last && v == bv)) : (lt || (last && v == bv));
          if (better) {
            bv = v;
            best = k;
          }
        }
      }
      out[o * inner + in] = best;
    }
  return QL_OK;
}

static ql_status op_argmax(ql_op_ctx *c) { return run_arg(c, 1); }
static ql_status op_argmin(ql_op_ctx *c) { return run_arg(c, 0); }

/* ================================================================ Softmax family */

typedef enum { SM_SOFTMAX, SM_LOGSOFTMAX, SM_HARDMAX } sm_op;

/* Before opset 13 the input is coerced to 2-D [prod(dims[:axis]),
 * prod(dims[axis:])] and each row is normalised; from 13 on the op works
 * along the single axis. */
static ql_status run_softmax(ql_op_ctx *c, sm_op op) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  ql_dtype t = x->dtype;
  if (!ql_dtype_is_float(t)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported", ql_dtype_name(t));
  int legacy = c->version < 13;
  int64_t a = ql_attr_int(c->node, "axis", legacy ? 1 : -1);
  int r = x->rank;
  int64_t outer = 1, n = 1, inner = 1;
  if (legacy) {
    /* axis may equal rank here: every row then has one element */
    if (a < -r || a > r) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)a, r);
    if (a < 0) a += r;
    for (int i = 0; i < r; i++) *(i < a ? &outer : &n) *= x->dims[i];
  } else {
    int ax = ql_norm_axis(a, r ? r : 1);
    if (ax < 0 || (r == 0 && a != 0 && a != -1))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)a, r);
    for (int i = 0; i < r; i++) *(i < ax ? &outer : i == ax ? &n : &inner) *= x->dims[i];
  }
  ql_tensor *y = ql_op_output(c, 0, t, r, x->dims);
  if (!y) return c->err->code;
  if (x->numel == 0) return QL_OK;
  if (t == QL_FLOAT && op != SM_HARDMAX) {
    /* float32: expf, sums in double */
    const float *xp = x->data;
    float *yp = y->data;
    for (int64_t o = 0; o < outer; o++)
      for (int64_t in = 0; in < inner; in++) {
        const float *xr = xp + o * n * inner + in;
        float *yr = yp + o * n * inner + in;
        float m = -INFINITY;
        for (int64_t k = 0; k < n; k++) m = xr[k * inner] > m ? xr[k * inner] : m;
        if (!isfinite(m)) m = m != m ? m : 0;
        double s = 0;
        for (int64_t k = 0; k < n; k++) {
          float e = expf(xr[k * inner] - m);
          if (op == SM_SOFTMAX) yr[k * inner] = e;
          s += e;
        }
        if (op == SM_SOFTMAX) {
          float inv = (float)(1 / s);
          for (int64_t k = 0; k < n; k++) yr[k * inner] *= inv;
        } else {
          float ls = (float)log(s);
          for (int64_t k = 0; k < n; k++) yr[k * inner] = xr[k * inner] - m - ls;
        }
      }
    return QL_OK;
  }
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      int64_t base = o * n * inner + in;
      double m = -INFINITY;
      int64_t arg = 0;
      for (int64_t k = 0; k < n; k++) {
        double v = ql_load_f64(t, x->data, base + k * inner);
        if (v > m) {
          m = v;
          arg = k;
        }
      }
      if (op == SM_HARDMAX) {
        for (int64_t k = 0; k < n; k++) ql_store_f64(t, y->data, base + k * inner, k == arg);
        continue;
      }
      if (!isfinite(m)) m = m != m ? m : 0;
      double s = 0;
      for (int64_t k = 0; k < n; k++) s += exp(ql_load_f64(t, x->data, base + k * inner) - m);
      double ls = log(s);
      for (int64_t k = 0; k < n; k++) {
        double d = ql_load_f64(t, x->data, base + k * inner) - m;
        ql_store_f64(t, y->data, base + k * inner, op == SM_SOFTMAX ? exp(d) / s : d - ls);
      }
    }
  return QL_OK;
}

static ql_status op_softmax(ql_op_ctx *c) { return run_softmax(c, SM_SOFTMAX); }
static ql_status op_log_softmax(ql_op_ctx *c) { return run_softmax(c, SM_LOGSOFTMAX); }
static ql_status op_hardmax(ql_op_ctx *c) { return run_softmax(c, SM_HARDMAX); }

const ql_op_def ql_ops_reduce[] = {
    {"", "ReduceMin", 1, 20, op_reduce_min},
    {"", "ReduceMax", 1, 20, op_reduce_max},
    {"", "ReduceMean", 1, 18, op_reduce_mean},
    {"", "ReduceSum", 1, 13, op_reduce_sum},
    {"", "ReduceProd", 1, 18, op_reduce_prod},
    {"", "ReduceL1", 1, 18, op_reduce_l1},
    {"", "ReduceL2", 1, 18, op_reduce_l2},
    {"", "ReduceLogSum", 1, 18, op_reduce_log_sum},
    {"", "ReduceLogSumExp", 1, 18, op_reduce_log_sum_exp},
    {"", "ReduceSumSquare", 1, 18, op_reduce_sum_square},
    {"", "ArgMax", 1, 13, op_argmax},
    {"", "ArgMin", 1, 13, op_argmin},
    {"", "Softmax", 1, 13, op_softmax},
    {"", "LogSoftmax", 1, 13, op_log_softmax},
    {"", "Hardmax", 1, 13, op_hardmax},
    {0},
};

/* QuantizeLinear, DequantizeLinear (schema versions 10, 13, 19, 21, 23, 24,
 * 25) and DynamicQuantizeLinear (11): the reference implementations.
 *
 *   Q:  y = saturate(RNE(x / y_scale) + y_zero_point)
 *   DQ: y = (x - x_zero_point) * x_scale
 *
 * Choices where the spec leaves room (all documented in the report too):
 *  - Q divides in the precision the spec names: the `precision` attribute if
 *    set, else the type of y_scale (so float16/bfloat16 scales divide in
 *    float16/bfloat16, x being rounded to that type first, as the reference
 *    does for `precision`). int32 scales divide in float64 (exact for both
 *    operands); float8e8m0 scales (powers of two) in float32.
 *  - Q of NaN gives the lowest value of the type, as the reference's
 *    rint -> int32 -> clip does; +-Inf and huge quotients saturate.
 *  - DQ multiplies in float32 and rounds once to the output type, as both the
 *    reference and ONNX Runtime do (for 8-bit inputs and float16 scales this
 *    is exactly the float16 product the spec describes).
 *  - float8 zero points: the formula is applied (the reference ignores a
 *    nonzero one in Q and rejects it in DQ); a zero one leaves -0 alone.
 */
#include "op.h"
#include "../runtime/threadpool.h"
#include "../kernels/dynq.h"
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------ type rules */
/* Quantized types (Q's y / y_zero_point, DQ's x / x_zero_point), by the
 * schema version that introduced them. */
static int quant_type_ok(int v, ql_dtype t, int dq) {
  switch (t) {
  case QL_UINT8: case QL_INT8: return 1;
  case QL_INT32: return dq; /* DQ only */
  case QL_FLOAT8E4M3FN: case QL_FLOAT8E4M3FNUZ: case QL_FLOAT8E5M2: case QL_FLOAT8E5M2FNUZ: return v >= 19;
  case QL_INT16: case QL_UINT16: case QL_INT4: case QL_UINT4: return v >= 21;
  case QL_FLOAT4E2M1: return v >= 23;
  case QL_UINT2: case QL_INT2: return v >= 25;
  default: return 0;
  }
}

static int is_hp_float(ql_dtype t) { return t == QL_FLOAT || t == QL_FLOAT16 || t == QL_BFLOAT16; }

/* ------------------------------------------------------------ granularity */
typedef struct {
  int64_t outer, d, inner; /* x viewed as [outer, d, inner] around the axis */
  int mode;                /* 0 per-tensor, 1 per-axis, 2 blocked */
  int64_t block, sd;       /* block size, scale dim along the axis */
} gran;

static int64_t prod(const int64_t *d, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= d[i]; /* bounded: x's numel is valid */
  return p;
}

/* Decides per-tensor / per-axis / blocked from the scale's shape (any
 * 1-element scale is per-tensor, as the reference and ONNX Runtime treat it)
 * and checks the zero point has the scale's shape. */
static ql_status granularity(ql_op_ctx *c, const ql_tensor *x, const ql_tensor *scale, const ql_tensor *zp,
                             const char *sname, gran *g) {
  int v = c->version;
  int64_t axis = v >= 13 ? ql_attr_int(c->node, "axis", 1) : 1;
  int64_t block = v >= 21 ? ql_attr_int(c->node, "block_size", 0) : 0;
  memset(g, 0, sizeof *g);
  if (block < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "block_size must be >= 0, got %lld", (long long)block);
  if (scale->numel == 1) {
    g->mode = 0;
    g->outer = 1;
    g->d = 1;
    g->inner = x->numel;
  } else if (v < 13) {
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s must be a scalar at opset 10, it has %lld elements", sname,
                      (long long)scale->numel);
  } else {
    int ax = ql_norm_axis(axis, x->rank);
    if (ax < 0)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL,
                        "axis %lld is out of range for an input of rank %d (per-axis %s with %lld elements)",
                        (long long)axis, x->rank, sname, (long long)scale->numel);
    g->outer = prod(x->dims, 0, ax);
    g->d = x->dims[ax];
    g->inner = prod(x->dims, ax + 1, x->rank);
    if (block == 0) {
      if (scale->rank != 1 || scale->dims[0] != x->dims[ax])
        return ql_op_fail(c, QL_ERR_INVALID_MODEL,
                          "per-axis %s must be 1-D with %lld elements (input dim %d), it has rank %d and %lld "
                          "elements%s",
                          sname, (long long)x->dims[ax], ax, scale->rank, (long long)scale->numel,
                          v >= 21 && scale->rank > 1 ? " (blocked quantization needs block_size > 0)" : "");
      g->mode = 1;
    } else {
      if (scale->rank != x->rank)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "blocked %s must have the input's rank %d, it has rank %d", sname,
                          x->rank, scale->rank);
      for (int i = 0; i < x->rank; i++)
        if (i != ax && scale->dims[i] != x->dims[i])
          return ql_op_fail(c, QL_ERR_INVALID_MODEL,
                            "blocked %s dim %d is %lld, expected %lld (only the axis dim %d may differ)", sname, i,
                            (long long)scale->dims[i], (long long)x->dims[i], ax);
      int64_t D = x->dims[ax], S = scale->dims[ax];
      /* valid B: ceil(D/S) <= B <= ceil(D/(S-1)) - 1, i.e. S == ceil(D/B) */
      if (S != D / block + (D % block != 0)) {
        if (S <= 0)
          return ql_op_fail(c, QL_ERR_INVALID_MODEL, "blocked %s has %lld blocks along axis %d of size %lld", sname,
                            (long long)S, ax, (long long)D);
        if (S == 1)
          return ql_op_fail(c, QL_ERR_INVALID_MODEL,
                            "block_size %lld is invalid for axis %d of size %lld with 1 block: it must be >= %lld",
                            (long long)block, ax, (long long)D, (long long)D);
        return ql_op_fail(c, QL_ERR_INVALID_MODEL,
                          "block_size %lld is invalid for axis %d of size %lld with %lld blocks: the accepted range "
                          "is [%lld, %lld]",
                          (long long)block, ax, (long long)D, (long long)S, (long long)((D + S - 1) / S),
                          (long long)((D + S - 2) / (S - 1) - 1));
      }
      g->mode = 2;
      g->block = block;
      g->sd = S;
    }
  }
  if (zp) {
    int same = zp->numel == 1 && scale->numel == 1;
    if (!same && zp->rank == scale->rank) {
      same = 1;
      for (int i = 0; i < zp->rank; i++) same &= zp->dims[i] == scale->dims[i];
    }
    if (!same)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "zero point has %lld elements (rank %d), expected the shape of %s "
                        "(%lld elements, rank %d)",
                        (long long)zp->numel, zp->rank, sname, (long long)scale->numel, scale->rank);
  }
  return QL_OK;
}

/* scale index of element (o, j, k) */
static inline int64_t scale_index(const gran *g, int64_t o, int64_t j, int64_t k) {
  switch (g->mode) {
  case 1: return j;
  case 2: return (o * g->sd + j / g->block) * g->inner + k;
  default: return 0;
  }
}

/* ------------------------------------------------------------ precision */
/* Rounds v (exact or in float64) to the compute type. float64 -> float16
 * goes through ql_store_f64, which rounds once. */
static inline double round_to(ql_dtype ct, double v) {
  switch (ct) {
  case QL_FLOAT: return (float)v;
  case QL_FLOAT16: {
    uint16_t h;
    ql_store_f64(QL_FLOAT16, &h, 0, v);
    return ql_f16_to_f32(h);
  }
  case QL_BFLOAT16: return ql_bf16_to_f32(ql_f32_to_bf16((float)v));
  default: return v;
  }
}

static inline double load_num(ql_dtype t, const void *p, int64_t i) {
  switch (t) {
  case QL_FLOAT: return ((const float *)p)[i];
  case QL_INT32: return ((const int32_t *)p)[i];
  case QL_UINT8: return ((const uint8_t *)p)[i];
  case QL_INT8: return ((const int8_t *)p)[i];
  default: return ql_load_f64(t, p, i);
  }
}

/* ---- the common 8-bit cases, one scale per row, over the pool ----
 * QuantizeLinear float32 -> (u)int8 and DequantizeLinear (u)int8 -> float32
 * per tensor or per axis: a task is a part of one row. */
typedef struct affine_job {
  const gran *g;
  const void *x;
  void *y;
  const double *sv, *zv; /* Q: scale and zero point per scale index */
  const float *svf;      /* DQ: scale per scale index */
  const void *zp;        /* DQ: zero points (x's type) or NULL */
  int64_t lo, hi;        /* Q: output range */
  int u8;                /* the 8-bit side is uint8 (else int8) */
  int isa;               /* Q to uint8: the dynq kernel's ISA; QL_ISA_AUTO: the loop below */
} affine_job;

/* x / s clamped to [lo, hi] - zp first (the bounds are integers, so
 * clamping and RNE commute; NaN gives lo), then RNE by the 1.5 * 2^23
 * trick, exact for |v| <= 2^22 (nearbyintf is a library call; this
 * vectorizes). The same float division and RNE as the general path. */
static inline int32_t affine_q(float x, float s, float vlo, float vhi) {
  float v = x / s;
  v = v >= vlo ? v : vlo;
  v = v <= vhi ? v : vhi;
  return (int32_t)((v + 12582912.0f) - 12582912.0f);
}

/* One row of one scale. */
static void q_task(void *ctx, size_t thread, size_t r, size_t k0, size_t nr, size_t nk) {
  (void)thread;
  (void)nr; /* tiles are one row high */
  const affine_job *jb = ctx;
  const int64_t o = (int64_t)r / jb->g->d, j = (int64_t)r % jb->g->d, si = scale_index(jb->g, o, j, 0);
  const int64_t base = (int64_t)r * jb->g->inner + (int64_t)k0;
  const float *xf = (const float *)jb->x + base;
  const float s = (float)jb->sv[si], z = (float)jb->zv[si];
  const float vlo = (float)jb->lo - z, vhi = (float)jb->hi - z;
  if (jb->u8 && jb->isa != QL_ISA_AUTO) {
    /* DynamicQuantizeLinear's kernels compute exactly this (dynq.h) */
    ql_dynq_quantize((ql_isa)jb->isa, xf, (int64_t)nk, s, z, (uint8_t *)jb->y + base);
  } else if (jb->u8) {
    uint8_t *yp = (uint8_t *)jb->y + base;
    for (size_t k = 0; k < nk; k++) yp[k] = (uint8_t)(affine_q(xf[k], s, vlo, vhi) + (int32_t)z);
  } else {
    int8_t *yp = (int8_t *)jb->y + base;
    for (size_t k = 0; k < nk; k++) yp[k] = (int8_t)(affine_q(xf[k], s, vlo, vhi) + (int32_t)z);
  }
}

/* (float)(q - zp) * scale: the difference is exact in int32 and in float. */
static void dq_task(void *ctx, size_t thread, size_t r, size_t k0, size_t nr, size_t nk) {
  (void)thread;
  (void)nr;
  const affine_job *jb = ctx;
  const int64_t o = (int64_t)r / jb->g->d, j = (int64_t)r % jb->g->d, si = scale_index(jb->g, o, j, 0);
  const int64_t base = (int64_t)r * jb->g->inner + (int64_t)k0;
  const float s = jb->svf[si];
  float *yf = (float *)jb->y + base;
  if (jb->u8) {
    const uint8_t *xq = (const uint8_t *)jb->x + base;
    const int32_t z = jb->zp ? ((const uint8_t *)jb->zp)[si] : 0;
    for (size_t k = 0; k < nk; k++) yf[k] = (float)((int32_t)xq[k] - z) * s;
  } else {
    const int8_t *xq = (const int8_t *)jb->x + base;
    const int32_t z = jb->zp ? ((const int8_t *)jb->zp)[si] : 0;
    for (size_t k = 0; k < nk; k++) yf[k] = (float)((int32_t)xq[k] - z) * s;
  }
}

static void affine_rows(ql_op_ctx *c, affine_job *jb, ql_task_2d_fn fn) {
  const size_t rows = (size_t)(jb->g->outer * jb->g->d), inner = (size_t)jb->g->inner;
  /* parts of about 64 KiB, fewer when the rows are short */
  size_t part = inner < ((size_t)1 << 16) ? inner : (size_t)1 << 16;
  ql_threadpool_parallel_for_2d(c->pool, fn, jb, rows, inner, 1, part ? part : 1);
}

/* ------------------------------------------------------------ QuantizeLinear */
static ql_status quantize_linear(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *scale = ql_op_in(c, 1), *zp = ql_op_in(c, 2);
  int v = c->version;
  if (!x || !scale) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs x and y_scale are required");

  /* x: float (or float16/bfloat16 from 19) or int32 */
  if (!(x->dtype == QL_FLOAT || x->dtype == QL_INT32 || (v >= 19 && (x->dtype == QL_FLOAT16 || x->dtype == QL_BFLOAT16))))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x has type %s, which QuantizeLinear-%d does not accept",
                      ql_dtype_name(x->dtype), v);
  /* y_scale: float until 19; the type of x in 19 and 21; from 23 its own T2 */
  int scale_ok;
  if (v < 19) scale_ok = scale->dtype == QL_FLOAT;
  else if (v < 23) scale_ok = scale->dtype == x->dtype;
  else scale_ok = is_hp_float(scale->dtype) || scale->dtype == QL_INT32 || (v >= 24 && scale->dtype == QL_FLOAT8E8M0);
  if (!scale_ok)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "y_scale has type %s, which QuantizeLinear-%d does not accept%s",
                      ql_dtype_name(scale->dtype), v, v >= 19 && v < 23 ? " (it must match x's type)" : "");

  /* output type: y_zero_point's, else output_dtype (21+), else uint8 */
  int64_t odt = v >= 21 ? ql_attr_int(c->node, "output_dtype", 0) : 0;
  ql_dtype yt = QL_UINT8;
  if (zp) {
    if (odt && odt != (int64_t)zp->dtype)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output_dtype %lld (%s) does not match y_zero_point type %s",
                        (long long)odt, odt > 0 && odt < QL_DTYPE_COUNT ? ql_dtype_name((ql_dtype)odt) : "invalid",
                        ql_dtype_name(zp->dtype));
    yt = zp->dtype;
  } else if (odt) {
    if (odt < 0 || odt >= QL_DTYPE_COUNT)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output_dtype %lld is not a data type", (long long)odt);
    yt = (ql_dtype)odt;
  }
  if (!quant_type_ok(v, yt, 0))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output type %s is not a QuantizeLinear-%d output type",
                      ql_dtype_name(yt), v);

  int saturate = v >= 19 ? ql_attr_int(c->node, "saturate", 1) != 0 : 1;
  int64_t prec = v >= 23 ? ql_attr_int(c->node, "precision", 0) : 0;
  ql_dtype ct;
  if (prec) {
    if (prec != QL_FLOAT && prec != QL_FLOAT16 && prec != QL_BFLOAT16 && prec != QL_DOUBLE)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL,
                        "precision %lld is not a floating-point type (float, float16, bfloat16 or double)",
                        (long long)prec);
    ct = (ql_dtype)prec;
  } else if (is_hp_float(scale->dtype)) {
    ct = scale->dtype;
  } else if (scale->dtype == QL_INT32) {
    ct = QL_DOUBLE;
  } else {
    ct = QL_FLOAT;
  }

  gran g;
  ql_status st = granularity(c, x, scale, zp, "y_scale", &g);
  if (st) return st;

  ql_tensor *y = ql_op_output_nofill(c, 0, yt, x->rank, x->dims); /* every path writes every element */
  if (!y) return c->err->code;
  if (!x->numel) return QL_OK;

  double *sv = ql_op_scratch(c, 2 * (size_t)scale->numel * sizeof *sv);
  if (!sv) return c->err->code;
  double *zv = sv + scale->numel;
  for (int64_t i = 0; i < scale->numel; i++) {
    sv[i] = round_to(ct, ql_load_f64(scale->dtype, scale->data, i));
    zv[i] = zp ? ql_load_f64(zp->dtype, zp->data, i) : 0;
  }

  int is_int = ql_dtype_is_int(yt);
  int64_t lo = 0, hi = 0;
  if (is_int) ql_dtype_int_range(yt, &lo, &hi);
  /* float32 x and scale into (u)int8, the common case, stays in float32:
   * the same float division and RNE as the general path below. */
  int fast = x->dtype == QL_FLOAT && ct == QL_FLOAT && (yt == QL_UINT8 || yt == QL_INT8);
  int64_t sstep = g.mode == 2 ? 1 : 0;
  if (fast && !sstep) { /* one scale per row: rows and parts of rows over the pool */
    affine_job jb = {.g = &g, .x = x->data, .y = y->data, .sv = sv, .zv = zv, .lo = lo, .hi = hi, .u8 = yt == QL_UINT8,
                     .isa = c->state ? *(const int *)c->state : QL_ISA_AUTO};
    affine_rows(c, &jb, q_task);
    return QL_OK;
  }
  for (int64_t o = 0; o < g.outer; o++) {
    for (int64_t j = 0; j < g.d; j++) {
      int64_t row = (o * g.d + j) * g.inner, sbase = scale_index(&g, o, j, 0);
      if (fast) {
        const float *xf = (const float *)x->data + row;
        float flo = (float)lo, fhi = (float)hi;
        for (int64_t k = 0; k < g.inner; k++) {
          int64_t si = sbase + sstep * k;
          /* |r| >= 2^24 makes r + zp inexact, but then it saturates anyway */
          float r = nearbyintf(xf[k] / (float)sv[si]) + (float)zv[si];
          int32_t out = r >= flo ? (r <= fhi ? (int32_t)r : (int32_t)hi) : (int32_t)lo; /* NaN: lo */
          if (yt == QL_UINT8) ((uint8_t *)y->data)[row + k] = (uint8_t)out;
          else ((int8_t *)y->data)[row + k] = (int8_t)out;
        }
        continue;
      }
      for (int64_t k = 0; k < g.inner; k++) {
        int64_t i = row + k;
        int64_t si = sbase + sstep * k;
        double q = round_to(ct, round_to(ct, load_num(x->dtype, x->data, i)) / sv[si]);
        if (is_int) {
          double r = nearbyint(q); /* default FE mode: ties to even */
          int64_t out;
          if (isnan(r)) {
            out = lo;
          } else {
            r += zv[si];
            out = r <= (double)lo ? lo : r >= (double)hi ? hi : (int64_t)r;
          }
          ql_store_i64(yt, y->data, i, out);
        } else if (yt == QL_FLOAT4E2M1) {
          /* the reference adds the zero point in float32, then casts */
          float f = (float)q;
          if (zp) f = f + (float)zv[si];
          ((uint8_t *)y->data)[i] = ql_f32_to_f8(yt, f, 1);
        } else {
          if (zv[si] != 0) q += zv[si];
          ((uint8_t *)y->data)[i] = ql_f32_to_f8(yt, (float)q, saturate);
        }
      }
    }
  }
  return QL_OK;
}

/* ------------------------------------------------------------ DequantizeLinear */
static ql_status dequantize_linear(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *scale = ql_op_in(c, 1), *zp = ql_op_in(c, 2);
  int v = c->version;
  if (!x || !scale) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs x and x_scale are required");
  if (!quant_type_ok(v, x->dtype, 1))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x has type %s, which DequantizeLinear-%d does not accept",
                      ql_dtype_name(x->dtype), v);
  if (zp && zp->dtype != x->dtype)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x_zero_point has type %s but x has type %s; they must match",
                      ql_dtype_name(zp->dtype), ql_dtype_name(x->dtype));
  int scale_ok = v < 19 ? scale->dtype == QL_FLOAT
                        : is_hp_float(scale->dtype) || (v >= 24 && scale->dtype == QL_FLOAT8E8M0);
  if (!scale_ok)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x_scale has type %s, which DequantizeLinear-%d does not accept",
                      ql_dtype_name(scale->dtype), v);
  /* output: output_dtype (23+), else the scale's type */
  int64_t odt = v >= 23 ? ql_attr_int(c->node, "output_dtype", 0) : 0;
  ql_dtype yt = odt ? (ql_dtype)odt : scale->dtype;
  if (odt && (odt < 0 || odt >= QL_DTYPE_COUNT || !is_hp_float((ql_dtype)odt)))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output_dtype %lld must be float, float16 or bfloat16", (long long)odt);
  if (!is_hp_float(yt))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL,
                      "x_scale of type %s cannot be the output type: set output_dtype to float, float16 or bfloat16",
                      ql_dtype_name(scale->dtype));

  gran g;
  ql_status st = granularity(c, x, scale, zp, "x_scale", &g);
  if (st) return st;

  ql_tensor *y = ql_op_output_nofill(c, 0, yt, x->rank, x->dims); /* every path writes every element */
  if (!y) return c->err->code;
  if (!x->numel) return QL_OK;

  float *sv = ql_op_scratch(c, (size_t)scale->numel * sizeof *sv);
  if (!sv) return c->err->code;
  for (int64_t i = 0; i < scale->numel; i++) sv[i] = (float)ql_load_f64(scale->dtype, scale->data, i);

  int int_x = ql_dtype_is_int(x->dtype);
  /* (u)int8 into float32, the common case: same arithmetic, no dispatch */
  int fast = yt == QL_FLOAT && (x->dtype == QL_UINT8 || x->dtype == QL_INT8);
  int64_t sstep = g.mode == 2 ? 1 : 0;
  if (fast && !sstep) { /* one scale per row: rows and parts of rows over the pool */
    affine_job jb = {.g = &g, .x = x->data, .y = y->data, .svf = sv, .zp = zp ? zp->data : NULL,
                     .u8 = x->dtype == QL_UINT8};
    affine_rows(c, &jb, dq_task);
    return QL_OK;
  }
  for (int64_t o = 0; o < g.outer; o++) {
    for (int64_t j = 0; j < g.d; j++) {
      int64_t row = (o * g.d + j) * g.inner, sbase = scale_index(&g, o, j, 0);
      if (fast) { /* blocked */
        float *yf = (float *)y->data + row;
        for (int64_t k = 0; k < g.inner; k++) {
          int64_t si = sbase + sstep * k;
          int32_t q = x->dtype == QL_UINT8 ? ((const uint8_t *)x->data)[row + k] : ((const int8_t *)x->data)[row + k];
          if (zp) q -= x->dtype == QL_UINT8 ? ((const uint8_t *)zp->data)[si] : ((const int8_t *)zp->data)[si];
          yf[k] = (float)q * sv[si];
        }
        continue;
      }
      for (int64_t k = 0; k < g.inner; k++) {
        int64_t i = row + k;
        int64_t si = sbase + sstep * k;
        float d;
        if (int_x) {
          /* exact difference, rounded once to float32 (only int32 can round) */
          int64_t q = ql_load_i64(x->dtype, x->data, i);
          if (zp) q -= ql_load_i64(zp->dtype, zp->data, si);
          d = (float)q;
        } else {
          d = ql_f8_to_f32(x->dtype, ((const uint8_t *)x->data)[i]);
          if (zp) d = d - ql_f8_to_f32(zp->dtype, ((const uint8_t *)zp->data)[si]);
        }
        float r = d * sv[si];
        switch (yt) {
        case QL_FLOAT: ((float *)y->data)[i] = r; break;
        case QL_FLOAT16: ((uint16_t *)y->data)[i] = ql_f32_to_f16(r); break;
        default: ((uint16_t *)y->data)[i] = ql_f32_to_bf16(r); break;
        }
      }
    }
  }
  return QL_OK;
}

/* ------------------------------------------------------------ DynamicQuantizeLinear */
/*
 * uint8 only: the range [min(x), max(x)] is widened to include 0, then
 *   y_scale = (max - min) / 255, zp = RNE(clip(-min / y_scale, 0, 255)),
 *   y = clip(RNE(x / y_scale) + zp, 0, 255), all in float32.
 * An all-zero (or empty) input makes max == min: like ONNX Runtime we use
 * y_scale = 1.0 (zp 0, y 0). The function body would divide 0 by 0 and the
 * Python reference gives 1/255; the spec does not say. NaNs are left out of
 * the range and quantize to 0.
 */

static ql_status dynamic_quantize_linear(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input x is required");
  if (x->dtype != QL_FLOAT)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x has type %s, DynamicQuantizeLinear takes float",
                      ql_dtype_name(x->dtype));
  const float *xd = x->data;
  /* Lane-wise min/max so the compiler can use vector min/max: `v < m ? v : m`
   * skips NaN exactly like the scalar test, and the min and max of a set do
   * not depend on the order (m starts at 0 and only moves to values strictly
   * below/above it, so the sign of a zero cannot differ either). */
  enum { LANES = 16 };
  float mnl[LANES] = {0}, mxl[LANES] = {0};
  int64_t n = x->numel, nv = n - n % LANES;
  for (int64_t i = 0; i < nv; i += LANES)
    for (int l = 0; l < LANES; l++) {
      float v = xd[i + l];
      mnl[l] = v < mnl[l] ? v : mnl[l];
      mxl[l] = v > mxl[l] ? v : mxl[l];
    }
  float mn = 0.0f, mx = 0.0f;
  for (int l = 0; l < LANES; l++) {
    if (mnl[l] < mn) mn = mnl[l];
    if (mxl[l] > mx) mx = mxl[l];
  }
  for (int64_t i = nv; i < n; i++) {
    if (xd[i] < mn) mn = xd[i];
    if (xd[i] > mx) mx = xd[i];
  }
  float scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
  float izp = 0.0f - mn / scale;
  izp = izp < 0.0f ? 0.0f : izp > 255.0f ? 255.0f : izp;
  if (izp != izp) izp = 0.0f; /* mn = -Inf */
  float zp = nearbyintf(izp);

  ql_tensor *y = ql_op_output(c, 0, QL_UINT8, x->rank, x->dims);
  if (!y) return c->err->code;
  ql_tensor *ys = ql_op_output(c, 1, QL_FLOAT, 0, NULL);
  if (!ys) return c->err->code;
  ql_tensor *yz = ql_op_output(c, 2, QL_UINT8, 0, NULL);
  if (!yz) return c->err->code;
  ((float *)ys->data)[0] = scale;
  ((uint8_t *)yz->data)[0] = (uint8_t)zp;
  uint8_t *yd = y->data;
  int64_t i = 0;
#ifdef __SSE2__
  /* The same steps as ql_dynq_quant1 (src/kernels/dynq.h; no libm call),
   * 16 at a time (GCC at -O2 does not if-convert the float compares).
   * maxps/minps return the second operand when the first is NaN, so NaN goes
   * to -512 as in the scalar code; the final values are integers in
   * [0, 255], so the conversion does not round. */
  const __m128 vs = _mm_set1_ps(scale), vzp = _mm_set1_ps(zp), magic = _mm_set1_ps(12582912.0f);
  const __m128 lo = _mm_set1_ps(-512.0f), hi = _mm_set1_ps(512.0f), zero = _mm_setzero_ps(),
               top = _mm_set1_ps(255.0f);
  for (; i + 16 <= n; i += 16) {
    __m128i w[4];
    for (int k = 0; k < 4; k++) {
      __m128 q = _mm_div_ps(_mm_loadu_ps(xd + i + 4 * k), vs);
      q = _mm_min_ps(_mm_max_ps(q, lo), hi);
      __m128 r = _mm_add_ps(_mm_sub_ps(_mm_add_ps(q, magic), magic), vzp);
      r = _mm_min_ps(_mm_max_ps(r, zero), top);
      w[k] = _mm_cvtps_epi32(r);
    }
    __m128i h = _mm_packus_epi16(_mm_packs_epi32(w[0], w[1]), _mm_packs_epi32(w[2], w[3]));
    _mm_storeu_si128((__m128i *)(yd + i), h);
  }
#endif
  for (; i < n; i++) yd[i] = ql_dynq_quant1(xd[i] / scale, zp);
  return QL_OK;
}

const ql_op_def ql_ops_quantize[] = {
    {"", "QuantizeLinear", 10, 25, quantize_linear, ql_op_isa_prepare, ql_op_isa_release},
    {"", "DequantizeLinear", 10, 25, dequantize_linear},
    {"", "DynamicQuantizeLinear", 11, 11, dynamic_quantize_linear},
    {0},
};

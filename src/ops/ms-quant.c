/* ONNX Runtime com.microsoft quantized element-wise, pooling and Q/DQ ops.
 *
 * These ops have no ONNX reference: their meaning is what ONNX Runtime's CPU
 * kernels compute. Where ORT's arithmetic differs from the plain formula in
 * ContribOperators.md (float rounding order, lookup tables, fused
 * multiply-adds, integer pooling), we copy ORT so that integer outputs are
 * bit-identical; docs/ms-ops.md lists every such deviation. Scales are float32
 * scalars (or 1-element tensors) unless noted, zero points are scalars of the
 * data type and default to 0. QLinearLookup (QL_INTERNAL_DOMAIN) is not
 * ORT's: QDQ fusion makes it, with the table it built (runtime/fuse.c). */
#include "op.h"
#include "../kernels/lut.h"
#include "../kernels/qgemm.h"
#include "../runtime/threadpool.h"
#include <float.h>
#include <math.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

/* ------------------------------------------------------------ helpers */

static int is_q8(ql_dtype t) { return t == QL_UINT8 || t == QL_INT8; }

static int32_t load_q(ql_dtype t, const void *p, int64_t i) {
  switch (t) {
  case QL_UINT8: return ((const uint8_t *)p)[i];
  case QL_INT8: return ((const int8_t *)p)[i];
  case QL_UINT16: return ((const uint16_t *)p)[i];
  case QL_INT16: return ((const int16_t *)p)[i];
  default: return (int32_t)ql_load_i64(t, p, i);
  }
}

static void store_q(ql_dtype t, void *p, int64_t i, int32_t v) {
  switch (t) {
  case QL_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
  case QL_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
  case QL_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
  case QL_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
  default: ql_store_i64(t, p, i, v); break;
  }
}

/* float -> int32 as x86 cvtps2dq/cvttss2si do it: NaN and out-of-range
 * values give INT32_MIN. ORT's kernels rely on that (then saturate), so a
 * NaN input ends up at the low end of the range. Value must be integral or
 * is rounded to nearest even. */
static int32_t cvt_i32(float v) {
  if (!(v >= -2147483648.0f && v < 2147483648.0f)) return INT32_MIN;
  return (int32_t)nearbyintf(v);
}

static int32_t clamp_i32(int64_t v, int64_t lo, int64_t hi) { return (int32_t)(v < lo ? lo : v > hi ? hi : v); }

static float scalar_f(const ql_tensor *t) {
  return t->dtype == QL_FLOAT16 ? ql_f16_to_f32(((const uint16_t *)t->data)[0]) : ((const float *)t->data)[0];
}

/* Required float scalar (a 1-element tensor counts as scalar, as in ORT). */
static ql_status get_scale(ql_op_ctx *c, size_t i, const char *name, float *out) {
  const ql_tensor *t = ql_op_in(c, i);
  if (!t) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s (input %zu) is required", name, i);
  if (t->dtype != QL_FLOAT) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s must be float32, got %s", name, ql_dtype_name(t->dtype));
  if (t->numel != 1) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "%s must be a scalar or 1-element tensor, has %lld elements", name, (long long)t->numel);
  *out = scalar_f(t);
  return QL_OK;
}

/* Optional zero point of type `dt` (absent: 0). */
static ql_status get_zp(ql_op_ctx *c, size_t i, const char *name, ql_dtype dt, int required, int32_t *out) {
  const ql_tensor *t = ql_op_in(c, i);
  *out = 0;
  if (!t) return required ? ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s (input %zu) is required", name, i) : QL_OK;
  if (t->dtype != dt)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has type %s, expected %s", name, ql_dtype_name(t->dtype), ql_dtype_name(dt));
  if (t->numel != 1) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "%s must be a scalar or 1-element tensor, has %lld elements", name, (long long)t->numel);
  *out = load_q(dt, t->data, 0);
  return QL_OK;
}

static ql_status get_x(ql_op_ctx *c, size_t i, const char *name, const ql_tensor **out) {
  const ql_tensor *t = ql_op_in(c, i);
  if (!t) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s (input %zu) is required", name, i);
  if (!is_q8(t->dtype))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "%s has type %s; only uint8/int8 are supported", name, ql_dtype_name(t->dtype));
  *out = t;
  return QL_OK;
}

/* MlasQuantizeLinear: divide in float32, round half to even, saturate. */
static int32_t mlas_quantize(float v, float scale, int32_t zp, int64_t lo, int64_t hi) {
  float q = v / scale;
  float flo = (float)(lo - zp), fhi = (float)(hi - zp);
  /* maxps/minps order of MLAS: NaN compares false and yields the bound */
  q = q > flo ? q : flo;
  q = q < fhi ? q : fhi;
  return (int32_t)nearbyintf(q) + zp;
}

/* ORT's 256-entry lookup table (QlinearBuildLookupTable): every possible
 * input byte is dequantized in float, mapped through fn, then quantized with
 * MlasQuantizeLinear. Indexed by the raw byte. */
typedef void (*table_fn)(const float *in, float *out, size_t n, float param);

static void build_table(uint8_t table[256], ql_dtype t, float xs, int32_t xz, float ys, int32_t yz, table_fn fn,
                        float param) {
  float in[256], out[256];
  int64_t lo, hi;
  ql_dtype_int_range(t, &lo, &hi);
  for (int i = 0; i < 256; i++) {
    int32_t x = t == QL_INT8 ? (int32_t)(int8_t)(uint8_t)i : i;
    in[i] = xs * (float)(x - xz);
  }
  if (fn) fn(in, out, 256, param);
  else memcpy(out, in, sizeof in);
  for (int i = 0; i < 256; i++) table[i] = (uint8_t)mlas_quantize(out[i], ys, yz, lo, hi);
}

/* ------------------------------------------------------ Q/DQ (com.microsoft) */

static int ms_q_type_ok(ql_dtype t) {
  return t == QL_UINT8 || t == QL_INT8 || t == QL_UINT16 || t == QL_INT16 || t == QL_UINT4 || t == QL_INT4;
}

/* Resolves per-tensor vs per-axis from the scale shape. ORT's kernel reads
 * `axis` with default 1 and uses it only when the scale has more than one
 * element. */
static ql_status qdq_layout(ql_op_ctx *c, const ql_tensor *x, const ql_tensor *scale, const ql_tensor *zp,
                            int64_t *outer, int64_t *chans, int64_t *inner) {
  *outer = 1, *chans = 1, *inner = x->numel;
  if (zp && zp->numel != scale->numel)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "zero point has %lld elements, scale has %lld", (long long)zp->numel,
                      (long long)scale->numel);
  if (scale->numel == 1) return QL_OK;
  if (scale->rank != 1) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "scale must be a scalar or 1-D (blocked scales are not supported)");
  int axis = ql_norm_axis(ql_attr_int(c->node, "axis", 1), x->rank);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)ql_attr_int(c->node, "axis", 1), x->rank);
  if (x->dims[axis] != scale->numel)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "scale has %lld elements, expected %lld (dim %d of x)", (long long)scale->numel,
                      (long long)x->dims[axis], axis);
  *chans = x->dims[axis];
  *inner = 1;
  for (int i = axis + 1; i < x->rank; i++) *inner *= x->dims[i];
  *outer = (*chans != 0 && *inner != 0) ? x->numel / (*chans * *inner) : 0;
  return QL_OK;
}

static ql_status ms_quantize(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *s = ql_op_in(c, 1), *z = ql_op_in(c, 2);
  if (!x || !s) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x and y_scale are required");
  if ((x->dtype != QL_FLOAT && x->dtype != QL_FLOAT16) || s->dtype != x->dtype)
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "x and y_scale must both be float32 or both float16 (got %s, %s)",
                      ql_dtype_name(x->dtype), ql_dtype_name(s->dtype));
  ql_dtype yt = z ? z->dtype : QL_UINT8;
  if (!ms_q_type_ok(yt)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "output type %s is not supported", ql_dtype_name(yt));
  int64_t outer, chans, inner, lo, hi;
  ql_status st = qdq_layout(c, x, s, z, &outer, &chans, &inner);
  if (st) return st;
  ql_dtype_int_range(yt, &lo, &hi);
  ql_tensor *y = ql_op_output(c, 0, yt, x->rank, x->dims);
  if (!y) return c->err->code;
  for (int64_t o = 0, i = 0; o < outer; o++)
    for (int64_t ch = 0; ch < chans; ch++) {
      float sc = (float)ql_load_f64(s->dtype, s->data, ch);
      int32_t zp = z ? load_q(yt, z->data, ch) : 0;
      for (int64_t k = 0; k < inner; k++, i++) {
        /* float16 x and scale are widened and divided in float32 (checked
         * against ORT 1.32; the ONNX text would divide in float16). */
        float v = x->dtype == QL_FLOAT ? ((const float *)x->data)[i] : ql_f16_to_f32(((const uint16_t *)x->data)[i]);
        store_q(yt, y->data, i, mlas_quantize(v, sc, zp, lo, hi));
      }
    }
  return QL_OK;
}

static ql_status ms_dequantize(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *s = ql_op_in(c, 1), *z = ql_op_in(c, 2);
  if (!x || !s) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x and x_scale are required");
  if (!ms_q_type_ok(x->dtype) && x->dtype != QL_INT32)
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "input type %s is not supported", ql_dtype_name(x->dtype));
  if (s->dtype != QL_FLOAT && s->dtype != QL_FLOAT16)
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "x_scale must be float32 or float16, got %s", ql_dtype_name(s->dtype));
  if (z && z->dtype != x->dtype)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x_zero_point has type %s, x has %s", ql_dtype_name(z->dtype), ql_dtype_name(x->dtype));
  int64_t outer, chans, inner;
  ql_status st = qdq_layout(c, x, s, z, &outer, &chans, &inner);
  if (st) return st;
  ql_tensor *y = ql_op_output(c, 0, s->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  for (int64_t o = 0, i = 0; o < outer; o++)
    for (int64_t ch = 0; ch < chans; ch++) {
      float sc = (float)ql_load_f64(s->dtype, s->data, ch);
      int64_t zp = z ? ql_load_i64(z->dtype, z->data, ch) : 0;
      for (int64_t k = 0; k < inner; k++, i++) {
        /* int32 - zp is done in 32 bits by ORT; int64 here avoids UB and
         * agrees whenever ORT does not overflow */
        float v = (float)(int32_t)(ql_load_i64(x->dtype, x->data, i) - zp) * sc;
        if (s->dtype == QL_FLOAT) ((float *)y->data)[i] = v;
        else ((uint16_t *)y->data)[i] = ql_f32_to_f16(v);
      }
    }
  return QL_OK;
}

/* ------------------------------------------------------- QLinearAdd / Mul */

/* How ORT's Broadcaster walks two shapes: 1 = input 0 is constant over the
 * innermost run (scalar-A kernel), 2 = input 1 is, 0 = both vary. The kernel
 * flavor changes float rounding in QLinearAdd, so we must pick the same one. */
static int ort_broadcast_mode(const ql_tensor *a, const ql_tensor *b) {
  int ra = a->rank, rb = b->rank;
  if (ra == 0 || rb == 0) return ra == 0 && rb == 0 ? 0 : ra == 0 ? 1 : 2;
  int m = ra < rb ? ra : rb;
  for (int k = 0; k < m; k++) {
    int64_t da = a->dims[ra - 1 - k], db = b->dims[rb - 1 - k];
    int64_t big = da > db ? da : db, small = da < db ? da : db;
    int64_t dim = small == 0 ? 0 : big;
    if (dim <= 1 && k + 1 < m) continue;
    if (da != dim) return 1;
    if (db != dim) return 2;
    return 0;
  }
  return 0;
}

typedef struct {
  const ql_tensor *a, *b;
  ql_tensor *y;
  float sa, sb, sc;
  int32_t za, zb, zc;
  int64_t lo, hi;
} qbin;

static ql_status qbin_setup(ql_op_ctx *c, qbin *q) {
  ql_status st;
  if ((st = get_x(c, 0, "A", &q->a)) || (st = get_x(c, 3, "B", &q->b))) return st;
  if (q->a->dtype != q->b->dtype)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "A is %s but B is %s", ql_dtype_name(q->a->dtype), ql_dtype_name(q->b->dtype));
  ql_dtype t = q->a->dtype;
  if ((st = get_scale(c, 1, "A_scale", &q->sa)) || (st = get_zp(c, 2, "A_zero_point", t, 0, &q->za)) ||
      (st = get_scale(c, 4, "B_scale", &q->sb)) || (st = get_zp(c, 5, "B_zero_point", t, 0, &q->zb)) ||
      (st = get_scale(c, 6, "C_scale", &q->sc)) || (st = get_zp(c, 7, "C_zero_point", t, 0, &q->zc)))
    return st;
  int r;
  int64_t dims[QL_MAX_RANK];
  if (ql_broadcast_shape(q->a->rank, q->a->dims, q->b->rank, q->b->dims, &r, dims))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "A and B shapes cannot be broadcast");
  ql_dtype_int_range(t, &q->lo, &q->hi);
  if (!(q->y = ql_op_output(c, 0, t, r, dims))) return c->err->code;
  return QL_OK;
}

/* QLinearAdd on equal shapes (what a fused QDQ Add gives): the general
 * loop's steps without its per-element index arithmetic. f holds the folded
 * zero points. Built twice: the FMA build inlines fmaf and nearbyintf
 * (same results: both are exactly rounded operations). */
static inline __attribute__((always_inline)) void qadd_same_body(ql_dtype t, const void *a, const void *b, void *y,
                                                                 int64_t n, float rA, float rB, float f, int64_t lo,
                                                                 int64_t hi) {
  if (t == QL_INT8) {
    const int8_t *pa = a, *pb = b;
    int8_t *py = y;
    for (int64_t i = 0; i < n; i++)
      py[i] = (int8_t)clamp_i32(cvt_i32(fmaf((float)pa[i], rA, fmaf((float)pb[i], rB, f))), lo, hi);
  } else if (t == QL_UINT8) {
    const uint8_t *pa = a, *pb = b;
    uint8_t *py = y;
    for (int64_t i = 0; i < n; i++)
      py[i] = (uint8_t)clamp_i32(cvt_i32(fmaf((float)pa[i], rA, fmaf((float)pb[i], rB, f))), lo, hi);
  } else {
    for (int64_t i = 0; i < n; i++)
      store_q(t, y, i, clamp_i32(cvt_i32(fmaf((float)load_q(t, a, i), rA, fmaf((float)load_q(t, b, i), rB, f))), lo, hi));
  }
}

static void qadd_same_generic(ql_dtype t, const void *a, const void *b, void *y, int64_t n, float rA, float rB, float f,
                              int64_t lo, int64_t hi) {
  qadd_same_body(t, a, b, y, n, rA, rB, f, lo, hi);
}
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2,fma"))) static void qadd_same_fma(ql_dtype t, const void *a, const void *b, void *y,
                                                              int64_t n, float rA, float rB, float f, int64_t lo,
                                                              int64_t hi) {
  qadd_same_body(t, a, b, y, n, rA, rB, f, lo, hi);
}
#endif

/* Broadcast QLinearAdd, element by element with the same arithmetic as ORT's
 * kernels for each broadcast mode; the constants fold the zero points. One
 * call per innermost run of the broadcast walk (ql_bc_run). */
typedef struct {
  const qbin *q;
  int mode;
  float rA, rB, f0, f1;
} qadd_ctx;

static inline __attribute__((always_inline)) void qadd_row_body(void *ctx, int64_t yo, const int64_t *xo, int64_t len,
                                                                const int64_t *xs) {
  const qadd_ctx *k = ctx;
  const qbin *q = k->q;
  ql_dtype t = q->y->dtype;
  for (int64_t i = 0; i < len; i++) {
    float fa = (float)load_q(t, q->a->data, xo[0] + i * xs[0]), fb = (float)load_q(t, q->b->data, xo[1] + i * xs[1]);
    float v;
    if (k->mode == 1) /* span is B, scalar A */
      v = fmaf(fb, k->rB, fmaf(fa, k->rA, k->f1));
    else /* span is A, scalar B, or both spans */
      v = fmaf(fa, k->rA, fmaf(fb, k->rB, k->f0));
    store_q(t, q->y->data, yo + i, clamp_i32(cvt_i32(v), q->lo, q->hi));
  }
}

static void qadd_row_generic(void *ctx, int64_t yo, const int64_t *xo, int64_t len, const int64_t *xs) {
  qadd_row_body(ctx, yo, xo, len, xs);
}
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* 8 lanes of 8-bit values as floats */
__attribute__((target("avx2,fma"))) static inline __m256 load8_ps(const void *p, int is_signed) {
  const __m128i b = _mm_loadl_epi64((const __m128i *)p);
  return _mm256_cvtepi32_ps(is_signed ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b));
}

/* A run where one input varies and the other is one value (a per-channel
 * bias, MNIST's Add after each Conv): 8 lanes of the same two fused
 * multiply-adds, cvtps2dq (what cvt_i32 emulates) and clamp. */
__attribute__((target("avx2,fma"))) static void qadd_row_fma(void *ctx, int64_t yo, const int64_t *xo, int64_t len,
                                                             const int64_t *xs) {
  const qadd_ctx *k = ctx;
  const qbin *q = k->q;
  const ql_dtype t = q->y->dtype;
  int64_t i = 0;
  if ((t == QL_UINT8 || t == QL_INT8) && ((xs[0] == 1 && xs[1] == 0) || (xs[0] == 0 && xs[1] == 1))) {
    const int sg = t == QL_INT8, a_runs = xs[0] == 1;
    const uint8_t *pa = (const uint8_t *)q->a->data + xo[0], *pb = (const uint8_t *)q->b->data + xo[1];
    const __m256 ca = _mm256_set1_ps((float)load_q(t, pa, 0)), cb = _mm256_set1_ps((float)load_q(t, pb, 0));
    const __m256 rA = _mm256_set1_ps(k->rA), rB = _mm256_set1_ps(k->rB);
    const __m256 f0 = _mm256_set1_ps(k->f0), f1 = _mm256_set1_ps(k->f1);
    const __m256i lo = _mm256_set1_epi32(q->lo), hi = _mm256_set1_epi32(q->hi);
    for (; i + 8 <= len; i += 8) {
      const __m256 fa = a_runs ? load8_ps(pa + i, sg) : ca, fb = a_runs ? cb : load8_ps(pb + i, sg);
      const __m256 v = k->mode == 1 ? _mm256_fmadd_ps(fb, rB, _mm256_fmadd_ps(fa, rA, f1))
                                    : _mm256_fmadd_ps(fa, rA, _mm256_fmadd_ps(fb, rB, f0));
      const __m256i r = _mm256_max_epi32(_mm256_min_epi32(_mm256_cvtps_epi32(v), hi), lo);
      const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
      _mm_storel_epi64((__m128i *)((uint8_t *)q->y->data + yo + i), sg ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w));
    }
  }
  if (i < len) { /* the rest, or another layout: element by element */
    const int64_t xo2[2] = {xo[0] + i * xs[0], xo[1] + i * xs[1]};
    qadd_row_body(ctx, yo + i, xo2, len - i, xs);
  }
}
#endif

static ql_status qlinear_add(ql_op_ctx *c) {
  qbin q;
  ql_status st = qbin_setup(c, &q);
  if (st) return st;
  ql_tensor *y = q.y;
  int mode = ort_broadcast_mode(q.a, q.b);
  ql_dtype t = y->dtype;
  /* ORT's AVX2 kernel (MlasQLinearAddKernelAvx2Helper): the zero points are
   * folded into one float constant and both inputs enter through fused
   * multiply-adds; a scalar input is folded into that constant too. */
  float rA = q.sa / q.sc, rB = q.sb / q.sc;
  if (mode == 0 && q.a->numel == y->numel && q.b->numel == y->numel) {
    const float f = (float)q.zc - fmaf(rA, (float)q.za, rB * (float)q.zb);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if ((ql_cpu_features() & (QL_CPU_AVX2 | QL_CPU_FMA)) == (QL_CPU_AVX2 | QL_CPU_FMA)) {
      qadd_same_fma(t, q.a->data, q.b->data, y->data, y->numel, rA, rB, f, q.lo, q.hi);
      return QL_OK;
    }
#endif
    qadd_same_generic(t, q.a->data, q.b->data, y->data, y->numel, rA, rB, f, q.lo, q.hi);
    return QL_OK;
  }
  qadd_ctx k = {&q, mode, rA, rB, (float)q.zc - fmaf(rA, (float)q.za, rB * (float)q.zb),
               (float)q.zc - fmaf(rB, (float)q.zb, rA * (float)q.za)};
  ql_bc_fn row = qadd_row_generic;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if ((ql_cpu_features() & (QL_CPU_AVX2 | QL_CPU_FMA)) == (QL_CPU_AVX2 | QL_CPU_FMA)) row = qadd_row_fma;
#endif
  const ql_tensor *in[2] = {q.a, q.b};
  ql_bc_iter it;
  ql_bc_init(&it, 2, in, y->rank, y->dims);
  ql_bc_run(&it, row, &k);
  return QL_OK;
}

typedef struct {
  const qbin *q;
  float ratio;
} qmul_ctx;

static void qmul_row(void *ctx, int64_t yo, const int64_t *xo, int64_t len, const int64_t *xs) {
  const qmul_ctx *k = ctx;
  const qbin *q = k->q;
  ql_dtype t = q->y->dtype;
  for (int64_t i = 0; i < len; i++) {
    int32_t p = (load_q(t, q->a->data, xo[0] + i * xs[0]) - q->za) * (load_q(t, q->b->data, xo[1] + i * xs[1]) - q->zb);
    float v = (float)p * k->ratio + (float)q->zc;
    store_q(t, q->y->data, yo + i, clamp_i32(cvt_i32(v), q->lo, q->hi));
  }
}

static ql_status qlinear_mul(ql_op_ctx *c) {
  qbin q;
  ql_status st = qbin_setup(c, &q);
  if (st) return st;
  ql_tensor *y = q.y;
  /* MLAS (SSE2 kernel): exact integer product, one float multiply by
   * sA*sB/sC, the output zero point added in float, then round. */
  qmul_ctx k = {&q, q.sa * q.sb / q.sc};
  const ql_tensor *in[2] = {q.a, q.b};
  ql_bc_iter it;
  ql_bc_init(&it, 2, in, y->rank, y->dims);
  ql_bc_run(&it, qmul_row, &k);
  return QL_OK;
}

/* ------------------------------------------------ LeakyRelu / Sigmoid */

static void leaky_fn(const float *in, float *out, size_t n, float alpha) {
  for (size_t i = 0; i < n; i++) out[i] = in[i] >= 0.0f ? in[i] : alpha * in[i];
}

/* MlasComputeLogistic: Eigen's rational approximation, evaluated with fused
 * multiply-adds as the FMA3 kernel does, clamped to [0, 1]. */
static void logistic_fn(const float *in, float *out, size_t n, float unused) {
  (void)unused;
  for (size_t i = 0; i < n; i++) {
    float v = in[i];
    v = v < -18.0f ? -18.0f : v;
    v = v > 18.0f ? 18.0f : v;
    float v2 = v * v;
    float p = fmaf(v2, 4.37031012579801e-11f, 1.15627324459942e-07f);
    p = fmaf(p, v2, 6.08574864600143e-05f);
    p = fmaf(p, v2, 8.51377133304701e-03f);
    p = fmaf(p, v2, 2.48287947061529e-01f);
    p = p * v;
    float q = fmaf(v2, 6.10247389755681e-13f, 5.76102136993427e-09f);
    q = fmaf(q, v2, 6.29106785017040e-06f);
    q = fmaf(q, v2, 1.70198817374094e-03f);
    q = fmaf(q, v2, 1.16817656904453e-01f);
    q = fmaf(q, v2, 9.93151921023180e-01f);
    float r = p / q + 0.5f;
    r = r < 0.0f ? 0.0f : r;
    out[i] = r > 1.0f ? 1.0f : r;
  }
}

typedef struct lut_job {
  ql_lut_fn kernel;
  const uint8_t *table, *x;
  uint8_t *y;
} lut_job;

static void lut_task(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)thread;
  (void)j0;
  (void)nj;
  const lut_job *j = ctx;
  j->kernel(j->table, j->x + i0, j->y + i0, ni);
}

/* The lookup kernel for the session's ISA (also QLinearConcat's, for inputs
 * whose parameters differ from the output's); the state is
 * ql_op_isa_prepare's, NULL in reference sessions. */
static ql_lut_fn lookup_kernel(const ql_op_ctx *c) {
  return c->state ? ql_lut_select((ql_isa)*(const int *)c->state) : ql_lut_u8__scalar;
}

static ql_status lookup_op(ql_op_ctx *c, table_fn fn, float param) {
  const ql_tensor *x = NULL;
  float xs = 0, ys = 0;
  int32_t xz = 0, yz = 0;
  ql_status st;
  if ((st = get_x(c, 0, "X", &x)) || (st = get_scale(c, 1, "X_scale", &xs)) ||
      (st = get_zp(c, 2, "X_zero_point", x->dtype, 0, &xz)) || (st = get_scale(c, 3, "Y_scale", &ys)) ||
      (st = get_zp(c, 4, "Y_zero_point", x->dtype, 0, &yz)))
    return st;
  uint8_t table[256];
  build_table(table, x->dtype, xs, xz, ys, yz, fn, param);
  ql_tensor *y = ql_op_output_nofill(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  lut_job j = {lookup_kernel(c), table, x->data, y->data};
  /* blocks of 64 KiB: a few per thread on the larger activations */
  ql_threadpool_parallel_for_2d(c->pool, lut_task, &j, (size_t)x->numel, 1, (size_t)1 << 16, 1);
  return QL_OK;
}

/* Y[i] = Table[X[i]] (indexed by the raw byte); Y has Table's type. */
static ql_status qlinear_lookup(ql_op_ctx *c) {
  const ql_tensor *x = NULL, *t = ql_op_in(c, 1);
  ql_status st = get_x(c, 0, "X", &x);
  if (st) return st;
  if (!t || !is_q8(t->dtype) || t->numel != 256)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "Table must hold 256 uint8 or int8 values");
  ql_tensor *y = ql_op_output_nofill(c, 0, t->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  lut_job j = {lookup_kernel(c), t->data, x->data, y->data};
  ql_threadpool_parallel_for_2d(c->pool, lut_task, &j, (size_t)x->numel, 1, (size_t)1 << 16, 1);
  return QL_OK;
}

static ql_status qlinear_leaky_relu(ql_op_ctx *c) { return lookup_op(c, leaky_fn, ql_attr_float(c->node, "alpha", 0.01f)); }
static ql_status qlinear_sigmoid(ql_op_ctx *c) { return lookup_op(c, logistic_fn, 0.0f); }

/* ----------------------------------------------------------- QLinearSoftmax */

/* ORT's QLinearSoftmax ignores X_zero_point: it looks up exp((x - max) *
 * X_scale), pre-scaled so the row sum fits a float, and divides in float
 * against floor(1 / Y_scale). */
static void softmax_table(float table[256], float xs, size_t reduce_len, int is_signed) {
  double bit_shift = log((double)(FLT_MAX / (float)reduce_len));
  bit_shift = (bit_shift - 5.0 > 0.0 ? bit_shift - 5.0 : 0.0) / xs;
  for (int i = 0; i < 256; i++) {
    double e = exp(((double)i - 255.0 + bit_shift) * (double)xs);
    uint8_t idx = (uint8_t)(is_signed ? i - 128 : i);
    table[idx] = (float)e;
  }
}

static ql_status qlinear_softmax(ql_op_ctx *c) {
  const ql_tensor *x = NULL;
  float xs, ys;
  int32_t yz, xz_unused;
  ql_status st;
  if ((st = get_x(c, 0, "X", &x)) || (st = get_scale(c, 1, "X_scale", &xs)) ||
      (st = get_zp(c, 2, "x_zero_point", x->dtype, 0, &xz_unused)) || (st = get_scale(c, 3, "y_scale", &ys)) ||
      (st = get_zp(c, 4, "y_zero_point", x->dtype, 0, &yz)))
    return st;
  const ql_attr *opa = ql_node_attr(c->node, "opset");
  if (!opa || opa->type != QL_ATTR_INT) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute 'opset' is required");
  int opset = (int)opa->i;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  if (x->numel == 0) return QL_OK;
  if (x->rank == 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X must have rank >= 1");
  /* the schema default (-1) applies even for opset < 13: ORT fills it in
   * before its kernel's own opset-dependent fallback can run */
  int64_t axis_attr = ql_attr_int(c->node, "axis", -1);
  int axis = ql_norm_axis(axis_attr, x->rank);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)axis_attr, x->rank);
  /* opset < 13: rows are the flattened dims from axis on; >= 13: the axis
   * alone (ORT transposes it innermost; we walk it with a stride) */
  int64_t outer = 1, d = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  if (opset < 13) {
    for (int i = axis; i < x->rank; i++) d *= x->dims[i];
  } else {
    d = x->dims[axis];
    for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  }
  int is_signed = x->dtype == QL_INT8;
  float table[256];
  softmax_table(table, xs, (size_t)d, is_signed);
  float yscale = floorf(1.0f / ys);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      int64_t base = o * d * inner + in;
      float vsum = 0.0f;
      if (is_signed) {
        const int8_t *xd = x->data;
        int8_t *yd = y->data;
        int32_t xmax = -128;
        for (int64_t k = 0; k < d; k++) xmax = xd[base + k * inner] > xmax ? xd[base + k * inner] : xmax;
        int32_t adj = 127 - xmax;
        for (int64_t k = 0; k < d; k++) vsum += table[(uint8_t)(adj + xd[base + k * inner])];
        if (vsum == 0.0f) continue; /* ORT leaves such rows unwritten */
        for (int64_t k = 0; k < d; k++) {
          float vt = table[(uint8_t)(adj + xd[base + k * inner])];
          int64_t vq = (int64_t)cvt_i32(nearbyintf(vt * yscale / vsum)) + yz;
          /* saturates (ORT 1.32; older sources wrapped to int8 instead) */
          yd[base + k * inner] = (int8_t)clamp_i32(vq, -128, 127);
        }
      } else {
        const uint8_t *xd = x->data;
        uint8_t *yd = y->data;
        int32_t xmax = 0;
        for (int64_t k = 0; k < d; k++) xmax = xd[base + k * inner] > xmax ? xd[base + k * inner] : xmax;
        const float *t = table + 255 - xmax;
        for (int64_t k = 0; k < d; k++) vsum += t[xd[base + k * inner]];
        if (vsum == 0.0f) continue;
        for (int64_t k = 0; k < d; k++) {
          uint32_t vq = (uint32_t)cvt_i32(nearbyintf(t[xd[base + k * inner]] * yscale / vsum)) + (uint32_t)yz;
          yd[base + k * inner] = vq > 255 ? 255 : (uint8_t)vq;
        }
      }
    }
  return QL_OK;
}

/* ------------------------------------------------------------ QLinearConcat */

static ql_status qlinear_concat(ql_op_ctx *c) {
  float ys;
  ql_status st;
  const ql_tensor *yzt = ql_op_in(c, 1);
  if (!yzt || !is_q8(yzt->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "Y_zero_point must be a uint8 or int8 scalar");
  ql_dtype t = yzt->dtype;
  int32_t yz;
  if ((st = get_scale(c, 0, "Y_scale", &ys)) || (st = get_zp(c, 1, "Y_zero_point", t, 1, &yz))) return st;
  if (c->n_in < 5 || (c->n_in - 2) % 3)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs after Y_scale, Y_zero_point must be (tensor, scale, zero point) triples");
  const ql_attr *aa = ql_node_attr(c->node, "axis");
  if (!aa || aa->type != QL_ATTR_INT) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute 'axis' is required");
  size_t n = (c->n_in - 2) / 3;
  const ql_tensor *x0 = ql_op_in(c, 2);
  if (!x0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 2 is required");
  int rank = x0->rank;
  int axis = ql_norm_axis(aa->i, rank);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)aa->i, rank);
  int64_t dims[QL_MAX_RANK];
  memcpy(dims, x0->dims, sizeof(int64_t) * (size_t)rank);
  dims[axis] = 0;
  for (size_t k = 0; k < n; k++) {
    const ql_tensor *x = ql_op_in(c, 2 + 3 * k);
    if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "tensor input %zu is missing", 2 + 3 * k);
    if (x->dtype != t) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input %zu is %s, expected %s", 2 + 3 * k, ql_dtype_name(x->dtype), ql_dtype_name(t));
    if (x->rank != rank) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input %zu has rank %d, expected %d", 2 + 3 * k, x->rank, rank);
    for (int i = 0; i < rank; i++)
      if (i != axis && x->dims[i] != x0->dims[i])
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input %zu dim %d is %lld, expected %lld", 2 + 3 * k, i, (long long)x->dims[i], (long long)x0->dims[i]);
    if (x->dims[axis] > ((int64_t)1 << 62) - dims[axis])
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "concatenated dimension overflows");
    dims[axis] += x->dims[axis];
  }
  ql_tensor *y = ql_op_output_nofill(c, 0, t, rank, dims); /* the inputs cover it */
  if (!y) return c->err->code;
  const ql_lut_fn lut = lookup_kernel(c);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= dims[i];
  for (int i = axis + 1; i < rank; i++) inner *= dims[i];
  int64_t ypitch = dims[axis] * inner, off = 0;
  for (size_t k = 0; k < n; k++) {
    const ql_tensor *x = ql_op_in(c, 2 + 3 * k);
    float xs;
    int32_t xz;
    if ((st = get_scale(c, 3 + 3 * k, "input scale", &xs)) || (st = get_zp(c, 4 + 3 * k, "input zero point", t, 1, &xz))) return st;
    /* ORT copies bytes when scale and zero point equal the output's,
     * otherwise maps through a dequantize/quantize table */
    int copy = xs == ys && xz == yz;
    uint8_t table[256];
    if (!copy) build_table(table, t, xs, xz, ys, yz, NULL, 0.0f);
    int64_t pitch = x->dims[axis] * inner;
    const uint8_t *xd = x->data;
    for (int64_t o = 0; o < outer && pitch; o++) {
      uint8_t *yd = (uint8_t *)y->data + o * ypitch + off;
      if (copy) memcpy(yd, xd + o * pitch, (size_t)pitch);
      else lut(table, xd + o * pitch, yd, (size_t)pitch);
    }
    off += pitch;
  }
  return QL_OK;
}

/* ------------------------------------------------------------- QLinearWhere */

static ql_status qlinear_where(ql_op_ctx *c) {
  const ql_tensor *cond = ql_op_in(c, 0), *x = NULL, *yv = NULL;
  float xs, ys, zs;
  int32_t xz, yz, zz;
  ql_status st;
  if (!cond || cond->dtype != QL_BOOL) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "condition must be a bool tensor");
  if ((st = get_x(c, 1, "X", &x)) || (st = get_x(c, 4, "Y", &yv))) return st;
  ql_dtype t = x->dtype;
  if (yv->dtype != t) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X is %s but Y is %s", ql_dtype_name(t), ql_dtype_name(yv->dtype));
  if ((st = get_scale(c, 2, "x_scale", &xs)) || (st = get_zp(c, 3, "x_zero_point", t, 1, &xz)) ||
      (st = get_scale(c, 5, "y_scale", &ys)) || (st = get_zp(c, 6, "y_zero_point", t, 1, &yz)) ||
      (st = get_scale(c, 7, "z_scale", &zs)) || (st = get_zp(c, 8, "z_zero_point", t, 1, &zz)))
    return st;
  int r1, r;
  int64_t d1[QL_MAX_RANK], dims[QL_MAX_RANK];
  if (ql_broadcast_shape(cond->rank, cond->dims, x->rank, x->dims, &r1, d1) ||
      ql_broadcast_shape(r1, d1, yv->rank, yv->dims, &r, dims))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "condition, X and Y shapes cannot be broadcast");
  uint8_t tx[256], ty[256];
  int copy_x = xs == zs && xz == zz, copy_y = ys == zs && yz == zz;
  if (!copy_x) build_table(tx, t, xs, xz, zs, zz, NULL, 0.0f);
  if (!copy_y) build_table(ty, t, ys, yz, zs, zz, NULL, 0.0f);
  ql_tensor *out = ql_op_output(c, 0, t, r, dims);
  if (!out) return c->err->code;
  const uint8_t *cd = cond->data, *xd = x->data, *yd = yv->data;
  uint8_t *od = out->data;
  for (int64_t i = 0; i < out->numel; i++) {
    int64_t ic = ql_broadcast_index(i, r, dims, cond->rank, cond->dims);
    if (cd[ic]) {
      uint8_t v = xd[ql_broadcast_index(i, r, dims, x->rank, x->dims)];
      od[i] = copy_x ? v : tx[v];
    } else {
      uint8_t v = yd[ql_broadcast_index(i, r, dims, yv->rank, yv->dims)];
      od[i] = copy_y ? v : ty[v];
    }
  }
  return QL_OK;
}

/* ------------------------------------------- global / windowed average pool */

/* MLAS QLinearGlobalAveragePool: integer sums, one float multiplier
 * x_scale / (y_scale * N), round half to even. */
static ql_status gap_compute(ql_op_ctx *c, const ql_tensor *x, ql_tensor *y, float xs, int32_t xz, float ys, int32_t yz,
                             int64_t n, int64_t ch, int64_t image, int channels_last) {
  if (image >= 0x1000000) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "image size %lld is too large (ORT limit 2^24)", (long long)image);
  int64_t lo, hi;
  ql_dtype_int_range(x->dtype, &lo, &hi);
  float scale = xs / (ys * (float)image);
  float flo = (float)(lo - yz), fhi = (float)(hi - yz);
  for (int64_t b = 0; b < n; b++)
    for (int64_t k = 0; k < ch; k++) {
      int64_t sum = 0;
      for (int64_t p = 0; p < image; p++) {
        int64_t idx = channels_last ? (b * image + p) * ch + k : (b * ch + k) * image + p;
        sum += load_q(x->dtype, x->data, idx);
      }
      int32_t acc = (int32_t)(sum - (int64_t)xz * image);
      float v = (float)acc * scale;
      v = v > flo ? v : flo;
      v = v < fhi ? v : fhi;
      store_q(x->dtype, y->data, b * ch + k, (int32_t)nearbyintf(v) + yz);
    }
  return QL_OK;
}

static ql_status pool_params(ql_op_ctx *c, const ql_tensor **x, float *xs, int32_t *xz, float *ys, int32_t *yz, int zp_required) {
  ql_status st;
  if ((st = get_x(c, 0, "X", x)) || (st = get_scale(c, 1, "x_scale", xs)) ||
      (st = get_zp(c, 2, "x_zero_point", (*x)->dtype, zp_required, xz)) || (st = get_scale(c, 3, "y_scale", ys)) ||
      (st = get_zp(c, 4, "y_zero_point", (*x)->dtype, zp_required, yz)))
    return st;
  if ((*x)->rank < 3) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X must have rank >= 3, has %d", (*x)->rank);
  return QL_OK;
}

static ql_status qlinear_global_average_pool(ql_op_ctx *c) {
  const ql_tensor *x = NULL;
  float xs, ys;
  int32_t xz, yz;
  ql_status st = pool_params(c, &x, &xs, &xz, &ys, &yz, 1);
  if (st) return st;
  int cl = ql_attr_int(c->node, "channels_last", 0) != 0;
  int64_t dims[QL_MAX_RANK], image = 1;
  int s0 = cl ? 1 : 2;
  for (int i = 0; i < x->rank; i++) dims[i] = x->dims[i];
  for (int i = s0; i < s0 + x->rank - 2; i++) image *= x->dims[i], dims[i] = 1;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, dims);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  if (image == 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "spatial size is 0");
  return gap_compute(c, x, y, xs, xz, ys, yz, x->dims[0], cl ? x->dims[x->rank - 1] : x->dims[1], image, cl);
}

/* ORT PoolAttributes::ComputeOutputSize (float arithmetic as in ORT). */
static int64_t pool_out_size(int64_t in, int64_t stride, int64_t k, int64_t pad_total, int64_t pad_head, int ceil_mode) {
  float v = (float)(in + pad_total - (k - 1) - 1) / (float)stride + 1.0f;
  if (!ceil_mode) return (int64_t)v;
  int64_t out = (int64_t)ceilf(v);
  /* the last window must start inside the image or the head padding */
  if ((out - 1) * stride >= in + pad_head) out--;
  return out;
}

static ql_status qlinear_average_pool(ql_op_ctx *c) {
  const ql_tensor *x = NULL;
  float xs, ys;
  int32_t xz, yz;
  ql_status st = pool_params(c, &x, &xs, &xz, &ys, &yz, 0);
  if (st) return st;
  const ql_node *nd = c->node;
  int cl = ql_attr_int(nd, "channels_last", 0) != 0;
  int ceil_mode = ql_attr_int(nd, "ceil_mode", 0) != 0, include_pad = ql_attr_int(nd, "count_include_pad", 0) != 0;
  int nsp = x->rank - 2;
  size_t nk = 0, ns = 0, np = 0, nd_ = 0;
  const int64_t *ks = ql_attr_ints(nd, "kernel_shape", &nk), *sa = ql_attr_ints(nd, "strides", &ns);
  const int64_t *pa = ql_attr_ints(nd, "pads", &np), *da = ql_attr_ints(nd, "dilations", &nd_);
  if (!ks || (int)nk != nsp) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "kernel_shape must have %d values", nsp);
  if (nsp > 3) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "only 1-D, 2-D and 3-D pooling is supported");
  if (sa && (int)ns != nsp) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "strides must have %d values", nsp);
  if (pa && (int)np != 2 * nsp) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "pads must have %d values", 2 * nsp);
  for (size_t i = 0; da && i < nd_; i++)
    if (da[i] != 1) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "dilations other than 1 are not supported");
  const char *ap = ql_attr_string(nd, "auto_pad", "NOTSET");
  /* logical NCHW dims */
  int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, ph[3] = {0, 0, 0}, pt[3] = {0, 0, 0}, out[3] = {1, 1, 1};
  int64_t nb = x->dims[0], ch = cl ? x->dims[x->rank - 1] : x->dims[1];
  for (int i = 0; i < nsp; i++) {
    in[i] = x->dims[cl ? 1 + i : 2 + i];
    k[i] = ks[i];
    s[i] = sa ? sa[i] : 1;
    if (k[i] < 1 || s[i] < 1 || k[i] > INT32_MAX || s[i] > INT32_MAX)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "kernel_shape and strides must be in [1, 2^31)");
    if (!strcmp(ap, "NOTSET")) {
      ph[i] = pa ? pa[i] : 0, pt[i] = pa ? pa[nsp + i] : 0;
      if (ph[i] < 0 || pt[i] < 0 || ph[i] >= k[i] || pt[i] >= k[i])
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "pads must be in [0, kernel)");
      out[i] = pool_out_size(in[i], s[i], k[i], ph[i] + pt[i], ph[i], ceil_mode);
    } else if (!strcmp(ap, "VALID")) {
      out[i] = pool_out_size(in[i], s[i], k[i], 0, 0, ceil_mode);
    } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
      int64_t target = (in[i] + s[i] - 1) / s[i];
      int64_t need = (target - 1) * s[i] + k[i] - in[i];
      if (need < 0) need = 0;
      ph[i] = !strcmp(ap, "SAME_LOWER") ? (need + 1) / 2 : need / 2;
      pt[i] = need - ph[i];
      out[i] = pool_out_size(in[i], s[i], k[i], need, ph[i], ceil_mode);
    } else {
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown auto_pad '%s'", ap);
    }
    if (out[i] < 0) out[i] = 0;
  }
  int64_t ydims[QL_MAX_RANK];
  ydims[0] = nb;
  for (int i = 0; i < nsp; i++) ydims[cl ? 1 + i : 2 + i] = out[i];
  ydims[cl ? x->rank - 1 : 1] = ch;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, ydims);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  /* ORT switches to the integer global-average kernel when the window is
   * the whole image and nothing is padded */
  int global = 1;
  for (int i = 0; i < nsp; i++) global &= in[i] == k[i] && ph[i] == 0 && pt[i] == 0;
  if (global) return gap_compute(c, x, y, xs, xz, ys, yz, nb, ch, in[0] * in[1] * in[2], cl);
  int64_t lo, hi;
  ql_dtype_int_range(x->dtype, &lo, &hi);
  int64_t kernel_size = k[0] * k[1] * k[2], image = in[0] * in[1] * in[2];
  for (int64_t b = 0; b < nb; b++)
    for (int64_t cc = 0; cc < ch; cc++)
      for (int64_t o0 = 0; o0 < out[0]; o0++)
        for (int64_t o1 = 0; o1 < out[1]; o1++)
          for (int64_t o2 = 0; o2 < out[2]; o2++) {
            int64_t st_[3], en[3], o[3] = {o0, o1, o2};
            for (int i = 0; i < 3; i++) {
              st_[i] = o[i] * s[i] - ph[i];
              en[i] = st_[i] + k[i] < in[i] ? st_[i] + k[i] : in[i];
              if (st_[i] < 0) st_[i] = 0;
            }
            /* dequantize (x_scale * (x - zp)), sum in float in window order */
            float sum = 0.0f;
            for (int64_t h = st_[0]; h < en[0]; h++)
              for (int64_t w = st_[1]; w < en[1]; w++)
                for (int64_t d = st_[2]; d < en[2]; d++) {
                  int64_t p = (h * in[1] + w) * in[2] + d;
                  int64_t idx = cl ? (b * image + p) * ch + cc : (b * ch + cc) * image + p;
                  sum += xs * (float)(load_q(x->dtype, x->data, idx) - xz);
                }
            int64_t cnt = include_pad ? kernel_size : (en[0] - st_[0]) * (en[1] - st_[1]) * (en[2] - st_[2]);
            float avg = sum / (float)cnt;
            /* ORT's quantize_value adds the zero point before rounding */
            int32_t q = clamp_i32(cvt_i32(nearbyintf(avg / ys + (float)yz)), lo, hi);
            int64_t op = (o0 * out[1] + o1) * out[2] + o2, oimg = out[0] * out[1] * out[2];
            int64_t oidx = cl ? (b * oimg + op) * ch + cc : (b * ch + cc) * oimg + op;
            store_q(x->dtype, y->data, oidx, q);
          }
  return QL_OK;
}

const ql_op_def ql_ops_ms_quant[] = {
    {"com.microsoft", "QuantizeLinear", 1, 1, ms_quantize},
    {"com.microsoft", "DequantizeLinear", 1, 1, ms_dequantize},
    {"com.microsoft", "QLinearAdd", 1, 1, qlinear_add},
    {"com.microsoft", "QLinearMul", 1, 1, qlinear_mul},
    {"com.microsoft", "QLinearLeakyRelu", 1, 1, qlinear_leaky_relu, ql_op_isa_prepare, ql_op_isa_release},
    {"com.microsoft", "QLinearSigmoid", 1, 1, qlinear_sigmoid, ql_op_isa_prepare, ql_op_isa_release},
    {"com.microsoft", "QLinearSoftmax", 1, 1, qlinear_softmax},
    {"com.microsoft", "QLinearConcat", 1, 1, qlinear_concat, ql_op_isa_prepare, ql_op_isa_release},
    {QL_INTERNAL_DOMAIN, "QLinearLookup", 1, 1, qlinear_lookup, ql_op_isa_prepare, ql_op_isa_release},
    {"com.microsoft", "QLinearWhere", 1, 1, qlinear_where},
    {"com.microsoft", "QLinearGlobalAveragePool", 1, 1, qlinear_global_average_pool},
    {"com.microsoft", "QLinearAveragePool", 1, 1, qlinear_average_pool},
    {0},
};

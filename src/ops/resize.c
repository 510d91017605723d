/* Resize (v10..v19) and Upsample (v1..v10).
 *
 * Interpolation is separable, so the tensor is resized one axis at a time,
 * as the ONNX reference does: for each resized axis a per-output-index table
 * of taps (input index, weight) is built from the coordinate transform and
 * the interpolation kernel, then applied along that axis. Values travel in
 * double and are converted once into the output type.
 *
 * Integer outputs: the spec does not say how an interpolated value becomes
 * an integer. The ONNX reference rounds half to even; ONNX Runtime
 * truncates toward zero (static_cast in its NCHW kernels). Real int8 models
 * are built and checked with ONNX Runtime, and rounding instead moves
 * NanoDet-Plus-int8 outputs by up to 20 quantization steps, so qlinear
 * saturates and truncates like ONNX Runtime (NanoDet-Plus-int8 then matches
 * it bit for bit). */
#include "op.h"
#include "../kernels/qgemm.h"
#include "../runtime/threadpool.h"
#include <math.h>

typedef enum { M_NEAREST, M_LINEAR, M_CUBIC } interp_mode;
typedef enum {
  CT_HALF_PIXEL, CT_HALF_PIXEL_SYMMETRIC, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC,
  CT_TF_HALF_PIXEL_FOR_NN, CT_TF_CROP_AND_RESIZE
} coord_mode;
typedef enum { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE } nearest_mode;

typedef struct resize_opts {
  interp_mode mode;
  coord_mode ct;
  nearest_mode nm;
  double cubic_a, extrapolation;
  int exclude_outside, antialias;
} resize_opts;

/* One axis: for output index o, taps idx[o*n + j] with weights w[o*n + j];
 * extrap[o] marks tf_crop_and_resize positions outside the input. */
typedef struct axis_taps {
  int n;
  int64_t *idx;
  double *w;
  uint8_t *extrap;
} axis_taps;

/* Scratch taps for axes of up to `outs` outputs with up to `cnt` taps in
 * all (cnt >= outs * n of every axis they serve). */
static ql_status taps_alloc(ql_op_ctx *c, size_t cnt, size_t outs, axis_taps *t) {
  size_t b;
  if (ql_mul_overflow_size(cnt, sizeof(int64_t) + sizeof(double), &b) || ql_add_overflow_size(b, outs, &b))
    return ql_op_fail(c, QL_ERR_LIMIT, "resize taps too large");
  char *p = ql_op_scratch(c, b);
  if (!p) return c->err->code;
  t->idx = (int64_t *)p;
  t->w = (double *)(p + cnt * sizeof(int64_t));
  t->extrap = (uint8_t *)(p + cnt * (sizeof(int64_t) + sizeof(double)));
  return QL_OK;
}

/* x_original for output index x (spec text of coordinate_transformation_mode).
 * length_resized is in * scale, fractional when it comes from a scale factor:
 * the spec defines scale = length_resized / length_original, and the ONNX
 * reference (hence the node tests) uses that value. ONNX Runtime uses the
 * integer output length instead, which differs for align_corners and
 * tf_crop_and_resize when in * scale is not integral. With sizes (stretch)
 * outw is exactly the requested size. */
static double x_original(const resize_opts *o, double x, double scale, int64_t in, int64_t out, double outw,
                         double r0, double r1) {
  switch (o->ct) {
  case CT_HALF_PIXEL: return (x + 0.5) / scale - 0.5;
  case CT_HALF_PIXEL_SYMMETRIC: {
    double adjustment = (double)out / (scale * (double)in);
    double center = (double)in / 2;
    return center * (1 - adjustment) + (x + 0.5) / scale - 0.5;
  }
  case CT_PYTORCH_HALF_PIXEL: return outw != 1 ? (x + 0.5) / scale - 0.5 : 0;
  case CT_ALIGN_CORNERS: return outw != 1 ? x * (double)(in - 1) / (outw - 1) : 0;
  case CT_ASYMMETRIC: return x / scale;
  case CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / scale;
  case CT_TF_CROP_AND_RESIZE:
    return outw != 1 ? r0 * (double)(in - 1) + x * (r1 - r0) * (double)(in - 1) / (outw - 1)
                     : 0.5 * (r0 + r1) * (double)(in - 1);
  }
  return 0;
}

static int64_t nearest_index(nearest_mode nm, double x, int down) {
  double f = floor(x);
  switch (nm) {
  case NM_ROUND_PREFER_FLOOR: return (int64_t)(x - f <= 0.5 ? f : f + 1);
  case NM_ROUND_PREFER_CEIL: return (int64_t)(x - f < 0.5 ? f : f + 1);
  case NM_FLOOR: return (int64_t)f;
  case NM_CEIL: return (int64_t)ceil(x);
  case NM_SIMPLE: return (int64_t)(down ? ceil(x) : trunc(x)); /* Upsample and Resize-10 */
  }
  return 0;
}

static double cubic_w(double x, double a) {
  x = fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/* The taps of an axis: n per output index, the first at offset start from
 * floor(x_original). Fails for a broken scale. */
static ql_status taps_shape(ql_op_ctx *c, const resize_opts *o, int64_t in, double scale, int *n, int64_t *start) {
  double s = o->antialias && scale < 1 ? scale : 1; /* filter stretch when downscaling */
  /* taps start..start+n-1 around x_original; the support is 1 (linear) or
   * 2 (cubic) pixels each side, stretched by 1/s */
  double support = o->mode == M_NEAREST ? 0 : o->mode == M_LINEAR ? 1 : 2;
  double fstart = o->mode == M_NEAREST ? 0 : floor(-support / s) + 1;
  /* out >= 1 implies scale >= ~1/(2 in), so a stretched filter spans at most
   * a few times the input; anything wider is a broken scale */
  if (!(fstart >= -(2.0 * (double)in + 8)) || fstart < -1e9)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "antialias filter for scale %g is wider than the input", scale);
  *start = (int64_t)fstart;
  *n = o->mode == M_NEAREST ? 1 : (int)(2 - 2 * *start);
  return QL_OK;
}

/* out * n of this axis into size_t; fails when it overflows. */
static ql_status taps_count(ql_op_ctx *c, int64_t out, int n, size_t *cnt) {
  if (ql_mul_overflow_size((size_t)out, (size_t)n, cnt)) return ql_op_fail(c, QL_ERR_LIMIT, "resize taps too large");
  return QL_OK;
}

/* Builds the taps of one axis into t, whose buffers hold its out * n taps
 * (taps_alloc). Linear and cubic follow the reference: the window starts
 * left of x_original (an integral x_original counts as ratio 1 of the pixel
 * before it), taps beyond the edges are clamped to the edge pixel, or
 * dropped and the weights renormalized with exclude_outside. */
static ql_status build_taps(ql_op_ctx *c, const resize_opts *o, int64_t in, int64_t out, double scale,
                            double outw, double r0, double r1, axis_taps *t) {
  double s = o->antialias && scale < 1 ? scale : 1; /* filter stretch when downscaling */
  int64_t start = 0; /* set by taps_shape; GCC -O3 cannot see it */
  int n = 1;
  ql_status st = taps_shape(c, o, in, scale, &n, &start);
  if (st) return st;
  t->n = n;
  for (int64_t x = 0; x < out; x++) {
    int64_t *ix = t->idx + x * n;
    double *w = t->w + x * n;
    double xo = x_original(o, (double)x, scale, in, out, outw, r0, r1);
    t->extrap[x] = o->ct == CT_TF_CROP_AND_RESIZE && (xo < 0 || xo > (double)(in - 1));
    if (!isfinite(xo)) xo = 0;
    if (xo > 9e15) xo = 9e15; /* keeps the index arithmetic defined */
    if (xo < -9e15) xo = -9e15;
    if (o->mode == M_NEAREST) {
      int64_t k = nearest_index(o->nm, xo, scale < 1);
      ix[0] = k < 0 ? 0 : k >= in ? in - 1 : k;
      w[0] = 1;
      continue;
    }
    double base = floor(xo), ratio = xo - base;
    if (ratio == 0) {
      base -= 1;
      ratio = 1;
    }
    double sum = 0;
    for (int j = 0; j < n; j++) {
      int64_t k = (int64_t)base + start + j;
      double d = (double)(start + j) - ratio; /* signed distance from x_original */
      double wj;
      if (o->mode == M_LINEAR) {
        wj = 1 - fabs(d * s);
        if (wj < 0) wj = 0;
      } else if (!o->antialias) {
        /* the reference's four cubic polynomials, in ratio */
        double a = o->cubic_a, r = ratio, q = 1 - ratio;
        wj = j == 0   ? ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a
             : j == 1 ? ((a + 2) * r - (a + 3)) * r * r + 1
             : j == 2 ? ((a + 2) * q - (a + 3)) * q * q + 1
                      : ((a * (q + 1) - 5 * a) * (q + 1) + 8 * a) * (q + 1) - 4 * a;
      } else {
        wj = cubic_w(d * s, o->cubic_a);
      }
      if (o->exclude_outside && (k < 0 || k >= in)) wj = 0;
      ix[j] = k < 0 ? 0 : k >= in ? in - 1 : k;
      w[j] = wj;
      sum += wj;
    }
    if (o->antialias || o->exclude_outside) {
      if (sum == 0) sum = 1;
      for (int j = 0; j < n; j++) w[j] /= sum;
    }
  }
  return QL_OK;
}

/* dst[outer, x, inner] = sum_j w * src[outer, idx, inner] */
static void apply_taps(const double *src, double *dst, int64_t outer, int64_t in, int64_t out, int64_t inner,
                       const axis_taps *t, double extrapolation) {
  for (int64_t a = 0; a < outer; a++) {
    const double *s = src + a * in * inner;
    double *d = dst + a * out * inner;
    for (int64_t x = 0; x < out; x++) {
      double *dr = d + x * inner;
      if (t->extrap[x]) {
        for (int64_t i = 0; i < inner; i++) dr[i] = extrapolation;
        continue;
      }
      const int64_t *ix = t->idx + x * t->n;
      const double *w = t->w + x * t->n;
      for (int64_t i = 0; i < inner; i++) dr[i] = 0;
      for (int j = 0; j < t->n; j++) {
        if (w[j] == 0) continue;
        const double *sr = s + ix[j] * inner;
        double wj = w[j];
        for (int64_t i = 0; i < inner; i++) dr[i] += wj * sr[i];
      }
    }
  }
}

/* Nearest without extrapolation only moves elements, so it works on every
 * element type (strings, bool, complex included) and skips the conversion
 * to double: per-axis source indices, then one gather. */
static ql_status nearest_gather(ql_op_ctx *c, const ql_tensor *x, ql_tensor *y, const resize_opts *o,
                                const int64_t *out_dims, const double *scales, const double *outw) {
  int r = x->rank;
  int64_t *map[QL_MAX_RANK], stride[QL_MAX_RANK], opos[QL_MAX_RANK] = {0};
  int64_t sacc = 1;
  for (int a = r - 1; a >= 0; a--) {
    stride[a] = sacc;
    sacc *= x->dims[a];
  }
  /* y is allocated, so the sum of its dims fits; one tap per output */
  size_t total = 0, outs = 1;
  for (int a = 0; a < r; a++) {
    total += (size_t)out_dims[a];
    if ((size_t)out_dims[a] > outs) outs = (size_t)out_dims[a];
  }
  int64_t *blk = ql_op_scratch(c, total * sizeof *blk);
  if (!blk) return c->err->code;
  axis_taps t;
  ql_status st = taps_alloc(c, outs, outs, &t);
  if (st) return st;
  for (int a = 0; a < r; a++) {
    map[a] = blk;
    blk += out_dims[a];
    if (scales[a] == 1 && out_dims[a] == x->dims[a]) {
      for (int64_t i = 0; i < out_dims[a]; i++) map[a][i] = i;
      continue;
    }
    if ((st = build_taps(c, o, x->dims[a], out_dims[a], scales[a], outw[a], 0, 1, &t))) return st;
    for (int64_t i = 0; i < out_dims[a]; i++) map[a][i] = t.idx[i];
  }
  size_t es = ql_dtype_size(x->dtype);
  for (int64_t i = 0; i < y->numel; i++) {
    int64_t src = 0;
    for (int a = 0; a < r; a++) src += map[a][opos[a]] * stride[a];
    if (x->dtype == QL_STRING) {
      const char *sv = ((char *const *)x->data)[src];
      if (!(((char **)y->data)[i] = ql_strdup(sv ? sv : "")))
        return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
    } else {
      memcpy((char *)y->data + (size_t)i * es, (const char *)x->data + (size_t)src * es, es);
    }
    for (int a = r - 1; a >= 0; a--) {
      if (++opos[a] < out_dims[a]) break;
      opos[a] = 0;
    }
  }
  return QL_OK;
}

static int resize_type_ok(ql_dtype t) {
  switch (t) {
  case QL_FLOAT: case QL_DOUBLE: case QL_FLOAT16: case QL_BFLOAT16: case QL_INT8: case QL_UINT8: case QL_INT16:
  case QL_UINT16: case QL_INT32: case QL_UINT32: case QL_INT64: case QL_UINT64:
    return 1;
  default: return 0;
  }
}

/* ---- images: only the last two axes resized (NCHW Resize) ----
 * Plane by plane, split over the pool, with the reference's arithmetic:
 * the plane in double, taps applied along H and then along W, each sum
 * from 0 in tap order with zero weights skipped, then the same conversion.
 * So the bits are the reference's, without its whole-tensor double
 * buffers (NanoDet-Plus-int8's four Resizes took a quarter of its time). */
typedef struct plane_job {
  ql_op_ctx *c;
  const ql_tensor *x;
  ql_tensor *y;
  int64_t ih, iw, oh, ow;
  const axis_taps *th, *tw; /* NULL: that axis keeps its size */
  const int64_t *cidx;      /* tw's taps by tap: [j][ow] (the AVX-512 column pass) */
  const double *cw;
  int avx512;               /* the session may use AVX-512 (F, BW, VL) */
  int failed;
} plane_job;

static int plane_ok(const ql_tensor *x, const resize_opts *o, const int *todo, const int64_t *out_dims, int r) {
  if (x->dtype != QL_FLOAT && x->dtype != QL_UINT8 && x->dtype != QL_INT8) return 0;
  if (r < 2 || o->ct == CT_TF_CROP_AND_RESIZE) return 0;
  for (int a = 0; a < r - 2; a++)
    if (todo[a]) return 0;
  /* a thread's buffers (the plane, H resized) stay bounded; larger planes
   * take the reference path */
  int64_t need;
  return !ql_mul_overflow_i64(x->dims[r - 2] + out_dims[r - 2], x->dims[r - 1], &need) && need <= ((int64_t)1 << 24);
}

/* dst[o][i] = sum_j w_j * src[idx_j][i] over rows of n doubles */
static void taps_rows(const double *src, double *dst, int64_t out, int64_t n, const axis_taps *t) {
  for (int64_t o = 0; o < out; o++) {
    double *d = dst + o * n;
    for (int64_t i = 0; i < n; i++) d[i] = 0;
    for (int j = 0; j < t->n; j++) {
      const double w = t->w[o * t->n + j];
      if (w == 0) continue;
      const double *sr = src + t->idx[o * t->n + j] * n;
      for (int64_t i = 0; i < n; i++) d[i] += w * sr[i];
    }
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
/* The 8-bit column pass, 8 outputs at a time: the same double products
 * and sums in the same tap order as the loop in plane_task (gathered
 * instead of loaded), the same clamp, then truncation. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void cols_8bit_avx512(const plane_job *jb,
                                                                                 const double *row, int64_t lo,
                                                                                 int64_t hi, int u8, void *dst) {
  const int64_t ow = jb->ow;
  const int n = jb->tw->n;
  const __m512d vlo = _mm512_set1_pd((double)lo), vhi = _mm512_set1_pd((double)hi);
  for (int64_t o = 0; o < ow; o += 8) {
    const __mmask8 m = ow - o >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (ow - o)) - 1);
    __m512d v = _mm512_setzero_pd();
    for (int j = 0; j < n; j++) {
      const __m512i ix = _mm512_maskz_loadu_epi64(m, jb->cidx + j * ow + o);
      const __m512d g = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), m, ix, row, 8);
      v = _mm512_add_pd(v, _mm512_mul_pd(_mm512_maskz_loadu_pd(m, jb->cw + j * ow + o), g));
    }
    const __m256i q = _mm512_cvttpd_epi32(_mm512_min_pd(_mm512_max_pd(v, vlo), vhi));
    const __m128i b = u8 ? _mm256_cvtusepi32_epi8(q) : _mm256_cvtsepi32_epi8(q); /* in range: exact */
    _mm_mask_storeu_epi8((char *)dst + o, (__mmask16)m, b);
  }
}
#endif

static void plane_task(void *ctx, size_t thread, size_t p0, size_t j0, size_t np, size_t nj) {
  (void)j0;
  (void)nj;
  plane_job *jb = ctx;
  const int64_t ih = jb->ih, iw = jb->iw, oh = jb->oh, ow = jb->ow;
  /* the plane in double, then H resized */
  double *in = ql_op_thread_scratch(jb->c, thread, (size_t)(ih * iw + (jb->th ? oh * iw : 0)) * sizeof(double));
  if (!in) {
    jb->failed = 1; /* a benign race: every writer stores 1 */
    return;
  }
  double *rows = jb->th ? in + ih * iw : in;
  const ql_dtype t = jb->x->dtype;
  int64_t lo = 0, hi = 0;
  if (t != QL_FLOAT) ql_dtype_int_range(t, &lo, &hi);
  for (size_t p = p0; p < p0 + np; p++) {
    const int64_t xo = (int64_t)p * ih * iw, yo = (int64_t)p * oh * ow;
    if (t == QL_FLOAT)
      for (int64_t i = 0; i < ih * iw; i++) in[i] = ((const float *)jb->x->data)[xo + i];
    else if (t == QL_UINT8)
      for (int64_t i = 0; i < ih * iw; i++) in[i] = ((const uint8_t *)jb->x->data)[xo + i];
    else
      for (int64_t i = 0; i < ih * iw; i++) in[i] = ((const int8_t *)jb->x->data)[xo + i];
    if (jb->th) taps_rows(in, rows, oh, iw, jb->th);
    const axis_taps *tw = jb->tw;
    for (int64_t r = 0; r < oh; r++) {
      const double *row = rows + r * iw;
      if (t == QL_FLOAT) {
        float *yr = (float *)jb->y->data + yo + r * ow;
        for (int64_t o = 0; o < ow; o++) {
          double v = 0;
          if (!tw) v = row[o];
          else
            for (int j = 0; j < tw->n; j++) {
              const double w = tw->w[o * tw->n + j];
              if (w != 0) v += w * row[tw->idx[o * tw->n + j]]; /* 0 * inf would be NaN */
            }
          yr[o] = (float)v;
        }
        continue;
      }
      /* 8-bit inputs are finite, so a zero weight adds exactly 0 and needs
       * no test; truncating and clamping commute (the bounds are integers) */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
      if (tw && jb->avx512) {
        cols_8bit_avx512(jb, row, lo, hi, t == QL_UINT8,
                         (char *)jb->y->data + yo + r * ow);
        continue;
      }
#endif
      for (int64_t o = 0; o < ow; o++) {
        double v = 0;
        if (!tw) v = row[o];
        else
          for (int j = 0; j < tw->n; j++) v += tw->w[o * tw->n + j] * row[tw->idx[o * tw->n + j]];
        const int32_t b = (int32_t)(v < (double)lo ? (double)lo : v > (double)hi ? (double)hi : v);
        if (t == QL_UINT8) ((uint8_t *)jb->y->data)[yo + r * ow + o] = (uint8_t)b;
        else ((int8_t *)jb->y->data)[yo + r * ow + o] = (int8_t)b;
      }
    }
  }
}

/* tcap, ocap: the most taps and outputs of a resized axis (resize_core's
 * sizing pass) */
static ql_status resize_planes(ql_op_ctx *c, const ql_tensor *x, ql_tensor *y, const resize_opts *o,
                               const int64_t *out_dims, const double *scales, const double *outw, const int *todo,
                               size_t tcap, size_t ocap) {
  const int r = x->rank;
  plane_job jb = {.c = c, .x = x, .y = y, .ih = x->dims[r - 2], .iw = x->dims[r - 1], .oh = out_dims[r - 2],
                  .ow = out_dims[r - 1]};
  axis_taps taps[2];
  for (int k = 0; k < 2; k++) {
    const int a = r - 2 + k;
    if (!todo[a]) continue;
    ql_status st = taps_alloc(c, tcap, ocap, &taps[k]);
    if (!st) st = build_taps(c, o, x->dims[a], out_dims[a], scales[a], outw[a], 0, 1, &taps[k]);
    if (st) return st;
    if (k == 0) jb.th = &taps[0];
    else jb.tw = &taps[1];
  }
  jb.avx512 = *(const int *)c->state >= QL_ISA_AVX512VNNI && (ql_cpu_features() & QL_CPU_AVX512);
  if (jb.tw && jb.avx512 && x->dtype != QL_FLOAT) { /* the column taps by tap, for the gathers */
    const size_t cnt = (size_t)jb.tw->n * (size_t)jb.ow; /* taps_count checked it */
    int64_t *ci = ql_op_scratch(c, cnt * sizeof *ci);
    double *cw = ci ? ql_op_scratch(c, cnt * sizeof *cw) : NULL;
    if (!cw) return c->err->code;
    for (int j = 0; j < jb.tw->n; j++)
      for (int64_t o = 0; o < jb.ow; o++) {
        ci[j * jb.ow + o] = jb.tw->idx[o * jb.tw->n + j];
        cw[j * jb.ow + o] = jb.tw->w[o * jb.tw->n + j];
      }
    jb.cidx = ci;
    jb.cw = cw;
  }
  const size_t planes = (size_t)(x->numel / (jb.ih * jb.iw));
  const size_t per = planes / (4 * (size_t)ql_threadpool_size(c->pool));
  ql_threadpool_parallel_for_2d(c->pool, plane_task, &jb, planes, 1, per ? per : 1, 1);
  return jb.failed ? ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory") : QL_OK;
}



/* The shared core: x resized to out_dims with per-axis scales, fractional
 * output lengths outw (see x_original) and roi (roi[2*r], NULL = no roi). */
static ql_status resize_core(ql_op_ctx *c, const ql_tensor *x, const resize_opts *o, const int64_t *out_dims,
                             const double *scales, const double *outw, const double *roi) {
  int r = x->rank;
  if (ql_dims_numel(r, out_dims) < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output shape overflows");
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, out_dims);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  if (x->numel == 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "cannot resize an empty input to a non-empty output");
  if (o->mode == M_NEAREST && !roi) return nearest_gather(c, x, y, o, out_dims, scales, outw);
  if (!resize_type_ok(x->dtype))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "%s interpolation of %s is not supported",
                      o->mode == M_NEAREST ? "extrapolating nearest" : "linear/cubic", ql_dtype_name(x->dtype));
  /* an unscaled axis is left alone (as the reference and ONNX Runtime do;
   * only tf_half_pixel_for_nn would otherwise move it by half a pixel).
   * The sizes first, so that the memory is taken once: the values go back
   * and forth between two buffers of the largest intermediate size, and
   * one set of taps serves every axis. */
  int64_t cur[QL_MAX_RANK];
  int todo[QL_MAX_RANK];
  memcpy(cur, x->dims, sizeof(int64_t) * (size_t)r);
  size_t cap = (size_t)x->numel, tcap = 1, ocap = 1;
  for (int a = 0; a < r; a++) {
    double r0 = roi ? roi[a] : 0, r1 = roi ? roi[a + r] : 1;
    int crop = o->ct == CT_TF_CROP_AND_RESIZE && (r0 != 0 || r1 != 1);
    if (!(todo[a] = !(scales[a] == 1 && out_dims[a] == cur[a] && !crop))) continue;
    int n = 1;
    int64_t start = 0;
    size_t cnt = 0;
    ql_status st = taps_shape(c, o, cur[a], scales[a], &n, &start);
    if (!st) st = taps_count(c, out_dims[a], n, &cnt);
    if (st) return st;
    cur[a] = out_dims[a];
    int64_t need = ql_dims_numel(r, cur);
    if (need < 0) return ql_op_fail(c, QL_ERR_LIMIT, "intermediate resize shape overflows");
    if ((size_t)need > cap) cap = (size_t)need;
    if (cnt > tcap) tcap = cnt;
    if ((size_t)out_dims[a] > ocap) ocap = (size_t)out_dims[a];
  }
  if (c->state && plane_ok(x, o, todo, out_dims, r))
    return resize_planes(c, x, y, o, out_dims, scales, outw, todo, tcap, ocap);
  size_t bbytes;
  if (ql_mul_overflow_size(cap, 2 * sizeof(double), &bbytes))
    return ql_op_fail(c, QL_ERR_LIMIT, "intermediate resize shape too large");
  double *buf = ql_op_scratch(c, bbytes);
  if (!buf) return c->err->code;
  double *tmp = buf + cap;
  axis_taps t;
  ql_status st = taps_alloc(c, tcap, ocap, &t);
  if (st) return st;
  for (int64_t i = 0; i < x->numel; i++)
    buf[i] = x->dtype == QL_FLOAT ? ((const float *)x->data)[i] : ql_load_f64(x->dtype, x->data, i);
  memcpy(cur, x->dims, sizeof(int64_t) * (size_t)r);
  for (int a = 0; a < r; a++) {
    if (!todo[a]) continue;
    double r0 = roi ? roi[a] : 0, r1 = roi ? roi[a + r] : 1;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < a; i++) outer *= cur[i];
    for (int i = a + 1; i < r; i++) inner *= cur[i];
    if ((st = build_taps(c, o, cur[a], out_dims[a], scales[a], outw[a], r0, r1, &t))) return st;
    apply_taps(buf, tmp, outer, cur[a], out_dims[a], inner, &t, o->extrapolation);
    double *sw = buf;
    buf = tmp;
    tmp = sw;
    cur[a] = out_dims[a];
  }
  if (ql_dtype_is_int(x->dtype)) {
    int64_t lo, hi;
    ql_dtype_int_range(x->dtype, &lo, &hi);
    for (int64_t i = 0; i < y->numel; i++) {
      double v = trunc(buf[i]);
      if (!(v == v)) v = 0;
      if (v <= (double)lo) ql_store_i64(x->dtype, y->data, i, lo);
      else if (v >= (double)hi) ql_store_i64(x->dtype, y->data, i, hi);
      else ql_store_i64(x->dtype, y->data, i, (int64_t)v);
    }
  } else if (x->dtype == QL_FLOAT) {
    for (int64_t i = 0; i < y->numel; i++) ((float *)y->data)[i] = (float)buf[i];
  } else {
    for (int64_t i = 0; i < y->numel; i++) ql_store_f64(x->dtype, y->data, i, buf[i]);
  }
  return QL_OK;
}

static ql_status parse_mode(ql_op_ctx *c, const char *m, interp_mode *out) {
  if (!strcmp(m, "nearest")) *out = M_NEAREST;
  else if (!strcmp(m, "linear") || !strcmp(m, "bilinear")) *out = M_LINEAR;
  else if (!strcmp(m, "cubic")) *out = M_CUBIC;
  else return ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown mode '%s'", m);
  return QL_OK;
}

/* Reads a float tensor (scales, roi) into out[max]; returns the count or -1. */
static int read_floats(const ql_tensor *t, double *out, int max) {
  if (!t || !ql_dtype_is_float(t->dtype) || t->numel > max) return -1;
  for (int64_t i = 0; i < t->numel; i++) out[i] = ql_load_f64(t->dtype, t->data, i);
  return (int)t->numel;
}

/* floor(in * scale) per axis, after checking the scales. */
static ql_status sizes_from_scales(ql_op_ctx *c, const ql_tensor *x, const double *scales, int64_t *out) {
  for (int i = 0; i < x->rank; i++) {
    double v = floor((double)x->dims[i] * scales[i]);
    if (!(scales[i] > 0) || !isfinite(scales[i]))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "scale %g of axis %d is not positive", scales[i], i);
    if (v > 4e18) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output dim %d overflows", i);
    out[i] = (int64_t)v;
  }
  return QL_OK;
}

static ql_status resize(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input X is required");
  if (!ql_dtype_size(x->dtype))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input type %s is not a tensor element type", ql_dtype_name(x->dtype));
  int r = x->rank;
  if (r < 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X must have rank >= 1");
  resize_opts o = {0};
  ql_status st = parse_mode(c, ql_attr_string(c->node, "mode", "nearest"), &o.mode);
  if (st) return st;
  if (!strcmp(ql_attr_string(c->node, "mode", "nearest"), "bilinear"))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown mode 'bilinear'");
  const ql_tensor *roi_t = NULL, *scales_t, *sizes_t = NULL;
  if (c->version < 11) {
    /* Resize-10: (X, scales), asymmetric coordinates, Upsample's nearest */
    scales_t = ql_op_in(c, 1);
    o.ct = CT_ASYMMETRIC;
    o.nm = NM_SIMPLE;
  } else {
    roi_t = ql_op_in(c, 1);
    scales_t = ql_op_in(c, 2);
    sizes_t = ql_op_in(c, 3);
    const char *ct = ql_attr_string(c->node, "coordinate_transformation_mode", "half_pixel");
    static const struct { const char *name; coord_mode m; int min_v, max_v; } cts[] = {
        {"half_pixel", CT_HALF_PIXEL, 11, 99}, {"half_pixel_symmetric", CT_HALF_PIXEL_SYMMETRIC, 19, 99},
        {"pytorch_half_pixel", CT_PYTORCH_HALF_PIXEL, 11, 99}, {"align_corners", CT_ALIGN_CORNERS, 11, 99},
        {"asymmetric", CT_ASYMMETRIC, 11, 99}, {"tf_half_pixel_for_nn", CT_TF_HALF_PIXEL_FOR_NN, 11, 99},
        {"tf_crop_and_resize", CT_TF_CROP_AND_RESIZE, 11, 99}};
    /* tf_half_pixel_for_nn left the spec in v13; it is still accepted there,
     * as ONNX Runtime does, since older exporters keep emitting it */
    size_t k;
    for (k = 0; k < sizeof cts / sizeof *cts; k++)
      if (!strcmp(ct, cts[k].name) && c->version >= cts[k].min_v && c->version <= cts[k].max_v) break;
    if (k == sizeof cts / sizeof *cts)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "coordinate_transformation_mode '%s' is not in Resize-%d", ct,
                        c->version);
    o.ct = cts[k].m;
    const char *nm = ql_attr_string(c->node, "nearest_mode", "round_prefer_floor");
    if (!strcmp(nm, "round_prefer_floor")) o.nm = NM_ROUND_PREFER_FLOOR;
    else if (!strcmp(nm, "round_prefer_ceil")) o.nm = NM_ROUND_PREFER_CEIL;
    else if (!strcmp(nm, "floor")) o.nm = NM_FLOOR;
    else if (!strcmp(nm, "ceil")) o.nm = NM_CEIL;
    else return ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown nearest_mode '%s'", nm);
    o.cubic_a = ql_attr_float(c->node, "cubic_coeff_a", -0.75f);
    o.exclude_outside = ql_attr_int(c->node, "exclude_outside", 0) != 0;
    o.extrapolation = ql_attr_float(c->node, "extrapolation_value", 0.0f);
    o.antialias = c->version >= 18 && ql_attr_int(c->node, "antialias", 0) != 0 && o.mode != M_NEAREST;
  }
  /* axes (v18+): which axes roi/scales/sizes describe */
  int axes[QL_MAX_RANK], na = r;
  for (int i = 0; i < r; i++) axes[i] = i;
  size_t nax = 0;
  const int64_t *av = c->version >= 18 ? ql_attr_ints(c->node, "axes", &nax) : NULL;
  if (av) {
    if (nax < 1 || nax > (size_t)r) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axes has %zu values for rank %d", nax, r);
    na = (int)nax;
    for (int i = 0; i < na; i++) {
      if ((axes[i] = ql_norm_axis(av[i], r)) < 0)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range", (long long)av[i]);
      for (int j = 0; j < i; j++)
        if (axes[j] == axes[i]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %d is repeated", axes[i]);
    }
  }
  double scales[QL_MAX_RANK], outw[QL_MAX_RANK], roi[2 * QL_MAX_RANK], tmp[2 * QL_MAX_RANK];
  int64_t out_dims[QL_MAX_RANK], szs[QL_MAX_RANK];
  for (int i = 0; i < r; i++) {
    scales[i] = 1;
    out_dims[i] = x->dims[i];
    roi[i] = 0;
    roi[i + r] = 1;
  }
  int have_scales = scales_t && scales_t->numel > 0, have_sizes = sizes_t && sizes_t->numel > 0;
  if (have_scales == have_sizes)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "exactly one of scales and sizes must be given");
  if (have_scales) {
    int n = read_floats(scales_t, tmp, QL_MAX_RANK);
    if (n != na) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "scales has %lld values, expected %d", (long long)scales_t->numel, na);
    for (int i = 0; i < na; i++) scales[axes[i]] = tmp[i];
    if ((st = sizes_from_scales(c, x, scales, out_dims))) return st;
    for (int i = 0; i < r; i++) outw[i] = scales[i] * (double)x->dims[i];
  } else {
    int n = ql_tensor_to_i64s(sizes_t, szs, QL_MAX_RANK);
    if (n != na || sizes_t->dtype != QL_INT64)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "sizes must be int64 with %d values", na);
    const char *pol = c->version >= 18 ? ql_attr_string(c->node, "keep_aspect_ratio_policy", "stretch") : "stretch";
    for (int i = 0; i < na; i++)
      if (szs[i] < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "sizes[%d] = %lld is negative", i, (long long)szs[i]);
    if (!strcmp(pol, "stretch")) {
      for (int i = 0; i < na; i++) {
        out_dims[axes[i]] = szs[i];
        scales[axes[i]] = x->dims[axes[i]] ? (double)szs[i] / (double)x->dims[axes[i]] : 1;
      }
      for (int i = 0; i < r; i++) outw[i] = (double)out_dims[i];
    } else if (!strcmp(pol, "not_larger") || !strcmp(pol, "not_smaller")) {
      int larger = pol[4] == 's';
      double sc = 0;
      for (int i = 0; i < na; i++) {
        double v = x->dims[axes[i]] ? (double)szs[i] / (double)x->dims[axes[i]] : 1;
        if (i == 0 || (larger ? v > sc : v < sc)) sc = v;
      }
      for (int i = 0; i < na; i++) {
        scales[axes[i]] = sc;
        double v = floor(sc * (double)x->dims[axes[i]] + 0.5); /* round half up */
        if (v > 4e18) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output dim overflows");
        out_dims[axes[i]] = (int64_t)v;
      }
      for (int i = 0; i < r; i++) outw[i] = scales[i] * (double)x->dims[i];
    } else {
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown keep_aspect_ratio_policy '%s'", pol);
    }
  }
  int use_roi = o.ct == CT_TF_CROP_AND_RESIZE;
  if (use_roi) {
    int n = read_floats(roi_t, tmp, 2 * QL_MAX_RANK);
    if (n != 2 * na) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "tf_crop_and_resize needs roi with %d values", 2 * na);
    for (int i = 0; i < na; i++) {
      roi[axes[i]] = tmp[i];
      roi[axes[i] + r] = tmp[i + na];
    }
  }
  return resize_core(c, x, &o, out_dims, scales, outw, use_roi ? roi : NULL);
}

/* Upsample: v1 (height_scale/width_scale attributes, 4-D), v7 (scales
 * attribute), v9/v10 (scales input). Asymmetric coordinates. */
static ql_status upsample(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input X is required");
  if (!ql_dtype_size(x->dtype))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input type %s is not a tensor element type", ql_dtype_name(x->dtype));
  resize_opts o = {.ct = CT_ASYMMETRIC, .nm = NM_SIMPLE};
  const char *m = ql_attr_string(c->node, "mode", "nearest");
  if (c->version >= 7 && !strcmp(m, "bilinear")) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown mode '%s'", m);
  if (c->version < 7 && !strcmp(m, "linear")) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown mode '%s'", m);
  ql_status st = parse_mode(c, m, &o.mode);
  if (st) return st;
  if (o.mode == M_CUBIC) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "Upsample has no cubic mode");
  double scales[QL_MAX_RANK];
  int r = x->rank;
  if (c->version < 7) {
    if (r != 4) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "Upsample-1 needs a 4-D input");
    scales[0] = scales[1] = 1;
    scales[2] = ql_attr_float(c->node, "height_scale", 0);
    scales[3] = ql_attr_float(c->node, "width_scale", 0);
  } else if (c->version < 9) {
    size_t n = 0;
    const float *f = ql_attr_floats(c->node, "scales", &n);
    if (!f || n != (size_t)r) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "scales must have %d values", r);
    for (int i = 0; i < r; i++) scales[i] = f[i];
  } else if (read_floats(ql_op_in(c, 1), scales, QL_MAX_RANK) != r) {
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "scales must be a float tensor with %d values", r);
  }
  int64_t out_dims[QL_MAX_RANK];
  if ((st = sizes_from_scales(c, x, scales, out_dims))) return st;
  double outw[QL_MAX_RANK];
  for (int i = 0; i < r; i++) outw[i] = scales[i] * (double)x->dims[i];
  return resize_core(c, x, &o, out_dims, scales, outw, NULL);
}

const ql_op_def ql_ops_resize[] = {
    {"", "Resize", 10, 19, resize, ql_op_isa_prepare, ql_op_isa_release},
    {"", "Upsample", 1, 10, upsample, ql_op_isa_prepare, ql_op_isa_release},
    {0},
};

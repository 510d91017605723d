/* Integer convolutions: QLinearConv (10) and ConvInteger (10), reference
 * implementations (portable, exact, written to be read).
 *
 *   acc[n,m,o] = B[m] + sum_{c in group(m), k} (x[n,c,o*s+k*d-pb] - x_zp) * (w[m,c,k] - w_zp[m])
 *
 * Padding contributes 0 *after* the zero point is subtracted (i.e. the input
 * is padded with x_zp), as the ONNX reference and ONNX Runtime do.
 * ConvInteger outputs acc (int32); QLinearConv requantizes it with
 * ql_requant_f32 (requant.h), multiplier x_scale * w_scale[m] / y_scale.
 *
 * Sums are taken modulo 2^32 (uint32 arithmetic) so that an adversarial model
 * whose accumulator overflows int32 wraps like int32 hardware instead of
 * hitting undefined behaviour; every product fits easily (|.| <= 255 * 255).
 * Integer sums do not depend on order, so any faster kernel that wraps the
 * same way gives identical results. */
#include "conv-geom.h"
#include "requant.h"
#include "../kernels/dwconv.h"
#include "../kernels/qgemm.h"
#include "../runtime/fuse.h"
#include "../runtime/threadpool.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

/* The operands shared by both ops once validated and centered (the
 * centered copies live in the op's scratch). */
typedef struct iconv {
  ql_conv_attrs attrs;
  ql_conv_geom g;
  int64_t N, C, M, cg, mg; /* batch, in/out channels, per group */
  int16_t *x;              /* x - x_zp, [N, C, in...] */
  int16_t *w;              /* w - w_zp[m], [M, cg, kernel...] */
} iconv;

static int is_8bit(const ql_tensor *t) {
  return t->dtype == QL_UINT8 || t->dtype == QL_INT8;
}

/* Zero point of x: absent -> 0, else a one-element tensor of x's type. */
static ql_status scalar_zp(ql_op_ctx *c, const ql_tensor *zp, ql_dtype want, const char *name, int32_t *out) {
  *out = 0;
  if (!zp) return QL_OK;
  if (zp->dtype != want)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has type %s, expected %s", name, ql_dtype_name(zp->dtype),
                      ql_dtype_name(want));
  if (zp->numel != 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has %lld elements, expected 1", name, (long long)zp->numel);
  *out = (int32_t)ql_load_i64(zp->dtype, zp->data, 0);
  return QL_OK;
}

/* A float32 scale with 1 element, or (allow_m > 0) a 1-D tensor of allow_m. */
static ql_status check_scale(ql_op_ctx *c, const ql_tensor *s, const char *name, int64_t allow_m) {
  if (!s) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s is required", name);
  if (s->dtype != QL_FLOAT)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has type %s, expected float", name, ql_dtype_name(s->dtype));
  if (s->numel == 1 || (allow_m > 0 && s->rank == 1 && s->numel == allow_m)) return QL_OK;
  if (allow_m > 0)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has %lld elements, expected 1 or %lld", name,
                      (long long)s->numel, (long long)allow_m);
  return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has %lld elements, expected 1", name, (long long)s->numel);
}

/* Validates x, w and the zero points and resolves the geometry (ic->x and
 * ic->w stay NULL); *xzp_out receives x's zero point. */
static ql_status iconv_check(ql_op_ctx *c, const ql_tensor *x, const ql_tensor *x_zp, const ql_tensor *w,
                             const ql_tensor *w_zp, iconv *ic, int32_t *xzp_out) {
  memset(ic, 0, sizeof *ic);
  if (!x || !w) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs x and w are required");
  if (!is_8bit(x) || !is_8bit(w))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x and w must be uint8 or int8, got %s and %s",
                      ql_dtype_name(x->dtype), ql_dtype_name(w->dtype));
  if (x->rank < 3 || w->rank != x->rank)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x (rank %d) must have rank >= 3 and w (rank %d) the same rank",
                      x->rank, w->rank);
  ql_status st = ql_conv_attrs_read(c, x->rank - 2, &ic->attrs);
  if (st) return st;
  ic->N = x->dims[0];
  ic->C = x->dims[1];
  if ((st = ql_conv_check_channels(c, 0, ic->attrs.group, ic->C, w->dims[0], w->dims[1], &ic->M))) return st;
  if ((st = ql_conv_geom_forward(c, &ic->attrs, x->dims + 2, w->dims + 2, &ic->g))) return st;
  ic->cg = w->dims[1];
  ic->mg = ic->M / ic->attrs.group;

  int32_t xzp;
  if ((st = scalar_zp(c, x_zp, x->dtype, "x_zero_point", &xzp))) return st;
  if (w_zp) {
    if (w_zp->dtype != w->dtype)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "w_zero_point has type %s, expected %s",
                        ql_dtype_name(w_zp->dtype), ql_dtype_name(w->dtype));
    if (w_zp->numel != 1 && !(w_zp->rank == 1 && w_zp->numel == ic->M))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "w_zero_point has %lld elements, expected 1 or %lld",
                        (long long)w_zp->numel, (long long)ic->M);
  }
  *xzp_out = xzp;
  return QL_OK;
}

/* The centered int16 copies (after iconv_check), in the op's scratch. */
static ql_status iconv_center(ql_op_ctx *c, const ql_tensor *x, int32_t xzp, const ql_tensor *w,
                              const ql_tensor *w_zp, iconv *ic) {
  /* numel <= 2^62, so 2 * numel fits in size_t */
  if (!(ic->x = ql_op_scratch(c, (size_t)x->numel * sizeof(int16_t))) ||
      !(ic->w = ql_op_scratch(c, (size_t)w->numel * sizeof(int16_t))))
    return c->err->code;
  for (int64_t i = 0; i < x->numel; i++)
    ic->x[i] = (int16_t)(ql_load_i64(x->dtype, x->data, i) - xzp);
  const int64_t per_m = ic->cg * ic->g.kernel_size; /* = w->numel / M */
  for (int64_t m = 0; m < ic->M; m++) {
    const int64_t zp = w_zp ? ql_load_i64(w_zp->dtype, w_zp->data, w_zp->numel == 1 ? 0 : m) : 0;
    for (int64_t i = m * per_m; i < (m + 1) * per_m; i++)
      ic->w[i] = (int16_t)(ql_load_i64(w->dtype, w->data, i) - zp);
  }
  return QL_OK;
}

/* One output plane acc[n, m, out...], starting from `bias`. The innermost
 * loop runs along the last spatial axis, contiguous in both plane and input
 * (stride s apart in the input). */
static void iconv_plane(const iconv *ic, int64_t n, int64_t m, uint32_t bias, uint32_t *plane) {
  const ql_conv_geom *g = &ic->g;
  const int last = g->nsp - 1;
  const int64_t ol = g->out[last], il = g->in[last], kl = g->kernel[last];
  const int64_t s = g->stride[last], d = g->dilation[last], pb = g->pad_begin[last];
  const int64_t grp = m / ic->mg;
  for (int64_t o = 0; o < g->out_size; o++) plane[o] = bias;
  for (int64_t cc = 0; cc < ic->cg; cc++) {
    const int16_t *xc = ic->x + (n * ic->C + grp * ic->cg + cc) * g->in_size;
    const int16_t *wc = ic->w + (m * ic->cg + cc) * g->kernel_size;
    for (int64_t orow = 0; orow < g->out_rows; orow++) {
      uint32_t *yr = plane + orow * ol;
      for (int64_t krow = 0; krow < g->kernel_rows; krow++) {
        const int64_t irow = ql_conv_row(g, 0, orow, krow);
        if (irow < 0) continue; /* this kernel row lies in the padding */
        const int16_t *xr = xc + irow * il;
        const int16_t *wr = wc + krow * kl;
        for (int64_t kx = 0; kx < kl; kx++) {
          const int32_t wv = wr[kx];
          const int64_t off = kx * d - pb;
          int64_t lo, hi;
          ql_conv_span(off, s, il, ol, &lo, &hi);
          for (int64_t ox = lo; ox < hi; ox++) yr[ox] += (uint32_t)(wv * xr[ox * s + off]);
        }
      }
    }
  }
}

static void output_dims(const iconv *ic, int64_t *dims) {
  dims[0] = ic->N;
  dims[1] = ic->M;
  for (int i = 0; i < ic->g.nsp; i++) dims[2 + i] = ic->g.out[i];
}

/* ---- fused LeakyRelu epilogue (runtime/fuse.c: Conv -> LeakyRelu -> Q) ----
 * The float graph applies LeakyRelu to the dequantized sum, then quantizes:
 *   v = (float)acc * mult;  v = v < 0 ? v * alpha : v;  y = saturate(RNE(v) + zp)
 * all in float32, the reference and the fast path alike (same bits). */
static int fused_leaky(const ql_node *n, float *alpha) {
  const ql_attr *a = ql_node_attr(n, QL_FUSED_LEAKY_ATTR);
  if (!a || a->type != QL_ATTR_FLOAT) return 0;
  *alpha = a->f;
  return 1;
}

static inline int32_t leaky_requant(int32_t acc, float mult, float alpha, int32_t zp, int32_t lo, int32_t hi) {
  float v = (float)acc * mult;
  if (v < 0) v *= alpha;
  return ql_requant_value_f32(v, zp, lo, hi);
}

typedef int32_t v8i_lk __attribute__((vector_size(32)));
typedef float v8f_lk __attribute__((vector_size(32)));

/* n accumulators -> low bytes of leaky_requant, mult[i] (per_col) or
 * mult[0]. dst may alias acc (byte i is written after int i is read). */
static void leaky_requant_generic(const int32_t *acc, int64_t n, const float *mult, int per_col, float alpha,
                                  int32_t zp, int32_t lo, int32_t hi, uint8_t *dst) {
  const v8f_lk va = (v8f_lk){0} + alpha, vlo = (v8f_lk){0} + (float)(lo - zp), vhi = (v8f_lk){0} + (float)(hi - zp);
  const v8f_lk mag = (v8f_lk){0} + 12582912.0f; /* RNE of |v| <= 2^22, as nearbyintf */
  v8f_lk vm = (v8f_lk){0} + mult[0];
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    v8i_lk av;
    memcpy(&av, acc + i, sizeof av);
    if (per_col) memcpy(&vm, mult + i, sizeof vm);
    v8f_lk f = __builtin_convertvector(av, v8f_lk) * vm;
    const v8i_lk neg = f < 0; /* false for NaN */
    f = (v8f_lk)(((v8i_lk)(f * va) & neg) | ((v8i_lk)f & ~neg));
    v8i_lk keep = f >= vlo; /* false for NaN: lo */
    f = (v8f_lk)(((v8i_lk)f & keep) | ((v8i_lk)vlo & ~keep));
    keep = f <= vhi;
    f = (v8f_lk)(((v8i_lk)f & keep) | ((v8i_lk)vhi & ~keep));
    f = (f + mag) - mag;
    const v8i_lk q = __builtin_convertvector(f, v8i_lk) + zp;
    for (int k = 0; k < 8; k++) dst[i + k] = (uint8_t)q[k];
  }
  for (; i < n; i++) dst[i] = (uint8_t)leaky_requant(acc[i], mult[per_col ? i : 0], alpha, zp, lo, hi);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The same steps, 16 lanes: vmaxps returns its second operand (lo) for a
 * NaN, vcvtps2dq rounds half to even (the default MXCSR mode). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void
leaky_requant_avx512(const int32_t *acc, int64_t n, const float *mult, int per_col, float alpha, int32_t zp,
                     int32_t lo, int32_t hi, uint8_t *dst) {
  const __m512 va = _mm512_set1_ps(alpha), vlo = _mm512_set1_ps((float)(lo - zp)),
               vhi = _mm512_set1_ps((float)(hi - zp)), zero = _mm512_setzero_ps();
  const __m512i vz = _mm512_set1_epi32(zp);
  __m512 vm = _mm512_set1_ps(mult[0]);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
    const __m512i a = _mm512_maskz_loadu_epi32(k, acc + i);
    if (per_col) vm = _mm512_maskz_loadu_ps(k, mult + i);
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(a), vm);
    f = _mm512_mask_mul_ps(f, _mm512_cmp_ps_mask(f, zero, _CMP_LT_OQ), f, va);
    f = _mm512_min_ps(_mm512_max_ps(f, vlo), vhi);
    const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(f), vz);
    _mm_mask_storeu_epi8(dst + i, k, _mm512_cvtepi32_epi8(q));
  }
}
#endif

static void leaky_requant_run(const int32_t *acc, int64_t n, const float *mult, int per_col, float alpha, int32_t zp,
                              int32_t lo, int32_t hi, uint8_t *dst) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (ql_cpu_features() & QL_CPU_AVX512) {
    leaky_requant_avx512(acc, n, mult, per_col, alpha, zp, lo, hi, dst);
    return;
  }
#endif
  leaky_requant_generic(acc, n, mult, per_col, alpha, zp, lo, hi, dst);
}

/* ---- fast paths (weights prepared once per session) ----
 * Same sums, same requantization (ql_requant_fp32 == ql_requant_f32), so
 * the output is the reference's to the bit:
 *  - depthwise (one input channel per group): a direct loop per channel,
 *    uint32 (wrapping int32) accumulation, parallel over channels;
 *  - everything else: per group, a GEMM over output pixels, split into
 *    pixel blocks that the pool's threads take whole (gemm_task): a 1x1
 *    stride-1 unpadded conv transposes its block of NCHW input into A
 *    (pixels x channels); others transpose the group's input to NHWC once
 *    (in parallel) and build im2col rows per block, kernel-position major
 *    (k = kidx * cg + cc) so every piece is a contiguous run of cg channels,
 *    padding filled with x_zp. The weights are packed in that same k order.
 *    Each block's pixels x mg result is transposed back into NCHW. */
typedef struct conv_state {
  int depthwise;
  ql_isa isa; /* depthwise: AVX2 loops when >= QL_ISA_AVX2 */
  int64_t M, group, mg, cg, ks, K;
  ql_qgemm_packed_b **pb; /* [group] */
  int16_t *wdw;           /* depthwise: [M][ks] w - w_zp */
  uint32_t *wpair;        /* depthwise: [M][npairs] (ql_dwconv_pack_w), or NULL */
  int npairs;
  int64_t dw_k[2], dw_s[2], dw_d[2]; /* what wpair was paired for (rows, columns) */
  float *mult;            /* QLinearConv: [M] if mult_per_col, else [1] */
  int mult_per_col;
} conv_state;

static void conv_release(void *state) {
  conv_state *cs = state;
  if (!cs) return;
  for (int64_t g = 0; cs->pb && g < cs->group; g++) ql_qgemm_packed_b_free(cs->pb[g]);
  ql_free(cs->pb);
  ql_free(cs->wdw);
  ql_free(cs->wpair);
  ql_free(cs->mult);
  ql_free(cs);
}

static const ql_tensor *prep_in(const ql_op_prep *p, size_t i) {
  return i < p->n_in ? p->in[i] : NULL;
}
static int prep_omitted(const ql_op_prep *p, size_t i) {
  return i >= p->node->n_inputs || !p->node->inputs[i][0];
}

/* The depthwise kernels' weight pairs (src/kernels/dwconv.h), which depend
 * on kernel, strides and dilations: for 1-D and 2-D convs whose attributes
 * are well formed (the reference reports the others). 0: out of memory. */
static int dw_attr2(const ql_node *n, const char *name, int nsp, int64_t *hw) {
  hw[0] = hw[1] = 1;
  const ql_attr *a = ql_node_attr(n, name);
  if (!a) return 1;
  if (a->type != QL_ATTR_INTS || (int)a->n != nsp) return 0;
  for (int i = 0; i < nsp; i++) {
    if (a->ints[i] < 1 || a->ints[i] > QL_CONV_MAX_ATTR) return 0;
    hw[2 - nsp + i] = a->ints[i];
  }
  return 1;
}

static int dw_prepare_pairs(const ql_op_prep *p, const ql_tensor *w, conv_state *cs) {
  const int nsp = w->rank - 2;
  if (nsp > 2 || !dw_attr2(p->node, "strides", nsp, cs->dw_s) || !dw_attr2(p->node, "dilations", nsp, cs->dw_d))
    return 1;
  cs->dw_k[0] = nsp == 2 ? w->dims[2] : 1;
  cs->dw_k[1] = w->dims[w->rank - 1];
  int lo[QL_DWCONV_MAX_PAIRS], hi[QL_DWCONV_MAX_PAIRS];
  const int np = ql_dwconv_pairs(cs->dw_k[0], cs->dw_k[1], cs->dw_s[0], cs->dw_s[1], cs->dw_d[0], cs->dw_d[1], lo, hi);
  if (!np) return 1;
  if (!(cs->wpair = ql_malloc((size_t)(cs->M * np) * sizeof *cs->wpair))) return 0;
  cs->npairs = np;
  for (int64_t m = 0; m < cs->M; m++) ql_dwconv_pack_w(cs->wdw + m * cs->ks, np, lo, hi, cs->wpair + m * np);
  return 1;
}

/* Weights (input wi) and their zero point (input zi) -> state; *out NULL
 * when the fast path does not apply (the reference then reports errors). */
static ql_status conv_prepare_w(const ql_op_prep *p, size_t wi, size_t zi, conv_state **out) {
  *out = NULL;
  const ql_tensor *w = prep_in(p, wi), *wzp = prep_in(p, zi);
  if (p->reference_only || !w || (!wzp && !prep_omitted(p, zi))) return QL_OK;
  if (!is_8bit(w) || w->rank < 3 || w->numel < 1 || (wzp && wzp->dtype != w->dtype)) return QL_OK;
  const int64_t M = w->dims[0], cg = w->dims[1], group = ql_attr_int(p->node, "group", 1);
  if (group < 1 || M % group || (wzp && wzp->numel != 1 && !(wzp->rank == 1 && wzp->numel == M))) return QL_OK;
  const int64_t ks = w->numel / (M * cg), K = cg * ks, mg = M / group;
  if (K > ((int64_t)1 << 30)) return QL_OK;
  conv_state *cs = ql_calloc(1, sizeof *cs);
  int32_t *zp = ql_malloc((size_t)M * sizeof *zp);
  if (!cs || !zp) goto oom;
  cs->M = M;
  cs->group = group;
  cs->mg = mg;
  cs->cg = cg;
  cs->ks = ks;
  cs->K = K;
  for (int64_t m = 0; m < M; m++)
    zp[m] = wzp ? (int32_t)ql_load_i64(wzp->dtype, wzp->data, wzp->numel == 1 ? 0 : m) : 0;
  cs->isa = p->isa == QL_ISA_AUTO ? ql_isa_best() : (ql_isa)p->isa;
  if (cg == 1 && group > 1) {
    cs->depthwise = 1;
    if (!(cs->wdw = ql_malloc((size_t)w->numel * sizeof *cs->wdw))) goto oom;
    for (int64_t i = 0; i < w->numel; i++) cs->wdw[i] = (int16_t)(ql_load_i64(w->dtype, w->data, i) - zp[i / ks]);
    if (!dw_prepare_pairs(p, w, cs)) goto oom;
  } else {
    /* weights of a group reordered to [mg][kidx][cc], then packed N x K */
    int8_t *wt = ql_malloc((size_t)(mg * K));
    if (!wt || !(cs->pb = ql_calloc((size_t)group, sizeof *cs->pb))) {
      ql_free(wt);
      goto oom;
    }
    for (int64_t g = 0; g < group; g++) {
      const int8_t *wg = (const int8_t *)w->data + g * mg * K;
      for (int64_t j = 0; j < mg; j++)
        for (int64_t cc = 0; cc < cg; cc++)
          for (int64_t q = 0; q < ks; q++) wt[j * K + q * cg + cc] = wg[j * K + cc * ks + q];
      const int per_col = wzp && wzp->numel > 1;
      ql_status st = ql_qgemm_pack_b(wt, w->dtype == QL_INT8, K, mg, 1, K, wzp ? zp + (per_col ? g * mg : 0) : NULL,
                                     per_col, (ql_isa)p->isa, &cs->pb[g], p->err);
      if (st) {
        ql_free(wt);
        ql_free(zp);
        conv_release(cs);
        return st == QL_ERR_OUT_OF_MEMORY ? st : QL_OK;
      }
    }
    ql_free(wt);
  }
  ql_free(zp);
  *out = cs;
  return QL_OK;
oom:
  ql_free(zp);
  conv_release(cs);
  return ql_errf(p->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
}

static ql_status conv_integer_prepare(const ql_op_prep *p, void **state) {
  conv_state *cs;
  ql_status st = conv_prepare_w(p, 1, 3, &cs);
  *state = cs;
  return st;
}

static ql_status qlinear_conv_prepare(const ql_op_prep *p, void **state) {
  *state = NULL;
  const ql_tensor *xs = prep_in(p, 1), *ws = prep_in(p, 4), *ys = prep_in(p, 6);
  if (p->reference_only || !xs || !ws || !ys || xs->dtype != QL_FLOAT || ws->dtype != QL_FLOAT ||
      ys->dtype != QL_FLOAT || xs->numel != 1 || ys->numel != 1)
    return QL_OK;
  conv_state *cs;
  ql_status st = conv_prepare_w(p, 3, 5, &cs);
  if (st || !cs) return st;
  if (ws->numel != 1 && !(ws->rank == 1 && ws->numel == cs->M)) {
    conv_release(cs);
    return QL_OK;
  }
  cs->mult_per_col = ws->numel > 1;
  if (!(cs->mult = ql_malloc((size_t)ws->numel * sizeof *cs->mult))) {
    conv_release(cs);
    return ql_errf(p->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  const float x_s = ((const float *)xs->data)[0], y_s = ((const float *)ys->data)[0];
  for (int64_t m = 0; m < ws->numel; m++) cs->mult[m] = ql_requant_multiplier(x_s, ((const float *)ws->data)[m], y_s);
  *state = cs;
  return QL_OK;
}

/* The run's shapes agree with what was prepared (the checks already passed,
 * so this only guards the state against a different w). */
static int conv_fast_ok(const conv_state *cs, const iconv *ic) {
  return ic->M == cs->M && ic->cg == cs->cg && ic->attrs.group == cs->group && ic->g.kernel_size == cs->ks;
}

/* One depthwise task: planes [i0, i0 + ni) of the N*M planes. */
typedef struct dw_job {
  const conv_state *cs;
  const iconv *ic;
  const ql_tensor *x;
  int32_t xzp, yzp, lo, hi;
  const int32_t *bias;
  void *y;
  int out_kind; /* 0 int32, 1 uint8, 2 int8 */
  int failed;
  const ql_dwconv_plan *plan; /* NULL: the generic loop (dw_planes) */
  ql_op_ctx *c;                /* for the tasks' scratch */
} dw_job;

/* GCC/Clang vector extensions: 8 lanes, lowered to SSE2 pairs by default
 * and to AVX2 in dw_planes_avx2. Unsigned lanes wrap like the reference's
 * uint32 sums; the float steps are the documented requantization. */
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8f __attribute__((vector_size(32)));

/* Exact round-half-even of |v| <= 2^22 in the default rounding mode (what
 * nearbyintf does), vectorizable: adding 1.5 * 2^23 leaves no fraction bits. */
#define QL_RNE_MAGIC 12582912.0f

static inline __attribute__((always_inline)) void dw_planes(dw_job *jb, size_t i0, size_t ni, int32_t *xc,
                                                            uint32_t *acc) {
  const iconv *ic = jb->ic;
  const ql_conv_geom *g = &ic->g;
  const int64_t in_sz = g->in_size, out_sz = g->out_size;
  const int last = g->nsp - 1;
  const int64_t ol = g->out[last], il = g->in[last], kl = g->kernel[last];
  const int64_t s = g->stride[last], d = g->dilation[last], pb = g->pad_begin[last];
  const int x8s = jb->x->dtype == QL_INT8;
  /* locals: through jb the compiler would reload them after every store */
  const int32_t xzp = jb->xzp, yzp = jb->yzp;
  const int out_kind = jb->out_kind;
  uint8_t *const y8 = jb->y;
  for (size_t pi = i0; pi < i0 + ni; pi++) {
    const int64_t n = (int64_t)pi / ic->M, m = (int64_t)pi % ic->M;
    const int64_t ch = m / ic->mg; /* the one input channel of m's group */
    const size_t xoff = (size_t)((n * ic->C + ch) * in_sz);
    if (x8s) {
      const int8_t *xp = (const int8_t *)jb->x->data + xoff;
      for (int64_t i = 0; i < in_sz; i++) xc[i] = xp[i] - xzp;
    } else {
      const uint8_t *xp = (const uint8_t *)jb->x->data + xoff;
      for (int64_t i = 0; i < in_sz; i++) xc[i] = xp[i] - xzp;
    }
    const uint32_t b = jb->bias ? (uint32_t)jb->bias[m] : 0;
    for (int64_t o = 0; o < out_sz; o++) acc[o] = b;
    const int16_t *wc = jb->cs->wdw + m * g->kernel_size;
    for (int64_t orow = 0; orow < g->out_rows; orow++) {
      uint32_t *yr = acc + orow * ol;
      for (int64_t krow = 0; krow < g->kernel_rows; krow++) {
        const int64_t irow = ql_conv_row(g, 0, orow, krow);
        if (irow < 0) continue;
        const int32_t *xr = xc + irow * il;
        const int16_t *wr = wc + krow * kl;
        for (int64_t kx = 0; kx < kl; kx++) {
          const uint32_t wv = (uint32_t)(int32_t)wr[kx];
          const int64_t off = kx * d - pb;
          int64_t lo, hi, ox;
          ql_conv_span(off, s, il, ol, &lo, &hi);
          ox = lo;
          if (s == 1) {
            const v8u wvv = (v8u){0} + wv;
            for (; ox + 8 <= hi; ox += 8) {
              v8u xv, yv;
              memcpy(&xv, xr + ox + off, sizeof xv);
              memcpy(&yv, yr + ox, sizeof yv);
              yv += wvv * xv;
              memcpy(yr + ox, &yv, sizeof yv);
            }
          }
          for (; ox < hi; ox++) yr[ox] += wv * (uint32_t)xr[ox * s + off];
        }
      }
    }
    const size_t yoff = (size_t)((n * ic->M + m) * out_sz);
    if (out_kind == 0) {
      memcpy((int32_t *)jb->y + yoff, acc, (size_t)out_sz * sizeof *acc);
      continue;
    }
    /* ql_requant_fp32, eight at a time: clamp in float (NaN -> lo), RNE */
    const float mult = jb->cs->mult[jb->cs->mult_per_col ? m : 0];
    const float flo = (float)(jb->lo - yzp), fhi = (float)(jb->hi - yzp);
    const v8f vm = (v8f){0} + mult, vlo = (v8f){0} + flo, vhi = (v8f){0} + fhi, mag = (v8f){0} + QL_RNE_MAGIC;
    int32_t q[8];
    for (int64_t o = 0; o < out_sz; o += 8) {
      const int64_t cnt = out_sz - o < 8 ? out_sz - o : 8;
      v8i av = {0};
      memcpy(&av, acc + o, (size_t)cnt * sizeof *acc);
      v8f f = __builtin_convertvector(av, v8f) * vm;
      v8i keep = f >= vlo; /* false for NaN */
      f = (v8f)(((v8i)f & keep) | ((v8i)vlo & ~keep));
      keep = f <= vhi;
      f = (v8f)(((v8i)f & keep) | ((v8i)vhi & ~keep));
      f = (f + mag) - mag;
      const v8i qi = __builtin_convertvector(f, v8i) + yzp;
      memcpy(q, &qi, sizeof q);
      /* uint8 and int8 outputs: the same low byte of the clamped value */
      for (int64_t k = 0; k < cnt; k++) y8[yoff + (size_t)(o + k)] = (uint8_t)q[k];
    }
  }
}

static void dw_planes_generic(dw_job *jb, size_t i0, size_t ni, int32_t *xc, uint32_t *acc) {
  dw_planes(jb, i0, ni, xc, acc);
}
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) static void dw_planes_avx2(dw_job *jb, size_t i0, size_t ni, int32_t *xc,
                                                           uint32_t *acc) {
  dw_planes(jb, i0, ni, xc, acc);
}
#endif

/* One task's planes on the dwconv kernels (src/kernels/dwconv.h): one
 * scratch per task, reused by its planes. */
static void dw_task(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)j0;
  (void)nj;
  dw_job *jb = ctx;
  const iconv *ic = jb->ic;
  const conv_state *cs = jb->cs;
  if (!jb->plan) {
    /* x as int32, then the accumulators, one 64-byte aligned block */
    const size_t xbytes = ((size_t)ic->g.in_size * sizeof(int32_t) + 63) & ~(size_t)63;
    int32_t *xc = ql_op_thread_scratch(jb->c, thread, xbytes + (size_t)ic->g.out_size * sizeof(uint32_t));
    if (!xc) {
      jb->failed = 1; /* benign race: only ever set to 1 */
      return;
    }
    uint32_t *acc = (uint32_t *)((char *)xc + xbytes);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (cs->isa >= QL_ISA_AVX2) dw_planes_avx2(jb, i0, ni, xc, acc);
    else
#endif
      dw_planes_generic(jb, i0, ni, xc, acc);
    return;
  }
  void *scratch = ql_op_thread_scratch(jb->c, thread, ql_dwconv_scratch_size(jb->plan));
  if (!scratch) {
    jb->failed = 1;
    return;
  }
  ql_dwconv_scratch_init(jb->plan, scratch);
  const int64_t in_sz = ic->g.in_size, out_sz = ic->g.out_size;
  const size_t osz = jb->out_kind ? 1 : 4;
  ql_dwconv_args a = {.x_signed = jb->x->dtype == QL_INT8, .x_zp = jb->xzp, .out_kind = jb->out_kind,
                      .y_zp = jb->yzp, .lo = jb->lo, .hi = jb->hi};
  for (size_t pi = i0; pi < i0 + ni; pi++) {
    const int64_t n = (int64_t)pi / ic->M, m = (int64_t)pi % ic->M;
    a.x = (const uint8_t *)jb->x->data + (size_t)((n * ic->C + m / ic->mg) * in_sz);
    a.wpair = cs->wpair + m * cs->npairs;
    a.bias = jb->bias ? jb->bias[m] : 0;
    a.mult = jb->out_kind ? cs->mult[cs->mult_per_col ? m : 0] : 0.0f;
    a.y = (uint8_t *)jb->y + (size_t)((n * ic->M + m) * out_sz) * osz;
    ql_dwconv_plane(jb->plan, cs->isa, &a, scratch);
  }
}

/* im2col rows [p0, p1) of group input xt (pixels x cg, NHWC) into a. With
 * dilation 1 the kl pieces of one kernel row are adjacent in NHWC as well as
 * in a (k = kidx * cg + cc), so an in-bounds kernel row is one copy. */
static void im2col_rows(const iconv *ic, const uint8_t *xt, uint8_t fill, int64_t p0, int64_t p1, uint8_t *a) {
  const ql_conv_geom *g = &ic->g;
  const int last = g->nsp - 1;
  const int64_t ol = g->out[last], il = g->in[last], kl = g->kernel[last];
  const int64_t s = g->stride[last], d = g->dilation[last], pb = g->pad_begin[last];
  const int64_t cg = ic->cg, K = cg * g->kernel_size;
  int64_t irows[1024];
  int64_t cur_row = -1;
  for (int64_t p = p0; p < p1; p++) {
    const int64_t orow = p / ol, ox = p % ol;
    uint8_t *dst = a + (p - p0) * K;
    if (orow != cur_row && g->kernel_rows <= 1024) {
      for (int64_t kr = 0; kr < g->kernel_rows; kr++) irows[kr] = ql_conv_row(g, 0, orow, kr);
      cur_row = orow;
    }
    const int64_t ix0 = ox * s - pb;
    const int whole = d == 1 && ix0 >= 0 && ix0 + kl <= il;
    for (int64_t kr = 0; kr < g->kernel_rows; kr++) {
      const int64_t irow = g->kernel_rows <= 1024 ? irows[kr] : ql_conv_row(g, 0, orow, kr);
      if (irow < 0) {
        memset(dst, fill, (size_t)(kl * cg));
        dst += kl * cg;
      } else if (whole) {
        memcpy(dst, xt + (irow * il + ix0) * cg, (size_t)(kl * cg));
        dst += kl * cg;
      } else {
        for (int64_t kx = 0; kx < kl; kx++, dst += cg) {
          const int64_t ix = ix0 + kx * d;
          if (ix < 0 || ix >= il) memset(dst, fill, (size_t)cg);
          else memcpy(dst, xt + (irow * il + ix) * cg, (size_t)cg);
        }
      }
    }
  }
}

/* dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols: the byte
 * transposes between NCHW and the GEMM's pixels x channels. A plain loop
 * strides one side by a power of two and thrashes L1 (measured: 80% of a
 * 1x1 conv), so full 16x16 blocks go through registers: four rounds of the
 * byte perfect shuffle (unpack lo/hi of rows i and i+8) transpose them. */
#if defined(__SSE2__)
/* x[i] (16 bytes each) becomes the 16x16 transpose: four rounds of byte
 * interleaves. */
static inline __attribute__((always_inline)) void transpose16x16_u8(__m128i x[16]) {
  __m128i n[16];
#pragma GCC unroll 4
  for (int r = 0; r < 4; r++) {
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
      n[2 * i] = _mm_unpacklo_epi8(x[i], x[i + 8]);
      n[2 * i + 1] = _mm_unpackhi_epi8(x[i], x[i + 8]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) x[i] = n[i];
  }
}
#endif

static inline __attribute__((always_inline)) void transpose_u8_body(const uint8_t *src, int64_t lds, uint8_t *dst,
                                                                    int64_t ldd, int64_t rows, int64_t cols) {
  int64_t r16 = 0, c16 = 0;
#if defined(__SSE2__)
  /* destination rows outermost: each pass completes 16 whole destination
   * rows, whose lines would otherwise leave L1 between partial writes when
   * ldd is a power of two */
  r16 = rows / 16 * 16;
  c16 = cols / 16 * 16;
  for (int64_t j0 = 0; j0 < c16; j0 += 16)
    for (int64_t i0 = 0; i0 < r16; i0 += 16) {
      __m128i x[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++) x[i] = _mm_loadu_si128((const __m128i *)(src + (i0 + i) * lds + j0));
      transpose16x16_u8(x);
#pragma GCC unroll 16
      for (int j = 0; j < 16; j++) _mm_storeu_si128((__m128i *)(dst + (j0 + j) * ldd + i0), x[j]);
    }
#endif
  for (int64_t j = 0; j < cols; j++) /* the edges the blocks left */
    for (int64_t i = j < c16 ? r16 : 0; i < rows; i++) dst[j * ldd + i] = src[i * lds + j];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The same 16x16 blocks with AVX-512 masks at the edges instead of the
 * byte loop: NanoDet's 58-, 116- and 232-channel layers left a tenth of
 * their rows or columns to it, and the loop took most of the transpose
 * time (17% of the model in a profile). */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void transpose_u8_avx512(const uint8_t *src, int64_t lds,
                                                                                    uint8_t *dst, int64_t ldd,
                                                                                    int64_t rows, int64_t cols) {
  for (int64_t j0 = 0; j0 < cols; j0 += 16) {
    const int cj = cols - j0 < 16 ? (int)(cols - j0) : 16;
    const __mmask16 cm = (__mmask16)(0xFFFFu >> (16 - cj));
    for (int64_t i0 = 0; i0 < rows; i0 += 16) {
      const int ri = rows - i0 < 16 ? (int)(rows - i0) : 16;
      const __mmask16 rm = (__mmask16)(0xFFFFu >> (16 - ri));
      __m128i x[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++)
        x[i] = i < ri ? _mm_maskz_loadu_epi8(cm, src + (i0 + i) * lds + j0) : _mm_setzero_si128();
      transpose16x16_u8(x);
      for (int j = 0; j < cj; j++) _mm_mask_storeu_epi8(dst + (j0 + j) * ldd + i0, rm, x[j]);
    }
  }
}
#endif

/* isa: the session's cap, so that a session capped below AVX-512 runs the
 * SSE2 blocks and the byte loop (the tests run every cap) */
static void transpose_u8(ql_isa isa, const uint8_t *src, int64_t lds, uint8_t *dst, int64_t ldd, int64_t rows,
                         int64_t cols) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (isa >= QL_ISA_AVX512VNNI && (ql_cpu_features() & QL_CPU_AVX512)) {
    transpose_u8_avx512(src, lds, dst, ldd, rows, cols);
    return;
  }
#else
  (void)isa;
#endif
  transpose_u8_body(src, lds, dst, ldd, rows, cols);
}

/* One image and group of the GEMM path. A task owns a block of output
 * pixels (and, when there are too few pixel blocks to keep the pool busy,
 * a range of output channels): it builds its rows of A (a block transpose
 * of NCHW for a direct 1x1 conv, else im2col from the NHWC copy), runs both
 * qgemm phases on them alone and writes its outputs straight to NCHW. So a
 * conv is one or two pool dispatches per image and group, and everything
 * but the weights is per task and cache sized. */
typedef struct gemm_job {
  const conv_state *cs;
  const iconv *ic;
  const uint8_t *xg; /* the group's input, NCHW */
  uint8_t *xt;       /* im2col only: the same, pixels x cg */
  int direct;
  uint8_t fill;
  ql_qgemm_args ga; /* everything but a, lda, m, c, workspace */
  size_t osz;       /* output element size */
  uint8_t *y;       /* the group's first output plane */
  int leaky;        /* fused LeakyRelu: the GEMM gives int32, leaky_requant_run narrows */
  float alpha;
  int32_t lo, hi;
  ql_op_ctx *c;      /* for the tasks' scratch */
  int failed;
} gemm_job;

static void nhwc_task(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)thread;
  (void)j0;
  (void)nj;
  gemm_job *jb = ctx;
  const int64_t cg = jb->ic->cg, in_sz = jb->ic->g.in_size;
  transpose_u8(jb->cs->isa, jb->xg + i0, in_sz, jb->xt + (int64_t)i0 * cg, cg, cg, (int64_t)ni);
}

static void gemm_task(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  gemm_job *jb = ctx;
  const iconv *ic = jb->ic;
  const int64_t p0 = (int64_t)i0, m = (int64_t)ni, n0 = (int64_t)j0, n1 = (int64_t)(j0 + nj);
  const int64_t K = jb->cs->K, cg = ic->cg, mg = ic->mg, in_sz = ic->g.in_size, out_sz = ic->g.out_size;
  const size_t osz = jb->osz;
  ql_qgemm_args ga = jb->ga;
  /* A's rows, the GEMM's output rows, qgemm's workspace: one block */
  const size_t abytes = ((size_t)(m * K) + 63) & ~(size_t)63;
  const size_t tbytes = ((size_t)(m * mg) * (jb->leaky ? 4 : osz) + 63) & ~(size_t)63;
  uint8_t *a = ql_op_thread_scratch(jb->c, thread, abytes + tbytes + ql_qgemm_workspace_size(ga.pb, m));
  if (!a) {
    jb->failed = 1; /* benign race: only ever set to 1 */
    return;
  }
  uint8_t *t = a + abytes;
  void *ws = t + tbytes;
  if (jb->direct) {
    transpose_u8(jb->cs->isa, jb->xg + p0, in_sz, a, cg, cg, m);
  } else {
    im2col_rows(ic, jb->xt, jb->fill, p0, p0 + m, a);
  }
  ga.a = a;
  ga.lda = K;
  ga.m = m;
  ga.c = t;
  ga.ldc = mg;
  ga.workspace = ws;
  ql_qgemm_prepare_a(&ga, 0, m);
  ql_qgemm_compute(&ga, 0, m, n0, n1);
  if (jb->leaky && !ga.mult_per_col && n1 - n0 == mg) /* in place: bytes land at or before their ints */
    leaky_requant_run((const int32_t *)t, m * mg, ga.mult, 0, jb->alpha, ga.out_zp, jb->lo, jb->hi, t);
  else if (jb->leaky)
    for (int64_t i = 0; i < m; i++)
      leaky_requant_run((const int32_t *)t + i * mg + n0, n1 - n0, ga.mult + (ga.mult_per_col ? n0 : 0),
                        ga.mult_per_col, jb->alpha, ga.out_zp, jb->lo, jb->hi, t + i * mg + n0);
  if (osz == 1) {
    transpose_u8(jb->cs->isa, t + n0, mg, jb->y + n0 * out_sz + p0, out_sz, m, n1 - n0);
  } else {
    const int32_t *tp = (const int32_t *)t;
    for (int64_t j = n0; j < n1; j++) {
      int32_t *yp = (int32_t *)jb->y + j * out_sz + p0;
      for (int64_t i = 0; i < m; i++) yp[i] = tp[i * mg + j];
    }
  }
}

static ql_status conv_fast(ql_op_ctx *c, const conv_state *cs, const iconv *ic, const ql_tensor *x, int32_t xzp,
                           const ql_tensor *bias, int32_t yzp, ql_tensor *y) {
  const ql_dtype yt = y->dtype;
  const int out_kind = yt == QL_INT32 ? 0 : yt == QL_UINT8 ? 1 : 2;
  int64_t lo = 0, hi = 0;
  if (out_kind) ql_dtype_int_range(yt, &lo, &hi);
  if (out_kind && ql_attr_int(c->node, QL_FUSED_RELU_ATTR, 0) && lo < yzp) lo = yzp;
  float alpha = 0;
  const int leaky = out_kind && fused_leaky(c->node, &alpha);
  const int32_t *bias32 = bias ? (const int32_t *)bias->data : NULL;
  if (y->numel == 0) return QL_OK;
  const size_t nt = (size_t)ql_threadpool_size(c->pool);
  if (cs->depthwise) {
    /* a fused LeakyRelu: int32 planes first, then the epilogue per plane */
    int32_t *acc = leaky ? ql_op_scratch(c, (size_t)y->numel * sizeof *acc) : NULL;
    if (leaky && !acc) return c->err->code;
    dw_job jb = {cs, ic, x, xzp, yzp, (int32_t)lo, (int32_t)hi, bias32, leaky ? (void *)acc : y->data,
                 leaky ? 0 : out_kind, 0, NULL, c};
    const ql_conv_geom *gd = &ic->g;
    ql_dwconv_plan plan; /* the usual geometries: src/kernels/dwconv.h */
    const int l = gd->nsp - 1, two = gd->nsp == 2;
    if (cs->wpair && gd->nsp <= 2 && cs->dw_k[1] == gd->kernel[l] && cs->dw_s[1] == gd->stride[l] &&
        cs->dw_d[1] == gd->dilation[l] && cs->dw_k[0] == (two ? gd->kernel[0] : 1) &&
        cs->dw_s[0] == (two ? gd->stride[0] : 1) && cs->dw_d[0] == (two ? gd->dilation[0] : 1) &&
        ql_dwconv_plan_init(&plan, gd->nsp, gd->in, gd->out, gd->kernel, gd->stride, gd->dilation, gd->pad_begin) &&
        plan.npairs == cs->npairs)
      jb.plan = &plan;
    /* a few planes per task: the scratch is allocated per task */
    const size_t planes = (size_t)(ic->N * ic->M);
    size_t per = planes / (4 * nt);
    ql_threadpool_parallel_for_2d(c->pool, dw_task, &jb, planes, 1, per ? per : 1, 1);
    for (size_t pi = 0; leaky && !jb.failed && pi < planes; pi++) {
      const int64_t m = (int64_t)pi % ic->M, osz = ic->g.out_size;
      leaky_requant_run(acc + (int64_t)pi * osz, osz, cs->mult + (cs->mult_per_col ? m : 0), 0, alpha, yzp,
                        (int32_t)lo, (int32_t)hi, (uint8_t *)y->data + (int64_t)pi * osz);
    }
    return jb.failed ? ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory") : QL_OK;
  }
  const ql_conv_geom *g = &ic->g;
  const int64_t in_sz = g->in_size, out_sz = g->out_size, cg = ic->cg, mg = ic->mg, K = cs->K;
  int direct = g->kernel_size == 1;
  for (int i = 0; i < g->nsp; i++)
    direct &= g->stride[i] == 1 && g->pad_begin[i] == 0 && g->pad_end[i] == 0;
  /* pixel blocks: A of about 128 KiB, a multiple of 32 rows (the AMX tile),
   * and at least 4 per thread when the image allows */
  int64_t blk = ((int64_t)128 * 1024 / K + 31) / 32 * 32;
  const int64_t fair = ((out_sz + 4 * (int64_t)nt - 1) / (4 * (int64_t)nt) + 31) / 32 * 32;
  if (blk > fair) blk = fair;
  if (blk < 32) blk = 32;
  if (blk > out_sz) blk = out_sz;
  const int64_t pblocks = (out_sz + blk - 1) / blk;
  int64_t colw = mg;
  if (nt > 1 && pblocks < 2 * (int64_t)nt && mg > 32) {
    int64_t parts = (2 * (int64_t)nt + pblocks - 1) / pblocks;
    colw = ((mg + parts - 1) / parts + 31) / 32 * 32;
  }
  gemm_job jb = {.cs = cs, .ic = ic, .direct = direct, .fill = (uint8_t)xzp, .osz = out_kind ? 1 : 4,
                 .leaky = leaky, .alpha = alpha, .lo = (int32_t)lo, .hi = (int32_t)hi, .c = c};
  if (!direct && !(jb.xt = ql_op_scratch(c, (size_t)(in_sz * cg)))) return c->err->code;
  jb.ga = (ql_qgemm_args){.a_signed = x->dtype == QL_INT8, .a_zp = xzp, .mult_per_col = cs->mult_per_col,
                          .out_zp = yzp, .out_min = (int32_t)lo, .out_max = (int32_t)hi};
  jb.ga.out_type = out_kind == 0 || leaky ? QL_QGEMM_OUT_I32 : out_kind == 1 ? QL_QGEMM_OUT_U8 : QL_QGEMM_OUT_S8;
  size_t tblk = (size_t)((in_sz + 4 * (int64_t)nt - 1) / (4 * (int64_t)nt));
  if (tblk < 1024) tblk = 1024;
  for (int64_t n = 0; n < ic->N && !jb.failed; n++) {
    for (int64_t gi = 0; gi < ic->attrs.group && !jb.failed; gi++) {
      jb.xg = (const uint8_t *)x->data + (n * ic->C + gi * cg) * in_sz;
      if (!direct) ql_threadpool_parallel_for_2d(c->pool, nhwc_task, &jb, (size_t)in_sz, 1, tblk, 1);
      jb.ga.pb = cs->pb[gi];
      jb.ga.bias = bias32 ? bias32 + gi * mg : NULL;
      jb.ga.mult = cs->mult ? cs->mult + (cs->mult_per_col ? gi * mg : 0) : NULL;
      jb.y = (uint8_t *)y->data + (size_t)((n * ic->M + gi * mg) * out_sz) * jb.osz;
      ql_threadpool_parallel_for_2d(c->pool, gemm_task, &jb, (size_t)out_sz, (size_t)mg, (size_t)blk, (size_t)colw);
    }
  }
  return jb.failed ? ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory") : QL_OK;
}

static ql_status conv_integer(ql_op_ctx *c) {
  iconv ic;
  int32_t xzp;
  const ql_tensor *x = ql_op_in(c, 0), *w = ql_op_in(c, 1), *w_zp = ql_op_in(c, 3);
  ql_status st = iconv_check(c, x, ql_op_in(c, 2), w, w_zp, &ic, &xzp);
  if (st) return st;
  int64_t dims[QL_MAX_RANK];
  output_dims(&ic, dims);
  /* the fast path writes every element: no need to zero Y for it */
  const int fast = c->state && conv_fast_ok(c->state, &ic);
  ql_tensor *y = (fast ? ql_op_output_nofill : ql_op_output)(c, 0, QL_INT32, ic.g.nsp + 2, dims);
  if (!y) return c->err->code;
  if (fast) return conv_fast(c, c->state, &ic, x, xzp, NULL, 0, y);
  if ((st = iconv_center(c, x, xzp, w, w_zp, &ic))) return st;
  /* int32 and uint32 may alias; the plane is the output itself */
  for (int64_t n = 0; n < ic.N; n++)
    for (int64_t m = 0; m < ic.M; m++)
      iconv_plane(&ic, n, m, 0, (uint32_t *)y->data + (n * ic.M + m) * ic.g.out_size);
  return QL_OK;
}

static ql_status qlinear_conv(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *x_scale = ql_op_in(c, 1), *x_zp = ql_op_in(c, 2);
  const ql_tensor *w = ql_op_in(c, 3), *w_scale = ql_op_in(c, 4), *w_zp = ql_op_in(c, 5);
  const ql_tensor *y_scale = ql_op_in(c, 6), *y_zp = ql_op_in(c, 7), *bias = ql_op_in(c, 8);
  iconv ic;
  int32_t xzp;
  ql_status st = iconv_check(c, x, x_zp, w, w_zp, &ic, &xzp);
  if (st) return st;
  /* the output type comes from y_zero_point (x's type when it is omitted) */
  const ql_dtype yt = y_zp ? y_zp->dtype : x->dtype;
  int32_t yzp = 0;
  if ((st = check_scale(c, x_scale, "x_scale", 0)) || (st = check_scale(c, w_scale, "w_scale", ic.M)) ||
      (st = check_scale(c, y_scale, "y_scale", 0)))
    return st;
  if (yt != QL_UINT8 && yt != QL_INT8)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "y_zero_point must be uint8 or int8, got %s", ql_dtype_name(yt));
  if ((st = scalar_zp(c, y_zp, yt, "y_zero_point", &yzp))) return st;
  if (bias && (bias->dtype != QL_INT32 || bias->rank != 1 || bias->numel != ic.M))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "B must be an int32 vector of %lld elements", (long long)ic.M);
  int64_t dims[QL_MAX_RANK];
  output_dims(&ic, dims);
  const int fast = c->state && conv_fast_ok(c->state, &ic);
  ql_tensor *y = (fast ? ql_op_output_nofill : ql_op_output)(c, 0, yt, ic.g.nsp + 2, dims);
  if (!y) return c->err->code;
  if (fast) return conv_fast(c, c->state, &ic, x, xzp, bias, yzp, y);
  if ((st = iconv_center(c, x, xzp, w, w_zp, &ic))) return st;
  uint32_t *plane = ql_op_scratch(c, (size_t)ic.g.out_size * sizeof *plane);
  if (!plane) return c->err->code;
  int64_t lo, hi;
  ql_dtype_int_range(yt, &lo, &hi);
  /* a fused Conv -> Relu -> QuantizeLinear (runtime/fuse.c): Relu before
   * quantization is a clamp at the zero point after it */
  if (ql_attr_int(c->node, QL_FUSED_RELU_ATTR, 0) && lo < yzp) lo = yzp;
  float alpha = 0;
  const int leaky = fused_leaky(c->node, &alpha);
  const float xs = ((const float *)x_scale->data)[0], ys = ((const float *)y_scale->data)[0];
  for (int64_t m = 0; m < ic.M; m++) {
    const float mult = ql_requant_multiplier(xs, ((const float *)w_scale->data)[w_scale->numel == 1 ? 0 : m], ys);
    const uint32_t b = bias ? (uint32_t)((const int32_t *)bias->data)[m] : 0;
    for (int64_t n = 0; n < ic.N; n++) {
      iconv_plane(&ic, n, m, b, plane);
      const int64_t base = (n * ic.M + m) * ic.g.out_size;
      for (int64_t o = 0; o < ic.g.out_size; o++) {
        const int32_t q = leaky ? leaky_requant((int32_t)plane[o], mult, alpha, yzp, (int32_t)lo, (int32_t)hi)
                                : ql_requant_f32((int32_t)plane[o], mult, yzp, (int32_t)lo, (int32_t)hi);
        if (yt == QL_UINT8) ((uint8_t *)y->data)[base + o] = (uint8_t)q;
        else ((int8_t *)y->data)[base + o] = (int8_t)q;
      }
    }
  }
  return QL_OK;
}

const ql_op_def ql_ops_qlinear_conv[] = {
    {"", "QLinearConv", 10, 10, qlinear_conv, qlinear_conv_prepare, conv_release},
    {"", "ConvInteger", 10, 10, conv_integer, conv_integer_prepare, conv_release},
    {0},
};

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

/* The operands shared by both ops once validated and centered. */
typedef struct iconv {
  ql_conv_attrs attrs;
  ql_conv_geom g;
  int64_t N, C, M, cg, mg; /* batch, in/out channels, per group */
  int16_t *x;              /* x - x_zp, [N, C, in...] */
  int16_t *w;              /* w - w_zp[m], [M, cg, kernel...] */
} iconv;

static void iconv_free(iconv *ic) {
  ql_free(ic->x);
  ql_free(ic->w);
}

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

/* Validates x, w and the zero points, resolves the geometry and builds the
 * centered int16 copies. On error nothing is left allocated. */
static ql_status iconv_prepare(ql_op_ctx *c, const ql_tensor *x, const ql_tensor *x_zp, const ql_tensor *w,
                               const ql_tensor *w_zp, iconv *ic) {
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

  /* numel <= 2^62, so 2 * numel fits in size_t; +1 keeps malloc(0) apart */
  ic->x = ql_malloc((size_t)x->numel * sizeof(int16_t) + 1);
  ic->w = ql_malloc((size_t)w->numel * sizeof(int16_t) + 1);
  if (!ic->x || !ic->w) {
    iconv_free(ic);
    return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
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

static ql_status conv_integer(ql_op_ctx *c) {
  iconv ic;
  ql_status st = iconv_prepare(c, ql_op_in(c, 0), ql_op_in(c, 2), ql_op_in(c, 1), ql_op_in(c, 3), &ic);
  if (st) return st;
  int64_t dims[QL_MAX_RANK];
  output_dims(&ic, dims);
  ql_tensor *y = ql_op_output(c, 0, QL_INT32, ic.g.nsp + 2, dims);
  if (!y) {
    iconv_free(&ic);
    return c->err->code;
  }
  /* int32 and uint32 may alias; the plane is the output itself */
  for (int64_t n = 0; n < ic.N; n++)
    for (int64_t m = 0; m < ic.M; m++)
      iconv_plane(&ic, n, m, 0, (uint32_t *)y->data + (n * ic.M + m) * ic.g.out_size);
  iconv_free(&ic);
  return QL_OK;
}

static ql_status qlinear_conv(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *x_scale = ql_op_in(c, 1), *x_zp = ql_op_in(c, 2);
  const ql_tensor *w = ql_op_in(c, 3), *w_scale = ql_op_in(c, 4), *w_zp = ql_op_in(c, 5);
  const ql_tensor *y_scale = ql_op_in(c, 6), *y_zp = ql_op_in(c, 7), *bias = ql_op_in(c, 8);
  iconv ic;
  ql_status st = iconv_prepare(c, x, x_zp, w, w_zp, &ic);
  if (st) return st;
  /* the output type comes from y_zero_point (x's type when it is omitted) */
  const ql_dtype yt = y_zp ? y_zp->dtype : x->dtype;
  int32_t yzp = 0;
  if ((st = check_scale(c, x_scale, "x_scale", 0)) || (st = check_scale(c, w_scale, "w_scale", ic.M)) ||
      (st = check_scale(c, y_scale, "y_scale", 0)))
    goto out;
  if (yt != QL_UINT8 && yt != QL_INT8) {
    st = ql_op_fail(c, QL_ERR_INVALID_MODEL, "y_zero_point must be uint8 or int8, got %s", ql_dtype_name(yt));
    goto out;
  }
  if ((st = scalar_zp(c, y_zp, yt, "y_zero_point", &yzp))) goto out;
  if (bias && (bias->dtype != QL_INT32 || bias->rank != 1 || bias->numel != ic.M)) {
    st = ql_op_fail(c, QL_ERR_INVALID_MODEL, "B must be an int32 vector of %lld elements", (long long)ic.M);
    goto out;
  }
  int64_t dims[QL_MAX_RANK];
  output_dims(&ic, dims);
  ql_tensor *y = ql_op_output(c, 0, yt, ic.g.nsp + 2, dims);
  uint32_t *plane = ql_malloc((size_t)ic.g.out_size * sizeof *plane + 1);
  if (!y || !plane) {
    ql_free(plane);
    st = y ? ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory") : c->err->code;
    goto out;
  }
  int64_t lo, hi;
  ql_dtype_int_range(yt, &lo, &hi);
  const float xs = ((const float *)x_scale->data)[0], ys = ((const float *)y_scale->data)[0];
  for (int64_t m = 0; m < ic.M; m++) {
    const float mult = ql_requant_multiplier(xs, ((const float *)w_scale->data)[w_scale->numel == 1 ? 0 : m], ys);
    const uint32_t b = bias ? (uint32_t)((const int32_t *)bias->data)[m] : 0;
    for (int64_t n = 0; n < ic.N; n++) {
      iconv_plane(&ic, n, m, b, plane);
      const int64_t base = (n * ic.M + m) * ic.g.out_size;
      for (int64_t o = 0; o < ic.g.out_size; o++) {
        const int32_t q = ql_requant_f32((int32_t)plane[o], mult, yzp, (int32_t)lo, (int32_t)hi);
        if (yt == QL_UINT8) ((uint8_t *)y->data)[base + o] = (uint8_t)q;
        else ((int8_t *)y->data)[base + o] = (int8_t)q;
      }
    }
  }
  ql_free(plane);
out:
  iconv_free(&ic);
  return st;
}

const ql_op_def ql_ops_qlinear_conv[] = {
    {"", "QLinearConv", 10, 10, qlinear_conv},
    {"", "ConvInteger", 10, 10, conv_integer},
    {0},
};

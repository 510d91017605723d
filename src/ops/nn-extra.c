/* Sampling and patch ops: GridSample, AffineGrid, RoiAlign, Col2Im.
 * Interpolation runs in double; sampling coordinates are computed in the
 * grid's own float precision first, as the reference and ONNX Runtime do,
 * so that "nearest" rounds exactly the same halfway points. */
#include "xops-util.h"

#define END QL_UNDEFINED

static int float_type(ql_dtype t) { return t == QL_FLOAT || t == QL_DOUBLE || t == QL_FLOAT16 || t == QL_BFLOAT16; }

static ql_status bad_type(ql_op_ctx *c, const char *what, ql_dtype t) {
  return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has type %s, which schema version %d does not allow", what,
                    ql_dtype_name(t), c->version);
}

/* Rounds v to float32 unless the computation is in double. */
static double in_prec(double v, int f32) { return f32 ? (double)(float)v : v; }

/* ================================================================ GridSample */

enum { GS_NEAREST, GS_LINEAR, GS_CUBIC };
enum { PAD_ZEROS, PAD_BORDER, PAD_REFLECTION };

/* Reflects x by the borders [lo, hi] until it lies inside (the reference's
 * _gs_reflect, with fmod instead of an integer count so huge values stay
 * defined). */
static double gs_reflect(double x, double lo, double hi) {
  double rng = hi - lo;
  if (!(rng > 0)) return lo;
  if (x < lo) {
    double dx = lo - x, n = floor(dx / rng), r = dx - n * rng;
    return fmod(n, 2) == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    double dx = x - hi, n = floor(dx / rng), r = dx - n * rng;
    return fmod(n, 2) == 0 ? hi - r : lo + r;
  }
  return x;
}

/* Keys cubic convolution coefficients (alpha = -0.75) for fraction t. */
static void gs_cubic(double t, double *w) {
  const double A = -0.75;
  double x = t + 1;
  w[0] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  x = t;
  w[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  x = 1 - t;
  w[2] = ((A + 2) * x - (A + 3)) * x * x + 1;
  x = 2 - t;
  w[3] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

typedef struct gs_ctx {
  int r, pad, align;
  const int64_t *dims; /* spatial dims of X */
  double lo[QL_MAX_RANK], hi[QL_MAX_RANK];
} gs_ctx;

/* Index along spatial dim d for an integer tap i under the padding mode;
 * -1 when the tap reads zero padding. */
static int64_t gs_tap(const gs_ctx *g, int d, int64_t i) {
  int64_t n = g->dims[d];
  switch (g->pad) {
  case PAD_ZEROS: return i >= 0 && i < n ? i : -1;
  case PAD_BORDER: return i < 0 ? 0 : i >= n ? n - 1 : i;
  default: {
    double v = gs_reflect((double)i, g->lo[d], g->hi[d]);
    int64_t k = (int64_t)v; /* truncation, as int() in the reference */
    return k < 0 ? 0 : k >= n ? n - 1 : k;
  }
  }
}

static ql_status grid_sample(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *grid = ql_op_in(c, 1);
  if (!x) return xo_missing(c, 0);
  if (!grid) return xo_missing(c, 1);
  if (!(grid->dtype == QL_FLOAT || grid->dtype == QL_DOUBLE || grid->dtype == QL_FLOAT16 ||
        (grid->dtype == QL_BFLOAT16 && c->version >= 22)))
    return bad_type(c, "grid", grid->dtype);
  if (x->dtype == QL_BFLOAT16 && c->version < 22) return bad_type(c, "X", x->dtype);
  int r = x->rank - 2;
  if (r < 1 || (c->version < 20 && r != 2))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X has rank %d; schema version %d needs %s", x->rank, c->version,
                      c->version < 20 ? "4" : "at least 3");
  if (grid->rank != r + 2 || grid->dims[0] != x->dims[0] || grid->dims[r + 1] != r)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "grid must have shape (N, D1_out, ..., D%d_out, %d)", r, r);
  const char *ms = ql_attr_string(c->node, "mode", c->version < 20 ? "bilinear" : "linear");
  const char *ps = ql_attr_string(c->node, "padding_mode", "zeros");
  int mode, old = c->version < 20;
  if (!strcmp(ms, "nearest")) mode = GS_NEAREST;
  else if (!strcmp(ms, old ? "bilinear" : "linear")) mode = GS_LINEAR;
  else if (!strcmp(ms, old ? "bicubic" : "cubic")) mode = GS_CUBIC;
  else return ql_op_fail(c, QL_ERR_INVALID_MODEL, "mode '%s' is not allowed in schema version %d", ms, c->version);
  gs_ctx g = {r, 0, ql_attr_int(c->node, "align_corners", 0) != 0, x->dims + 2, {0}, {0}};
  if (!strcmp(ps, "zeros")) g.pad = PAD_ZEROS;
  else if (!strcmp(ps, "border")) g.pad = PAD_BORDER;
  else if (!strcmp(ps, "reflection")) g.pad = PAD_REFLECTION;
  else return ql_op_fail(c, QL_ERR_INVALID_MODEL, "padding_mode '%s' is not supported", ps);
  if (mode != GS_NEAREST && !float_type(x->dtype))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "%s interpolation of %s data is not supported", ms,
                      ql_dtype_name(x->dtype));
  int64_t N = x->dims[0], C = x->dims[1], dims[QL_MAX_RANK];
  dims[0] = N, dims[1] = C;
  for (int d = 0; d < r; d++) dims[2 + d] = grid->dims[1 + d];
  if (xo_check_out(c, x->dtype, x->rank, dims)) return c->err->code;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, dims);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  int64_t in_sp = xo_prod(x->dims, 2, x->rank), out_sp = xo_prod(dims, 2, x->rank);
  if (in_sp == 0) {
    /* nothing to sample: only zero padding is meaningful */
    if (g.pad != PAD_ZEROS) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X has an empty spatial dim");
    return xo_fill_empty_strings(y) ? xo_oom(c) : QL_OK;
  }
  for (int d = 0; d < r; d++) {
    g.lo[d] = g.align ? 0 : -0.5;
    g.hi[d] = g.align ? (double)x->dims[2 + d] - 1 : (double)x->dims[2 + d] - 0.5;
  }
  int f32 = grid->dtype != QL_DOUBLE, ntap = mode == GS_CUBIC ? 4 : 2;
  int64_t xst[QL_MAX_RANK];
  for (int d = 0; d < r; d++) xst[d] = xo_prod(x->dims, 3 + d, x->rank);
  for (int64_t n = 0; n < N; n++) {
    for (int64_t o = 0; o < out_sp; o++) {
      /* sampling position per spatial dim (grid lists them innermost first) */
      double pos[QL_MAX_RANK];
      int zero = 0;
      for (int d = 0; d < r; d++) {
        double v = ql_load_f64(grid->dtype, grid->data, (n * out_sp + o) * r + (r - 1 - d)), L = (double)x->dims[2 + d];
        v = g.align ? in_prec(in_prec(in_prec(v + 1, f32) / 2, f32) * (L - 1), f32)
                    : in_prec(in_prec(in_prec(in_prec(v + 1, f32) * L, f32) - 1, f32) / 2, f32);
        if (mode == GS_NEAREST) v = nearbyint(v);
        if (v != v) {
          /* NaN reads padding: zero, or the low border */
          if (g.pad == PAD_ZEROS) zero = 1;
          v = g.lo[d];
        }
        if (v < g.lo[d] || v > g.hi[d]) {
          if (g.pad == PAD_BORDER) v = v < 0 ? 0 : v > L - 1 ? L - 1 : v;
          else if (g.pad == PAD_REFLECTION) v = gs_reflect(v, g.lo[d], g.hi[d]);
          /* zeros: any value beyond 3 pixels outside reads only zeros */
          else v = v < -3 ? -3 : v > L + 2 ? L + 2 : v;
        }
        pos[d] = v;
      }
      for (int64_t ch = 0; ch < C; ch++) {
        int64_t yo = (n * C + ch) * out_sp + o, xb = (n * C + ch) * in_sp;
        if (zero) continue;
        if (mode == GS_NEAREST) {
          int64_t xi = 0;
          for (int d = 0; d < r && xi >= 0; d++) {
            int64_t t = gs_tap(&g, d, (int64_t)pos[d]);
            xi = t < 0 ? -1 : xi + t * xst[d];
          }
          if (xi >= 0 && xo_copy1(x->dtype, y->data, yo, x->data, xb + xi)) return xo_oom(c);
          continue;
        }
        /* separable N-linear / N-cubic: sum over ntap^r taps */
        int64_t base[QL_MAX_RANK];
        double w[QL_MAX_RANK][4];
        for (int d = 0; d < r; d++) {
          double f = floor(pos[d]), t = pos[d] - f;
          base[d] = (int64_t)f - (mode == GS_CUBIC ? 1 : 0);
          if (mode == GS_CUBIC) gs_cubic(t, w[d]);
          else w[d][0] = 1 - t, w[d][1] = t;
        }
        int cnt[QL_MAX_RANK] = {0};
        double acc = 0;
        for (;;) {
          double wt = 1;
          int64_t xi = 0;
          for (int d = 0; d < r; d++) {
            wt *= w[d][cnt[d]];
            int64_t t = gs_tap(&g, d, base[d] + cnt[d]);
            if (t < 0) {
              xi = -1;
              break;
            }
            xi += t * xst[d];
          }
          if (xi >= 0) acc += wt * ql_load_f64(x->dtype, x->data, xb + xi);
          int d = r - 1;
          for (; d >= 0; d--) {
            if (++cnt[d] < ntap) break;
            cnt[d] = 0;
          }
          if (d < 0) break;
        }
        ql_store_f64(y->dtype, y->data, yo, acc);
      }
    }
  }
  return xo_fill_empty_strings(y) ? xo_oom(c) : QL_OK;
}

/* ================================================================ AffineGrid */

static ql_status affine_grid(ql_op_ctx *c) {
  const ql_tensor *theta = ql_op_in(c, 0), *sz = ql_op_in(c, 1);
  if (!theta) return xo_missing(c, 0);
  if (!sz) return xo_missing(c, 1);
  if (!float_type(theta->dtype)) return bad_type(c, "theta", theta->dtype);
  if (sz->dtype != QL_INT64 || sz->rank != 1 || (sz->numel != 4 && sz->numel != 5))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "size must be a 1-D int64 tensor of 4 or 5 elements");
  const int64_t *sv = sz->data;
  int r = (int)sz->numel - 2; /* 2 or 3 spatial dims */
  if (theta->rank != 3 || theta->dims[0] != sv[0] || theta->dims[1] != r || theta->dims[2] != r + 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "theta must have shape (N, %d, %d) for size %s", r, r + 1,
                      r == 2 ? "(N, C, H, W)" : "(N, C, D, H, W)");
  int64_t dims[5];
  dims[0] = sv[0];
  for (int d = 0; d < r; d++) {
    if (sv[2 + d] < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "size has a negative dim");
    dims[1 + d] = sv[2 + d];
  }
  dims[1 + r] = r;
  if (xo_check_out(c, theta->dtype, r + 2, dims)) return c->err->code;
  ql_tensor *y = ql_op_output(c, 0, theta->dtype, r + 2, dims);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  int align = ql_attr_int(c->node, "align_corners", 0) != 0;
  int64_t sp = xo_prod(dims, 1, r + 1), cnt[3] = {0};
  for (int64_t n = 0; n < sv[0]; n++) {
    for (int64_t p = 0; p < sp; p++) {
      /* homogeneous base point (x, y[, z], 1): x runs along the last dim */
      double h[4];
      for (int d = 0; d < r; d++) {
        double L = (double)dims[1 + d], step = align ? 2.0 / (L - 1) : 2.0 / L;
        /* a single position sits at 0 in both modes, as PyTorch's affine_grid has it */
        double v = align ? (L > 1 ? -1 + (double)cnt[d] * step : 0) : -1 + step / 2 + (double)cnt[d] * step;
        h[r - 1 - d] = v;
      }
      h[r] = 1;
      for (int j = 0; j < r; j++) {
        double acc = 0;
        for (int k = 0; k <= r; k++)
          acc += ql_load_f64(theta->dtype, theta->data, (n * r + j) * (r + 1) + k) * h[k];
        ql_store_f64(y->dtype, y->data, (n * sp + p) * r + j, acc);
      }
      for (int d = r - 1; d >= 0; d--) {
        if (++cnt[d] < dims[1 + d]) break;
        cnt[d] = 0;
      }
    }
  }
  return QL_OK;
}

/* ================================================================ RoiAlign */

#define ROI_MAX_GRID ((int64_t)1 << 12) /* sampling points per bin side */

static ql_status roi_align(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *rois = ql_op_in(c, 1), *bi = ql_op_in(c, 2);
  for (int i = 0; i < 3; i++)
    if (!ql_op_in(c, (size_t)i)) return xo_missing(c, i);
  if (!float_type(x->dtype) || (x->dtype == QL_BFLOAT16 && c->version < 22)) return bad_type(c, "X", x->dtype);
  if (rois->dtype != x->dtype) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "rois must have X's type");
  if (bi->dtype != QL_INT64) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "batch_indices must be int64");
  if (x->rank != 4) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X must be 4-D (N, C, H, W)");
  if (rois->rank != 2 || rois->dims[1] != 4) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "rois must be (num_rois, 4)");
  if (bi->rank != 1 || bi->dims[0] != rois->dims[0])
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "batch_indices must be (num_rois)");
  const char *ms = ql_attr_string(c->node, "mode", "avg");
  int is_max = !strcmp(ms, "max");
  if (!is_max && strcmp(ms, "avg")) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "mode must be avg or max");
  int half_pixel = 0;
  if (c->version >= 16) {
    const char *ct = ql_attr_string(c->node, "coordinate_transformation_mode", "half_pixel");
    if (!strcmp(ct, "half_pixel")) half_pixel = 1;
    else if (strcmp(ct, "output_half_pixel"))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "coordinate_transformation_mode '%s' is not supported", ct);
  }
  int64_t oh = ql_attr_int(c->node, "output_height", 1), ow = ql_attr_int(c->node, "output_width", 1);
  int64_t sr = ql_attr_int(c->node, "sampling_ratio", 0);
  double scale = ql_attr_float(c->node, "spatial_scale", 1.0f);
  if (oh < 1 || ow < 1 || sr < 0)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output_height/width must be positive and sampling_ratio >= 0");
  if (sr > ROI_MAX_GRID) return ql_op_fail(c, QL_ERR_LIMIT, "sampling_ratio %lld is too large", (long long)sr);
  int64_t R = rois->dims[0], N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
  int64_t dims[4] = {R, C, oh, ow};
  if (xo_check_out(c, x->dtype, 4, dims)) return c->err->code;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, 4, dims);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  if (H == 0 || W == 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X has an empty spatial dim");
  const int64_t *bv = bi->data;
  for (int64_t n = 0; n < R; n++) {
    int64_t b = bv[n];
    if (b < 0 || b >= N)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "batch_indices[%lld] = %lld is out of range [0, %lld)", (long long)n,
                        (long long)b, (long long)N);
    double off = half_pixel ? 0.5 : 0, rv[4];
    for (int k = 0; k < 4; k++) rv[k] = ql_load_f64(rois->dtype, rois->data, n * 4 + k) * scale - off;
    double sw = rv[0], sh = rv[1], rw = rv[2] - rv[0], rh = rv[3] - rv[1];
    if (!half_pixel) {
      rw = rw > 1 ? rw : 1;
      rh = rh > 1 ? rh : 1;
    }
    double bh = rh / (double)oh, bw = rw / (double)ow;
    double gh_f = sr > 0 ? (double)sr : ceil(rh / (double)oh), gw_f = sr > 0 ? (double)sr : ceil(rw / (double)ow);
    if (!(gh_f >= -1e9 && gh_f <= (double)ROI_MAX_GRID && gw_f >= -1e9 && gw_f <= (double)ROI_MAX_GRID))
      return ql_op_fail(c, QL_ERR_LIMIT, "roi %lld needs too many (or undefined) sampling points", (long long)n);
    int64_t gh = (int64_t)gh_f, gw = (int64_t)gw_f;
    if (gh < 0) gh = 0;
    if (gw < 0) gw = 0;
    double count = gh * gw > 1 ? (double)(gh * gw) : 1;
    for (int64_t ch = 0; ch < C; ch++) {
      int64_t xb = (b * C + ch) * H * W;
      for (int64_t ph = 0; ph < oh; ph++)
        for (int64_t pw = 0; pw < ow; pw++) {
          double out = 0;
          int seen = 0;
          for (int64_t iy = 0; iy < gh; iy++) {
            double yy = sh + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
            for (int64_t ix = 0; ix < gw; ix++) {
              double xx = sw + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw, val;
              if (yy < -1.0 || yy > (double)H || xx < -1.0 || xx > (double)W) {
                val = 0; /* the sample lies outside: all four weights are 0 */
              } else {
                double yv = yy > 0 ? yy : 0, xv = xx > 0 ? xx : 0;
                int64_t yl = (int64_t)yv, xl = (int64_t)xv, yh, xh;
                if (yl >= H - 1) yh = yl = H - 1, yv = (double)yl;
                else yh = yl + 1;
                if (xl >= W - 1) xh = xl = W - 1, xv = (double)xl;
                else xh = xl + 1;
                double ly = yv - (double)yl, lx = xv - (double)xl, hy = 1 - ly, hx = 1 - lx;
                double v1 = hy * hx * ql_load_f64(x->dtype, x->data, xb + yl * W + xl);
                double v2 = hy * lx * ql_load_f64(x->dtype, x->data, xb + yl * W + xh);
                double v3 = ly * hx * ql_load_f64(x->dtype, x->data, xb + yh * W + xl);
                double v4 = ly * lx * ql_load_f64(x->dtype, x->data, xb + yh * W + xh);
                /* max mode takes the largest weighted corner, as ONNX Runtime does */
                val = is_max ? fmax(fmax(v1, v2), fmax(v3, v4)) : v1 + v2 + v3 + v4;
              }
              if (is_max) out = seen++ ? fmax(out, val) : val;
              else out += val;
            }
          }
          if (!is_max) out /= count;
          ql_store_f64(y->dtype, y->data, ((n * C + ch) * oh + ph) * ow + pw, out);
        }
    }
  }
  return QL_OK;
}

/* ================================================================ Col2Im */

static ql_status col2im(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *is = ql_op_in(c, 1), *bs = ql_op_in(c, 2);
  for (int i = 0; i < 3; i++)
    if (!ql_op_in(c, (size_t)i)) return xo_missing(c, i);
  static const ql_dtype kt[] = {QL_UINT8, QL_UINT16, QL_UINT32,  QL_UINT64, QL_INT8,   QL_INT16,   QL_INT32,
                                QL_INT64, QL_FLOAT16, QL_FLOAT, QL_DOUBLE, QL_BFLOAT16, END};
  if (!xo_type_in(x->dtype, kt))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "Col2Im of %s data is not supported", ql_dtype_name(x->dtype));
  if (is->dtype != QL_INT64 || bs->dtype != QL_INT64 || is->rank != 1 || bs->rank != 1 || is->numel != bs->numel ||
      is->numel < 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "image_shape and block_shape must be 1-D int64 of one length");
  int r = (int)is->numel;
  if (r + 2 > QL_MAX_RANK) return ql_op_fail(c, QL_ERR_LIMIT, "%d spatial dims exceed the rank limit", r);
  if (x->rank != 3) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input must be 3-D (N, C*prod(block), L)");
  const int64_t *img = is->data, *blk = bs->data;
  int64_t strides[QL_MAX_RANK], dil[QL_MAX_RANK], pads[2 * QL_MAX_RANK];
  size_t n;
  const int64_t *a;
  for (int d = 0; d < r; d++) strides[d] = dil[d] = 1, pads[d] = pads[r + d] = 0;
  if ((a = ql_attr_ints(c->node, "strides", &n))) {
    if (n != (size_t)r) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "strides must have %d entries", r);
    memcpy(strides, a, n * sizeof *a);
  }
  if ((a = ql_attr_ints(c->node, "dilations", &n))) {
    if (n != (size_t)r) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "dilations must have %d entries", r);
    memcpy(dil, a, n * sizeof *a);
  }
  if ((a = ql_attr_ints(c->node, "pads", &n))) {
    if (n != (size_t)(2 * r)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "pads must have %d entries", 2 * r);
    memcpy(pads, a, n * sizeof *a);
  }
  int64_t kprod = 1, nblk[QL_MAX_RANK], lprod = 1, dims[QL_MAX_RANK];
  for (int d = 0; d < r; d++) {
    /* bounds keep every sum below far from int64 overflow */
    const int64_t B = (int64_t)1 << 40;
    if (img[d] < 0 || img[d] > B || blk[d] < 1 || blk[d] > B || strides[d] < 1 || strides[d] > B || dil[d] < 1 ||
        dil[d] > B || pads[d] < 0 || pads[d] > B || pads[r + d] < 0 || pads[r + d] > B)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "image/block shape, strides, dilations or pads out of range");
    if (ql_mul_overflow_i64(kprod, blk[d], &kprod)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "block too large");
    int64_t span = dil[d] * (blk[d] - 1) + 1, room = img[d] + pads[d] + pads[r + d] - span;
    if (room < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "block does not fit the padded image in dim %d", d);
    nblk[d] = room / strides[d] + 1;
    if (ql_mul_overflow_i64(lprod, nblk[d], &lprod)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "too many blocks");
  }
  if (x->dims[1] % kprod)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input dim 1 (%lld) is not divisible by the block size %lld",
                      (long long)x->dims[1], (long long)kprod);
  if (x->dims[2] != lprod)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input dim 2 (%lld) differs from the %lld sliding blocks",
                      (long long)x->dims[2], (long long)lprod);
  int64_t N = x->dims[0], C = x->dims[1] / kprod;
  dims[0] = N, dims[1] = C;
  for (int d = 0; d < r; d++) dims[2 + d] = img[d];
  if (xo_check_out(c, x->dtype, r + 2, dims)) return c->err->code;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r + 2, dims);
  if (!y) return c->err->code;
  if (y->numel == 0 || x->numel == 0) return QL_OK;
  int64_t isz = xo_prod(img, 0, r), ist[QL_MAX_RANK];
  for (int d = 0; d < r; d++) ist[d] = xo_prod(img, d + 1, r);
  int isf = ql_dtype_is_float(x->dtype);
  for (int64_t nn = 0; nn < N; nn++)
    for (int64_t ch = 0; ch < C; ch++) {
      int64_t kc[QL_MAX_RANK] = {0};
      for (int64_t k = 0; k < kprod; k++) {
        int64_t lc[QL_MAX_RANK] = {0};
        for (int64_t l = 0; l < lprod; l++) {
          int64_t yi = 0;
          for (int d = 0; d < r && yi >= 0; d++) {
            int64_t p = lc[d] * strides[d] - pads[d] + kc[d] * dil[d];
            yi = p < 0 || p >= img[d] ? -1 : yi + p * ist[d];
          }
          if (yi >= 0) {
            int64_t xi = ((nn * C + ch) * kprod + k) * lprod + l, yo = (nn * C + ch) * isz + yi;
            /* the sum is rounded to the type after every add, as numpy's += is */
            if (isf) ql_store_f64(y->dtype, y->data, yo, ql_load_f64(y->dtype, y->data, yo) + ql_load_f64(x->dtype, x->data, xi));
            else
              ql_store_i64(y->dtype, y->data, yo,
                           (int64_t)((uint64_t)ql_load_i64(y->dtype, y->data, yo) + (uint64_t)ql_load_i64(x->dtype, x->data, xi)));
          }
          for (int d = r - 1; d >= 0; d--) {
            if (++lc[d] < nblk[d]) break;
            lc[d] = 0;
          }
        }
        for (int d = r - 1; d >= 0; d--) {
          if (++kc[d] < blk[d]) break;
          kc[d] = 0;
        }
      }
    }
  return QL_OK;
}

const ql_op_def ql_ops_nn_extra[] = {
    {"", "GridSample", 16, 22, grid_sample},
    {"", "AffineGrid", 20, 20, affine_grid},
    {"", "RoiAlign", 10, 22, roi_align},
    {"", "Col2Im", 18, 18, col2im},
    {0},
};

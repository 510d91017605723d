/* Float convolutions: Conv (1, 11, 22) and ConvTranspose (1, 11, 22),
 * reference implementations for float, float16 and bfloat16 (see float-io.h
 * for the arithmetic). Geometry comes from conv-geom.h.
 *
 *   Conv:          y[n,m,o] = B[m] + sum_{c in group(m), k} x[n,c,o*s+k*d-pb] * w[m,c',k]
 *   ConvTranspose: y[n,m,o] = B[m] + sum_{c in group(m), k, i: i*s+k*d-pb = o} x[n,c,i] * w[c,m',k]
 *
 * ConvTranspose is the scatter form of the same index relation: every input
 * pixel adds its weighted kernel into the output, and positions that land in
 * the (cut-off) padding are dropped. */
#include "conv-geom.h"
#include "float-io.h"

/* The operands once validated: float copies and the geometry. */
typedef struct fconv {
  ql_conv_attrs attrs;
  ql_conv_geom g;
  int transposed;
  int64_t N, C, M, cg, mg; /* batch, in/out channels, per group */
  float *x, *w, *b;        /* b NULL when there is no bias */
  double *plane;           /* one output plane, [out...] */
} fconv;

static void fconv_free(fconv *f) {
  ql_free(f->x);
  ql_free(f->w);
  ql_free(f->b);
  ql_free(f->plane);
}

/* Forward: plane = y[n, m, out...]. Innermost loop along the last spatial
 * axis, contiguous in the plane and stride s in the input. */
static void conv_plane(const fconv *f, int64_t n, int64_t m) {
  const ql_conv_geom *g = &f->g;
  const int last = g->nsp - 1;
  const int64_t ol = g->out[last], il = g->in[last], kl = g->kernel[last];
  const int64_t s = g->stride[last], d = g->dilation[last], pb = g->pad_begin[last];
  const int64_t grp = m / f->mg;
  for (int64_t o = 0; o < g->out_size; o++) f->plane[o] = f->b ? f->b[m] : 0.0;
  for (int64_t cc = 0; cc < f->cg; cc++) {
    const float *xc = f->x + (n * f->C + grp * f->cg + cc) * g->in_size;
    const float *wc = f->w + (m * f->cg + cc) * g->kernel_size;
    for (int64_t orow = 0; orow < g->out_rows; orow++) {
      double *yr = f->plane + orow * ol;
      for (int64_t krow = 0; krow < g->kernel_rows; krow++) {
        const int64_t irow = ql_conv_row(g, 0, orow, krow);
        if (irow < 0) continue; /* kernel row in the padding */
        const float *xr = xc + irow * il;
        const float *wr = wc + krow * kl;
        for (int64_t kx = 0; kx < kl; kx++) {
          const double wv = wr[kx];
          const int64_t off = kx * d - pb;
          int64_t lo, hi;
          ql_conv_span(off, s, il, ol, &lo, &hi);
          for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * s + off];
        }
      }
    }
  }
}

/* Transposed: plane = y[n, m, out...]; W is [C, M/group, k...]. The inner
 * loop runs over input pixels of one row, scattering with stride s. */
static void conv_transpose_plane(const fconv *f, int64_t n, int64_t m) {
  const ql_conv_geom *g = &f->g;
  const int last = g->nsp - 1;
  const int64_t ol = g->out[last], il = g->in[last], kl = g->kernel[last];
  const int64_t s = g->stride[last], d = g->dilation[last], pb = g->pad_begin[last];
  const int64_t grp = m / f->mg, mm = m - grp * f->mg;
  for (int64_t o = 0; o < g->out_size; o++) f->plane[o] = f->b ? f->b[m] : 0.0;
  for (int64_t cc = 0; cc < f->cg; cc++) {
    const int64_t ch = grp * f->cg + cc;
    const float *xc = f->x + (n * f->C + ch) * g->in_size;
    const float *wc = f->w + (ch * f->mg + mm) * g->kernel_size;
    for (int64_t irow = 0; irow < g->in_rows; irow++) {
      const float *xr = xc + irow * il;
      for (int64_t krow = 0; krow < g->kernel_rows; krow++) {
        const int64_t orow = ql_conv_row(g, 1, irow, krow);
        if (orow < 0) continue; /* lands in the cut-off padding */
        double *yr = f->plane + orow * ol;
        const float *wr = wc + krow * kl;
        for (int64_t kx = 0; kx < kl; kx++) {
          const double wv = wr[kx];
          const int64_t off = kx * d - pb;
          int64_t lo, hi;
          ql_conv_span(off, s, ol, il, &lo, &hi);
          for (int64_t ix = lo; ix < hi; ix++) yr[ix * s + off] += wv * xr[ix];
        }
      }
    }
  }
}

/* ConvTranspose's own attributes: output_padding (nsp values) and
 * output_shape (nsp values, or nsp + 2 with N and C first as older
 * exporters wrote it). */
static ql_status transpose_attrs(ql_op_ctx *c, int nsp, int64_t *opad, int64_t *oshape, int *has_oshape) {
  size_t n = 0;
  const int64_t *v = ql_attr_ints(c->node, "output_padding", &n);
  for (int i = 0; i < nsp; i++) opad[i] = 0;
  if (v) {
    if (n != (size_t)nsp)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output_padding has %zu values, expected %d", n, nsp);
    memcpy(opad, v, sizeof(int64_t) * (size_t)nsp);
  }
  v = ql_attr_ints(c->node, "output_shape", &n);
  *has_oshape = v != NULL;
  if (v) {
    if (n != (size_t)nsp && n != (size_t)nsp + 2)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output_shape has %zu values, expected %d", n, nsp);
    memcpy(oshape, v + (n - (size_t)nsp), sizeof(int64_t) * (size_t)nsp);
  }
  return QL_OK;
}

static ql_status run_conv(ql_op_ctx *c, int transposed) {
  const ql_tensor *x = ql_op_in(c, 0), *w = ql_op_in(c, 1), *b = ql_op_in(c, 2);
  fconv f;
  memset(&f, 0, sizeof f);
  f.transposed = transposed;
  if (!x || !w) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs X and W are required");
  if (!ql_float_io_type(x->dtype) || w->dtype != x->dtype || (b && b->dtype != x->dtype))
    return ql_op_fail(c, x && ql_float_io_type(x->dtype) ? QL_ERR_INVALID_MODEL : QL_ERR_UNSUPPORTED,
                      "X, W and B must share one of float, float16, bfloat16 (got %s, %s, %s)",
                      ql_dtype_name(x->dtype), ql_dtype_name(w->dtype), b ? ql_dtype_name(b->dtype) : "-");
  if (x->rank < 3 || w->rank != x->rank)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X (rank %d) must have rank >= 3 and W (rank %d) the same rank",
                      x->rank, w->rank);
  const int nsp = x->rank - 2;
  ql_status st = ql_conv_attrs_read(c, nsp, &f.attrs);
  if (st) return st;
  f.N = x->dims[0];
  f.C = x->dims[1];
  if ((st = ql_conv_check_channels(c, transposed, f.attrs.group, f.C, w->dims[0], w->dims[1], &f.M))) return st;
  f.cg = f.C / f.attrs.group;
  f.mg = f.M / f.attrs.group;
  if (transposed) {
    int64_t opad[QL_CONV_MAX_SPATIAL], oshape[QL_CONV_MAX_SPATIAL];
    int has_oshape;
    if ((st = transpose_attrs(c, nsp, opad, oshape, &has_oshape)) ||
        (st = ql_conv_geom_transpose(c, &f.attrs, x->dims + 2, w->dims + 2, opad, has_oshape ? oshape : NULL,
                                     &f.g)))
      return st;
  } else if ((st = ql_conv_geom_forward(c, &f.attrs, x->dims + 2, w->dims + 2, &f.g))) {
    return st;
  }
  if (b && (b->rank != 1 || b->numel != f.M))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "B has %lld elements, expected a vector of %lld",
                      (long long)b->numel, (long long)f.M);

  int64_t dims[QL_MAX_RANK] = {f.N, f.M};
  for (int i = 0; i < nsp; i++) dims[2 + i] = f.g.out[i];
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, dims);
  if (!y) return c->err->code;
  f.x = ql_float_copy(x);
  f.w = ql_float_copy(w);
  f.b = b ? ql_float_copy(b) : NULL;
  f.plane = ql_malloc((size_t)f.g.out_size * sizeof *f.plane + 1); /* out_size <= numel(y) */
  if (!f.x || !f.w || (b && !f.b) || !f.plane) {
    fconv_free(&f);
    return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (int64_t n = 0; n < f.N; n++)
    for (int64_t m = 0; m < f.M; m++) {
      if (transposed) conv_transpose_plane(&f, n, m);
      else conv_plane(&f, n, m);
      const int64_t base = (n * f.M + m) * f.g.out_size;
      if (y->dtype == QL_FLOAT) {
        float *yp = (float *)y->data + base;
        for (int64_t o = 0; o < f.g.out_size; o++) yp[o] = (float)f.plane[o];
      } else {
        for (int64_t o = 0; o < f.g.out_size; o++) ql_store_f64(y->dtype, y->data, base + o, f.plane[o]);
      }
    }
  fconv_free(&f);
  return QL_OK;
}

static ql_status conv(ql_op_ctx *c) {
  return run_conv(c, 0);
}
static ql_status conv_transpose(ql_op_ctx *c) {
  return run_conv(c, 1);
}

const ql_op_def ql_ops_conv[] = {
    {"", "Conv", 1, 22, conv},
    {"", "ConvTranspose", 1, 22, conv_transpose},
    {0},
};

/* Float convolutions: Conv (1, 11, 22) and ConvTranspose (1, 11, 22),
 * reference implementations for float, float16 and bfloat16 (see float-io.h
 * for the arithmetic). Geometry comes from conv-geom.h.
 *
 *   Conv:          y[n,m,o] = B[m] + sum_{c in group(m), k} x[n,c,o*s+k*d-pb] * w[m,c',k]
 *   ConvTranspose: y[n,m,o] = B[m] + sum_{c in group(m), k, i: i*s+k*d-pb = o} x[n,c,i] * w[c,m',k]
 *
 * ConvTranspose is the scatter form of the same index relation: every input
 * pixel adds its weighted kernel into the output, and positions that land in
 * the (cut-off) padding are dropped.
 *
 * A float32 Conv with one or two spatial axes is defined by a fixed float32
 * summation order instead (sgemm.h): per output, the bias, then fmaf of the
 * weights in (channel, kernel row, kernel column) order, padding taps
 * included as zeros. It runs as im2col + GEMM on every path; the reference
 * path uses the scalar twin, the fast path the best vector kernel, with the
 * same bits. Other types and 3-D keep the double-accumulating loops below. */
#include "../kernels/sgemm.h"
#include "../runtime/threadpool.h"
#include "conv-geom.h"
#include "float-io.h"

/* The operands once validated: float copies (in the op's scratch) and the
 * geometry. */
typedef struct fconv {
  ql_conv_attrs attrs;
  ql_conv_geom g;
  int transposed;
  int64_t N, C, M, cg, mg; /* batch, in/out channels, per group */
  float *x, *w, *b;        /* b NULL when there is no bias */
  double *plane;           /* one output plane, [out...] */
} fconv;

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

/* ---------------------------------------------------- float32: im2col + GEMM */
typedef struct sconv {
  ql_sgemm_fn gemm;
  const float *x, *w, *b;
  float *y;
  int64_t n, C, M, cg, mg, kg; /* image, channels, per group, GEMM depth cg * kernel */
  int64_t ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
  int direct;                  /* 1x1, stride 1, no padding: X is already the GEMM operand */
  ql_op_ctx *c;                /* for the tasks' scratch */
  int failed;
} sconv;

/* Column block of one task: the im2col slice stays near 256 KiB. */
static int64_t sconv_block(const sconv *s) {
  int64_t nc = ((int64_t)65536 / s->kg + 31) / 32 * 32;
  return nc < 256 ? 256 : nc;
}

/* col[k][j] for k = (c, r, q) of group g and output pixels [j0, j0 + nj) */
static void im2col(const sconv *s, int64_t g, int64_t j0, int64_t nj, float *col) {
  for (int64_t c = 0; c < s->cg; c++) {
    const float *xc = s->x + (s->n * s->C + g * s->cg + c) * s->ih * s->iw;
    for (int64_t r = 0; r < s->kh; r++)
      for (int64_t q = 0; q < s->kw; q++, col += nj) {
        int64_t oy = j0 / s->ow, ox = j0 % s->ow;
        for (int64_t j = 0; j < nj;) {
          const int64_t iy = oy * s->sh - s->ph + r * s->dh, run = s->ow - ox < nj - j ? s->ow - ox : nj - j;
          if (iy < 0 || iy >= s->ih) {
            for (int64_t t = 0; t < run; t++) col[j + t] = 0.0f;
          } else {
            /* taps t in [lo, hi) read inside the row; the rest is padding */
            const int64_t off = ox * s->sw - s->pw + q * s->dw;
            int64_t lo = off >= 0 ? 0 : (-off + s->sw - 1) / s->sw, hi = off < s->iw ? (s->iw - off + s->sw - 1) / s->sw : 0;
            if (hi > run) hi = run;
            if (lo > hi) lo = hi;
            const float *xr = xc + iy * s->iw;
            for (int64_t t = 0; t < lo; t++) col[j + t] = 0.0f;
            if (s->sw == 1) memcpy(col + j + lo, xr + off + lo, (size_t)(hi - lo) * sizeof *col);
            else
              for (int64_t t = lo; t < hi; t++) col[j + t] = xr[off + t * s->sw];
            for (int64_t t = hi; t < run; t++) col[j + t] = 0.0f;
          }
          j += run;
          ox = 0;
          oy++;
        }
      }
  }
}

static void sconv_task(void *ctx, size_t thread, size_t g0, size_t j0, size_t ng, size_t nj) {
  sconv *s = ctx;
  const int64_t ohw = s->oh * s->ow;
  for (size_t g = g0; g < g0 + ng; g++) {
    ql_sgemm_args a = {.k = s->kg, .w = s->w + (int64_t)g * s->mg * s->kg, .ldw = s->kg,
                       .bias = s->b ? s->b + (int64_t)g * s->mg : NULL,
                       .y = s->y + (s->n * s->M + (int64_t)g * s->mg) * ohw + (int64_t)j0, .ldy = ohw};
    if (s->direct) {
      a.x = s->x + (s->n * s->C + (int64_t)g * s->cg) * ohw + (int64_t)j0;
      a.ldx = ohw;
      s->gemm(&a, 0, s->mg, 0, (int64_t)nj);
      continue;
    }
    float *col = ql_op_thread_scratch(s->c, thread, (size_t)s->kg * nj * sizeof *col);
    if (!col) {
      s->failed = 1; /* a benign race: every writer stores 1 */
      return;
    }
    im2col(s, (int64_t)g, (int64_t)j0, (int64_t)nj, col);
    a.x = col;
    a.ldx = (int64_t)nj;
    s->gemm(&a, 0, s->mg, 0, (int64_t)nj);
  }
}

/* Depthwise (one input and one output channel per group), fast path only:
 * each plane is copied once into a zero-bordered buffer and each output row
 * runs all taps in registers (sgemm.h ql_sdw_row_fn). Taps in (row, column) order,
 * padding taps reading the zeros: the GEMM's chain over the im2col rows. */
/* The zero-bordered plane: every row and column a tap reads. */
static void sdw_extent(const sconv *s, int64_t *hh, int64_t *ww) {
  const int64_t ph = (s->oh - 1) * s->sh + (s->kh - 1) * s->dh + 1, pw = (s->ow - 1) * s->sw + (s->kw - 1) * s->dw + 1;
  *hh = ph > s->ih + s->ph ? ph : s->ih + s->ph;
  *ww = pw > s->iw + s->pw ? pw : s->iw + s->pw;
}

/* Only when that plane stays near the input's size: huge pads or dilations
 * (valid ONNX, and reachable from a model file) take the im2col path, whose
 * buffers are bounded. */
static int sdw_fits(const sconv *s) {
  int64_t hh, ww;
  if (s->oh > INT32_MAX || s->ow > INT32_MAX || s->sh > INT32_MAX || s->sw > INT32_MAX || s->kh > INT32_MAX ||
      s->kw > INT32_MAX || s->dh > INT32_MAX || s->dw > INT32_MAX)
    return 0;
  sdw_extent(s, &hh, &ww);
  return hh <= 2 * s->ih + 64 && ww <= 2 * s->iw + 64;
}

static void sdw_task(void *ctx, size_t thread, size_t c0, size_t j0, size_t nc, size_t nj) {
  (void)j0;
  (void)nj;
  sconv *s = ctx;
  const ql_sdw_row_fn row = ql_sdw_row_for(s->gemm);
  int64_t hh, ww;
  sdw_extent(s, &hh, &ww);
  float *pad = ql_op_thread_scratch(s->c, thread, (size_t)(hh * ww) * sizeof *pad);
  if (!pad) {
    s->failed = 1;
    return;
  }
  for (size_t ch = c0; ch < c0 + nc; ch++) {
    const float *xc = s->x + (s->n * s->C + (int64_t)ch) * s->ih * s->iw;
    memset(pad, 0, (size_t)(hh * ww) * sizeof *pad);
    for (int64_t r = 0; r < s->ih; r++) memcpy(pad + (r + s->ph) * ww + s->pw, xc + r * s->iw, (size_t)s->iw * sizeof *pad);
    const float *w = s->w + (int64_t)ch * s->kh * s->kw;
    const float b = s->b ? s->b[ch] : 0.0f;
    float *y = s->y + (s->n * s->M + (int64_t)ch) * s->oh * s->ow;
    ql_sdw_row rw = {.rs = s->dh * ww, .dq = s->dw, .stride = s->sw, .kh = s->kh, .kw = s->kw, .w = w, .bias = b};
    for (int64_t oy = 0; oy < s->oh; oy++) {
      rw.x = pad + oy * s->sh * ww;
      row(&rw, y + oy * s->ow, s->ow);
    }
  }
}

static ql_status run_sconv(ql_op_ctx *c, const fconv *f, const ql_tensor *x, const ql_tensor *w, const ql_tensor *b,
                           ql_tensor *y) {
  const ql_conv_geom *g = &f->g;
  const int two = g->nsp == 2; /* 1-D is 2-D with one row */
  /* the state is ql_op_isa_prepare's, NULL in reference sessions */
  sconv s = {.gemm = c->state ? ql_sgemm_select((ql_isa)*(const int *)c->state) : ql_sgemm_f32_1x1__scalar,
             .x = x->data, .w = w->data, .b = b ? b->data : NULL, .y = y->data,
             .C = f->C, .M = f->M, .cg = f->cg, .mg = f->mg, .kg = f->cg * g->kernel_size,
             .ih = two ? g->in[0] : 1, .iw = g->in[two], .oh = two ? g->out[0] : 1, .ow = g->out[two],
             .kh = two ? g->kernel[0] : 1, .kw = g->kernel[two], .sh = two ? g->stride[0] : 1, .sw = g->stride[two],
             .dh = two ? g->dilation[0] : 1, .dw = g->dilation[two], .ph = two ? g->pad_begin[0] : 0,
             .pw = g->pad_begin[two], .c = c};
  s.direct = g->kernel_size == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0 && s.oh == s.ih && s.ow == s.iw;
  const int64_t ohw = s.oh * s.ow;
  if (ohw == 0 || s.mg == 0) return QL_OK;
  if (s.kg == 0) { /* no input channels: the bias alone */
    for (int64_t i = 0; i < y->numel; i++) ((float *)y->data)[i] = s.b ? s.b[i / ohw % s.M] : 0.0f;
    return QL_OK;
  }
  const int depthwise = c->state && s.cg == 1 && s.mg == 1 && sdw_fits(&s);
  for (s.n = 0; s.n < f->N && !s.failed; s.n++) {
    if (depthwise)
      ql_threadpool_parallel_for_2d(c->pool, sdw_task, &s, (size_t)s.C, 1, 8, 1);
    else
      ql_threadpool_parallel_for_2d(c->pool, sconv_task, &s, (size_t)f->attrs.group, (size_t)ohw, 1,
                                    (size_t)sconv_block(&s));
  }
  return s.failed ? ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory") : QL_OK;
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
  /* (a GEMM depth past 2^16 would make the im2col slice of a task huge: the plane loops need no slice) */
  if (!transposed && x->dtype == QL_FLOAT && nsp <= 2 && f.cg * f.g.kernel_size <= ((int64_t)1 << 16)) {
    ql_tensor *y = ql_op_output_nofill(c, 0, x->dtype, x->rank, dims);
    return y ? run_sconv(c, &f, x, w, b, y) : c->err->code;
  }
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, dims);
  if (!y) return c->err->code;
  if (!(f.x = ql_float_scratch(c, x)) || !(f.w = ql_float_scratch(c, w)) || (b && !(f.b = ql_float_scratch(c, b))) ||
      !(f.plane = ql_op_scratch(c, (size_t)f.g.out_size * sizeof *f.plane))) /* out_size <= numel(y) */
    return c->err->code;
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
  return QL_OK;
}

static ql_status conv(ql_op_ctx *c) {
  return run_conv(c, 0);
}
static ql_status conv_transpose(ql_op_ctx *c) {
  return run_conv(c, 1);
}

const ql_op_def ql_ops_conv[] = {
    {"", "Conv", 1, 22, conv, ql_op_isa_prepare, ql_op_isa_release},
    {"", "ConvTranspose", 1, 22, conv_transpose},
    {0},
};

/* Geometry of sliding-window ops: Conv, ConvInteger, QLinearConv,
 * ConvTranspose, and the pooling ops.
 *
 * Usage (forward window, e.g. Conv):
 *
 *   ql_conv_attrs a;
 *   ql_conv_geom g;
 *   if ((st = ql_conv_attrs_read(c, x->rank - 2, &a))) return st;
 *   if ((st = ql_conv_geom_forward(c, &a, x->dims + 2, w->dims + 2, &g))) return st;
 *   // y spatial dims = g.out[0..g.nsp-1]
 *
 * Every value is validated before it is used: attribute list lengths, signs,
 * a 2^31 bound on every attribute value (so products of two of them always
 * fit in int64), and overflow of every derived size. Errors go through
 * ql_op_fail, so the message names the node.
 *
 * Index relations (per spatial axis i, d = dilation, s = stride):
 *   forward:    input  = out_pos * s + k * d - pad_begin   (outside [0,in) = padding)
 *   transposed: output = in_pos  * s + k * d - pad_begin   (outside [0,out) = dropped)
 * The last spatial axis is the contiguous one, so kernels loop over "rows"
 * (all spatial axes but the last, flattened) and run their innermost loop
 * along the last axis over the range ql_conv_span returns. */
#ifndef QL_CONV_GEOM_H
#define QL_CONV_GEOM_H

#include "op.h"

/* Inputs are N x C x spatial..., so at most QL_MAX_RANK - 2 spatial axes. */
#define QL_CONV_MAX_SPATIAL (QL_MAX_RANK - 2)
/* Largest attribute value accepted (kernel_shape, strides, dilations, pads,
 * output_padding): keeps products of two values far from int64 overflow. */
#define QL_CONV_MAX_ATTR ((int64_t)1 << 31)

typedef enum ql_auto_pad {
  QL_AUTO_PAD_NOTSET = 0, /* explicit `pads` */
  QL_AUTO_PAD_VALID,      /* no padding */
  QL_AUTO_PAD_SAME_UPPER, /* out = ceil(in / s); odd extra pad at the end */
  QL_AUTO_PAD_SAME_LOWER  /* same, odd extra pad at the beginning */
} ql_auto_pad;

/* The window attributes as written in the node (no shapes known yet). */
typedef struct ql_conv_attrs {
  int nsp;                 /* number of spatial axes, 1..QL_CONV_MAX_SPATIAL */
  ql_auto_pad auto_pad;
  int has_kernel_shape;    /* kernel_shape attribute present */
  int has_pads;            /* pads attribute present */
  int64_t kernel_shape[QL_CONV_MAX_SPATIAL];
  int64_t strides[QL_CONV_MAX_SPATIAL];   /* default 1 */
  int64_t dilations[QL_CONV_MAX_SPATIAL]; /* default 1 */
  int64_t pads[2 * QL_CONV_MAX_SPATIAL];  /* [b_1..b_n, e_1..e_n], default 0 */
  int64_t group;           /* default 1; pooling ignores it */
  int ceil_mode;           /* pooling only: ql_conv_attrs_read sets 0, the
                              pooling op sets it from its own attribute */
} ql_conv_attrs;

/* Resolved geometry for one call (attributes + actual shapes). */
typedef struct ql_conv_geom {
  int nsp;
  int64_t in[QL_CONV_MAX_SPATIAL];      /* input spatial sizes */
  int64_t out[QL_CONV_MAX_SPATIAL];     /* output spatial sizes */
  int64_t kernel[QL_CONV_MAX_SPATIAL];
  int64_t stride[QL_CONV_MAX_SPATIAL];
  int64_t dilation[QL_CONV_MAX_SPATIAL];
  int64_t pad_begin[QL_CONV_MAX_SPATIAL]; /* after auto_pad; >= 0 */
  int64_t pad_end[QL_CONV_MAX_SPATIAL];   /* >= 0 */
  int64_t in_size, out_size, kernel_size; /* products over the spatial axes */
  int64_t in_rows, out_rows, kernel_rows; /* the same without the last axis */
} ql_conv_geom;

/* Reads auto_pad, kernel_shape, strides, dilations, pads and group of the
 * node for `nsp` spatial axes (nsp = input rank - 2). Checks list lengths,
 * kernel_shape/strides/dilations >= 1, pads >= 0, group >= 1, all values
 * <= QL_CONV_MAX_ATTR, and that auto_pad is one of the four known strings
 * ("" counts as NOTSET). With auto_pad != NOTSET explicit pads are ignored. */
ql_status ql_conv_attrs_read(ql_op_ctx *c, int nsp, ql_conv_attrs *a);

/* Geometry of a forward window (Conv, pooling). `in` = the input's spatial
 * dims; `kernel` = the weight's spatial dims, or NULL to take kernel_shape
 * (then required). When both exist they must agree. Output size per axis,
 * with ek = (k - 1) * d + 1:
 *   NOTSET/VALID: floor((in + pb + pe - ek) / s) + 1, needs in + pb + pe >= ek
 *                 (ceil instead of floor with ceil_mode, dropping a last window
 *                 that would start in the end padding)
 *   SAME_*:       ceil(in / s), total pad = max(0, (out - 1) * s + ek - in). */
ql_status ql_conv_geom_forward(ql_op_ctx *c, const ql_conv_attrs *a, const int64_t *in, const int64_t *kernel,
                               ql_conv_geom *g);

/* Geometry of ConvTranspose. `in` = X's spatial dims (g->in), the result
 * g->out = Y's. output_padding: nsp values >= 0 (NULL = zeros; the ONNX
 * text wants each below its stride or dilation, but a larger one only adds
 * zeros, so it is not enforced); output_shape: nsp values or NULL. Per axis, with
 * full = s * (in - 1) + output_padding + ek:
 *   output_shape given: out = output_shape, total pad = max(0, full - out),
 *                       split as below (pads attribute ignored)
 *   SAME_*:             out = in * s, total pad = max(0, full - out)
 *   NOTSET/VALID:       out = full - pb - pe (must be >= 0)
 * Split of a total pad t: SAME_UPPER begin = t/2; otherwise (SAME_LOWER and,
 * per the ONNX text, NOTSET with output_shape) begin = t - t/2.
 * t < 0 (the requested output is larger than `full`) is clamped to 0, so the
 * extra outputs are zero (+ bias) at the end: ONNX Runtime does this for
 * output_shape. For SAME_* with ek + output_padding < s ORT instead shrinks
 * the output to `full` and the ONNX reference shifts by a negative pad; we
 * keep the documented out = in * s. */
ql_status ql_conv_geom_transpose(ql_op_ctx *c, const ql_conv_attrs *a, const int64_t *in, const int64_t *kernel,
                                 const int64_t *output_padding, const int64_t *output_shape, ql_conv_geom *g);

/* Checks the channel split of a grouped window op and returns the number of
 * output channels. Forward (Conv): x has C channels, W is [M, C/group, ...]:
 * needs C == group * w1 and M % group == 0; returns M. Transposed: W is
 * [C, M/group, ...]: needs w0 == C and C % group == 0; returns group * w1. */
ql_status ql_conv_check_channels(ql_op_ctx *c, int transpose, int64_t group, int64_t C, int64_t w0, int64_t w1,
                                 int64_t *out_channels);

/* Parses an auto_pad string; -1 when unknown. */
int ql_auto_pad_parse(const char *s, ql_auto_pad *out);

/* ---- helpers for kernel loops ---- */

/* Positions p in [0, n_p) for which q = p * s + off lies in [0, n_q): returns
 * them as [*lo, *hi) (empty: *lo == *hi). Forward: p = output position,
 * q = input position; transposed: p = input, q = output. Requires s >= 1. */
static inline void ql_conv_span(int64_t off, int64_t s, int64_t n_q, int64_t n_p, int64_t *lo, int64_t *hi) {
  int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;      /* first p with p*s + off >= 0 */
  int64_t h = n_q - 1 - off < 0 ? 0 : (n_q - 1 - off) / s + 1; /* p*s + off <= n_q - 1 */
  if (h > n_p) h = n_p;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* Row index mapping over the outer spatial axes (all but the last): the
 * row of the "q" tensor that row `prow` of the "p" tensor meets through
 * kernel row `krow`, or -1 when it falls outside (padding). Forward: p = out,
 * q = in; transposed: p = in, q = out (pass transposed = 1). */
static inline int64_t ql_conv_row(const ql_conv_geom *g, int transposed, int64_t prow, int64_t krow) {
  int64_t row = 0, mult = 1;
  for (int i = g->nsp - 2; i >= 0; i--) {
    const int64_t np = transposed ? g->in[i] : g->out[i];
    const int64_t nq = transposed ? g->out[i] : g->in[i];
    const int64_t p = prow % np, k = krow % g->kernel[i];
    prow /= np;
    krow /= g->kernel[i];
    const int64_t q = p * g->stride[i] + k * g->dilation[i] - g->pad_begin[i];
    if (q < 0 || q >= nq) return -1;
    row += q * mult;
    mult *= nq;
  }
  return row;
}

#endif

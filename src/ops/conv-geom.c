/* Shared geometry of sliding-window ops (see conv-geom.h). Not an op family:
 * the build treats every .c file in src/ops as one, so this file provides the
 * empty table it expects. */
#include "conv-geom.h"

const ql_op_def ql_ops_conv_geom[] = {{0}};

int ql_auto_pad_parse(const char *s, ql_auto_pad *out) {
  if (!strcmp(s, "NOTSET") || !*s) *out = QL_AUTO_PAD_NOTSET;
  else if (!strcmp(s, "VALID")) *out = QL_AUTO_PAD_VALID;
  else if (!strcmp(s, "SAME_UPPER")) *out = QL_AUTO_PAD_SAME_UPPER;
  else if (!strcmp(s, "SAME_LOWER")) *out = QL_AUTO_PAD_SAME_LOWER;
  else return -1;
  return 0;
}

/* Reads an INTS attribute of exactly `n` values each in [min, QL_CONV_MAX_ATTR]
 * into out; leaves out alone when absent. Returns 1 when present. */
static int read_ints(ql_op_ctx *c, const char *name, size_t n, int64_t min, int64_t *out, ql_status *st) {
  size_t count = 0;
  const ql_attr *at = ql_node_attr(c->node, name);
  if (!at) return 0;
  const int64_t *v = ql_attr_ints(c->node, name, &count);
  if (at->type != QL_ATTR_INTS || count != n) {
    *st = ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute %s has %zu values, expected %zu", name, count, n);
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (v[i] < min || v[i] > QL_CONV_MAX_ATTR) {
      *st = ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute %s[%zu] = %lld is out of range [%lld, %lld]", name, i,
                       (long long)v[i], (long long)min, (long long)QL_CONV_MAX_ATTR);
      return 0;
    }
    out[i] = v[i];
  }
  return 1;
}

ql_status ql_conv_attrs_read(ql_op_ctx *c, int nsp, ql_conv_attrs *a) {
  memset(a, 0, sizeof *a);
  if (nsp < 1 || nsp > QL_CONV_MAX_SPATIAL)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input must have rank 3..%d (N, C, spatial...), got %d",
                      QL_MAX_RANK, nsp + 2);
  a->nsp = nsp;
  a->group = ql_attr_int(c->node, "group", 1);
  if (a->group < 1 || a->group > QL_CONV_MAX_ATTR)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "group = %lld must be >= 1", (long long)a->group);
  const char *ap = ql_attr_string(c->node, "auto_pad", "NOTSET");
  if (ql_auto_pad_parse(ap, &a->auto_pad))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown auto_pad '%s'", ap);
  for (int i = 0; i < nsp; i++) a->strides[i] = a->dilations[i] = 1;
  ql_status st = QL_OK;
  a->has_kernel_shape = read_ints(c, "kernel_shape", (size_t)nsp, 1, a->kernel_shape, &st);
  if (!st) read_ints(c, "strides", (size_t)nsp, 1, a->strides, &st);
  if (!st) read_ints(c, "dilations", (size_t)nsp, 1, a->dilations, &st);
  if (!st) a->has_pads = read_ints(c, "pads", 2 * (size_t)nsp, 0, a->pads, &st);
  if (st) return st;
  if (a->auto_pad != QL_AUTO_PAD_NOTSET) memset(a->pads, 0, sizeof a->pads);
  return QL_OK;
}

/* Common part: kernel sizes, strides, dilations, and the shape checks. */
static ql_status geom_init(ql_op_ctx *c, const ql_conv_attrs *a, const int64_t *in, const int64_t *kernel,
                           ql_conv_geom *g) {
  memset(g, 0, sizeof *g);
  g->nsp = a->nsp;
  for (int i = 0; i < a->nsp; i++) {
    if (in[i] < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "negative input size on spatial axis %d", i);
    int64_t k;
    if (kernel) {
      k = kernel[i];
      if (k < 1 || k > QL_CONV_MAX_ATTR)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "weight spatial dim %d is %lld, expected 1..2^31", i,
                          (long long)k);
      if (a->has_kernel_shape && a->kernel_shape[i] != k)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "kernel_shape[%d] = %lld but the weight has %lld", i,
                          (long long)a->kernel_shape[i], (long long)k);
    } else {
      if (!a->has_kernel_shape) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "kernel_shape is required");
      k = a->kernel_shape[i];
    }
    g->in[i] = in[i];
    g->kernel[i] = k;
    g->stride[i] = a->strides[i];
    g->dilation[i] = a->dilations[i];
  }
  return QL_OK;
}

/* Products over the spatial axes; each bounded by an existing or about to be
 * allocated tensor's element count, but checked anyway. */
static ql_status geom_sizes(ql_op_ctx *c, ql_conv_geom *g) {
  int n = g->nsp;
  int64_t in = ql_dims_numel(n - 1, g->in), out = ql_dims_numel(n - 1, g->out), k = ql_dims_numel(n - 1, g->kernel);
  if (in < 0 || out < 0 || k < 0 || ql_mul_overflow_i64(in, g->in[n - 1], &g->in_size) ||
      ql_mul_overflow_i64(out, g->out[n - 1], &g->out_size) ||
      ql_mul_overflow_i64(k, g->kernel[n - 1], &g->kernel_size) || g->out_size > ((int64_t)1 << 62) ||
      g->kernel_size > ((int64_t)1 << 62))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "window sizes overflow");
  g->in_rows = in;
  g->out_rows = out;
  g->kernel_rows = k;
  return QL_OK;
}

ql_status ql_conv_geom_forward(ql_op_ctx *c, const ql_conv_attrs *a, const int64_t *in, const int64_t *kernel,
                               ql_conv_geom *g) {
  ql_status st = geom_init(c, a, in, kernel, g);
  if (st) return st;
  for (int i = 0; i < g->nsp; i++) {
    const int64_t s = g->stride[i];
    /* all operands <= 2^62 (dims) or 2^31 (attrs): no overflow below */
    const int64_t ek = (g->kernel[i] - 1) * g->dilation[i] + 1;
    if (a->auto_pad == QL_AUTO_PAD_SAME_UPPER || a->auto_pad == QL_AUTO_PAD_SAME_LOWER) {
      const int64_t out = (g->in[i] + s - 1) / s;
      int64_t total = out > 0 ? (out - 1) * s + ek - g->in[i] : 0;
      if (total < 0) total = 0;
      g->out[i] = out;
      g->pad_end[i] = a->auto_pad == QL_AUTO_PAD_SAME_UPPER ? total - total / 2 : total / 2;
      g->pad_begin[i] = total - g->pad_end[i];
    } else {
      g->pad_begin[i] = a->pads[i];
      g->pad_end[i] = a->pads[i + g->nsp];
      const int64_t span = g->in[i] + g->pad_begin[i] + g->pad_end[i] - ek;
      if (span < 0)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL,
                          "spatial axis %d: dilated kernel (%lld) is larger than the padded input (%lld)", i,
                          (long long)ek, (long long)(g->in[i] + g->pad_begin[i] + g->pad_end[i]));
      int64_t out = a->ceil_mode ? (span + s - 1) / s + 1 : span / s + 1;
      /* the last window must start inside the input or the begin padding */
      if (a->ceil_mode && (out - 1) * s >= g->in[i] + g->pad_begin[i]) out--;
      g->out[i] = out;
    }
  }
  return geom_sizes(c, g);
}

ql_status ql_conv_geom_transpose(ql_op_ctx *c, const ql_conv_attrs *a, const int64_t *in, const int64_t *kernel,
                                 const int64_t *output_padding, const int64_t *output_shape, ql_conv_geom *g) {
  ql_status st = geom_init(c, a, in, kernel, g);
  if (st) return st;
  for (int i = 0; i < g->nsp; i++) {
    const int64_t s = g->stride[i];
    const int64_t op = output_padding ? output_padding[i] : 0;
    if (op < 0 || op > QL_CONV_MAX_ATTR)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output_padding[%d] = %lld is out of range", i, (long long)op);
    const int64_t ek = (g->kernel[i] - 1) * g->dilation[i] + 1;
    /* full = s * (in - 1) + op + ek, the size before any padding is cut */
    int64_t full;
    if (ql_mul_overflow_i64(s, g->in[i] > 0 ? g->in[i] - 1 : 0, &full) || full > ((int64_t)1 << 61))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output size overflows on spatial axis %d", i);
    full += op + ek; /* <= 2^61 + 2^31 + 2^62: fits */
    if (g->in[i] == 0) full = 0; /* nothing to scatter */
    int64_t out;
    if (output_shape || a->auto_pad == QL_AUTO_PAD_SAME_UPPER || a->auto_pad == QL_AUTO_PAD_SAME_LOWER) {
      if (output_shape) {
        out = output_shape[i];
        if (out < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output_shape[%d] is negative", i);
      } else if (ql_mul_overflow_i64(g->in[i], s, &out)) {
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output size overflows on spatial axis %d", i);
      }
      int64_t total = full - out;
      if (total < 0) total = 0;
      g->pad_begin[i] = a->auto_pad == QL_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
      g->pad_end[i] = total - g->pad_begin[i];
    } else {
      g->pad_begin[i] = a->pads[i];
      g->pad_end[i] = a->pads[i + g->nsp];
      out = full - g->pad_begin[i] - g->pad_end[i];
      if (out < 0)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "spatial axis %d: pads (%lld + %lld) exceed the output size %lld",
                          i, (long long)g->pad_begin[i], (long long)g->pad_end[i], (long long)full);
    }
    g->out[i] = out;
  }
  return geom_sizes(c, g);
}

ql_status ql_conv_check_channels(ql_op_ctx *c, int transpose, int64_t group, int64_t C, int64_t w0, int64_t w1,
                                 int64_t *out_channels) {
  if (!transpose) {
    int64_t need;
    if (ql_mul_overflow_i64(group, w1, &need) || C != need)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input has %lld channels but weight dim 1 (%lld) x group (%lld)",
                        (long long)C, (long long)w1, (long long)group);
    if (w0 % group)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%lld output channels are not divisible by group %lld",
                        (long long)w0, (long long)group);
    *out_channels = w0;
  } else {
    if (w0 != C)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input has %lld channels but weight dim 0 is %lld", (long long)C,
                        (long long)w0);
    if (C % group)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%lld input channels are not divisible by group %lld",
                        (long long)C, (long long)group);
    if (ql_mul_overflow_i64(w1, group, out_channels) || *out_channels > ((int64_t)1 << 62))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output channel count overflows");
  }
  return QL_OK;
}

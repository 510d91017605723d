/* Normalizations: BatchNormalization, InstanceNormalization,
 * LayerNormalization. Statistics and the affine step are computed in double
 * and rounded once into the output type. */
#include "op.h"
#include <math.h>

static int is_float_type(ql_dtype t) {
  return t == QL_FLOAT || t == QL_DOUBLE || t == QL_FLOAT16 || t == QL_BFLOAT16;
}

static double ld(const ql_tensor *t, int64_t i) {
  return t->dtype == QL_FLOAT ? ((const float *)t->data)[i] : ql_load_f64(t->dtype, t->data, i);
}

static void st(ql_tensor *t, int64_t i, double v) {
  if (t->dtype == QL_FLOAT) ((float *)t->data)[i] = (float)v;
  else ql_store_f64(t->dtype, t->data, i, v);
}

static int wants_output(const ql_op_ctx *c, size_t i) {
  return i < c->n_out && i < c->node->n_outputs && c->node->outputs[i][0];
}

/* A per-channel parameter: must hold exactly `n` elements (any shape with
 * that count is accepted, as the reference reshapes it to (-1, 1, ...)). */
static ql_status check_param(ql_op_ctx *c, const ql_tensor *t, const char *name, int64_t n) {
  if (!t) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input '%s' is required", name);
  if (!is_float_type(t->dtype))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "'%s' has type %s", name, ql_dtype_name(t->dtype));
  if (t->numel != n)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "'%s' has %lld elements, expected %lld", name, (long long)t->numel,
                      (long long)n);
  return QL_OK;
}

/* Y = (X - mean) / sqrt(var + epsilon) * scale + B per channel. In training
 * mode (v14+) the batch statistics replace the given ones and the running
 * statistics are returned. spatial=0 (v1..v7) makes every (C, D1, ...)
 * position its own "channel". */
static ql_status batch_norm(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *sc = ql_op_in(c, 1), *b = ql_op_in(c, 2), *mean = ql_op_in(c, 3),
                  *var = ql_op_in(c, 4);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input X is required");
  if (!is_float_type(x->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "X has type %s", ql_dtype_name(x->dtype));
  if (x->rank < 2) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X has rank %d, expected N x C x ...", x->rank);
  double eps = ql_attr_float(c->node, "epsilon", 1e-5f);
  double mom = ql_attr_float(c->node, "momentum", 0.9f);
  int spatial = c->version < 9 ? ql_attr_int(c->node, "spatial", 1) != 0 : 1;
  /* before v14 a single output means inference whatever is_test says (as
   * ONNX Runtime does); the training outputs of those versions are refused */
  int training = c->version >= 14 && ql_attr_int(c->node, "training_mode", 0) != 0;
  if (c->version < 14 && (wants_output(c, 1) || wants_output(c, 2) || wants_output(c, 3) || wants_output(c, 4)))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "training outputs of BatchNormalization-%d are not supported", c->version);
  if (!training && (wants_output(c, 1) || wants_output(c, 2)))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "running_mean/running_var outputs need training_mode=1");
  int64_t nb = x->dims[0], ch = x->dims[1], inner = 1;
  for (int i = 2; i < x->rank; i++) inner *= x->dims[i];
  if (!spatial) {
    ch *= inner;
    inner = 1;
  }
  ql_status s;
  if ((s = check_param(c, sc, "scale", ch)) || (s = check_param(c, b, "B", ch)) ||
      (s = check_param(c, mean, "input_mean", ch)) || (s = check_param(c, var, "input_var", ch)))
    return s;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  ql_tensor *rm = NULL, *rv = NULL;
  if (training) {
    if (wants_output(c, 1) && !(rm = ql_op_output(c, 1, mean->dtype, mean->rank, mean->dims))) return c->err->code;
    if (wants_output(c, 2) && !(rv = ql_op_output(c, 2, var->dtype, var->rank, var->dims))) return c->err->code;
  }
  for (int64_t k = 0; k < ch; k++) {
    double m = ld(mean, k), v = ld(var, k);
    if (training) {
      /* population mean and variance over N and the spatial axes */
      double sum = 0, sq = 0, cnt = (double)(nb * inner);
      for (int64_t n = 0; n < nb; n++)
        for (int64_t i = 0; i < inner; i++) sum += ld(x, (n * ch + k) * inner + i);
      double cm = cnt > 0 ? sum / cnt : 0;
      for (int64_t n = 0; n < nb; n++)
        for (int64_t i = 0; i < inner; i++) {
          double d = ld(x, (n * ch + k) * inner + i) - cm;
          sq += d * d;
        }
      double cv = cnt > 0 ? sq / cnt : 0;
      if (rm) st(rm, k, m * mom + cm * (1 - mom));
      if (rv) st(rv, k, v * mom + cv * (1 - mom));
      m = cm;
      v = cv;
    }
    double a = ld(sc, k) / sqrt(v + eps), bb = ld(b, k);
    for (int64_t n = 0; n < nb; n++) {
      int64_t base = (n * ch + k) * inner;
      for (int64_t i = 0; i < inner; i++) st(y, base + i, (ld(x, base + i) - m) * a + bb);
    }
  }
  return QL_OK;
}

/* Per (n, c) plane: y = scale[c] * (x - mean) / sqrt(var + epsilon) + B[c]. */
static ql_status instance_norm(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *sc = ql_op_in(c, 1), *b = ql_op_in(c, 2);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input X is required");
  if (!is_float_type(x->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "X has type %s", ql_dtype_name(x->dtype));
  if (x->rank < 3) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X has rank %d, expected N x C x D1 ...", x->rank);
  double eps = ql_attr_float(c->node, "epsilon", 1e-5f);
  int64_t nb = x->dims[0], ch = x->dims[1], inner = 1;
  for (int i = 2; i < x->rank; i++) inner *= x->dims[i];
  ql_status s;
  if ((s = check_param(c, sc, "scale", ch)) || (s = check_param(c, b, "B", ch))) return s;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  for (int64_t n = 0; n < nb; n++)
    for (int64_t k = 0; k < ch; k++) {
      int64_t base = (n * ch + k) * inner;
      double sum = 0, sq = 0;
      for (int64_t i = 0; i < inner; i++) sum += ld(x, base + i);
      double m = inner ? sum / (double)inner : 0;
      for (int64_t i = 0; i < inner; i++) {
        double d = ld(x, base + i) - m;
        sq += d * d;
      }
      double v = inner ? sq / (double)inner : 0;
      double a = ld(sc, k) / sqrt(v + eps), bb = ld(b, k);
      for (int64_t i = 0; i < inner; i++) st(y, base + i, (ld(x, base + i) - m) * a + bb);
    }
  return QL_OK;
}

/* Normalizes over axes [axis, rank); Scale and B broadcast unidirectionally
 * to X. Mean and InvStdDev keep X's leading dims and 1 for the rest.
 * RMSNormalization is the same walk without the mean (and without B). */
static ql_status row_norm(ql_op_ctx *c, int rms) {
  const ql_tensor *x = ql_op_in(c, 0), *sc = ql_op_in(c, 1), *b = rms ? NULL : ql_op_in(c, 2);
  if (!x || !sc) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs X and Scale are required");
  if (!is_float_type(x->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "X has type %s", ql_dtype_name(x->dtype));
  if (x->rank < 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X must have rank >= 1");
  int axis = ql_norm_axis(ql_attr_int(c->node, "axis", -1), x->rank);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis is out of range for rank %d", x->rank);
  int64_t stash = ql_attr_int(c->node, "stash_type", 1);
  if (stash != 1 && stash != 11 && stash != 10 && stash != 16)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "stash_type %lld is not a float type", (long long)stash);
  double eps = ql_attr_float(c->node, "epsilon", 1e-5f);
  const ql_tensor *pars[2] = {sc, b};
  for (int k = 0; k < 2; k++) {
    const ql_tensor *p = pars[k];
    if (!p) continue;
    if (!is_float_type(p->dtype))
      return ql_op_fail(c, QL_ERR_UNSUPPORTED, "%s has type %s", k ? "B" : "Scale", ql_dtype_name(p->dtype));
    int ok = p->rank <= x->rank;
    for (int i = 0; ok && i < p->rank; i++) {
      int64_t d = p->dims[p->rank - 1 - i];
      ok = d == 1 || d == x->dims[x->rank - 1 - i];
    }
    if (!ok) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s does not broadcast to X", k ? "B" : "Scale");
  }
  int64_t rows = 1, cols = 1, sdims[QL_MAX_RANK];
  for (int i = 0; i < x->rank; i++) {
    if (i < axis) rows *= x->dims[i];
    else cols *= x->dims[i];
    sdims[i] = i < axis ? x->dims[i] : 1;
  }
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  ql_dtype ut = (ql_dtype)stash;
  ql_tensor *om = NULL, *oi = NULL;
  if (!rms && wants_output(c, 1) && !(om = ql_op_output(c, 1, ut, x->rank, sdims))) return c->err->code;
  if (!rms && wants_output(c, 2) && !(oi = ql_op_output(c, 2, ut, x->rank, sdims))) return c->err->code;
  for (int64_t r = 0; r < rows; r++) {
    int64_t base = r * cols;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < cols; i++) sum += ld(x, base + i);
    double m = cols && !rms ? sum / (double)cols : 0;
    for (int64_t i = 0; i < cols; i++) {
      double d = ld(x, base + i) - m;
      sq += d * d;
    }
    double inv = 1.0 / sqrt((cols ? sq / (double)cols : 0) + eps);
    if (stash == 1) { /* stash_type float: the statistics are float32 values */
      m = (float)m;
      inv = (float)inv;
    }
    for (int64_t i = 0; i < cols; i++) {
      int64_t o = base + i;
      double v = (ld(x, o) - m) * inv;
      v *= ld(sc, ql_broadcast_index(o, x->rank, x->dims, sc->rank, sc->dims));
      if (b) v += ld(b, ql_broadcast_index(o, x->rank, x->dims, b->rank, b->dims));
      st(y, o, v);
    }
    if (om) st(om, r, m);
    if (oi) st(oi, r, inv);
  }
  return QL_OK;
}

static ql_status layer_norm(ql_op_ctx *c) { return row_norm(c, 0); }
static ql_status rms_norm(ql_op_ctx *c) { return row_norm(c, 1); }

/* Statistics per (n, group) over C/G channels and the spatial axes; scale
 * and bias are per group in v18 and per channel since v21. */
static ql_status group_norm(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *sc = ql_op_in(c, 1), *b = ql_op_in(c, 2);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input X is required");
  if (!is_float_type(x->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "X has type %s", ql_dtype_name(x->dtype));
  if (x->rank < 2) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X has rank %d, expected N x C x ...", x->rank);
  int64_t groups = ql_attr_int(c->node, "num_groups", 0);
  int64_t nb = x->dims[0], ch = x->dims[1], inner = 1;
  if (groups <= 0 || ch % groups)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "num_groups %lld does not divide %lld channels", (long long)groups,
                      (long long)ch);
  for (int i = 2; i < x->rank; i++) inner *= x->dims[i];
  double eps = ql_attr_float(c->node, "epsilon", 1e-5f);
  int per_group = c->version < 21;
  ql_status s;
  if ((s = check_param(c, sc, "scale", per_group ? groups : ch)) || (s = check_param(c, b, "bias", per_group ? groups : ch)))
    return s;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  int64_t cpg = ch / groups, len = cpg * inner;
  for (int64_t n = 0; n < nb; n++)
    for (int64_t g = 0; g < groups; g++) {
      int64_t base = (n * ch + g * cpg) * inner;
      double sum = 0, sq = 0;
      for (int64_t i = 0; i < len; i++) sum += ld(x, base + i);
      double m = len ? sum / (double)len : 0;
      for (int64_t i = 0; i < len; i++) {
        double d = ld(x, base + i) - m;
        sq += d * d;
      }
      double inv = 1.0 / sqrt((len ? sq / (double)len : 0) + eps);
      for (int64_t i = 0; i < len; i++) {
        int64_t k = per_group ? g : g * cpg + i / inner;
        st(y, base + i, (ld(x, base + i) - m) * inv * ld(sc, k) + ld(b, k));
      }
    }
  return QL_OK;
}

/* y = x / ||x||_p along one axis; a zero norm gives 0 (ONNX reference). */
static ql_status lp_norm(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input is required");
  if (!is_float_type(x->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "input has type %s", ql_dtype_name(x->dtype));
  int axis = ql_norm_axis(ql_attr_int(c->node, "axis", -1), x->rank);
  if (axis < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis is out of range for rank %d", x->rank);
  int64_t p = ql_attr_int(c->node, "p", 2);
  if (p != 1 && p != 2) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "p must be 1 or 2, got %lld", (long long)p);
  int64_t outer = 1, len = x->dims[axis], inner = 1;
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      int64_t base = o * len * inner + in;
      double acc = 0;
      for (int64_t k = 0; k < len; k++) {
        double v = ld(x, base + k * inner);
        acc += p == 1 ? fabs(v) : v * v;
      }
      double norm = p == 1 ? acc : sqrt(acc);
      for (int64_t k = 0; k < len; k++) st(y, base + k * inner, norm == 0 ? 0 : ld(x, base + k * inner) / norm);
    }
  return QL_OK;
}

const ql_op_def ql_ops_norm[] = {
    {"", "BatchNormalization", 1, 15, batch_norm},
    {"", "InstanceNormalization", 1, 22, instance_norm},
    {"", "LayerNormalization", 17, 17, layer_norm},
    {"", "RMSNormalization", 23, 23, rms_norm},
    {"", "GroupNormalization", 18, 21, group_norm},
    {"", "LpNormalization", 1, 22, lp_norm},
    {0},
};

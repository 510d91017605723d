/* The value rules of qlinear verify: scale-invalid, zero-point-invalid,
 * tensor-params-conflict, bias-scale-mismatch, accumulator-overflow,
 * annotation-mismatch, dynamic-params; and the entry point. */
#include "verify.h"
#include <math.h>
#include <stdlib.h>

#define REL_TOL 1e-6

static int is_op(const ql_node *n, const char *op) { return !strcmp(n->op_type, op); }
static int is_onnx(const ql_node *n) { return !*ql_domain_canon(n->domain); }
/* Q/DQ with at least x and one output (malformed nodes are skipped) */
static int is_q(const ql_node *n) {
  return is_op(n, "QuantizeLinear") && (is_onnx(n) || !strcmp(n->domain, "com.microsoft")) && n->n_inputs &&
         n->n_outputs;
}
static int is_dq(const ql_node *n) {
  return is_op(n, "DequantizeLinear") && (is_onnx(n) || !strcmp(n->domain, "com.microsoft")) && n->n_inputs &&
         n->n_outputs;
}
static const char *vname(const vctx *c, int v) { return v >= 0 ? c->vals[v].name : ""; }
static const ql_tensor *sval(const vctx *c, int v) { return v >= 0 && c->vals[v].is_static ? c->vals[v].value : NULL; }

/* the node producing v, when it is a DQ/Q */
static int producer_if(const vctx *c, int v, int (*pred)(const ql_node *)) {
  if (v < 0) return -1;
  int p = c->vals[v].producer;
  return p >= 0 && pred(c->g->nodes[p]) ? p : -1;
}

/* ---------------------------------------------------------------- scale-invalid */
/* 0 when fine, else writes why. Checked in the scale's own type, so that a
 * float16 scale that is subnormal as float16 is caught. */
static int bad_scale(const ql_tensor *t, int64_t i, char *why, size_t n) {
  const void *d = t->data;
  double v = ql_tensor_get_f64(t, i);
  int sub = 0;
  switch (t->dtype) {
  case QL_FLOAT: sub = fpclassify(((const float *)d)[i]) == FP_SUBNORMAL; break;
  case QL_DOUBLE: sub = fpclassify(((const double *)d)[i]) == FP_SUBNORMAL; break;
  case QL_FLOAT16: {
    uint16_t h = ((const uint16_t *)d)[i];
    sub = (h & 0x7c00) == 0 && (h & 0x3ff);
    break;
  }
  case QL_BFLOAT16: {
    uint16_t h = ((const uint16_t *)d)[i];
    sub = (h & 0x7f80) == 0 && (h & 0x7f);
    break;
  }
  case QL_FLOAT8E8M0: /* 2^(b-127): never zero, negative or subnormal; 0xFF is NaN */
    break;
  default:
    if (!ql_dtype_is_int(t->dtype) && !ql_dtype_is_float(t->dtype)) return 0;
  }
  if (isnan(v)) snprintf(why, n, "NaN");
  else if (isinf(v)) snprintf(why, n, "%s", v > 0 ? "+Inf" : "-Inf");
  else if (v == 0) snprintf(why, n, "0");
  else if (v < 0) snprintf(why, n, "%.9g (negative)", v);
  else if (sub) snprintf(why, n, "%.9g (subnormal %s)", v, ql_dtype_name(t->dtype));
  else return 0;
  return 1;
}

static const char *scale_operand(const vdecl *d, char *buf, size_t n) {
  if (!strcmp(d->operand, "x") || !strcmp(d->operand, "y") || !strcmp(d->operand, "w") || !strcmp(d->operand, "a") ||
      !strcmp(d->operand, "b"))
    snprintf(buf, n, "%s_scale", d->operand);
  else snprintf(buf, n, "scale of %s", d->operand);
  return buf;
}
static const char *zp_operand(const vdecl *d, char *buf, size_t n) {
  if (strlen(d->operand) <= 6 && strcmp(d->operand, "input")) snprintf(buf, n, "%s_zero_point", d->operand);
  else snprintf(buf, n, "zero point of %s", d->operand);
  return buf;
}

/* A DequantizeLinear whose output is the bias (input 2) of Conv, ConvTranspose or Gemm. */
static int dq_feeds_bias(const vctx *c, int dq_node) {
  const ql_node *dq = c->g->nodes[dq_node];
  if (!dq->n_outputs) return 0;
  int o = vctx_find(c, dq->outputs[0]);
  if (o < 0) return 0;
  for (int j = c->cons_at[o]; j < c->cons_at[o + 1]; j++) {
    if (c->cons[j] < 0) continue;
    const ql_node *n = c->g->nodes[c->cons[j]];
    if (is_onnx(n) && (is_op(n, "Conv") || is_op(n, "ConvTranspose") || is_op(n, "Gemm")) && n->n_inputs > 2 &&
        !strcmp(n->inputs[2], dq->outputs[0]))
      return 1;
  }
  return 0;
}

void vcheck_values(vctx *c) {
  char *seen = ql_calloc(c->n_vals + 1, 1);
  if (!seen) {
    c->oom = 1;
    return;
  }
  for (size_t i = 0; i < c->n_decls; i++) {
    const vdecl *d = &c->decls[i];
    char op[64], why[128];
    const ql_tensor *s = sval(c, d->scale);
    if (s && !(seen[d->scale] & 1)) {
      seen[d->scale] |= 1;
      for (int64_t k = 0; k < s->numel; k++) {
        if (!bad_scale(s, k, why, sizeof why)) continue;
        char idx[32] = "";
        if (s->numel > 1) snprintf(idx, sizeof idx, "[%lld]", (long long)k);
        vreport(c, "scale-invalid", QL_VERROR, d->node, vname(c, d->tensor),
                "%s '%s'%s is %s; a scale must be positive, finite and normal", scale_operand(d, op, sizeof op),
                vname(c, d->scale), idx, why);
        break;
      }
    }
    const ql_tensor *z = sval(c, d->zp);
    if (!z || (seen[d->zp] & 2)) continue;
    ql_dtype tt = d->tensor >= 0 && c->vals[d->tensor].dtype ? c->vals[d->tensor].dtype : z->dtype;
    int f8 = tt >= QL_FLOAT8E4M3FN && tt <= QL_FLOAT8E5M2FNUZ;
    if (tt == QL_FLOAT4E2M1) f8 = 1;
    int is_i32 = tt == QL_INT32 && !d->is_output;
    if (!f8 && !is_i32) continue;
    /* the int32 bias of a conv/gemm is reported by bias-scale-mismatch */
    if (is_i32 && is_dq(c->g->nodes[d->node]) && dq_feeds_bias(c, d->node)) continue;
    seen[d->zp] |= 2;
    for (int64_t k = 0; k < z->numel; k++) {
      double v = ql_tensor_get_f64(z, k);
      if (v == 0) continue;
      char idx[32] = "";
      if (z->numel > 1) snprintf(idx, sizeof idx, "[%lld]", (long long)k);
      vreport(c, "zero-point-invalid", QL_VERROR, d->node, vname(c, d->tensor),
              "%s '%s'%s is %.9g; the zero point of a %s tensor must be 0%s", zp_operand(d, op, sizeof op),
              vname(c, d->zp), idx, v, ql_dtype_name(tt),
              f8 ? " (float8/float4 quantization has no zero point)" : " (int32 is used for biases, stored unshifted)");
      break;
    }
  }
  ql_free(seen);
}

/* ---------------------------------------------------------------- comparing parameters */
static int near(double a, double b) {
  if (a == b) return 1;
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b); /* invalid either way: scale-invalid says so */
  return fabs(a - b) <= REL_TOL * fmax(fabs(a), fabs(b));
}

static void fmt_param(const vctx *c, int v, char *buf, size_t n) {
  if (v < 0) {
    snprintf(buf, n, "0 (absent)");
    return;
  }
  char vals[160];
  vfmt_values(sval(c, v), vals, sizeof vals);
  snprintf(buf, n, "%s ('%s')", vals, c->vals[v].name);
}

int vparams_equal(vctx *c, const vdecl *a, const vdecl *b, char *why, size_t n) {
  if (why && n) why[0] = 0;
  /* scales */
  if (a->scale != b->scale) {
    const ql_tensor *sa = sval(c, a->scale), *sb = sval(c, b->scale);
    if (!sa || !sb) return -1;
    int64_t na = sa->numel, nb = sb->numel;
    int differ = na != nb && na != 1 && nb != 1;
    for (int64_t i = 0; !differ && i < (na > nb ? na : nb); i++)
      differ = !near(ql_tensor_get_f64(sa, na == 1 ? 0 : i), ql_tensor_get_f64(sb, nb == 1 ? 0 : i));
    if (differ) {
      char x[200], y[200];
      fmt_param(c, a->scale, x, sizeof x);
      fmt_param(c, b->scale, y, sizeof y);
      snprintf(why, n, "scale %s vs %s", x, y);
      return 0;
    }
  }
  /* zero points (absent = 0) */
  if (a->zp != b->zp) {
    const ql_tensor *za = sval(c, a->zp), *zb = sval(c, b->zp);
    if ((a->zp >= 0 && !za) || (b->zp >= 0 && !zb)) return -1;
    if (za && zb && za->dtype != zb->dtype) return -1;
    int64_t na = za ? za->numel : 1, nb = zb ? zb->numel : 1;
    int differ = na != nb && na != 1 && nb != 1;
    for (int64_t i = 0; !differ && i < (na > nb ? na : nb); i++) {
      double x = za ? ql_tensor_get_f64(za, na == 1 ? 0 : i) : 0, y = zb ? ql_tensor_get_f64(zb, nb == 1 ? 0 : i) : 0;
      differ = x != y;
    }
    if (differ) {
      char x[200], y[200];
      fmt_param(c, a->zp, x, sizeof x);
      fmt_param(c, b->zp, y, sizeof y);
      snprintf(why, n, "zero point %s vs %s", x, y);
      return 0;
    }
  }
  /* per-axis parameters on the same tensor must use the same axis */
  int64_t na = vnumel(c, a->scale), nb = vnumel(c, b->scale);
  if (a->tensor == b->tensor && na > 1 && nb > 1 && !a->block && !b->block) {
    int r = vrank(c, a->tensor);
    if (r > 0) {
      int64_t xa = a->axis < 0 ? a->axis + r : a->axis, xb = b->axis < 0 ? b->axis + r : b->axis;
      if (xa != xb) {
        snprintf(why, n, "per-axis along axis %lld vs axis %lld", (long long)xa, (long long)xb);
        return 0;
      }
    }
  }
  return 1;
}

/* ---------------------------------------------------------------- groups */
static int decl_static(const vctx *c, const vdecl *d) {
  return d->has_scale && !d->implicit && sval(c, d->scale) && (d->zp < 0 || sval(c, d->zp));
}

void vlink_groups(vctx *c) {
  const ql_graph *g = c->g;
  for (size_t ni = 0; ni < g->n_nodes; ni++) {
    const ql_node *n = g->nodes[ni];
    size_t n_data = is_op(n, "Concat") ? n->n_inputs : (n->n_inputs ? 1 : 0);
    /* QOperator form: the op runs on the integer tensor itself */
    if (vis_value_preserving(n)) {
      for (size_t i = 0; i < n_data; i++) {
        int in = vctx_find(c, n->inputs[i]);
        if (in < 0 || vis_real_float(c->vals[in].dtype)) continue;
        for (size_t o = 0; o < n->n_outputs; o++) {
          if (is_op(n, "MaxPool") && o == 1) continue;
          vuf_union(c, in, vctx_find(c, n->outputs[o]));
        }
      }
    }
  }
}

typedef struct {
  int root, idx;
} rootidx;
static int cmp_rootidx(const void *x, const void *y) {
  const rootidx *a = x, *b = y;
  if (a->root != b->root) return a->root < b->root ? -1 : 1;
  return a->idx - b->idx;
}

void vcheck_groups(vctx *c) {
  vlink_groups(c);
  rootidx *ri = ql_calloc(c->n_decls + 1, sizeof *ri);
  int *idx = ql_calloc(c->n_decls + 1, sizeof *idx);
  if (!ri || !idx) {
    ql_free(ri);
    ql_free(idx);
    c->oom = 1;
    return;
  }
  size_t k = 0;
  for (size_t i = 0; i < c->n_decls; i++)
    if (c->decls[i].has_scale && !c->decls[i].implicit) ri[k++] = (rootidx){vuf_find(c, c->decls[i].tensor), (int)i};
  /* deterministic: by (group, declaration order) */
  qsort(ri, k, sizeof *ri, cmp_rootidx);
  for (size_t i = 0; i < k; i++) idx[i] = ri[i].idx;
  for (size_t s = 0; s < k;) {
    size_t e = s;
    while (e < k && ri[e].root == ri[s].root) e++;
    /* reference: the first static writer, else the first static reader */
    const vdecl *ref = NULL;
    for (size_t i = s; i < e && !ref; i++)
      if (c->decls[idx[i]].is_output && decl_static(c, &c->decls[idx[i]])) ref = &c->decls[idx[i]];
    for (size_t i = s; i < e && !ref; i++)
      if (decl_static(c, &c->decls[idx[i]])) ref = &c->decls[idx[i]];
    for (size_t i = s; ref && i < e; i++) {
      const vdecl *d = &c->decls[idx[i]];
      if (d == ref || !decl_static(c, d)) continue;
      char why[512], lbl[32];
      if (vparams_equal(c, ref, d, why, sizeof why) != 0) continue;
      const ql_node *rn = c->g->nodes[ref->node];
      if (d->tensor == ref->tensor)
        vreport(c, "tensor-params-conflict", QL_VERROR, d->node, vname(c, d->tensor),
                "operand %s uses other parameters for this tensor than node '%s' (%s): %s (there vs here)", d->operand,
                vnode_label(c, ref->node, lbl, sizeof lbl), rn->op_type, why);
      else
        vreport(c, "tensor-params-conflict", QL_VERROR, d->node, vname(c, d->tensor),
                "tensor holds the values of '%s' (passed through value-preserving ops), which node '%s' (%s) "
                "quantizes differently: %s (there vs here)",
                vname(c, ref->tensor), vnode_label(c, ref->node, lbl, sizeof lbl), rn->op_type, why);
    }
    s = e;
  }
  ql_free(ri);
  ql_free(idx);
}

/* QDQ form (DQ -> MaxPool/Reshape/... -> Q): the op only moves values, so a Q
 * with other parameters than the DQ is a requantization that backends cannot
 * fuse into an integer op (ORT keeps such nodes in float). The ONNX meaning
 * stays well defined, hence a warning. */
static const vdecl *decl_at(const vctx *c, int node) {
  for (size_t i = 0; i < c->n_decls; i++)
    if (c->decls[i].node == node && c->decls[i].has_scale && !c->decls[i].implicit) return &c->decls[i];
  return NULL;
}

void vcheck_qdq_passthrough(vctx *c) {
  const ql_graph *g = c->g;
  for (size_t ni = 0; ni < g->n_nodes; ni++) {
    const ql_node *n = g->nodes[ni];
    if (!vis_qdq_shared(n)) continue;
    size_t n_data = is_op(n, "Concat") ? n->n_inputs : (n->n_inputs ? 1 : 0);
    for (size_t i = 0; i < n_data; i++) {
      int dq = producer_if(c, vctx_find(c, n->inputs[i]), is_dq);
      const vdecl *din = dq >= 0 ? decl_at(c, dq) : NULL;
      if (!din || !decl_static(c, din)) continue;
      for (size_t o = 0; o < n->n_outputs; o++) {
        if (is_op(n, "MaxPool") && o == 1) continue;
        int out = vctx_find(c, n->outputs[o]);
        if (out < 0) continue;
        for (int j = c->cons_at[out]; j < c->cons_at[out + 1]; j++) {
          if (c->cons[j] < 0 || !is_q(g->nodes[c->cons[j]]) || strcmp(g->nodes[c->cons[j]]->inputs[0], n->outputs[o]))
            continue;
          const vdecl *dout = decl_at(c, c->cons[j]);
          char why[512], l1[32], l2[32];
          if (!dout || !decl_static(c, dout) || vparams_equal(c, din, dout, why, sizeof why) != 0) continue;
          vreport(c, "tensor-params-conflict", QL_VWARNING, c->cons[j], vname(c, dout->tensor),
                  "'%s' (%s) only moves values, but its input is dequantized by '%s' and its output requantized "
                  "here with other parameters (%s): no integer execution, an extra rounding step",
                  vnode_label(c, (int)ni, l1, sizeof l1), n->op_type, vnode_label(c, dq, l2, sizeof l2), why);
        }
      }
    }
  }
}

/* ---------------------------------------------------------------- bias-scale-mismatch */
void vcheck_bias(vctx *c) {
  const ql_graph *g = c->g;
  for (size_t ni = 0; ni < g->n_nodes; ni++) {
    const ql_node *n = g->nodes[ni];
    if (!is_onnx(n) || !(is_op(n, "Conv") || is_op(n, "ConvTranspose") || is_op(n, "Gemm")) || n->n_inputs < 3)
      continue;
    int b = vctx_find(c, n->inputs[2]);
    int bdq = producer_if(c, b, is_dq);
    if (bdq < 0) continue;
    const ql_node *bn = g->nodes[bdq];
    int bq = vctx_find(c, bn->inputs[0]);
    if (bq < 0 || c->vals[bq].dtype != QL_INT32) continue;
    int bs = bn->n_inputs > 1 ? vctx_find(c, bn->inputs[1]) : -1;
    int bz = bn->n_inputs > 2 ? vctx_find(c, bn->inputs[2]) : -1;
    const ql_tensor *bzt = sval(c, bz);
    char lbl[32];
    if (bzt) {
      for (int64_t k = 0; k < bzt->numel; k++) {
        double v = ql_tensor_get_f64(bzt, k);
        if (v == 0) continue;
        vreport(c, "bias-scale-mismatch", QL_VERROR, bdq, vname(c, bq),
                "int32 bias of node '%s' (%s) has zero point %.9g at index %lld ('%s'); a bias zero point must be 0",
                vnode_label(c, (int)ni, lbl, sizeof lbl), n->op_type, v, (long long)k, vname(c, bz));
        break;
      }
    }
    int xdq = producer_if(c, vctx_find(c, n->inputs[0]), is_dq);
    int wdq = producer_if(c, vctx_find(c, n->inputs[1]), is_dq);
    if (xdq < 0 || wdq < 0 || g->nodes[xdq]->n_inputs < 2 || g->nodes[wdq]->n_inputs < 2) continue;
    int xs = vctx_find(c, g->nodes[xdq]->inputs[1]), ws = vctx_find(c, g->nodes[wdq]->inputs[1]);
    const ql_tensor *xst = sval(c, xs), *wst = sval(c, ws), *bst = sval(c, bs);
    if (!xst || !wst || !bst || xst->numel != 1) continue;
    int64_t nw = wst->numel, nb = bst->numel, m = nw > nb ? nw : nb;
    if (nw != 1 && nb != 1 && nw != nb) continue; /* a shape problem, not a scale one */
    double sx = ql_tensor_get_f64(xst, 0);
    for (int64_t k = 0; k < m; k++) {
      double sw = ql_tensor_get_f64(wst, nw == 1 ? 0 : k), sb = ql_tensor_get_f64(bst, nb == 1 ? 0 : k);
      double want = sx * sw;
      if (fabs(sb - want) <= REL_TOL * fabs(want)) continue;
      char idx[32] = "";
      if (m > 1) snprintf(idx, sizeof idx, " (channel %lld)", (long long)k);
      vreport(c, "bias-scale-mismatch", QL_VERROR, bdq, vname(c, bq),
              "int32 bias of node '%s' (%s) has scale %.9g%s but x_scale * w_scale = %.9g * %.9g = %.9g "
              "(relative error %.3g > 1e-6)",
              vnode_label(c, (int)ni, lbl, sizeof lbl), n->op_type, sb, idx, sx, sw, want, fabs(sb - want) / want);
      break;
    }
  }
}

/* ---------------------------------------------------------------- accumulator-overflow */
typedef struct {
  int act, act_zp;             /* vval of the activation and its zero point */
  int w, w_zp;                 /* weight and its zero point */
  int bias;                    /* int32 bias values (static) or -1 */
  int w_layout;                /* 0: conv [M, K...]; 1: [.., K, N] (matmul, per column); 2: [N, K] (per row) */
  ql_dtype act_type, w_type;   /* the integer types (from the tensors, or the DQ inputs) */
  int act_zp_any;              /* the activation's zero point is chosen at run time */
} accspec;

/* The range of (v - zp) for an integer type with a zero point that is static
 * (min/max over its elements) or unknown (any value of the type). */
static void shifted_range(vctx *c, ql_dtype t, int zp, int zp_any, double *lo, double *hi) {
  int64_t tl, th;
  ql_dtype_int_range(t, &tl, &th);
  const ql_tensor *z = sval(c, zp);
  double zl = 0, zh = 0;
  if (zp_any || (zp >= 0 && !z)) zl = (double)tl, zh = (double)th;
  else if (z) {
    zl = INFINITY, zh = -INFINITY;
    for (int64_t i = 0; i < z->numel; i++) {
      double v = ql_tensor_get_f64(z, i);
      zl = fmin(zl, v), zh = fmax(zh, v);
    }
  }
  *lo = (double)tl - zh;
  *hi = (double)th - zl;
}

static void check_acc(vctx *c, int ni, const accspec *a) {
  if (!ql_dtype_is_int(a->act_type) || !ql_dtype_is_int(a->w_type) || ql_dtype_bits(a->act_type) > 16 ||
      ql_dtype_bits(a->w_type) > 16)
    return;
  int r = vrank(c, a->w);
  if (r < 2) return;
  int64_t K, O, batch = 1;
  if (a->w_layout == 0) {
    O = vdim(c, a->w, 0);
    K = 1;
    for (int i = 1; i < r; i++) {
      int64_t d = vdim(c, a->w, i);
      if (d < 0 || ql_mul_overflow_i64(K, d, &K)) return;
    }
  } else if (a->w_layout == 1) {
    K = vdim(c, a->w, -2), O = vdim(c, a->w, -1);
    for (int i = 0; i < r - 2; i++) {
      int64_t d = vdim(c, a->w, i);
      if (d < 0 || ql_mul_overflow_i64(batch, d, &batch)) return;
    }
  } else {
    O = vdim(c, a->w, 0), K = vdim(c, a->w, 1);
  }
  if (K <= 0 || O <= 0) return;
  double alo, ahi;
  shifted_range(c, a->act_type, a->act_zp, a->act_zp_any, &alo, &ahi);
  const ql_tensor *wt = sval(c, a->w), *wz = sval(c, a->w_zp), *bt = sval(c, a->bias);
  if (a->w_zp >= 0 && !wz) wt = NULL; /* unknown zero point: use the type range */
  double worst_hi = -INFINITY, worst_lo = INFINITY, worst_excess = -INFINITY;
  int64_t worst_o = 0;
  char detail[160] = "";
  if (wt && wt->numel == batch * K * O) {
    for (int64_t bi = 0; bi < batch; bi++)
      for (int64_t o = 0; o < O; o++) {
        double zv = wz ? ql_tensor_get_f64(wz, wz->numel == 1 ? 0 : o % wz->numel) : 0;
        double hi = 0, lo = 0, sabs = 0;
        for (int64_t k = 0; k < K; k++) {
          int64_t at = a->w_layout == 0 ? o * K + k : a->w_layout == 1 ? bi * K * O + k * O + o : o * K + k;
          double cw = ql_tensor_get_f64(wt, at) - zv;
          hi += fmax(ahi * cw, alo * cw);
          lo += fmin(ahi * cw, alo * cw);
          sabs += fabs(cw);
        }
        if (bt && bt->numel > 0) {
          double bv = ql_tensor_get_f64(bt, bt->numel == 1 ? 0 : o % bt->numel);
          hi += bv, lo += bv;
        }
        double excess = fmax(hi - 2147483647.0, -2147483648.0 - lo);
        if (excess > worst_excess) {
          worst_excess = excess, worst_o = o;
          snprintf(detail, sizeof detail, "sum |w - w_zero_point| = %.0f over K = %lld", sabs, (long long)K);
        }
        worst_hi = fmax(worst_hi, hi), worst_lo = fmin(worst_lo, lo);
      }
  } else {
    double wlo, whi;
    shifted_range(c, a->w_type, a->w_zp, 0, &wlo, &whi);
    double p[4] = {alo * wlo, alo * whi, ahi * wlo, ahi * whi};
    double pmax = p[0], pmin = p[0];
    for (int i = 1; i < 4; i++) pmax = fmax(pmax, p[i]), pmin = fmin(pmin, p[i]);
    worst_hi = (double)K * pmax, worst_lo = (double)K * pmin;
    snprintf(detail, sizeof detail, "K = %lld, w - w_zero_point in [%.0f, %.0f] (weights not static)", (long long)K,
             wlo, whi);
  }
  if (worst_hi <= 2147483647.0 && worst_lo >= -2147483648.0) return;
  vreport(c, "accumulator-overflow", QL_VERROR, ni, vname(c, a->w),
          "worst-case int32 accumulation reaches [%.0f, %.0f], outside [-2147483648, 2147483647]%s%lld: "
          "x - x_zero_point in [%.0f, %.0f], %s",
          worst_lo, worst_hi, wt ? " at output channel " : "", wt ? (long long)worst_o : 0LL, alo, ahi, detail);
}

static ql_dtype vt(vctx *c, int v) { return v >= 0 ? c->vals[v].dtype : QL_UNDEFINED; }

void vcheck_overflow(vctx *c) {
  const ql_graph *g = c->g;
  for (size_t i = 0; i < g->n_nodes; i++) {
    const ql_node *n = g->nodes[i];
    int ni = (int)i;
#define IN(k) ((size_t)(k) < n->n_inputs ? vctx_find(c, n->inputs[k]) : -1)
    accspec a = {.act = -1, .act_zp = -1, .w = -1, .w_zp = -1, .bias = -1};
    const char *d = ql_domain_canon(n->domain);
    int ms = !strcmp(d, "com.microsoft");
    if (*d && !ms) continue;
    if (is_op(n, "QLinearConv")) a = (accspec){IN(0), IN(2), IN(3), IN(5), IN(8), 0, 0, 0, 0};
    else if (is_op(n, "ConvInteger")) a = (accspec){IN(0), IN(2), IN(1), IN(3), -1, 0, 0, 0, 0};
    else if (is_op(n, "QLinearMatMul")) a = (accspec){IN(0), IN(2), IN(3), IN(5), -1, 1, 0, 0, 0};
    else if (is_op(n, "MatMulInteger")) a = (accspec){IN(0), IN(2), IN(1), IN(3), -1, 1, 0, 0, 0};
    else if (ms && is_op(n, "QGemm"))
      a = (accspec){IN(0), IN(2), IN(3), IN(5), IN(6), ql_attr_int(n, "transB", 0) ? 2 : 1, 0, 0, 0};
    else if (ms && is_op(n, "MatMulIntegerToFloat")) a = (accspec){IN(0), IN(4), IN(1), IN(5), -1, 1, 0, 0, 0};
    else if (ms && is_op(n, "QAttention")) a = (accspec){IN(0), IN(6), IN(1), IN(7), -1, 1, 0, 0, 0};
    else if (ms && is_op(n, "DynamicQuantizeMatMul")) {
      /* A is quantized to uint8 at run time, with a zero point anywhere in [0, 255] */
      a = (accspec){-1, -1, IN(1), IN(3), -1, 1, QL_UINT8, 0, 1};
    } else if (!ms && (is_op(n, "Conv") || is_op(n, "MatMul") || is_op(n, "Gemm"))) {
      /* QDQ form, which backends fuse into an integer op */
      int xdq = producer_if(c, IN(0), is_dq), wdq = producer_if(c, IN(1), is_dq);
      if (xdq < 0 || wdq < 0) continue;
      const ql_node *xn = g->nodes[xdq], *wn = g->nodes[wdq];
      int bdq = n->n_inputs > 2 && !is_op(n, "MatMul") ? producer_if(c, IN(2), is_dq) : -1;
      int layout = is_op(n, "Conv") ? 0 : is_op(n, "Gemm") && ql_attr_int(n, "transB", 0) ? 2 : 1;
      if (is_op(n, "Gemm") && ql_attr_int(n, "transA", 0)) continue;
      a = (accspec){vctx_find(c, xn->inputs[0]), xn->n_inputs > 2 ? vctx_find(c, xn->inputs[2]) : -1,
                    vctx_find(c, wn->inputs[0]), wn->n_inputs > 2 ? vctx_find(c, wn->inputs[2]) : -1,
                    bdq >= 0 ? vctx_find(c, g->nodes[bdq]->inputs[0]) : -1, layout, 0, 0, 0};
      if (ql_dtype_bits(vt(c, a.act)) > 8 || ql_dtype_bits(vt(c, a.w)) > 8) continue;
    } else
      continue;
#undef IN
    if (!a.act_type) a.act_type = vt(c, a.act);
    a.w_type = vt(c, a.w);
    if (vt(c, a.bias) != QL_INT32) a.bias = -1;
    check_acc(c, ni, &a);
  }
}

/* ---------------------------------------------------------------- annotations */
const vdecl *vdecl_of(vctx *c, int v) {
  if (v < 0) return NULL;
  const vdecl *best = NULL;
  for (size_t i = 0; i < c->n_decls; i++) {
    const vdecl *d = &c->decls[i];
    if (d->tensor != v || !d->has_scale || d->implicit) continue;
    if (!best || (d->is_output && !best->is_output)) best = d;
  }
  if (best) return best;
  int root = vuf_find(c, v);
  for (size_t i = 0; i < c->n_decls; i++) {
    const vdecl *d = &c->decls[i];
    if (!d->has_scale || d->implicit || vuf_find(c, d->tensor) != root) continue;
    if (!best || (d->is_output && !best->is_output)) best = d;
  }
  return best;
}

static const char *ann_get(const ql_annotation *a, const char *key) {
  for (size_t k = 0; k < a->n; k++)
    if (a->params[k].key && !strcmp(a->params[k].key, key)) return a->params[k].value ? a->params[k].value : "";
  return NULL;
}

/* QUANT_RANGE (qlinear extension): "narrow" or "LO,HI". 0 ok, -1 bad syntax. */
static int parse_range(const char *s, ql_dtype t, int64_t *lo, int64_t *hi) {
  if (!strcmp(s, "narrow") || !strcmp(s, "symmetric")) {
    int64_t tl, th;
    ql_dtype_int_range(t, &tl, &th);
    if (ql_dtype_is_signed(t)) *lo = tl + 1, *hi = th;
    else *lo = tl, *hi = th - 1;
    return 0;
  }
  char *e;
  long long a = strtoll(s, &e, 10);
  if (e == s || (*e != ',' && *e != ':')) return -1;
  const char *p = e + 1;
  long long b = strtoll(p, &e, 10);
  if (e == p || *e || a > b) return -1;
  *lo = a, *hi = b;
  return 0;
}

/* Every tensor with a (scale, zero point) meaning: the tensors of declarations
 * with a scale, and tensors that inherit one through value-preserving ops. */
int vquantized(vctx *c, int v) {
  if (vis_real_float(c->vals[v].dtype)) return 0;
  return vdecl_of(c, v) != NULL;
}

void vcheck_annotations(vctx *c) {
  const ql_graph *g = c->g;
  char *annotated = ql_calloc(c->n_vals + 1, 1);
  if (!annotated) {
    c->oom = 1;
    return;
  }
  for (size_t i = 0; i < g->n_annotations; i++) {
    const ql_annotation *an = &g->annotations[i];
    const char *tn = an->tensor_name ? an->tensor_name : "";
    int v = vctx_find(c, tn);
    if (v < 0) {
      vreport(c, "annotation-mismatch", QL_VERROR, -1, tn,
              "quantization_annotation names tensor '%s', which does not exist in the graph", tn);
      continue;
    }
    const char *sn = ann_get(an, "SCALE_TENSOR"), *zn = ann_get(an, "ZERO_POINT_TENSOR");
    const char *rg = ann_get(an, "QUANT_RANGE");
    int s = vctx_find(c, sn), z = vctx_find(c, zn);
    if (!sn) {
      vreport(c, "annotation-mismatch", QL_VERROR, -1, tn, "annotation of '%s' has no SCALE_TENSOR entry", tn);
      continue;
    }
    if (s < 0) {
      vreport(c, "annotation-mismatch", QL_VERROR, -1, tn, "annotation of '%s' names SCALE_TENSOR '%s', which does not exist",
              tn, sn);
      continue;
    }
    if (zn && z < 0) {
      vreport(c, "annotation-mismatch", QL_VERROR, -1, tn,
              "annotation of '%s' names ZERO_POINT_TENSOR '%s', which does not exist", tn, zn);
      continue;
    }
    /* the quantized tensor: this one, or the other side of a Q or DQ */
    int qt = v;
    const vdecl *d = vdecl_of(c, v);
    if (!d || vis_real_float(c->vals[v].dtype)) {
      int dq = producer_if(c, v, is_dq);
      if (dq >= 0) qt = vctx_find(c, g->nodes[dq]->inputs[0]);
      for (int j = c->cons_at[v]; dq < 0 && j < c->cons_at[v + 1]; j++) {
        if (c->cons[j] < 0) continue;
        const ql_node *q = g->nodes[c->cons[j]];
        if (is_q(q) && !strcmp(q->inputs[0], tn) && q->n_outputs) {
          qt = vctx_find(c, q->outputs[0]);
          break;
        }
      }
      d = qt >= 0 ? vdecl_of(c, qt) : NULL;
    }
    if (!d) {
      vreport(c, "annotation-mismatch", QL_VERROR, -1, tn,
              "tensor '%s' is annotated with scale '%s' but no node of the graph quantizes it", tn, sn);
      continue;
    }
    annotated[qt] = 1;
    vdecl ad = *d;
    ad.scale = s, ad.zp = z;
    char why[512], lbl[32];
    int eq = vparams_equal(c, d, &ad, why, sizeof why);
    if (eq == 0)
      vreport(c, "annotation-mismatch", QL_VERROR, d->node, tn,
              "annotation disagrees with node '%s' (%s): %s (graph vs annotation)", vnode_label(c, d->node, lbl, sizeof lbl),
              g->nodes[d->node]->op_type, why);
    else if (eq < 0 && (d->scale != s || d->zp != z))
      vreport(c, "annotation-mismatch", QL_VERROR, d->node, tn,
              "annotation names scale '%s' / zero point '%s' but node '%s' (%s) uses '%s' / '%s', and the values cannot "
              "be compared (computed at run time or of different types)",
              sn, zn ? zn : "", vnode_label(c, d->node, lbl, sizeof lbl), g->nodes[d->node]->op_type,
              vname(c, d->scale), vname(c, d->zp));
    if (rg) {
      ql_dtype tt = c->vals[qt].dtype;
      int64_t lo, hi, tl = 0, th = 0;
      if (ql_dtype_is_int(tt)) ql_dtype_int_range(tt, &tl, &th);
      if (!ql_dtype_is_int(tt) || parse_range(rg, tt, &lo, &hi) || lo < tl || hi > th) {
        vreport(c, "annotation-mismatch", QL_VERROR, -1, tn,
                "QUANT_RANGE '%s' is not \"narrow\" or \"LO,HI\" within the range of %s", rg, ql_dtype_name(tt));
        continue;
      }
      const ql_tensor *zt = sval(c, d->zp);
      for (int64_t k = 0; zt && k < zt->numel; k++) {
        double zv = ql_tensor_get_f64(zt, k);
        if (zv >= (double)lo && zv <= (double)hi) continue;
        vreport(c, "zero-point-invalid", QL_VERROR, d->node, vname(c, qt),
                "zero point '%s' is %.0f, outside the declared range [%lld, %lld] (QUANT_RANGE '%s') of this %s tensor",
                vname(c, d->zp), zv, (long long)lo, (long long)hi, rg, ql_dtype_name(tt));
        break;
      }
    }
  }
  for (size_t v = 0; v < c->n_vals; v++) {
    if (!vquantized(c, (int)v)) continue;
    c->rep->quantized_tensors++;
    if (!c->opt.strict || annotated[v]) continue;
    const vdecl *d = vdecl_of(c, (int)v);
    int node = c->vals[v].producer >= 0 ? c->vals[v].producer : d->node;
    vreport(c, "annotation-mismatch", QL_VERROR, node, c->vals[v].name,
            "quantized tensor (scale '%s') has no quantization_annotation (--strict requires one)",
            vname(c, d->scale));
  }
  c->rep->annotations = g->n_annotations;
  ql_free(annotated);
}

/* ---------------------------------------------------------------- dynamic-params */
static void why_dynamic(const vctx *c, int v, char *buf, size_t n) {
  const vval *x = &c->vals[v];
  char lbl[32];
  if (x->producer >= 0)
    snprintf(buf, n, "computed at run time by node '%s' (%s)", vnode_label(c, x->producer, lbl, sizeof lbl),
             c->g->nodes[x->producer]->op_type);
  else if (x->graph_input) snprintf(buf, n, "a graph input without initializer");
  else snprintf(buf, n, "not defined anywhere in the graph");
}

/* Parameters made by DynamicQuantizeLinear are the standard dynamic scheme:
 * the model says so through the op itself, so they stay warnings under
 * --strict. Anything else computed at run time where a static model is
 * claimed (--strict) is an error. */
static int from_dynamic_q(const vctx *c, int v) {
  return v >= 0 && c->vals[v].producer >= 0 && is_op(c->g->nodes[c->vals[v].producer], "DynamicQuantizeLinear");
}

void vcheck_dynamic(vctx *c) {
  ql_vseverity strict_sev = c->opt.strict ? QL_VERROR : QL_VWARNING, sev;
  for (size_t i = 0; i < c->n_decls; i++) {
    const vdecl *d = &c->decls[i];
    if (d->implicit) continue;
    const ql_node *n = c->g->nodes[d->node];
    if (is_op(n, "DynamicQuantizeLinear")) {
      c->rep->dynamic_params += 2;
      vreport(c, "dynamic-params", QL_VWARNING, d->node, vname(c, d->tensor),
              "y_scale '%s' and y_zero_point '%s' are computed at run time (dynamic quantization)", vname(c, d->scale),
              vname(c, d->zp));
      continue;
    }
    char why[160], op[64];
    if (d->has_scale && d->scale >= 0 && !c->vals[d->scale].is_static) {
      c->rep->dynamic_params++;
      sev = from_dynamic_q(c, d->scale) ? QL_VWARNING : strict_sev;
      why_dynamic(c, d->scale, why, sizeof why);
      vreport(c, "dynamic-params", sev, d->node, vname(c, d->tensor), "%s '%s' is %s, not an initializer or Constant",
              scale_operand(d, op, sizeof op), vname(c, d->scale), why);
    }
    if (d->zp >= 0 && !c->vals[d->zp].is_static) {
      c->rep->dynamic_params++;
      sev = from_dynamic_q(c, d->zp) ? QL_VWARNING : strict_sev;
      why_dynamic(c, d->zp, why, sizeof why);
      vreport(c, "dynamic-params", sev, d->node, vname(c, d->tensor), "%s '%s' is %s, not an initializer or Constant",
              zp_operand(d, op, sizeof op), vname(c, d->zp), why);
    }
  }
}

/* ---------------------------------------------------------------- entry point */
ql_status ql_verify_model(const ql_model *m, const ql_verify_options *opt, ql_vreport *out, ql_error *err) {
  memset(out, 0, sizeof *out);
  if (!m || !m->graph) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "model has no graph");
  out->strict = opt ? opt->strict : 0;
  vctx c;
  vctx_init(&c, m, opt, out);
  out->nodes = m->graph->n_nodes;
  if (!c.oom) vcollect(&c);
  if (!c.oom) vcheck_values(&c);
  if (!c.oom) vcheck_groups(&c);
  if (!c.oom) vcheck_qdq_passthrough(&c);
  if (!c.oom) vcheck_bias(&c);
  if (!c.oom) vcheck_overflow(&c);
  if (!c.oom) vcheck_annotations(&c);
  if (!c.oom) vcheck_dynamic(&c);
  int oom = c.oom;
  vctx_free(&c);
  if (oom) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory while verifying");
  return QL_OK;
}

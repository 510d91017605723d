/* Dynamic quantization (the pattern ONNX Runtime's quantize_dynamic emits)
 * and weight-only 4-bit quantization (com.microsoft MatMulNBits).
 *
 * Dynamic, for MatMul and Conv with constant weights:
 *   X -> DynamicQuantizeLinear -> (Xq u8, Xs, Xzp)
 *   MatMulInteger|ConvInteger(Xq, Wq, Xzp, Wzp) -> Cast(float) -> Mul(., Xs*Ws) [-> Add(bias)] -> Y
 * Weights are quantized once (symmetric int8 by default, per channel when
 * asked); activation parameters are computed at run time, so no calibration
 * data is needed. */
#include "../common/strmap.h"
#include "quant.h"
#include <math.h>

ql_status ql_graph_toposort(ql_graph *g, ql_error *err);
void ql_graph_drop_unused_inits(ql_graph *g);

static char *cat3(const char *a, const char *b, const char *c) {
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
  char *r = ql_malloc(la + lb + lc + 1);
  if (r) {
    memcpy(r, a, la);
    memcpy(r + la, b, lb);
    memcpy(r + la + lb, c, lc + 1);
  }
  return r;
}

static int excluded(const ql_quant_options *o, const ql_node *n) {
  for (size_t i = 0; i < o->n_exclude; i++)
    if (!strcmp(o->exclude[i], n->name)) return 1;
  if (o->op_types) {
    for (size_t i = 0; i < o->n_op_types; i++)
      if (!strcmp(o->op_types[i], n->op_type)) return 0;
    return 1;
  }
  return 0;
}

static ql_node *mk(ql_graph *g, const char *op, const char *dom, const char *name, const char *const *in, size_t nin,
                   const char *const *out, size_t nout) {
  ql_node *n = ql_node_new(op, dom, name);
  if (!n) return NULL;
  for (size_t i = 0; i < nin; i++)
    if (ql_node_add_input(n, in[i])) goto fail;
  for (size_t i = 0; i < nout; i++)
    if (ql_node_add_output(n, out[i])) goto fail;
  if (ql_graph_add_node(g, n)) goto fail;
  return n;
fail:
  ql_node_free(n);
  return NULL;
}

static ql_tensor *named(ql_tensor *t, const char *name) {
  if (t && !(t->name = ql_strdup(name))) {
    ql_tensor_free(t);
    return NULL;
  }
  return t;
}

static int annotate(ql_graph *g, const char *tensor, const char *scale, const char *zp) {
  ql_annotation *a = ql_realloc(g->annotations, (g->n_annotations + 1) * sizeof *a);
  if (!a) return -1;
  g->annotations = a;
  a = &a[g->n_annotations++];
  memset(a, 0, sizeof *a);
  if (!(a->tensor_name = ql_strdup(tensor)) || !(a->params = ql_calloc(2, sizeof *a->params))) return -1;
  a->n = 2;
  return !(a->params[0].key = ql_strdup("SCALE_TENSOR")) || !(a->params[0].value = ql_strdup(scale)) ||
                 !(a->params[1].key = ql_strdup("ZERO_POINT_TENSOR")) || !(a->params[1].value = ql_strdup(zp))
             ? -1
             : 0;
}

/* Symmetric (or not) weight quantization along `axis` (-1: per tensor). */
static int quantize_w(ql_graph *g, const ql_tensor *w, ql_dtype type, int sym, int reduce, int axis, int64_t scale_rank,
                      const char **qn_out, const char **sn_out, const char **zn_out) {
  char *qn = cat3(w->name, "_quantized", ""), *sn = cat3(w->name, "_scale", ""), *zn = cat3(w->name, "_zero_point", "");
  int rc = -1;
  if (!qn || !sn || !zn) goto out;
  if (!ql_graph_find_init(g, qn)) {
    int64_t nch = axis >= 0 ? w->dims[axis] : 1, inner = 1;
    for (int d = axis + 1; axis >= 0 && d < w->rank; d++) inner *= w->dims[d];
    int64_t sdims[QL_MAX_RANK];
    for (int d = 0; d < scale_rank; d++) sdims[d] = 1;
    if (axis >= 0) sdims[scale_rank == 1 ? 0 : 1] = nch;
    ql_tensor *qt = named(ql_tensor_new(type, w->rank, w->dims, NULL), qn);
    ql_tensor *st = named(ql_tensor_new(QL_FLOAT, axis >= 0 ? (int)scale_rank : 0, sdims, NULL), sn);
    ql_tensor *zt = named(ql_tensor_new(type, axis >= 0 ? 1 : 0, &nch, NULL), zn);
    if (!qt || !st || !zt) {
      ql_tensor_free(qt);
      ql_tensor_free(st);
      ql_tensor_free(zt);
      goto out;
    }
    int64_t qmin, qmax;
    ql_qrange(type, sym, reduce, &qmin, &qmax);
    const float *x = w->data;
    for (int64_t c = 0; c < nch; c++) {
      float mn = INFINITY, mx = -INFINITY;
      for (int64_t i = 0; i < w->numel; i++)
        if (axis < 0 || (i / inner) % nch == c) {
          if (x[i] < mn) mn = x[i];
          if (x[i] > mx) mx = x[i];
        }
      if (mn > mx) mn = mx = 0;
      float s;
      int64_t z;
      ql_compute_scale_zp(mn, mx, qmin, qmax, sym, &s, &z);
      ((float *)st->data)[c] = s;
      ql_store_i64(type, zt->data, c, z);
      for (int64_t i = 0; i < w->numel; i++)
        if (axis < 0 || (i / inner) % nch == c) ql_store_i64(type, qt->data, i, ql_quantize_value(x[i], s, z, type));
    }
    if (ql_graph_add_init(g, qt)) {
      ql_tensor_free(qt);
      ql_tensor_free(st);
      ql_tensor_free(zt);
      goto out;
    }
    if (ql_graph_add_init(g, st)) {
      ql_tensor_free(st);
      ql_tensor_free(zt);
      goto out;
    }
    if (ql_graph_add_init(g, zt)) {
      ql_tensor_free(zt);
      goto out;
    }
    /* no annotation: MatMulInteger/ConvInteger take only the zero point, so
     * no node of the graph pairs this tensor with the scale (the scale
     * enters through the Mul after the integer op) */
  }
  *qn_out = ql_graph_find_init_mut(g, qn)->name;
  *sn_out = ql_graph_find_init_mut(g, sn)->name;
  *zn_out = ql_graph_find_init_mut(g, zn)->name;
  rc = 0;
out:
  ql_free(qn);
  ql_free(sn);
  ql_free(zn);
  return rc;
}

ql_status ql_quantize_dynamic(ql_model *m, const ql_quant_options *o, ql_error *err) {
  ql_graph *g = m->graph;
  ql_strmap dq = {0}; /* activation -> index of its DynamicQuantizeLinear (dedup) */
  size_t n0 = g->n_nodes;
  ql_status st = QL_OK;
  int sym = o->symmetric_weights >= 0 ? o->symmetric_weights : ql_dtype_is_signed(o->weight_type);
  /* DynamicQuantizeLinear needs 11; 13 keeps per-channel scales simple */
  ql_error e13 = {0};
  if (ql_upgrade_opset(m, 13, NULL, &e13) && (st = ql_upgrade_opset(m, 11, NULL, err))) return st;
  for (size_t i = 0; i < n0 && !st; i++) {
    ql_node *n = g->nodes[i];
    int is_mm = !strcmp(n->op_type, "MatMul"), is_conv = !strcmp(n->op_type, "Conv");
    if ((!is_mm && !is_conv) || *ql_domain_canon(n->domain) || n->n_inputs < 2 || excluded(o, n)) continue;
    const ql_tensor *w = ql_graph_find_init(g, n->inputs[1]);
    if (!w || w->dtype != QL_FLOAT || (is_mm && w->rank != 2) || (is_conv && w->rank < 3)) continue;
    if (is_mm && o->source && !ql_graph_find_init(o->source->graph, n->inputs[1])) continue;
    const char *x = n->inputs[0], *y = n->outputs[0];
    char *xq = cat3(x, "_quantized", ""), *xs = cat3(x, "_scale", ""), *xz = cat3(x, "_zero_point", "");
    char *acc = cat3(y, "_output_quantized", ""), *fl = cat3(y, "_output_quantized_cast", "");
    char *sm = cat3(y, "_scales_mul", ""), *mo = cat3(y, "_mul_output", ""), *yname = ql_strdup(y);
    const char *wq, *ws, *wz;
    int axis = o->per_channel ? (is_mm ? 1 : 0) : -1;
    int bad = !xq || !xs || !xz || !acc || !fl || !sm || !mo || !yname ||
              quantize_w(g, w, o->weight_type, sym, o->reduce_range, axis, is_mm ? 1 : w->rank, &wq, &ws, &wz);
    if (!bad && ql_strmap_get(&dq, x) < 0) {
      const char *outs[3] = {xq, xs, xz};
      char *nm = cat3(x, "_QuantizeLinear", "");
      /* the annotation names the run-time scale and zero point: --strict
       * wants every quantized tensor to say where its parameters are */
      bad = !nm || !mk(g, "DynamicQuantizeLinear", "", nm, &x, 1, (const char *const *)outs, 3) ||
            ql_strmap_put(&dq, g->nodes[g->n_nodes - 1]->inputs[0], 1) || annotate(g, xq, xs, xz);
      ql_free(nm);
    }
    int has_bias = is_conv && n->n_inputs > 2 && *n->inputs[2] && ql_graph_find_init(g, n->inputs[2]);
    if (!bad) {
      const char *in4[4] = {xq, wq, xz, wz};
      char *nm = cat3(*n->name ? n->name : y, "_quant", ""); /* node names must be unique */
      ql_node *ni = nm ? mk(g, is_mm ? "MatMulInteger" : "ConvInteger", "", nm, in4, 4, (const char *const *)&acc, 1) : NULL;
      ql_free(nm);
      bad = !ni;
      if (!bad && is_conv) /* same geometry */
        for (size_t a = 0; a < n->n_attrs && !bad; a++) {
          ql_node tmp = {.n_attrs = 1, .attrs = &n->attrs[a]};
          ql_node *c = ql_node_clone(&tmp);
          ql_attr *na = c ? ql_realloc(ni->attrs, (ni->n_attrs + 1) * sizeof *na) : NULL;
          if (!na) {
            ql_node_free(c);
            bad = 1;
            break;
          }
          ni->attrs = na;
          ni->attrs[ni->n_attrs++] = c->attrs[0];
          c->n_attrs = 0;
          ql_free(c->attrs);
          c->attrs = NULL;
          ql_node_free(c);
        }
    }
    if (!bad) {
      char *nm = cat3(y, "_cast", "");
      ql_node *c = nm ? mk(g, "Cast", "", nm, (const char *const *)&acc, 1, (const char *const *)&fl, 1) : NULL;
      ql_attr *a = c ? ql_node_add_attr(c, "to", QL_ATTR_INT) : NULL;
      if (a) a->i = QL_FLOAT;
      ql_free(nm);
      bad = !a;
    }
    if (!bad) {
      const char *in2[2] = {xs, ws};
      char *nm = cat3(y, "_scales_mul_node", "");
      bad = !nm || !mk(g, "Mul", "", nm, in2, 2, (const char *const *)&sm, 1);
      ql_free(nm);
    }
    if (!bad) {
      const char *in2[2] = {fl, sm};
      const char *out = has_bias ? mo : yname;
      char *nm = cat3(y, "_output_scale_mul", "");
      bad = !nm || !mk(g, "Mul", "", nm, in2, 2, &out, 1);
      ql_free(nm);
    }
    if (!bad && has_bias) {
      /* bias as [1, M, 1, ...] so that it broadcasts over the conv output */
      const ql_tensor *b = ql_graph_find_init(g, n->inputs[2]);
      int64_t dims[QL_MAX_RANK];
      for (int d = 0; d < w->rank; d++) dims[d] = 1;
      dims[1] = b->numel;
      char *bn = cat3(b->name, "_reshaped", "");
      ql_tensor *bt = bn ? named(ql_tensor_new(QL_FLOAT, w->rank, dims, NULL), bn) : NULL;
      if (bt) memcpy(bt->data, b->data, ql_tensor_nbytes(b));
      bad = !bt || ql_graph_add_init(g, bt);
      if (bad) ql_tensor_free(bt);
      const char *in2[2] = {mo, bn};
      char *nm = cat3(y, "_bias_add", "");
      bad = bad || !nm || !mk(g, "Add", "", nm, in2, 2, (const char *const *)&yname, 1);
      ql_free(nm);
      ql_free(bn);
    }
    ql_free(xq);
    ql_free(xs);
    ql_free(xz);
    ql_free(acc);
    ql_free(fl);
    ql_free(sm);
    ql_free(mo);
    ql_free(yname);
    if (bad) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory quantizing node '%s'", n->name);
      break;
    }
    ql_free(n->op_type); /* the float node goes: mark it, removed below */
    n->op_type = NULL;
  }
  ql_strmap_free(&dq);
  size_t w = 0;
  for (size_t i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i]->op_type) g->nodes[w++] = g->nodes[i];
    else ql_node_free(g->nodes[i]);
  }
  g->n_nodes = w;
  if (st) return st;
  if ((st = ql_graph_toposort(g, err))) return st;
  ql_graph_drop_unused_inits(g);
  ql_graph_drop_init_inputs(g);
  return QL_OK;
}

/* ------------------------------------------------------------------ 4-bit */
/* MLAS blockwise quantizer semantics (SPEC.md section 5): asymmetric,
 * range always containing 0, scale = (max - min) / 15, zp = round(-min /
 * scale), q = clamp(round(v / scale + zp), 0, 15) with round = ties away from
 * zero, as MLAS does. */
ql_status ql_quantize_nbits(ql_model *m, const ql_quant_options *o, int block, ql_error *err) {
  ql_graph *g = m->graph;
  ql_status st = QL_OK;
  int any = 0;
  for (size_t i = 0; i < g->n_nodes && !st; i++) {
    ql_node *n = g->nodes[i];
    if (strcmp(n->op_type, "MatMul") || *ql_domain_canon(n->domain) || n->n_inputs != 2 || excluded(o, n)) continue;
    const ql_tensor *w = ql_graph_find_init(g, n->inputs[1]);
    if (!w || w->dtype != QL_FLOAT || w->rank != 2) continue;
    int64_t K = w->dims[0], N = w->dims[1], kb = (K + block - 1) / block, blob = block / 2, zpb = (kb + 1) / 2;
    int64_t bd[3] = {N, kb, blob}, sd[1] = {N * kb}, zd[2] = {N, zpb};
    char *bn = cat3(w->name, "_Q4", ""), *sn = cat3(w->name, "_scales", ""), *zn = cat3(w->name, "_zero_points", "");
    ql_tensor *B = bn ? named(ql_tensor_new(QL_UINT8, 3, bd, err), bn) : NULL;
    ql_tensor *S = sn ? named(ql_tensor_new(QL_FLOAT, 1, sd, err), sn) : NULL;
    ql_tensor *Z = zn ? named(ql_tensor_new(QL_UINT8, 2, zd, err), zn) : NULL;
    ql_node *r = ql_node_new("MatMulNBits", "com.microsoft", n->name);
    if (!B || !S || !Z || !r) {
      ql_tensor_free(B);
      ql_tensor_free(S);
      ql_tensor_free(Z);
      ql_node_free(r);
      ql_free(bn);
      ql_free(sn);
      ql_free(zn);
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      break;
    }
    const float *x = w->data;
    uint8_t *bq = B->data, *zq = Z->data;
    float *sc = S->data;
    for (int64_t c = 0; c < N; c++)
      for (int64_t b = 0; b < kb; b++) {
        float mn = 0, mx = 0;
        for (int64_t k = b * block; k < (b + 1) * block && k < K; k++) {
          float v = x[k * N + c];
          if (v < mn) mn = v;
          if (v > mx) mx = v;
        }
        float s = (mx - mn) / 15.0f;
        int zp = 8;
        if (s > 0) {
          float z = roundf(-mn / s);
          zp = z < 0 ? 0 : z > 15 ? 15 : (int)z;
        }
        sc[c * kb + b] = s;
        zq[c * zpb + b / 2] |= (uint8_t)(zp << ((b & 1) * 4));
        float inv = s > 0 ? 1.0f / s : 0.0f;
        for (int64_t k = 0; k < block; k++) {
          int64_t kk = b * block + k;
          float v = kk < K ? x[kk * N + c] : 0.0f; /* K is zero-padded */
          float qf = roundf(v * inv + (float)zp);
          int q = qf < 0 ? 0 : qf > 15 ? 15 : (int)qf;
          bq[(c * kb + b) * blob + k / 2] |= (uint8_t)(q << ((k & 1) * 4));
        }
      }
    int bad = 0;
    ql_tensor *ts[3] = {B, S, Z};
    for (int k = 0; k < 3; k++)
      if (bad || ql_graph_add_init(g, ts[k])) {
        bad = 1;
        ql_tensor_free(ts[k]);
      }
    const char *names[4] = {n->inputs[0], bn, sn, zn};
    for (int k = 0; k < 4 && !bad; k++) bad = ql_node_add_input(r, names[k]);
    bad = bad || ql_node_add_output(r, n->outputs[0]);
    static const char *const an[4] = {"K", "N", "bits", "block_size"};
    int64_t av[4] = {K, N, 4, block};
    for (int k = 0; k < 4 && !bad; k++) {
      ql_attr *a = ql_node_add_attr(r, an[k], QL_ATTR_INT);
      if (!a) bad = 1;
      else a->i = av[k];
    }
    ql_free(bn);
    ql_free(sn);
    ql_free(zn);
    if (bad) {
      ql_node_free(r);
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      break;
    }
    ql_node_free(n);
    g->nodes[i] = r;
    any = 1;
  }
  if (st) return st;
  if (any && ql_model_opset(m, "com.microsoft") < 0) {
    ql_opset *op = ql_realloc(m->opsets, (m->n_opsets + 1) * sizeof *op);
    if (!op) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    m->opsets = op;
    if (!(op[m->n_opsets].domain = ql_strdup("com.microsoft"))) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "oom");
    op[m->n_opsets++].version = 1;
  }
  ql_graph_drop_unused_inits(g);
  ql_graph_drop_init_inputs(g);
  return QL_OK;
}

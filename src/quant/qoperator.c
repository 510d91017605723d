/* QOperator format from a QDQ graph: every `DQ -> op -> Q` island whose op
 * has an integer form becomes that op (QLinearConv, QLinearMatMul, and ONNX
 * Runtime's com.microsoft QLinearAdd, QLinearMul, QLinearConcat,
 * QLinearSigmoid, QLinearLeakyRelu, QLinearAveragePool,
 * QLinearGlobalAveragePool, QGemm); value-preserving ops (MaxPool, Reshape,
 * Transpose, ...) run on the quantized tensor directly, which is exact since
 * the QDQ pass gave their input and output the same parameters. Q/DQ nodes
 * left without readers disappear, so quantized tensors flow between integer
 * ops and only the graph's edges keep a QuantizeLinear/DequantizeLinear. */
#include "../common/strmap.h"
#include "quant.h"
#include <math.h>

ql_status ql_graph_toposort(ql_graph *g, ql_error *err);
void ql_graph_drop_unused_inits(ql_graph *g);

typedef struct {
  ql_graph *g;
  ql_strmap prod;   /* tensor -> producing node index */
  int *n_readers;   /* per node output 0: number of reading inputs (graph outputs count) */
} qop;

static int readers(const ql_graph *g, const char *name) {
  int n = 0;
  for (size_t i = 0; i < g->n_nodes; i++)
    for (size_t k = 0; k < g->nodes[i]->n_inputs; k++) n += !strcmp(g->nodes[i]->inputs[k], name);
  for (size_t i = 0; i < g->n_outputs; i++) n += !strcmp(g->outputs[i].name, name);
  return n;
}

static ql_node *producer(qop *q, const char *name) {
  int i = ql_strmap_get(&q->prod, name);
  return i >= 0 ? q->g->nodes[i] : NULL;
}

/* A DQ feeding `name`: returns it (and its q, scale, zp inputs) or NULL. */
static const ql_node *dq_of(qop *q, const char *name) {
  const ql_node *d = producer(q, name);
  if (!d || strcmp(d->op_type, "DequantizeLinear") || d->n_inputs < 3) return NULL;
  const char *dom = ql_domain_canon(d->domain);
  return !*dom || !strcmp(dom, "com.microsoft") ? d : NULL;
}

/* The single Q reading `name`, or NULL. */
static const ql_node *sole_q_reader(qop *q, const char *name) {
  if (readers(q->g, name) != 1) return NULL;
  for (size_t i = 0; i < q->g->n_nodes; i++) {
    const ql_node *n = q->g->nodes[i];
    if (n->n_inputs && !strcmp(n->inputs[0], name))
      return !strcmp(n->op_type, "QuantizeLinear") && n->n_inputs >= 3 && !*ql_domain_canon(n->domain) ? n : NULL;
  }
  return NULL;
}

static int value_preserving(const char *op) {
  static const char *const k[] = {"MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten",
                                  "Slice", "Gather", "Split", "Identity", NULL};
  for (int i = 0; k[i]; i++)
    if (!strcmp(op, k[i])) return 1;
  return 0;
}

static int same_scalar(const ql_graph *g, const char *a, const char *b) {
  const ql_tensor *x = ql_graph_find_init(g, a), *y = ql_graph_find_init(g, b);
  return x && y && x->numel == 1 && y->numel == 1 && x->dtype == y->dtype &&
         ql_tensor_get_f64(x, 0) == ql_tensor_get_f64(y, 0);
}

/* The DQ before and the Q after a value-preserving op give one meaning. */
static int same_params(const ql_graph *g, const ql_node *d, const ql_node *y) {
  return same_scalar(g, d->inputs[1], y->inputs[1]) && same_scalar(g, d->inputs[2], y->inputs[2]);
}

/* Relu or Clip between a DQ and a Q with the same parameters is the
 * identity on the quantized values when no representable value is changed
 * by it (the QDQ pass gives a Relu/Clip input the output's range, so the
 * producer's Q already clipped): tried on every value of the 8-bit type. */
static int activation_is_identity(const ql_graph *g, const ql_node *n, const ql_node *d) {
  const ql_tensor *st = ql_graph_find_init(g, d->inputs[1]), *zt = ql_graph_find_init(g, d->inputs[2]);
  if (!st || !zt || st->numel != 1 || zt->numel != 1 || st->dtype != QL_FLOAT) return 0;
  if (zt->dtype != QL_INT8 && zt->dtype != QL_UINT8) return 0;
  float s = (float)ql_tensor_get_f64(st, 0), lo = -INFINITY, hi = INFINITY;
  int64_t z = (int64_t)ql_tensor_get_f64(zt, 0), qmin, qmax;
  if (!strcmp(n->op_type, "Relu")) lo = 0;
  else
    for (size_t k = 1; k < 3 && k < n->n_inputs; k++) {
      if (!*n->inputs[k]) continue;
      const ql_tensor *b = ql_graph_find_init(g, n->inputs[k]);
      if (!b || b->numel != 1 || b->dtype != QL_FLOAT) return 0;
      if (k == 1) lo = (float)ql_tensor_get_f64(b, 0);
      else hi = (float)ql_tensor_get_f64(b, 0);
    }
  ql_dtype_int_range(zt->dtype, &qmin, &qmax);
  for (int64_t q = qmin; q <= qmax; q++) {
    float x = (float)(q - z) * s, y = x < lo ? lo : x > hi ? hi : x;
    if (ql_quantize_value(y, s, z, zt->dtype) != q) return 0;
  }
  return 1;
}

static int add_in(ql_node *n, const char *s) { return ql_node_add_input(n, s ? s : ""); }

static int copy_attr(ql_node *dst, const ql_node *src, const char *name) {
  const ql_attr *a = ql_node_attr(src, name);
  if (!a) return 0;
  ql_node tmp = {.n_attrs = 1, .attrs = (ql_attr *)a};
  ql_node *c = ql_node_clone(&tmp);
  if (!c) return -1;
  ql_attr *na = ql_realloc(dst->attrs, (dst->n_attrs + 1) * sizeof *na);
  if (!na) {
    ql_node_free(c);
    return -1;
  }
  dst->attrs = na;
  dst->attrs[dst->n_attrs++] = c->attrs[0];
  c->n_attrs = 0;
  ql_free(c->attrs);
  c->attrs = NULL;
  ql_node_free(c);
  return 0;
}

static int copy_attrs(ql_node *dst, const ql_node *src) {
  for (size_t i = 0; i < src->n_attrs; i++)
    if (copy_attr(dst, src, src->attrs[i].name)) return -1;
  return 0;
}

/* Builds the integer node for `n` (all data inputs from DQ, output into Q y). */
static ql_node *integer_node(qop *q, const ql_node *n, const ql_node *y) {
  const char *op = n->op_type;
  const ql_node *d[64] = {0};
  size_t nd = n->n_inputs < 64 ? n->n_inputs : 64;
  for (size_t k = 0; k < nd; k++) d[k] = *n->inputs[k] ? dq_of(q, n->inputs[k]) : NULL;
  ql_node *r = NULL;
  int bad = 0;
#define TRIPLE(dq) (add_in(r, (dq)->inputs[0]) || add_in(r, (dq)->inputs[1]) || add_in(r, (dq)->inputs[2]))
  if (!strcmp(op, "Conv") && d[0] && d[1] && (n->n_inputs < 3 || !*n->inputs[2] || d[2])) {
    r = ql_node_new("QLinearConv", "", n->name);
    bad = !r || TRIPLE(d[0]) || TRIPLE(d[1]) || add_in(r, y->inputs[1]) || add_in(r, y->inputs[2]) ||
          (d[2] && add_in(r, d[2]->inputs[0])) || copy_attrs(r, n);
  } else if (!strcmp(op, "MatMul") && d[0] && d[1]) {
    r = ql_node_new("QLinearMatMul", "", n->name);
    bad = !r || TRIPLE(d[0]) || TRIPLE(d[1]) || add_in(r, y->inputs[1]) || add_in(r, y->inputs[2]);
  } else if (!strcmp(op, "Gemm") && d[0] && d[1] && (n->n_inputs < 3 || !*n->inputs[2] || d[2]) &&
             ql_attr_float(n, "beta", 1.0f) == 1.0f) {
    r = ql_node_new("QGemm", "com.microsoft", n->name);
    bad = !r || TRIPLE(d[0]) || TRIPLE(d[1]) || add_in(r, d[2] ? d[2]->inputs[0] : "") || add_in(r, y->inputs[1]) ||
          add_in(r, y->inputs[2]) || copy_attr(r, n, "transA") || copy_attr(r, n, "transB") || copy_attr(r, n, "alpha");
  } else if ((!strcmp(op, "Add") || !strcmp(op, "Mul")) && d[0] && d[1]) {
    r = ql_node_new(!strcmp(op, "Add") ? "QLinearAdd" : "QLinearMul", "com.microsoft", n->name);
    bad = !r || TRIPLE(d[0]) || TRIPLE(d[1]) || add_in(r, y->inputs[1]) || add_in(r, y->inputs[2]);
  } else if (!strcmp(op, "Concat")) {
    for (size_t k = 0; k < nd; k++) bad |= !d[k];
    if (!bad) {
      r = ql_node_new("QLinearConcat", "com.microsoft", n->name);
      bad = !r || add_in(r, y->inputs[1]) || add_in(r, y->inputs[2]) || copy_attr(r, n, "axis");
      for (size_t k = 0; k < nd && !bad; k++) bad = TRIPLE(d[k]);
    } else bad = 0;
  } else if ((!strcmp(op, "Sigmoid") || !strcmp(op, "LeakyRelu") || !strcmp(op, "AveragePool") ||
              !strcmp(op, "GlobalAveragePool")) && d[0]) {
    char qn[64];
    snprintf(qn, sizeof qn, "QLinear%s", op);
    r = ql_node_new(qn, "com.microsoft", n->name);
    bad = !r || TRIPLE(d[0]) || add_in(r, y->inputs[1]) || add_in(r, y->inputs[2]) || copy_attrs(r, n);
  }
#undef TRIPLE
  if (r && !bad && ql_node_add_output(r, y->outputs[0])) bad = 1;
  if (bad) {
    ql_node_free(r);
    return NULL;
  }
  return r;
}

static int index_producers(qop *q) {
  ql_strmap_free(&q->prod);
  for (size_t i = 0; i < q->g->n_nodes; i++)
    for (size_t k = 0; k < q->g->nodes[i]->n_outputs; k++)
      if (ql_strmap_put(&q->prod, q->g->nodes[i]->outputs[k], (int)i)) return -1;
  return 0;
}

static void remove_node(ql_graph *g, const ql_node *n) {
  for (size_t i = 0; i < g->n_nodes; i++)
    if (g->nodes[i] == n) {
      ql_node_free(g->nodes[i]);
      memmove(&g->nodes[i], &g->nodes[i + 1], (g->n_nodes - i - 1) * sizeof *g->nodes);
      g->n_nodes--;
      return;
    }
}

/* Q/DQ nodes (and their now-orphan outputs) that nothing reads. */
static void drop_dead(ql_graph *g) {
  for (int changed = 1; changed;) {
    changed = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
      ql_node *n = g->nodes[i];
      if (strcmp(n->op_type, "QuantizeLinear") && strcmp(n->op_type, "DequantizeLinear")) continue;
      if (readers(g, n->outputs[0])) continue;
      remove_node(g, n);
      changed = 1;
      break;
    }
  }
}

ql_status ql_quant_to_qoperator(ql_model *m, ql_error *err) {
  qop q = {.g = m->graph};
  ql_graph *g = m->graph;
  ql_status st = QL_OK;
  int need_ms = 0;
  for (size_t i = 0; i < g->n_nodes && !st; i++) {
    if (index_producers(&q)) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      break;
    }
    ql_node *n = g->nodes[i];
    if (!strcmp(n->op_type, "QuantizeLinear") || !strcmp(n->op_type, "DequantizeLinear") || !n->n_outputs) continue;
    const ql_node *y = sole_q_reader(&q, n->outputs[0]);
    int is_act = !strcmp(n->op_type, "Relu") || !strcmp(n->op_type, "Clip");
    if (value_preserving(n->op_type) || is_act) {
      /* run on the quantized tensor: input from the DQ's source, output into the Q's output */
      const ql_node *d = n->n_inputs ? dq_of(&q, n->inputs[0]) : NULL;
      if (!d || !y || n->n_outputs != 1 || !same_params(g, d, y)) continue;
      if (is_act) {
        if (!activation_is_identity(g, n, d)) continue;
        /* the activation goes: its input is the quantized tensor, renamed to the Q's output */
        const char *src = d->inputs[0];
        char *out = ql_strdup(y->outputs[0]);
        ql_node *idn = ql_node_new("Identity", "", n->name);
        if (!out || !idn || ql_node_add_input(idn, src) || ql_node_add_output(idn, out)) {
          ql_free(out);
          ql_node_free(idn);
          st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
          break;
        }
        /* the tensor now carries the source's scale and zero point (equal
         * values, other names): its annotation says so */
        for (size_t a = 0; a < g->n_annotations && !st; a++) {
          ql_annotation *an = &g->annotations[a];
          if (strcmp(an->tensor_name, out)) continue;
          for (size_t k = 0; k < an->n && !st; k++) {
            const char *v = !strcmp(an->params[k].key, "SCALE_TENSOR")        ? d->inputs[1]
                            : !strcmp(an->params[k].key, "ZERO_POINT_TENSOR") ? d->inputs[2]
                                                                               : NULL;
            char *c = v ? ql_strdup(v) : NULL;
            if (v && !c) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
            if (c) {
              ql_free(an->params[k].value);
              an->params[k].value = c;
            }
          }
        }
        ql_free(out);
        if (st) {
          ql_node_free(idn);
          break;
        }
        for (size_t k = 0; k < g->n_nodes; k++)
          if (g->nodes[k] == n) {
            ql_node_free(n);
            g->nodes[k] = idn;
            break;
          }
        remove_node(g, y);
        i = (size_t)-1;
        continue;
      }
      char *in = ql_strdup(d->inputs[0]), *out = ql_strdup(y->outputs[0]);
      if (!in || !out) {
        ql_free(in);
        ql_free(out);
        st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
        break;
      }
      ql_free(n->inputs[0]);
      n->inputs[0] = in;
      ql_free(n->outputs[0]);
      n->outputs[0] = out;
      remove_node(g, y);
      i = (size_t)-1; /* indices moved: rescan */
      continue;
    }
    if (!y) continue;
    ql_node *r = integer_node(&q, n, y);
    if (!r) continue;
    need_ms |= !strcmp(r->domain, "com.microsoft");
    /* r replaces n; the Q goes (its output is now r's) */
    for (size_t k = 0; k < g->n_nodes; k++)
      if (g->nodes[k] == n) {
        ql_node_free(n);
        g->nodes[k] = r;
        break;
      }
    remove_node(g, y);
    i = (size_t)-1;
  }
  ql_strmap_free(&q.prod);
  if (st) return st;
  drop_dead(g);
  if (need_ms && ql_model_opset(m, "com.microsoft") < 0) {
    ql_opset *o = ql_realloc(m->opsets, (m->n_opsets + 1) * sizeof *o);
    if (!o) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    m->opsets = o;
    if (!(o[m->n_opsets].domain = ql_strdup("com.microsoft"))) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "oom");
    o[m->n_opsets++].version = 1;
  }
  if ((st = ql_graph_toposort(g, err))) return st;
  ql_graph_drop_unused_inits(g);
  /* annotations of tensors that no longer exist go, and so do those whose
   * scale went with the DQ that used it (an int32 bias read by QLinearConv
   * directly has no scale operand any more) */
  size_t w = 0;
  for (size_t a = 0; a < g->n_annotations; a++) {
    ql_annotation *an = &g->annotations[a];
    int exists = ql_graph_find_init(g, an->tensor_name) != NULL;
    const char *sn = NULL;
    for (size_t k = 0; k < an->n; k++)
      if (!strcmp(an->params[k].key, "SCALE_TENSOR")) sn = an->params[k].value;
    for (size_t i = 0; i < g->n_nodes && !exists; i++)
      for (size_t k = 0; k < g->nodes[i]->n_outputs; k++) exists |= !strcmp(g->nodes[i]->outputs[k], an->tensor_name);
    if (exists && sn && !ql_graph_find_init(g, sn)) {
      int made = 0; /* a scale computed by a node is fine too */
      for (size_t i = 0; i < g->n_nodes && !made; i++)
        for (size_t k = 0; k < g->nodes[i]->n_outputs; k++) made |= !strcmp(g->nodes[i]->outputs[k], sn);
      exists = made;
    }
    if (exists) {
      g->annotations[w++] = *an;
      continue;
    }
    ql_free(an->tensor_name);
    for (size_t k = 0; k < an->n; k++) {
      ql_free(an->params[k].key);
      ql_free(an->params[k].value);
    }
    ql_free(an->params);
  }
  g->n_annotations = w;
  return QL_OK;
}

/* The verifier's view of a graph: every tensor name with what is statically
 * known about it (producer, static value, type, shape), consumers, effective
 * op versions, and the findings list. */
#include "verify.h"
#include <math.h>
#include <stdlib.h>

const char *const ql_verify_rules[] = {
    "scale-invalid",     "zero-point-invalid",  "param-shape",         "param-type",     "tensor-params-conflict",
    "bias-scale-mismatch", "annotation-mismatch", "accumulator-overflow", "dynamic-params", NULL};

/* ---------------------------------------------------------------- schema versions */
typedef struct {
  const char *domain, *op_type;
  int versions[16];
} vschema;

static const vschema k_schemas[] = {
#define QL_SCHEMA(d, op, ...) {d, op, {__VA_ARGS__}},
#include "ops/schema-versions.inc"
#undef QL_SCHEMA
};

/* Highest since_version <= opset; com.microsoft and other domains the table
 * does not know have version 1. 0 when the op does not exist at that opset. */
static int effective_version(const char *domain, const char *op, int64_t opset) {
  const char *d = ql_domain_canon(domain);
  if (opset < 0) return 0;
  for (size_t i = 0; i < sizeof k_schemas / sizeof *k_schemas; i++) {
    const vschema *r = &k_schemas[i];
    if (strcmp(r->op_type, op) || strcmp(r->domain, d)) continue;
    int eff = 0;
    for (int k = 0; k < 16 && r->versions[k]; k++)
      if (r->versions[k] <= opset) eff = r->versions[k];
    return eff;
  }
  return *d ? 1 : 0;
}

/* ---------------------------------------------------------------- names */
int vctx_find(const vctx *c, const char *name) {
  if (!name || !*name) return -1;
  return ql_strmap_get(&c->names, name);
}

static int vget(vctx *c, const char *name) {
  if (!name || !*name) return -1;
  int i = ql_strmap_get(&c->names, name);
  if (i >= 0) return i;
  if (ql_grow((void **)&c->vals, &c->cap_vals, c->n_vals + 1, sizeof *c->vals) || c->n_vals >= INT32_MAX ||
      ql_strmap_put(&c->names, name, (int)c->n_vals)) {
    c->oom = 1;
    return -1;
  }
  vval *v = &c->vals[c->n_vals];
  memset(v, 0, sizeof *v);
  v->name = name;
  v->producer = -1;
  v->rank = -1;
  v->uf = (int)c->n_vals;
  return (int)c->n_vals++;
}

static void set_shape_from_tensor(vval *v, const ql_tensor *t) {
  v->dtype = t->dtype;
  v->rank = t->rank;
  for (int i = 0; i < t->rank && i < QL_MAX_RANK; i++) v->dims[i] = t->dims[i];
}

static void set_from_vi(vval *v, const ql_value_info *vi) {
  if (!vi->is_tensor) return;
  if (v->dtype == QL_UNDEFINED && vi->elem_type > 0 && vi->elem_type < QL_DTYPE_COUNT) v->dtype = (ql_dtype)vi->elem_type;
  if (v->rank < 0 && vi->rank >= 0 && vi->rank <= QL_MAX_RANK) {
    v->rank = vi->rank;
    for (int i = 0; i < vi->rank; i++) v->dims[i] = vi->dims[i].param ? -1 : vi->dims[i].value;
  }
}

static const ql_tensor *own(vctx *c, ql_tensor *t) {
  if (!t) {
    c->oom = 1;
    return NULL;
  }
  if (ql_grow((void **)&c->owned, &c->cap_owned, c->n_owned + 1, sizeof *c->owned)) {
    ql_tensor_free(t);
    c->oom = 1;
    return NULL;
  }
  c->owned[c->n_owned++] = t;
  return t;
}

/* The value of a Constant node, or NULL (sparse/string forms are not parameters). */
static const ql_tensor *constant_value(vctx *c, const ql_node *n) {
  for (size_t i = 0; i < n->n_attrs; i++) {
    const ql_attr *a = &n->attrs[i];
    if (!strcmp(a->name, "value") && a->type == QL_ATTR_TENSOR && a->t) return a->t;
    int64_t one = 1, cnt = (int64_t)a->n;
    if (!strcmp(a->name, "value_float") && a->type == QL_ATTR_FLOAT) {
      ql_tensor *t = ql_tensor_new(QL_FLOAT, 0, NULL, NULL);
      if (t) ((float *)t->data)[0] = a->f;
      return own(c, t);
    }
    if (!strcmp(a->name, "value_int") && a->type == QL_ATTR_INT) {
      ql_tensor *t = ql_tensor_new(QL_INT64, 0, NULL, NULL);
      if (t) ((int64_t *)t->data)[0] = a->i;
      return own(c, t);
    }
    if (!strcmp(a->name, "value_floats") && a->type == QL_ATTR_FLOATS) {
      ql_tensor *t = ql_tensor_new(QL_FLOAT, 1, &cnt, NULL);
      if (t && a->n) memcpy(t->data, a->floats, a->n * sizeof(float));
      return own(c, t);
    }
    if (!strcmp(a->name, "value_ints") && a->type == QL_ATTR_INTS) {
      ql_tensor *t = ql_tensor_new(QL_INT64, 1, &cnt, NULL);
      if (t && a->n) memcpy(t->data, a->ints, a->n * sizeof(int64_t));
      return own(c, t);
    }
    (void)one;
  }
  return NULL;
}

static int is_op(const ql_node *n, const char *op) { return !strcmp(n->op_type, op); }
static int is_ms(const ql_node *n) { return !strcmp(n->domain, "com.microsoft"); }

int vis_real_float(ql_dtype t) { return t == QL_FLOAT || t == QL_FLOAT16 || t == QL_BFLOAT16 || t == QL_DOUBLE; }

int vis_quant_node(const ql_node *n) {
  const char *d = ql_domain_canon(n->domain);
  if (*d && strcmp(d, "com.microsoft")) return 0;
  return is_op(n, "QuantizeLinear") || is_op(n, "DequantizeLinear") || !strncmp(n->op_type, "QLinear", 7) ||
         is_op(n, "QGemm") || is_op(n, "QAttention") || is_op(n, "ConvInteger") || is_op(n, "MatMulInteger") ||
         is_op(n, "DynamicQuantizeLinear") || is_op(n, "MatMulIntegerToFloat") || is_op(n, "DynamicQuantizeMatMul");
}

/* Ops that pass values through unchanged (or select among them, or
 * interpolate between them): run on a quantized integer tensor they keep its
 * parameters, since nothing requantizes their output. */
int vis_value_preserving(const ql_node *n) {
  static const char *const ops[] = {"MaxPool", "GlobalMaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
                                    "Flatten", "Slice", "Gather", "GatherElements", "GatherND", "Split",
                                    "Concat", "Identity", "Expand", "Tile", "DepthToSpace", "SpaceToDepth",
                                    "Resize", "Upsample", "Pad", "ReduceMax", "ReduceMin", NULL};
  if (*ql_domain_canon(n->domain)) return 0;
  for (int i = 0; ops[i]; i++)
    if (is_op(n, ops[i])) return 1;
  return 0;
}

/* In QDQ form (DQ -> op -> Q) these ops only move or select values, so the Q
 * after them must use the parameters of the DQ before them. Resize only when
 * it picks nearest values; Pad may add values, the Reduce ops are left out. */
int vis_qdq_shared(const ql_node *n) {
  static const char *const ops[] = {"MaxPool", "GlobalMaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
                                    "Flatten", "Slice", "Gather", "GatherElements", "GatherND", "Split",
                                    "Concat", "Identity", "Expand", "Tile", "DepthToSpace", "SpaceToDepth", NULL};
  if (*ql_domain_canon(n->domain)) return 0;
  if (is_op(n, "Resize") || is_op(n, "Upsample")) return !strcmp(ql_attr_string(n, "mode", "nearest"), "nearest");
  for (int i = 0; ops[i]; i++)
    if (is_op(n, ops[i])) return 1;
  return 0;
}

static ql_dtype vtype(vctx *c, const ql_node *n, size_t i) {
  if (i >= n->n_inputs) return QL_UNDEFINED;
  int v = vctx_find(c, n->inputs[i]);
  return v < 0 ? QL_UNDEFINED : c->vals[v].dtype;
}

/* Output types that follow from the op's definition, where no value_info says. */
static void infer_types(vctx *c, int ni) {
  const ql_node *n = c->g->nodes[ni];
  int ver = c->version[ni];
  ql_dtype t[3] = {QL_UNDEFINED, QL_UNDEFINED, QL_UNDEFINED};
  if (is_op(n, "QuantizeLinear")) {
    t[0] = vtype(c, n, 2);
    int64_t od = ver >= 21 && !is_ms(n) ? ql_attr_int(n, "output_dtype", 0) : 0;
    if (!t[0] && od > 0 && od < QL_DTYPE_COUNT) t[0] = (ql_dtype)od;
    if (!t[0] && (n->n_inputs < 3 || !*n->inputs[2])) t[0] = QL_UINT8;
  } else if (is_op(n, "DequantizeLinear")) {
    int64_t od = ver >= 23 && !is_ms(n) ? ql_attr_int(n, "output_dtype", 0) : 0;
    t[0] = od > 0 && od < QL_DTYPE_COUNT ? (ql_dtype)od : vtype(c, n, 1);
  } else if (is_op(n, "DynamicQuantizeLinear")) {
    t[0] = QL_UINT8, t[1] = QL_FLOAT, t[2] = QL_UINT8;
  } else if (is_op(n, "QLinearConv") || is_op(n, "QLinearMatMul")) {
    t[0] = vtype(c, n, 7);
  } else if (is_ms(n) && (is_op(n, "QLinearAdd") || is_op(n, "QLinearMul"))) {
    t[0] = n->n_inputs > 7 && *n->inputs[7] ? vtype(c, n, 7) : vtype(c, n, 0);
  } else if (is_ms(n) && (is_op(n, "QLinearSigmoid") || is_op(n, "QLinearLeakyRelu") || is_op(n, "QLinearSoftmax") ||
                          is_op(n, "QLinearAveragePool") || is_op(n, "QLinearGlobalAveragePool") ||
                          is_op(n, "QLinearReduceMean"))) {
    t[0] = n->n_inputs > 4 && *n->inputs[4] ? vtype(c, n, 4) : vtype(c, n, 0);
  } else if (is_ms(n) && is_op(n, "QLinearConcat")) {
    t[0] = vtype(c, n, 1);
  } else if (is_ms(n) && is_op(n, "QLinearWhere")) {
    t[0] = vtype(c, n, 8);
  } else if (is_ms(n) && is_op(n, "QGemm")) {
    t[0] = n->n_inputs > 7 && *n->inputs[7] ? (n->n_inputs > 8 && *n->inputs[8] ? vtype(c, n, 8) : QL_UINT8) : QL_FLOAT;
  } else if (is_op(n, "ConvInteger") || is_op(n, "MatMulInteger")) {
    t[0] = QL_INT32;
  } else if (is_op(n, "Cast") && !*ql_domain_canon(n->domain)) {
    int64_t to = ql_attr_int(n, "to", 0);
    if (to > 0 && to < QL_DTYPE_COUNT) t[0] = (ql_dtype)to;
  } else if (vis_value_preserving(n)) {
    ql_dtype in = vtype(c, n, 0);
    for (size_t o = 0; o < n->n_outputs; o++) {
      int v = vctx_find(c, n->outputs[o]);
      if (v >= 0 && !c->vals[v].dtype) c->vals[v].dtype = (is_op(n, "MaxPool") && o == 1) ? QL_INT64 : in;
    }
    return;
  }
  for (size_t o = 0; o < n->n_outputs && o < 3; o++) {
    int v = vctx_find(c, n->outputs[o]);
    if (v >= 0 && !c->vals[v].dtype) c->vals[v].dtype = t[o];
  }
  /* Q/DQ keep the shape of x */
  if ((is_op(n, "QuantizeLinear") || is_op(n, "DequantizeLinear")) && n->n_inputs && n->n_outputs) {
    int x = vctx_find(c, n->inputs[0]), y = vctx_find(c, n->outputs[0]);
    if (x >= 0 && y >= 0) {
      if (c->vals[y].rank < 0 && c->vals[x].rank >= 0) {
        c->vals[y].rank = c->vals[x].rank;
        memcpy(c->vals[y].dims, c->vals[x].dims, sizeof c->vals[x].dims);
      } else if (c->vals[x].rank < 0 && c->vals[y].rank >= 0) {
        c->vals[x].rank = c->vals[y].rank;
        memcpy(c->vals[x].dims, c->vals[y].dims, sizeof c->vals[y].dims);
      }
    }
  }
}

int vctx_init(vctx *c, const ql_model *m, const ql_verify_options *opt, ql_vreport *rep) {
  memset(c, 0, sizeof *c);
  c->m = m;
  c->g = m->graph;
  if (opt) c->opt = *opt;
  c->rep = rep;
  const ql_graph *g = c->g;
  if (!g) return 0;
  for (size_t i = 0; i < g->n_inits; i++) {
    int v = vget(c, g->inits[i]->name);
    if (v < 0) continue;
    c->vals[v].is_static = 1;
    c->vals[v].value = g->inits[i];
    set_shape_from_tensor(&c->vals[v], g->inits[i]);
  }
  for (size_t i = 0; i < g->n_inputs; i++) {
    int v = vget(c, g->inputs[i].name);
    if (v < 0) continue;
    c->vals[v].graph_input = 1;
    set_from_vi(&c->vals[v], &g->inputs[i]);
  }
  c->version = ql_calloc(g->n_nodes + 1, sizeof *c->version);
  if (!c->version) return c->oom = 1, -1;
  for (size_t ni = 0; ni < g->n_nodes; ni++) {
    const ql_node *n = g->nodes[ni];
    c->version[ni] = effective_version(n->domain, n->op_type, ql_model_opset(m, n->domain));
    for (size_t k = 0; k < n->n_inputs; k++) vget(c, n->inputs[k]);
    for (size_t k = 0; k < n->n_outputs; k++) {
      int v = vget(c, n->outputs[k]);
      if (v < 0 || c->vals[v].producer >= 0) continue;
      c->vals[v].producer = (int)ni;
      if (is_op(n, "Constant") && !*ql_domain_canon(n->domain) && k == 0) {
        const ql_tensor *t = constant_value(c, n);
        if (t) {
          c->vals[v].is_static = 1;
          c->vals[v].value = t;
          set_shape_from_tensor(&c->vals[v], t);
        }
      }
    }
  }
  for (size_t i = 0; i < g->n_outputs; i++) {
    int v = vget(c, g->outputs[i].name);
    if (v >= 0) set_from_vi(&c->vals[v], &g->outputs[i]);
  }
  for (size_t i = 0; i < g->n_value_info; i++) {
    int v = vget(c, g->value_info[i].name);
    if (v >= 0) set_from_vi(&c->vals[v], &g->value_info[i]);
  }
  if (c->oom) return -1;
  for (size_t ni = 0; ni < g->n_nodes; ni++) infer_types(c, (int)ni);
  /* consumers (CSR) */
  c->cons_at = ql_calloc(c->n_vals + 1, sizeof *c->cons_at);
  size_t total = 0;
  if (!c->cons_at) return c->oom = 1, -1;
  for (size_t ni = 0; ni < g->n_nodes; ni++)
    for (size_t k = 0; k < g->nodes[ni]->n_inputs; k++) {
      int v = vctx_find(c, g->nodes[ni]->inputs[k]);
      if (v >= 0) c->cons_at[v + 1]++, total++;
    }
  for (size_t i = 0; i < c->n_vals; i++) c->cons_at[i + 1] += c->cons_at[i];
  c->cons = ql_calloc(total + 1, sizeof *c->cons);
  int *fill = ql_calloc(c->n_vals + 1, sizeof *fill);
  if (!c->cons || !fill) {
    ql_free(fill);
    return c->oom = 1, -1;
  }
  for (size_t ni = 0; ni < g->n_nodes; ni++) {
    const ql_node *n = g->nodes[ni];
    for (size_t k = 0; k < n->n_inputs; k++) {
      int v = vctx_find(c, n->inputs[k]);
      if (v < 0) continue;
      /* a node reading the same value twice is listed once */
      int dup = 0;
      for (int j = c->cons_at[v]; j < c->cons_at[v] + fill[v]; j++) dup |= c->cons[j] == (int)ni;
      if (!dup) c->cons[c->cons_at[v] + fill[v]++] = (int)ni;
    }
  }
  /* shrink duplicates away: mark unused slots -1 */
  for (size_t v = 0; v < c->n_vals; v++)
    for (int j = c->cons_at[v] + fill[v]; j < c->cons_at[v + 1]; j++) c->cons[j] = -1;
  ql_free(fill);
  return 0;
}

void vctx_free(vctx *c) {
  ql_strmap_free(&c->names);
  ql_free(c->vals);
  ql_free(c->decls);
  for (size_t i = 0; i < c->n_owned; i++) ql_tensor_free(c->owned[i]);
  ql_free(c->owned);
  ql_free(c->version);
  ql_free(c->cons_at);
  ql_free(c->cons);
  memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------- helpers */
int vrank(const vctx *c, int v) { return v < 0 ? -1 : c->vals[v].rank; }

int64_t vnumel(const vctx *c, int v) {
  if (v < 0) return -1;
  if (c->vals[v].value) return c->vals[v].value->numel;
  if (c->vals[v].rank < 0) return -1;
  int64_t n = 1;
  for (int i = 0; i < c->vals[v].rank; i++) {
    if (c->vals[v].dims[i] < 0) return -1;
    if (ql_mul_overflow_i64(n, c->vals[v].dims[i], &n)) return -1;
  }
  return n;
}

int64_t vdim(const vctx *c, int v, int i) {
  int r = vrank(c, v);
  if (r < 0) return -1;
  if (i < 0) i += r;
  if (i < 0 || i >= r) return -1;
  return c->vals[v].dims[i];
}

int vdecl_add(vctx *c, const vdecl *d) {
  if (d->tensor < 0) return -1;
  if (ql_grow((void **)&c->decls, &c->cap_decls, c->n_decls + 1, sizeof *c->decls)) {
    c->oom = 1;
    return -1;
  }
  c->decls[c->n_decls++] = *d;
  return 0;
}

int vuf_find(vctx *c, int v) {
  while (c->vals[v].uf != v) {
    c->vals[v].uf = c->vals[c->vals[v].uf].uf;
    v = c->vals[v].uf;
  }
  return v;
}

void vuf_union(vctx *c, int a, int b) {
  if (a < 0 || b < 0) return;
  a = vuf_find(c, a);
  b = vuf_find(c, b);
  if (a == b) return;
  /* the smaller index (usually the earlier tensor) stays the root */
  if (a < b) c->vals[b].uf = a;
  else c->vals[a].uf = b;
}

const char *vnode_label(const vctx *c, int node, char *buf, size_t n) {
  if (node < 0) return "";
  const ql_node *nd = c->g->nodes[node];
  if (nd->name && *nd->name) return nd->name;
  snprintf(buf, n, "#%d", node);
  return buf;
}

void vfmt_values(const ql_tensor *t, char *buf, size_t n) {
  if (!t) {
    snprintf(buf, n, "?");
    return;
  }
  size_t w = 0;
  int show = t->numel > 6 ? 4 : (int)t->numel;
  if (t->numel != 1 || t->rank > 0) w += (size_t)snprintf(buf + w, n - w, "[");
  for (int i = 0; i < show && w < n; i++) {
    double v = ql_tensor_get_f64(t, i);
    w += (size_t)snprintf(buf + w, n - w, "%s%.9g", i ? ", " : "", v);
  }
  if (w < n && t->numel > show) w += (size_t)snprintf(buf + w, n - w, ", ... (%lld values)", (long long)t->numel);
  if (w < n && (t->numel != 1 || t->rank > 0)) snprintf(buf + w, n - w, "]");
}

void vreport(vctx *c, const char *rule, ql_vseverity sev, int node, const char *tensor, const char *fmt, ...) {
  ql_vreport *r = c->rep;
  if (ql_grow((void **)&r->items, &r->cap, r->n + 1, sizeof *r->items)) {
    c->oom = 1;
    return;
  }
  char msg[1024], lbl[32];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ql_vfinding *f = &r->items[r->n];
  f->rule = rule;
  f->severity = sev;
  f->node = ql_strdup(vnode_label(c, node, lbl, sizeof lbl));
  f->op_type = ql_strdup(node >= 0 ? c->g->nodes[node]->op_type : "");
  f->tensor = ql_strdup(tensor ? tensor : "");
  f->message = ql_strdup(msg);
  if (!f->node || !f->op_type || !f->tensor || !f->message) {
    ql_free(f->node);
    ql_free(f->op_type);
    ql_free(f->tensor);
    ql_free(f->message);
    c->oom = 1;
    return;
  }
  r->n++;
  if (sev == QL_VERROR) r->n_errors++;
  else r->n_warnings++;
}

void ql_vreport_free(ql_vreport *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; i++) {
    ql_free(r->items[i].node);
    ql_free(r->items[i].op_type);
    ql_free(r->items[i].tensor);
    ql_free(r->items[i].message);
  }
  ql_free(r->items);
  memset(r, 0, sizeof *r);
}

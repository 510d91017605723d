/* Opset upgrade for quantization: QuantizeLinear/DequantizeLinear need
 * ai.onnx opset 10 and a per-axis DequantizeLinear needs 13, while real
 * float models are often older (MNIST is opset 8, PaddleOCR and UltraFace 9).
 * Most schema changes in between only widen types or allow negative axes;
 * those below change what an attribute is or what it means and are
 * rewritten. Anything else whose meaning changed is refused. */
#include "../ops/op.h"
#include "quant.h"

typedef struct {
  ql_model *m;
  const ql_ranges *ranges;
  ql_error *err;
  int apply; /* 0: only check */
  unsigned counter;
} up;

static ql_status add_i64_init(up *u, ql_graph *g, ql_node *n, const char *what, const int64_t *v, size_t cnt,
                              char **name_out) {
  char nm[512];
  snprintf(nm, sizeof nm, "%s_%s_%u", *n->name ? n->name : n->op_type, what, u->counter++);
  int64_t d = (int64_t)cnt;
  ql_tensor *t = ql_tensor_new(QL_INT64, 1, &d, u->err);
  if (!t) return u->err->code;
  if (cnt) memcpy(t->data, v, cnt * sizeof *v);
  if (!(t->name = ql_strdup(nm)) || ql_graph_add_init(g, t)) {
    ql_tensor_free(t);
    return ql_errf(u->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  *name_out = t->name;
  return QL_OK;
}

static ql_status add_f32_init(up *u, ql_graph *g, ql_node *n, const char *what, float v, char **name_out) {
  char nm[512];
  snprintf(nm, sizeof nm, "%s_%s_%u", *n->name ? n->name : n->op_type, what, u->counter++);
  ql_tensor *t = ql_tensor_new(QL_FLOAT, 0, NULL, u->err);
  if (!t) return u->err->code;
  ((float *)t->data)[0] = v;
  if (!(t->name = ql_strdup(nm)) || ql_graph_add_init(g, t)) {
    ql_tensor_free(t);
    return ql_errf(u->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  *name_out = t->name;
  return QL_OK;
}

static void drop_attr(ql_node *n, const char *name) {
  for (size_t i = 0; i < n->n_attrs; i++)
    if (!strcmp(n->attrs[i].name, name)) {
      ql_attr_clear(&n->attrs[i]);
      memmove(&n->attrs[i], &n->attrs[i + 1], (n->n_attrs - i - 1) * sizeof *n->attrs);
      n->n_attrs--;
      return;
    }
}

/* Sets input k (padding with "" inputs as needed). */
static int set_input(ql_node *n, size_t k, const char *name) {
  while (n->n_inputs <= k)
    if (ql_node_add_input(n, "")) return -1;
  char *d = ql_strdup(name);
  if (!d) return -1;
  ql_free(n->inputs[k]);
  n->inputs[k] = d;
  return 0;
}

/* attribute list -> int64 input k */
static ql_status ints_to_input(up *u, ql_graph *g, ql_node *n, const char *attr, size_t k) {
  size_t cnt;
  const int64_t *v = ql_attr_ints(n, attr, &cnt);
  if (!v) return QL_OK;
  if (!u->apply) return QL_OK;
  char *nm;
  ql_status st = add_i64_init(u, g, n, attr, v, cnt, &nm);
  if (st) return st;
  if (set_input(n, k, nm)) return ql_errf(u->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  drop_attr(n, attr);
  return QL_OK;
}

static ql_status convert_node(up *u, ql_graph *g, ql_node *n, int64_t from, int64_t to) {
  if (*ql_domain_canon(n->domain)) return QL_OK;
  int v0 = ql_op_schema_version("", n->op_type, from), v1 = ql_op_schema_version("", n->op_type, to);
  if (v0 == v1) return QL_OK;
  const char *op = n->op_type;
  if ((!strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze") || !strcmp(op, "ReduceSum")) && v0 < 13 && v1 >= 13)
    return ints_to_input(u, g, n, "axes", 1);
  if (!strcmp(op, "Split") && v0 < 13 && v1 >= 13) return ints_to_input(u, g, n, "split", 1);
  if (!strcmp(op, "Slice") && v0 < 10 && v1 >= 10) {
    ql_status st = QL_OK;
    if (!ql_node_attr(n, "starts") || !ql_node_attr(n, "ends"))
      return ql_errf(u->err, QL_ERR_INVALID_MODEL, "node '%s' (Slice): starts/ends missing", n->name);
    if (!(st = ints_to_input(u, g, n, "starts", 1)) && !(st = ints_to_input(u, g, n, "ends", 2)))
      st = ints_to_input(u, g, n, "axes", 3);
    return st;
  }
  if (!strcmp(op, "Pad") && v0 < 11 && v1 >= 11) {
    ql_status st = ints_to_input(u, g, n, "pads", 1);
    if (st || !u->apply) return st;
    const ql_attr *val = ql_node_attr(n, "value");
    if (val) {
      char *nm;
      if ((st = add_f32_init(u, g, n, "value", val->f, &nm))) return st;
      if (set_input(n, 2, nm)) return ql_errf(u->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      drop_attr(n, "value");
    }
    return QL_OK;
  }
  if (!strcmp(op, "Clip") && v0 < 11 && v1 >= 11) {
    if (!u->apply) return QL_OK;
    static const char *const names[2] = {"min", "max"};
    for (int k = 0; k < 2; k++) {
      const ql_attr *a = ql_node_attr(n, names[k]);
      if (!a) continue;
      char *nm;
      ql_status st = add_f32_init(u, g, n, names[k], a->f, &nm);
      if (st) return st;
      if (set_input(n, (size_t)k + 1, nm)) return ql_errf(u->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      drop_attr(n, names[k]);
    }
    return QL_OK;
  }
  if ((!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax")) && v0 < 13 && v1 >= 13) {
    /* before 13 the input is coerced to 2-D at `axis`; the same as the new
     * per-axis semantics exactly when axis is the last one */
    const ql_range *r = n->n_inputs && u->ranges ? ql_ranges_find(u->ranges, n->inputs[0]) : NULL;
    int64_t axis = ql_attr_int(n, "axis", 1);
    if (!r || !r->seen_float || (axis != -1 && axis != r->rank - 1))
      return ql_errf(u->err, QL_ERR_UNSUPPORTED, "node '%s' (%s): axis %lld is not the last axis; opset %lld -> %lld "
                     "would change its meaning", n->name, op, (long long)axis, (long long)from, (long long)to);
    if (u->apply) {
      drop_attr(n, "axis");
      ql_attr *a = ql_node_add_attr(n, "axis", QL_ATTR_INT);
      if (!a) return ql_errf(u->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      a->i = -1;
    }
    return QL_OK;
  }
  if ((!strcmp(op, "Resize") && v0 < 11) || !strcmp(op, "Upsample") || !strcmp(op, "Scan") ||
      (!strcmp(op, "Dropout") && v0 < 7))
    return ql_errf(u->err, QL_ERR_UNSUPPORTED, "node '%s' (%s): schema v%d -> v%d changes its meaning", n->name, op, v0,
                   v1);
  return QL_OK; /* type widening, negative axes, new optional inputs: same meaning */
}

static ql_status walk(up *u, ql_graph *g, int64_t from, int64_t to) {
  for (size_t i = 0; i < g->n_nodes; i++) {
    ql_node *n = g->nodes[i];
    ql_status st = convert_node(u, g, n, from, to);
    if (st) return st;
    for (size_t a = 0; a < n->n_attrs; a++)
      if (n->attrs[a].g && (st = walk(u, n->attrs[a].g, from, to))) return st;
  }
  return QL_OK;
}

ql_status ql_upgrade_opset(ql_model *m, int64_t target, const ql_ranges *ranges, ql_error *err) {
  int64_t from = ql_model_opset(m, "");
  if (from >= target) return QL_OK;
  if (from < 1) return ql_errf(err, QL_ERR_INVALID_MODEL, "the model imports no ai.onnx opset");
  up u = {.m = m, .ranges = ranges, .err = err};
  ql_status st = walk(&u, m->graph, from, target); /* check everything first: all or nothing */
  if (st) return st;
  u.apply = 1;
  if ((st = walk(&u, m->graph, from, target))) return st;
  for (size_t i = 0; i < m->n_opsets; i++)
    if (!*ql_domain_canon(m->opsets[i].domain)) m->opsets[i].version = target;
  int64_t ir = target >= 13 ? 7 : target >= 11 ? 6 : 5; /* the IR each opset came with */
  if (m->ir_version < ir) m->ir_version = ir;
  return QL_OK;
}

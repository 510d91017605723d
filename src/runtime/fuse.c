/* QDQ fusion: see fuse.h. Works on names only (values are not computed
 * here): parameters must be initializers or Constant nodes so their values
 * can be checked now; the weights and the bias may also be QuantizeLinear
 * outputs of constants, which the session folds before the fused node's
 * prepare() packs them. */
#include "fuse.h"

#include "../common/strmap.h"
#include "../common/util.h"
#include <math.h>
#include <string.h>

typedef struct fuser {
  ql_graph *g;
  ql_strmap prod;    /* value -> index of the node making it */
  ql_strmap readers; /* value -> number of readers (graph outputs count) */
  int64_t opset;
} fuser;

static int readers(const fuser *f, const char *name) {
  const int r = ql_strmap_get(&f->readers, name);
  return r < 0 ? 0 : r;
}

static int add_reader(ql_strmap *m, const char *name) {
  if (!name[0]) return 0;
  const int r = ql_strmap_get(m, name);
  return ql_strmap_put(m, name, r < 0 ? 1 : r + 1);
}

/* Every value a nested graph reads counts as read (outer-scope capture). */
static int add_subgraph_readers(ql_strmap *m, const ql_graph *g) {
  for (size_t i = 0; i < g->n_nodes; i++) {
    const ql_node *n = g->nodes[i];
    for (size_t k = 0; k < n->n_inputs; k++)
      if (add_reader(m, n->inputs[k])) return -1;
    for (size_t a = 0; a < n->n_attrs; a++) {
      const ql_attr *at = &n->attrs[a];
      if (at->g && add_subgraph_readers(m, at->g)) return -1;
      for (size_t j = 0; at->graphs && j < at->n; j++)
        if (add_subgraph_readers(m, at->graphs[j])) return -1;
    }
  }
  for (size_t i = 0; i < g->n_outputs; i++)
    if (add_reader(m, g->outputs[i].name)) return -1;
  return 0;
}

static ql_node *producer(const fuser *f, const char *name) {
  const int i = name[0] ? ql_strmap_get(&f->prod, name) : -1;
  return i < 0 ? NULL : f->g->nodes[i];
}

static int is_op(const ql_node *n, const char *op) {
  return n && !strcmp(n->op_type, op) && !strcmp(ql_domain_canon(n->domain), "");
}

static const char *in_name(const ql_node *n, size_t i) {
  return i < n->n_inputs ? n->inputs[i] : "";
}

/* The value of an initializer or Constant(value=tensor); NULL otherwise. */
static const ql_tensor *const_value(const fuser *f, const char *name) {
  if (!name[0]) return NULL;
  const ql_tensor *t = ql_graph_find_init(f->g, name);
  if (t) return t;
  const ql_node *p = producer(f, name);
  if (!is_op(p, "Constant") || p->n_attrs != 1 || strcmp(p->attrs[0].name, "value") ||
      p->attrs[0].type != QL_ATTR_TENSOR)
    return NULL;
  return p->attrs[0].t;
}

static int is_8bit(ql_dtype t) {
  return t == QL_UINT8 || t == QL_INT8;
}

/* Only attributes whose defaults keep a Q/DQ node a plain per-tensor or
 * per-axis affine map (opset 21+ adds block_size, output_dtype, ...). */
static int plain_qdq_attrs(const ql_node *n) {
  for (size_t a = 0; a < n->n_attrs; a++) {
    const ql_attr *at = &n->attrs[a];
    if (!strcmp(at->name, "axis")) continue;
    if (!strcmp(at->name, "saturate")) continue; /* float8 only */
    if (!strcmp(at->name, "block_size") && at->type == QL_ATTR_INT && at->i == 0) continue;
    return 0;
  }
  return 1;
}

/* DQ(v) with constant scale/zero point: its quantized input's element type
 * (from the zero point, which must be given), scale and zero point. */
typedef struct dq_info {
  const ql_node *node;
  const char *q, *scale, *zp; /* input names */
  const ql_tensor *s, *z;
  ql_dtype type;
} dq_info;

static int get_dq(const fuser *f, const char *value, dq_info *d) {
  memset(d, 0, sizeof *d);
  const ql_node *n = producer(f, value);
  if (!is_op(n, "DequantizeLinear") || f->opset < 10 || !plain_qdq_attrs(n)) return 0;
  d->node = n;
  d->q = in_name(n, 0);
  d->scale = in_name(n, 1);
  d->zp = in_name(n, 2);
  d->s = const_value(f, d->scale);
  d->z = const_value(f, d->zp);
  if (!d->s || d->s->dtype != QL_FLOAT || !d->z || d->z->numel != d->s->numel) return 0;
  d->type = d->z->dtype;
  return 1;
}

/* A per-tensor 8-bit activation DQ. */
static int act_dq(const dq_info *d) {
  return is_8bit(d->type) && d->s->numel == 1;
}

/* Element type and dims of a constant weight: a constant, or the output of
 * QuantizeLinear(constant, constant scale, constant zero point). */
static int weight_info(const fuser *f, const char *name, ql_dtype *type, int *rank, int64_t *dims) {
  const ql_tensor *t = const_value(f, name);
  if (!t) {
    const ql_node *q = producer(f, name);
    if (!is_op(q, "QuantizeLinear") || !plain_qdq_attrs(q)) return 0;
    const ql_tensor *x = const_value(f, in_name(q, 0)), *s = const_value(f, in_name(q, 1));
    const ql_tensor *z = const_value(f, in_name(q, 2));
    if (!x || !s || !z) return 0;
    *type = z->dtype;
    *rank = x->rank;
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    return 1;
  }
  *type = t->dtype;
  *rank = t->rank;
  memcpy(dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
  return 1;
}

/* A weight DQ: 8-bit, per tensor or per `axis` (n_axis values on it). */
static int weight_dq(const fuser *f, const dq_info *d, int want_axis, ql_dtype *wt, int *rank, int64_t *dims) {
  if (!is_8bit(d->type) || !weight_info(f, d->q, wt, rank, dims) || *wt != d->type) return 0;
  if (d->s->numel == 1) return 1;
  int64_t axis = ql_attr_int(d->node, "axis", 1);
  if (axis < 0) axis += *rank;
  return axis == want_axis && d->s->rank == 1 && want_axis < *rank && d->s->numel == dims[want_axis];
}

/* All-zero zero point, any integer type. */
static int zero_zp(const ql_tensor *z) {
  for (int64_t i = 0; z && i < z->numel; i++)
    if (ql_load_i64(z->dtype, z->data, i)) return 0;
  return 1;
}

/* Bias DQ: int32, zero point 0 (or none), scale x_scale * w_scale[m] as
 * float32 (1e-6 relative slack: quantizers compute it in float64). */
static int bias_ok(const fuser *f, const char *name, float xs, const ql_tensor *ws, int64_t M) {
  const ql_node *n = producer(f, name);
  if (!is_op(n, "DequantizeLinear") || !plain_qdq_attrs(n)) return 0;
  const ql_tensor *s = const_value(f, in_name(n, 1)), *z = const_value(f, in_name(n, 2));
  if (in_name(n, 2)[0] && !z) return 0;
  ql_dtype bt;
  int rank;
  int64_t dims[QL_MAX_RANK];
  if (!s || s->dtype != QL_FLOAT || !zero_zp(z) || !weight_info(f, in_name(n, 0), &bt, &rank, dims)) return 0;
  if (bt != QL_INT32 || rank != 1 || dims[0] != M || (z && z->dtype != QL_INT32)) return 0;
  if (s->numel != 1 && s->numel != M) return 0;
  for (int64_t m = 0; m < M; m++) {
    const float want = xs * ((const float *)ws->data)[ws->numel == 1 ? 0 : m];
    const float got = ((const float *)s->data)[s->numel == 1 ? 0 : m];
    if (!(fabsf(got - want) <= 1e-6f * fabsf(want))) return 0;
  }
  return 1;
}

/* Q(v): per-tensor 8-bit with constant params. */
static int get_q(const fuser *f, const ql_node *q, dq_info *d) {
  memset(d, 0, sizeof *d);
  if (!plain_qdq_attrs(q)) return 0;
  d->scale = in_name(q, 1);
  d->zp = in_name(q, 2);
  d->s = const_value(f, d->scale);
  d->z = const_value(f, d->zp);
  if (!d->s || d->s->dtype != QL_FLOAT || d->s->numel != 1 || !d->z || d->z->numel != 1 || !is_8bit(d->z->dtype))
    return 0;
  d->type = d->z->dtype;
  return 1;
}

static int add_inputs(ql_node *n, const char *const *names, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (ql_node_add_input(n, names[i])) return -1;
  return 0;
}

/* Tries to fuse around the QuantizeLinear at index qi; returns 1 when the
 * graph changed (nodes in `dead` marked), 0 when not, -1 out of memory. */
static int fuse_at(fuser *f, size_t qi, unsigned char *dead, ql_node **olds, size_t *n_olds) {
  ql_node *q = f->g->nodes[qi];
  dq_info yq;
  if (!get_q(f, q, &yq)) return 0;
  ql_node *op = producer(f, in_name(q, 0)), *relu = NULL;
  if (is_op(op, "Relu") && readers(f, op->outputs[0]) == 1) {
    relu = op;
    op = producer(f, in_name(relu, 0));
  }
  const int conv = is_op(op, "Conv");
  if (!conv && (relu || !is_op(op, "MatMul"))) return 0;
  if (op->n_outputs != 1 || readers(f, op->outputs[0]) != 1 || f->opset < 10) return 0;
  dq_info dx, dw;
  ql_dtype wt;
  int wrank;
  int64_t wd[QL_MAX_RANK];
  if (!get_dq(f, in_name(op, 0), &dx) || !act_dq(&dx) || !get_dq(f, in_name(op, 1), &dw)) return 0;
  if (!weight_dq(f, &dw, conv ? 0 : 1, &wt, &wrank, wd)) return 0;
  ql_node *nn;
  if (conv) {
    if (wrank < 3) return 0;
    const char *bias = in_name(op, 2);
    if (bias[0] && !bias_ok(f, bias, ((const float *)dx.s->data)[0], dw.s, wd[0])) return 0;
    nn = ql_node_new("QLinearConv", "", op->name);
    if (!nn) return -1;
    const char *ins[8] = {dx.q, dx.scale, dx.zp, dw.q, dw.scale, dw.zp, yq.scale, yq.zp};
    if (add_inputs(nn, ins, 8) || (bias[0] && ql_node_add_input(nn, in_name(producer(f, bias), 0)))) goto oom;
    for (size_t a = 0; a < op->n_attrs; a++) { /* Conv's window attributes mean the same here */
      ql_attr *dst = ql_node_add_attr(nn, op->attrs[a].name, op->attrs[a].type);
      if (!dst) goto oom;
      const ql_attr *src = &op->attrs[a];
      dst->i = src->i;
      dst->f = src->f;
      if (src->s && !(dst->s = ql_strdup(src->s))) goto oom;
      dst->slen = src->slen;
      if (src->ints) {
        if (!(dst->ints = ql_malloc(src->n * sizeof *dst->ints + 1))) goto oom;
        memcpy(dst->ints, src->ints, src->n * sizeof *dst->ints);
        dst->n = src->n;
      }
      if (src->t || src->g || src->floats || src->strings || src->tensors || src->graphs || src->ref_attr_name) {
        ql_node_free(nn);
        return 0; /* not a Conv attribute we know */
      }
    }
    if (relu) {
      ql_attr *r = ql_node_add_attr(nn, QL_FUSED_RELU_ATTR, QL_ATTR_INT);
      if (!r) goto oom;
      r->i = 1;
    }
  } else {
    if (wrank != 2) return 0;
    nn = ql_node_new("QLinearMatMul", "", op->name);
    if (!nn) return -1;
    const char *ins[8] = {dx.q, dx.scale, dx.zp, dw.q, dw.scale, dw.zp, yq.scale, yq.zp};
    if (add_inputs(nn, ins, 8)) goto oom;
  }
  if (ql_node_add_output(nn, q->outputs[0])) goto oom;
  /* the fused node takes the Q's place; Conv/MatMul (and Relu) go */
  const int op_i = ql_strmap_get(&f->prod, op->outputs[0]);
  dead[op_i] = 1;
  if (relu) dead[ql_strmap_get(&f->prod, relu->outputs[0])] = 1;
  olds[(*n_olds)++] = q; /* freed at the end: the maps borrow its names */
  f->g->nodes[qi] = nn;
  return 1;
oom:
  ql_node_free(nn);
  return -1;
}

static ql_status build_maps(fuser *f) {
  ql_strmap_free(&f->prod);
  ql_strmap_free(&f->readers);
  memset(&f->prod, 0, sizeof f->prod);
  memset(&f->readers, 0, sizeof f->readers);
  ql_graph *g = f->g;
  for (size_t i = 0; i < g->n_nodes; i++) {
    const ql_node *n = g->nodes[i];
    for (size_t k = 0; k < n->n_outputs; k++)
      if (n->outputs[k][0] && ql_strmap_put(&f->prod, n->outputs[k], (int)i)) return QL_ERR_OUT_OF_MEMORY;
    for (size_t k = 0; k < n->n_inputs; k++)
      if (add_reader(&f->readers, n->inputs[k])) return QL_ERR_OUT_OF_MEMORY;
    for (size_t a = 0; a < n->n_attrs; a++) {
      const ql_attr *at = &n->attrs[a];
      if (at->g && add_subgraph_readers(&f->readers, at->g)) return QL_ERR_OUT_OF_MEMORY;
      for (size_t j = 0; at->graphs && j < at->n; j++)
        if (add_subgraph_readers(&f->readers, at->graphs[j])) return QL_ERR_OUT_OF_MEMORY;
    }
  }
  for (size_t i = 0; i < g->n_outputs; i++)
    if (add_reader(&f->readers, g->outputs[i].name)) return QL_ERR_OUT_OF_MEMORY;
  return QL_OK;
}

/* Drops the marked nodes, then DequantizeLinear nodes nothing reads any
 * more (they only fed what was fused), and compacts the node list. */
static ql_status sweep(fuser *f, unsigned char *dead) {
  ql_graph *g = f->g;
  size_t w = 0;
  for (size_t i = 0; i < g->n_nodes; i++) {
    if (dead[i]) ql_node_free(g->nodes[i]);
    else g->nodes[w++] = g->nodes[i];
  }
  g->n_nodes = w;
  for (;;) { /* DQ readers are gone now: recount */
    ql_status st = build_maps(f);
    if (st) return st;
    /* decide first, free after: the maps' keys point into the nodes */
    int removed = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
      ql_node *n = g->nodes[i];
      dead[i] = is_op(n, "DequantizeLinear") && n->n_outputs == 1 && !readers(f, n->outputs[0]);
      removed |= dead[i];
    }
    if (!removed) return QL_OK;
    w = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
      if (dead[i]) ql_node_free(g->nodes[i]);
      else g->nodes[w++] = g->nodes[i];
    }
    g->n_nodes = w;
  }
}

ql_status ql_fuse_qdq(const ql_model *m, ql_graph *g, ql_error *err) {
  fuser f = {.g = g, .opset = ql_model_opset(m, "")};
  ql_status st = QL_OK;
  unsigned char *dead = NULL;
  ql_node **olds = NULL;
  size_t n_olds = 0;
  if (f.opset < 10 || !g->n_nodes) return QL_OK;
  if ((st = build_maps(&f))) goto out;
  if (!(dead = ql_calloc(g->n_nodes, 1)) || !(olds = ql_calloc(g->n_nodes, sizeof *olds))) {
    st = QL_ERR_OUT_OF_MEMORY;
    goto out;
  }
  int changed = 0;
  for (size_t i = 0; i < g->n_nodes; i++) {
    if (dead[i] || !is_op(g->nodes[i], "QuantizeLinear")) continue;
    const int r = fuse_at(&f, i, dead, olds, &n_olds);
    if (r < 0) {
      st = QL_ERR_OUT_OF_MEMORY;
      goto out;
    }
    changed |= r;
  }
  if (changed) st = sweep(&f, dead);
out:
  ql_strmap_free(&f.prod);
  ql_strmap_free(&f.readers);
  for (size_t i = 0; i < n_olds; i++) ql_node_free(olds[i]);
  ql_free(olds);
  ql_free(dead);
  if (st) return ql_errf(err, st, "QDQ fusion: out of memory");
  return QL_OK;
}

/* Dynamic-quantization fusion (fuse.h): onnxruntime.quantization's dynamic
 * mode writes, for each MatMul with a constant weight,
 *
 *   xq, xs, xzp = DynamicQuantizeLinear(x)
 *   acc = MatMulInteger(xq, B, xzp [, b_zp])      B constant int8/uint8 2-D
 *   s   = Mul(xs, b_scale)                        b_scale constant float32
 *   y   = Mul(Cast(acc, to=float), s)
 *
 * which is, to the bit, com.microsoft DynamicQuantizeMatMul(x, B, b_scale
 * [, b_zp]) as its reference (src/ops/ms-qmath.c) computes it: the same
 * dynamic quantization of x (the ONNX and ORT formulas agree, see
 * src/kernels/dynq.h), the exact int32 product, the int32 -> float32 cast
 * (RNE), and one float32 multiply by the float32 product xs * b_scale[n]
 * (both Muls are commutative, so the operand order does not matter). That
 * op has a packed-B fast path, so the chain becomes one node. Conditions:
 * acc and the Cast output have no other reader (DynamicQuantizeLinear and
 * the scale Mul stay while anything else reads them); B, b_scale and b_zp are
 * initializers or Constant nodes; b_scale and b_zp are per tensor or 1-D per
 * column (so the final Mul's broadcast cannot change the output shape);
 * b_zp has B's type. Anything else is left as it is. A following
 * Add(y, bias) with a constant float32 [N] bias, y's only reader, becomes
 * the op's bias input (the reference adds it after the multiply, as the
 * Add does). */
#include "fuse.h"
#include "fuse-util.h"

#include "../common/strmap.h"
#include "../common/util.h"
#include <string.h>

typedef struct dfuser {
  ql_graph *g;
  ql_strmap prod;    /* value -> index of the node making it */
  ql_strmap readers; /* value -> number of readers (graph outputs count) */
} dfuser;

static int readers(const dfuser *f, const char *name) { return ql_fuse_readers(&f->readers, name); }
static ql_node *producer(const dfuser *f, const char *name) { return ql_fuse_producer(f->g, &f->prod, name); }
static int producer_index(const dfuser *f, const char *name) { return ql_fuse_producer_index(&f->prod, name); }
static const ql_tensor *const_value(const dfuser *f, const char *name) {
  return ql_fuse_const_value(f->g, &f->prod, name);
}
static ql_status build_maps(dfuser *f) { return ql_fuse_build_maps(f->g, &f->prod, &f->readers, NULL); }

/* Per tensor (one element, rank <= 1) or 1-D with n elements. */
static int col_param(const ql_tensor *t, int64_t n) {
  return t->rank <= 1 && (t->numel == 1 || (t->rank == 1 && t->dims[0] == n));
}

/* Only `to` (and Cast-19's `saturate`, which float outputs ignore). */
static int cast_to_float(const ql_node *c) {
  if (!ql_fuse_is_op(c, "Cast") || c->n_inputs != 1 || c->n_outputs != 1) return 0;
  int to = 0;
  for (size_t a = 0; a < c->n_attrs; a++) {
    const ql_attr *at = &c->attrs[a];
    if (!strcmp(at->name, "to") && at->type == QL_ATTR_INT && at->i == QL_FLOAT) to = 1;
    else if (strcmp(at->name, "saturate")) return 0;
  }
  return to;
}

static int plain_binary(const ql_node *n, const char *op) {
  return ql_fuse_is_op(n, op) && n->n_inputs == 2 && n->n_outputs == 1 && n->n_attrs == 0;
}

typedef struct chain {
  ql_node *mmi, *cast, *smul, *dql;
  const char *b_scale;
  int add;            /* index of a bias Add(y, bias) to take in, or -1 */
  const char *bias;
} chain;

/* A bias Add(y, bias) (either order) that is y's only reader, with a
 * constant float32 [N] bias: DynamicQuantizeMatMul adds it the same way
 * (one float32 add after the multiply). */
static void find_bias(const dfuser *f, const ql_node *mul, int64_t n, chain *ch) {
  ch->add = -1;
  const char *y = mul->outputs[0];
  if (readers(f, y) != 1) return;
  for (size_t i = 0; i < f->g->n_nodes; i++) {
    const ql_node *a = f->g->nodes[i];
    if (!plain_binary(a, "Add")) continue;
    const int o = !strcmp(a->inputs[0], y) ? 0 : !strcmp(a->inputs[1], y) ? 1 : -1;
    if (o < 0) continue;
    const ql_tensor *bias = const_value(f, a->inputs[1 - o]);
    if (bias && bias->dtype == QL_FLOAT && bias->rank == 1 && bias->dims[0] == n) {
      ch->add = (int)i;
      ch->bias = a->inputs[1 - o];
    }
    return;
  }
}

/* The chain ending in the Mul at index mi, if it matches. */

static int match(const dfuser *f, size_t mi, chain *ch) {
  const ql_node *mul = f->g->nodes[mi];
  if (!plain_binary(mul, "Mul")) return 0;
  for (int o = 0; o < 2; o++) {
    memset(ch, 0, sizeof *ch);
    ch->cast = producer(f, mul->inputs[o]);
    ch->smul = producer(f, mul->inputs[1 - o]);
    if (!cast_to_float(ch->cast) || readers(f, ch->cast->outputs[0]) != 1 || !plain_binary(ch->smul, "Mul")) continue;
    ch->mmi = producer(f, ch->cast->inputs[0]);
    if (!ql_fuse_is_op(ch->mmi, "MatMulInteger") || ch->mmi->n_outputs != 1 || ch->mmi->n_attrs ||
        readers(f, ch->mmi->outputs[0]) != 1 || ch->mmi->n_inputs < 3 || ch->mmi->n_inputs > 4)
      continue;
    ch->dql = producer(f, ql_fuse_in_name(ch->mmi, 0));
    if (!ql_fuse_is_op(ch->dql, "DynamicQuantizeLinear") || ch->dql->n_inputs != 1 || ch->dql->n_outputs != 3 ||
        ch->dql->n_attrs || strcmp(ch->dql->outputs[0], ch->mmi->inputs[0]) ||
        strcmp(ch->dql->outputs[2], ch->mmi->inputs[2]) || !ch->dql->outputs[1][0])
      continue;
    /* s = Mul(xs, b_scale) in either order */
    const char *xs = ch->dql->outputs[1];
    if (!strcmp(ch->smul->inputs[0], xs)) ch->b_scale = ch->smul->inputs[1];
    else if (!strcmp(ch->smul->inputs[1], xs)) ch->b_scale = ch->smul->inputs[0];
    else continue;
    const ql_tensor *b = const_value(f, ch->mmi->inputs[1]), *bs = const_value(f, ch->b_scale);
    const char *bzn = ql_fuse_in_name(ch->mmi, 3);
    const ql_tensor *bz = const_value(f, bzn);
    if (!b || b->rank != 2 || (b->dtype != QL_INT8 && b->dtype != QL_UINT8) || !bs || bs->dtype != QL_FLOAT)
      continue;
    const int64_t n = b->dims[1];
    if (!col_param(bs, n) || (bzn[0] && (!bz || bz->dtype != b->dtype || !col_param(bz, n)))) continue;
    find_bias(f, mul, n, ch);
    return 1;
  }
  return 0;
}

/* The fused node for a matched chain; NULL when out of memory. */
static ql_node *make_node(const ql_node *mul, const ql_node *add, const chain *ch) {
  ql_node *nn = ql_node_new("DynamicQuantizeMatMul", "com.microsoft", ch->mmi->name);
  if (!nn) return NULL;
  const char *bzn = ql_fuse_in_name(ch->mmi, 3);
  const ql_node *last = ch->add >= 0 ? add : mul;
  if (ql_node_add_input(nn, ch->dql->inputs[0]) || ql_node_add_input(nn, ch->mmi->inputs[1]) ||
      ql_node_add_input(nn, ch->b_scale) || ((bzn[0] || ch->add >= 0) && ql_node_add_input(nn, bzn)) ||
      (ch->add >= 0 && ql_node_add_input(nn, ch->bias)) || ql_node_add_output(nn, last->outputs[0])) {
    ql_node_free(nn);
    return NULL;
  }
  return nn;
}

/* Removes the nodes marked 1 in dead, then (recounting readers) the
 * candidates marked 2 none of whose outputs anything reads any more. */
static ql_status sweep(dfuser *f, unsigned char *dead) {
  ql_graph *g = f->g;
  for (size_t i = 0; i < g->n_nodes; i++)
    if (dead[i] == 1) { /* drop its reads before counting */
      ql_node_free(g->nodes[i]);
      g->nodes[i] = NULL;
    }
  size_t w = 0;
  for (size_t i = 0; i < g->n_nodes; i++)
    if (g->nodes[i]) {
      dead[w] = dead[i];
      g->nodes[w++] = g->nodes[i];
    }
  g->n_nodes = w;
  for (;;) { /* the scale Mul reads the DynamicQuantizeLinear: repeat */
    ql_status st = build_maps(f);
    if (st) return st;
    /* decide first, free after: the maps' keys point into the nodes */
    int removed = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
      if (dead[i] != 2) continue;
      const ql_node *n = g->nodes[i];
      int read = 0;
      for (size_t k = 0; k < n->n_outputs; k++) read |= readers(f, n->outputs[k]) > 0;
      if (!read) dead[i] = 1, removed = 1;
    }
    ql_fuse_maps_clear(&f->prod, &f->readers);
    if (!removed) break;
    w = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
      if (dead[i] == 1) {
        ql_node_free(g->nodes[i]);
      } else {
        dead[w] = dead[i];
        g->nodes[w++] = g->nodes[i];
      }
    }
    g->n_nodes = w;
  }
  return QL_OK;
}

ql_status ql_fuse_dynamic(const ql_model *m, ql_graph *g, ql_error *err) {
  dfuser f = {.g = g};
  ql_status st = QL_OK;
  unsigned char *dead = NULL;
  ql_node **olds = NULL;
  size_t n_olds = 0;
  if (ql_model_opset(m, "") < 11 || !g->n_nodes) return QL_OK; /* DynamicQuantizeLinear is opset 11 */
  if ((st = build_maps(&f))) goto out;
  if (!(dead = ql_calloc(g->n_nodes, 1)) || !(olds = ql_calloc(g->n_nodes, sizeof *olds))) {
    st = QL_ERR_OUT_OF_MEMORY;
    goto out;
  }
  for (size_t i = 0; i < g->n_nodes; i++) {
    chain ch;
    if (dead[i] || !match(&f, i, &ch)) continue;
    ql_node *nn = make_node(g->nodes[i], ch.add >= 0 ? g->nodes[ch.add] : NULL, &ch);
    if (!nn) {
      st = QL_ERR_OUT_OF_MEMORY;
      goto out;
    }
    /* the fused node takes the place of the last node it replaces, the
     * final Mul or the bias Add (everything it reads is made before that);
     * the maps borrow names of the old node: free it at the end */
    const size_t at = ch.add >= 0 ? (size_t)ch.add : i;
    if (at != i) dead[i] = 1;
    dead[producer_index(&f, ch.mmi->outputs[0])] = 1;
    dead[producer_index(&f, ch.cast->outputs[0])] = 1;
    const int si = producer_index(&f, ch.smul->outputs[0]), di = producer_index(&f, ch.dql->outputs[0]);
    if (!dead[si]) dead[si] = 2;
    if (!dead[di]) dead[di] = 2;
    olds[n_olds++] = g->nodes[at];
    g->nodes[at] = nn;
  }
  if (n_olds) st = sweep(&f, dead);
out:
  ql_strmap_free(&f.prod);
  ql_strmap_free(&f.readers);
  for (size_t i = 0; i < n_olds; i++) ql_node_free(olds[i]);
  ql_free(olds);
  ql_free(dead);
  if (st) return ql_errf(err, st, "dynamic-quantization fusion: out of memory");
  return QL_OK;
}

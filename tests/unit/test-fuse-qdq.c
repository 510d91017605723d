/* QDQ fusion (src/runtime/fuse.c):
 *  - hand-worked Conv -> LeakyRelu -> Q with an int8 bias of its own scale
 *    (values computed by hand below) through the fused QLinearConv, on the
 *    reference path and every fast ISA at 1 and 2 threads;
 *  - the bias requantization (hand-computed RNE of b / (x_scale * w_scale));
 *  - the exact rewrites: Q moved ahead of Concat/Transpose/Resize, Q(DQ(x))
 *    cancelled, Shape(DQ(x)); the graph they leave and the fused session
 *    against the reference (unfused) session, byte for byte;
 *  - what must not fuse (a second reader of the Conv output);
 *  - a per-channel QDQ model from ONNX Runtime's quantizer
 *    (tests/data/fuse-qdq/gen.py) against ONNX Runtime's output: the model
 *    on which fuse.c once read freed DQ nodes (commit 105d5a6; run this
 *    under the ASan build). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "ir/ir.h"
#include "kernels/qgemm.h"
#include "runtime/fuse.h"
#include "graph-build.h"

static const char *const isas[] = {"scalar", "avx2", "avxvnni", "avx512vnni", "amx"};

/* ------------------------------------------------------------ building */

static ql_node *node(ql_model *m, const char *op, const char *a, const char *b, const char *c, const char *out) {
  ql_node *n = ql_node_new(op, "", out);
  const char *in[3] = {a, b, c};
  for (int i = 0; i < 3 && in[i]; i++) ql_node_add_input(n, in[i]);
  ql_node_add_output(n, out);
  ql_graph_add_node(m->graph, n);
  return n;
}

static void attr_i(ql_node *n, const char *name, int64_t v) {
  ql_node_add_attr(n, name, QL_ATTR_INT)->i = v;
}
static void attr_f(ql_node *n, const char *name, float v) {
  ql_node_add_attr(n, name, QL_ATTR_FLOAT)->f = v;
}
static void attr_s(ql_node *n, const char *name, const char *v) {
  ql_attr *a = ql_node_add_attr(n, name, QL_ATTR_STRING);
  a->s = ql_strdup(v);
  a->slen = strlen(v);
}
static void attr_ints(ql_node *n, const char *name, const int64_t *v, size_t count) {
  ql_attr *a = ql_node_add_attr(n, name, QL_ATTR_INTS);
  a->ints = ql_malloc(count * sizeof *v + 1);
  memcpy(a->ints, v, count * sizeof *v);
  a->n = count;
}

static void init_f(ql_model *m, const char *name, int rank, const int64_t *dims, const float *v) {
  ql_tensor *t = ql_tensor_new(QL_FLOAT, rank, dims, NULL);
  for (int64_t i = 0; i < t->numel; i++) ((float *)t->data)[i] = v[i];
  add_const(m, name, t);
}
static void init_i8(ql_model *m, const char *name, int rank, const int64_t *dims, const int8_t *v) {
  ql_tensor *t = ql_tensor_new(QL_INT8, rank, dims, NULL);
  memcpy(t->data, v, (size_t)t->numel);
  add_const(m, name, t);
}
static void init_u8(ql_model *m, const char *name, int rank, const int64_t *dims, const uint8_t *v) {
  ql_tensor *t = ql_tensor_new(QL_UINT8, rank, dims, NULL);
  memcpy(t->data, v, (size_t)t->numel);
  add_const(m, name, t);
}
static void scale(ql_model *m, const char *name, float s) { init_f(m, name, 0, NULL, &s); }
static void zp8(ql_model *m, const char *name, int8_t z) { init_i8(m, name, 0, NULL, &z); }

/* ------------------------------------------------------------ running */

/* The reference session and every fast configuration give `want` (when
 * given) or else the same bytes as the reference. */
static void check_all(const ql_model *m, const ql_tensor *x, const float *want, const char *what) {
  ql_session_options ref = {.threads = 1, .reference_only = 1};
  ql_tensor *r = run1(m, x, &ref);
  if (want)
    for (int64_t i = 0; i < r->numel; i++)
      if (((const float *)r->data)[i] != want[i])
        fail_msg("%s: reference element %lld is %g, expected %g", what, (long long)i, ((const float *)r->data)[i],
                 want[i]);
  for (int i = 0; i < QL_ISA_COUNT; i++) {
    if (!ql_isa_supported((ql_isa)i)) continue;
    for (int th = 1; th <= 2; th++) {
      ql_session_options o = {.threads = th, .isa = isas[i]};
      ql_tensor *y = run1(m, x, &o);
      assert_int_equal(y->numel, r->numel);
      if (memcmp(y->data, r->data, (size_t)r->numel * ql_dtype_size(r->dtype)))
        fail_msg("%s: fused output differs from the reference on %s, %d threads", what, isas[i], th);
      ql_tensor_free(y);
    }
  }
  ql_tensor_free(r);
}

/* A copy of m's graph after the fusion. */
static ql_graph *fused(const ql_model *m) {
  ql_graph *g = ql_graph_clone(m->graph);
  ql_error e = {0};
  assert_int_equal(ql_fuse_qdq(m, g, &e), QL_OK);
  return g;
}

static int count(const ql_graph *g, const char *op) {
  int c = 0;
  for (size_t i = 0; i < g->n_nodes; i++) c += !strcmp(g->nodes[i]->op_type, op);
  return c;
}

static const ql_node *find(const ql_graph *g, const char *op) {
  for (size_t i = 0; i < g->n_nodes; i++)
    if (!strcmp(g->nodes[i]->op_type, op)) return g->nodes[i];
  return NULL;
}

static ql_tensor *input(int rank, const int64_t *dims, const float *v) {
  ql_tensor *x = ql_tensor_new(QL_FLOAT, rank, dims, NULL);
  memcpy(x->data, v, (size_t)x->numel * sizeof *v);
  x->name = ql_strdup("x");
  return x;
}

/* ------------------------------------------------------------ LeakyRelu */

/* x -> Q(0.5) -> DQ -> Conv(W = DQ(Q(w, 0.125)), B = DQ(Q(b, 0.25)))
 *   -> LeakyRelu(0.25) -> Q(0.25) -> DQ -> y, all int8 with zero point 0.
 * x = [2, -3] (q [4, -6]); w = [1, -0.5] (q [8, -4]); b = [0.75, -1]
 * (q [3, -4], int32 at 0.5 * 0.125: [12, -16]). By hand:
 *   conv   ch0 [2.75, -2.25]  ch1 [-2, 0.5]
 *   leaky  ch0 [2.75, -0.5625] ch1 [-0.5, 0.5]
 *   Q/DQ   ch0 [2.75, -0.5]   ch1 [-0.5, 0.5]  (-2.25 steps rounds to -2) */
static ql_model *leaky_model(int depthwise) {
  ql_model *m = new_model(13);
  ql_graph *g = m->graph;
  add_vi(&g->inputs, &g->n_inputs, "x", QL_FLOAT);
  add_vi(&g->outputs, &g->n_outputs, "y", QL_FLOAT);
  scale(m, "xs", 0.5f);
  scale(m, "ws", 0.125f);
  scale(m, "bs", 0.25f);
  scale(m, "ys", 0.25f);
  zp8(m, "z", 0);
  const int64_t wd[4] = {2, 1, 1, 1}, bd[1] = {2};
  const float w[2] = {1.0f, -0.5f}, b[2] = {0.75f, -1.0f};
  init_f(m, "w", 4, wd, w);
  init_f(m, "b", 1, bd, b);
  node(m, "QuantizeLinear", "x", "xs", "z", "xq");
  node(m, "DequantizeLinear", "xq", "xs", "z", "xd");
  node(m, "QuantizeLinear", "w", "ws", "z", "wq");
  node(m, "DequantizeLinear", "wq", "ws", "z", "wd");
  node(m, "QuantizeLinear", "b", "bs", "z", "bq");
  node(m, "DequantizeLinear", "bq", "bs", "z", "bd");
  ql_node *c = node(m, "Conv", "xd", "wd", "bd", "c");
  if (depthwise) attr_i(c, "group", 2); /* x has 2 channels then */
  attr_f(node(m, "LeakyRelu", "c", NULL, NULL, "l"), "alpha", 0.25f);
  node(m, "QuantizeLinear", "l", "ys", "z", "yq");
  node(m, "DequantizeLinear", "yq", "ys", "z", "y");
  return m;
}

static void test_conv_leaky(void **st) {
  (void)st;
  ql_model *m = leaky_model(0);
  ql_graph *g = fused(m);
  assert_int_equal(count(g, "QLinearConv"), 1);
  assert_int_equal(count(g, "Conv") + count(g, "LeakyRelu"), 0);
  const ql_node *qc = find(g, "QLinearConv");
  const ql_attr *a = ql_node_attr(qc, QL_FUSED_LEAKY_ATTR);
  assert_non_null(a);
  assert_true(a->f == 0.25f);
  assert_int_equal(qc->n_inputs, 9);
  const ql_tensor *b32 = ql_graph_find_init(g, qc->inputs[8]);
  assert_non_null(b32);
  assert_int_equal(b32->dtype, QL_INT32);
  assert_int_equal(((const int32_t *)b32->data)[0], 12);
  assert_int_equal(((const int32_t *)b32->data)[1], -16);
  ql_graph_free(g);

  const int64_t xd[4] = {1, 1, 1, 2};
  const float xv[2] = {2.0f, -3.0f}, want[4] = {2.75f, -0.5f, -0.5f, 0.5f};
  ql_tensor *x = input(4, xd, xv);
  check_all(m, x, want, "conv leaky");
  ql_tensor_free(x);
  ql_model_free(m);

  /* depthwise (one input channel per group): x = [[2, -3], [2, -3]] */
  m = leaky_model(1);
  const int64_t xd2[4] = {1, 2, 1, 2};
  const float xv2[4] = {2.0f, -3.0f, 2.0f, -3.0f};
  x = input(4, xd2, xv2);
  g = fused(m);
  assert_int_equal(count(g, "QLinearConv"), 1);
  ql_graph_free(g);
  check_all(m, x, want, "depthwise conv leaky");
  ql_tensor_free(x);
  ql_model_free(m);
}

/* Biases whose scale is not x_scale * w_scale times an integer: int8
 * [1, 2, 3, -3] at 0.03, unit 0.5 * 0.125 = 0.0625: b / unit = 0.48, 0.96,
 * 1.44, -1.44 -> RNE 0, 1, 1, -1. */
static void test_bias_rounding(void **st) {
  (void)st;
  ql_model *m = new_model(13);
  ql_graph *g0 = m->graph;
  add_vi(&g0->inputs, &g0->n_inputs, "x", QL_FLOAT);
  add_vi(&g0->outputs, &g0->n_outputs, "y", QL_FLOAT);
  scale(m, "xs", 0.5f);
  scale(m, "ws", 0.125f);
  scale(m, "bs", 0.03f);
  scale(m, "ys", 0.25f);
  zp8(m, "z", 0);
  const int64_t wd[4] = {4, 1, 1, 1}, bd[1] = {4};
  const int8_t w[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, -3};
  init_i8(m, "wq", 4, wd, w);
  init_i8(m, "bq", 1, bd, b);
  node(m, "QuantizeLinear", "x", "xs", "z", "xq");
  node(m, "DequantizeLinear", "xq", "xs", "z", "xd");
  node(m, "DequantizeLinear", "wq", "ws", "z", "wd");
  node(m, "DequantizeLinear", "bq", "bs", "z", "bd");
  node(m, "Conv", "xd", "wd", "bd", "c");
  node(m, "QuantizeLinear", "c", "ys", "z", "yq");
  node(m, "DequantizeLinear", "yq", "ys", "z", "y");
  ql_graph *g = fused(m);
  const ql_node *qc = find(g, "QLinearConv");
  assert_non_null(qc);
  assert_int_equal(qc->n_inputs, 9);
  const ql_tensor *b32 = ql_graph_find_init(g, qc->inputs[8]);
  assert_non_null(b32);
  const int32_t want[4] = {0, 1, 1, -1};
  assert_memory_equal(b32->data, want, sizeof want);
  ql_graph_free(g);
  ql_model_free(m);
}

/* ------------------------------------------------------------ rewrites */

/* x -> Q -> DQ -> Resize(nearest, x2) -> Q (same params) -> DQ -> Conv1 ->
 * Relu, and -> Conv2 -> Transpose(0,1,3,2) (square planes);
 * Concat(Relu, Transpose) -> Q -> DQ -> y. Shape(Transpose out) -> a second
 * graph output. Everything fuses: no float Conv/Relu, the Resize and the
 * Transpose run on int8. */
static void test_push(void **st) {
  (void)st;
  ql_model *m = new_model(13);
  ql_graph *g0 = m->graph;
  add_vi(&g0->inputs, &g0->n_inputs, "x", QL_FLOAT);
  add_vi(&g0->outputs, &g0->n_outputs, "y", QL_FLOAT);
  scale(m, "xs", 0.05f);
  scale(m, "ws", 0.01f);
  scale(m, "ys", 0.1f);
  zp8(m, "z", 0);
  zp8(m, "yz", -3);
  const int64_t wd[4] = {3, 2, 3, 3}, sd[1] = {4}, rd[1] = {0};
  int8_t w1[54], w2[54];
  for (int i = 0; i < 54; i++) {
    w1[i] = (int8_t)((i * 37) % 51 - 25);
    w2[i] = (int8_t)((i * 23) % 41 - 20);
  }
  init_i8(m, "w1", 4, wd, w1);
  init_i8(m, "w2", 4, wd, w2);
  const float sc[4] = {1, 1, 2, 2};
  init_f(m, "scales", 1, sd, sc);
  init_f(m, "roi", 1, rd, sc); /* empty */
  node(m, "QuantizeLinear", "x", "xs", "z", "xq");
  node(m, "DequantizeLinear", "xq", "xs", "z", "xd");
  attr_s(node(m, "Resize", "xd", "roi", "scales", "r"), "mode", "nearest");
  node(m, "QuantizeLinear", "r", "xs", "z", "rq");
  node(m, "DequantizeLinear", "rq", "xs", "z", "rd");
  node(m, "DequantizeLinear", "w1", "ws", "z", "w1d");
  node(m, "DequantizeLinear", "w2", "ws", "z", "w2d");
  const int64_t pads[4] = {1, 1, 1, 1}, perm[4] = {0, 1, 3, 2};
  attr_ints(node(m, "Conv", "rd", "w1d", NULL, "c1"), "pads", pads, 4);
  node(m, "Relu", "c1", NULL, NULL, "r1");
  attr_ints(node(m, "Conv", "rd", "w2d", NULL, "c2"), "pads", pads, 4);
  attr_ints(node(m, "Transpose", "c2", NULL, NULL, "t2"), "perm", perm, 4);
  node(m, "Shape", "t2", NULL, NULL, "shape");
  ql_node *cat = node(m, "Concat", "r1", "t2", NULL, "cat");
  attr_i(cat, "axis", 1);
  node(m, "QuantizeLinear", "cat", "ys", "yz", "yq");
  node(m, "DequantizeLinear", "yq", "ys", "yz", "y");
  add_vi(&g0->outputs, &g0->n_outputs, "shape", QL_INT64);

  ql_graph *g = fused(m);
  assert_int_equal(count(g, "QLinearConv"), 2);
  assert_int_equal(count(g, "Conv") + count(g, "Relu"), 0);
  assert_int_equal(count(g, "QuantizeLinear"), 1);   /* the input's */
  assert_int_equal(count(g, "DequantizeLinear"), 1); /* the output's */
  assert_string_equal(find(g, "Resize")->inputs[0], "xq");
  ql_graph_free(g);

  const int64_t xd[4] = {1, 2, 3, 3};
  float xv[18];
  for (int i = 0; i < 18; i++) xv[i] = (float)((i * 7) % 13 - 6) * 0.37f;
  ql_tensor *x = input(4, xd, xv);
  /* two outputs: check y and shape against the reference */
  ql_session_options ref = {.threads = 1, .reference_only = 1}, fast = {.threads = 2};
  ql_tensor *r[2], *f[2];
  for (int k = 0; k < 2; k++) {
    const ql_session_options *o = k ? &fast : &ref;
    ql_tensor **out = k ? f : r;
    ql_session *s;
    ql_error e = {0};
    if (ql_session_create(m, o, &s, &e)) fail_msg("session: %s", e.msg);
    if (ql_session_run(s, (const ql_tensor *const *)&x, 1, out, 2, &e)) fail_msg("run: %s", e.msg);
    ql_session_free(s);
  }
  assert_int_equal(r[0]->numel, 6 * 6 * 6);
  assert_memory_equal(f[0]->data, r[0]->data, (size_t)r[0]->numel * sizeof(float));
  assert_int_equal(f[1]->numel, 4);
  const int64_t shape[4] = {1, 3, 6, 6};
  assert_memory_equal(f[1]->data, shape, sizeof shape);
  assert_memory_equal(r[1]->data, shape, sizeof shape);
  for (int k = 0; k < 2; k++) {
    ql_tensor_free(r[k]);
    ql_tensor_free(f[k]);
  }
  ql_tensor_free(x);
  ql_model_free(m);
}

/* A Conv output that is also a graph output stays a float Conv. */
static void test_not_fused(void **st) {
  (void)st;
  ql_model *m = leaky_model(0);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "c", QL_FLOAT);
  ql_graph *g = fused(m);
  assert_int_equal(count(g, "QLinearConv"), 0);
  assert_int_equal(count(g, "Conv"), 1);
  assert_int_equal(count(g, "LeakyRelu"), 1);
  ql_graph_free(g);
  ql_model_free(m);
}

/* DQ -> MaxPool -> Q with other parameters, at opset 11 (whose MaxPool has
 * no 8-bit types; the fused graph only runs here): Q moves above the
 * MaxPool, and Q(DQ(x)) becomes a requantize (QLinearLeakyRelu, alpha 1).
 * Every byte equals the float graph's, run by the reference ops. With a
 * pad as large as the kernel, a window can lie wholly in the padding
 * (MaxPool gives 0 there, not Q of 0): then nothing moves. */
static void maxpool_model_check(int64_t pad, int want_fused) {
  ql_model *m = new_model(11);
  ql_graph *g0 = m->graph;
  add_vi(&g0->inputs, &g0->n_inputs, "x", QL_FLOAT);
  add_vi(&g0->outputs, &g0->n_outputs, "y", QL_FLOAT);
  scale(m, "xs", 0.05f);
  scale(m, "ys", 0.07f);
  zp8(m, "xz", 3);
  zp8(m, "yz", -10);
  node(m, "QuantizeLinear", "x", "xs", "xz", "xq");
  node(m, "DequantizeLinear", "xq", "xs", "xz", "xd");
  ql_node *mp = node(m, "MaxPool", "xd", NULL, NULL, "p");
  const int64_t k[2] = {3, 3}, s2[2] = {2, 2}, pads[4] = {pad, pad, pad, pad};
  attr_ints(mp, "kernel_shape", k, 2);
  attr_ints(mp, "strides", s2, 2);
  attr_ints(mp, "pads", pads, 4);
  node(m, "QuantizeLinear", "p", "ys", "yz", "pq");
  node(m, "DequantizeLinear", "pq", "ys", "yz", "y");
  ql_graph *g = fused(m);
  assert_int_equal(count(g, "QLinearLeakyRelu"), want_fused);
  assert_string_equal(find(g, "MaxPool")->inputs[0], want_fused ? "xd_ql0" : "xd");
  if (want_fused) assert_float_equal(ql_attr_float(find(g, "QLinearLeakyRelu"), "alpha", 0), 1.0f, 0);
  ql_graph_free(g);
  /* every int8 value of x: x = (q - 3) * 0.05 for q in -128..127, twice over */
  const int64_t xd[4] = {1, 2, 16, 16};
  float xv[512];
  for (int i = 0; i < 512; i++) xv[i] = (float)((i * 97) % 256 - 128 - 3) * 0.05f + (i % 3 ? 0.01f : 0);
  ql_tensor *x = input(4, xd, xv), *r = NULL, *f = NULL;
  ql_session_options ref = {.threads = 1, .reference_only = 1}, fast = {.threads = 2};
  r = run1(m, x, &ref);
  f = run1(m, x, &fast);
  assert_int_equal(r->numel, f->numel);
  assert_memory_equal(r->data, f->data, (size_t)r->numel * sizeof(float));
  ql_tensor_free(r);
  ql_tensor_free(f);
  ql_tensor_free(x);
  ql_model_free(m);
}

static void test_maxpool_requant(void **st) {
  (void)st;
  maxpool_model_check(1, 1);
  maxpool_model_check(3, 0);
}

/* Q( U( DQ(x) ) ) for elementwise float ops: one QLinearLookup whose table
 * was made by running U itself, so every byte equals the float graph's
 * (run by the reference ops). Sigmoid and HardSwish saturate and bend,
 * Clip takes its bounds from constant inputs. */
static void lookup_model_check(const char *op, int64_t opset, int signed8) {
  ql_model *m = new_model(opset);
  ql_graph *g0 = m->graph;
  add_vi(&g0->inputs, &g0->n_inputs, "x", QL_FLOAT);
  add_vi(&g0->outputs, &g0->n_outputs, "y", QL_FLOAT);
  scale(m, "xs", 0.05f);
  scale(m, "ys", 0.004f);
  if (signed8) {
    zp8(m, "xz", 3);
    zp8(m, "yz", -100);
  } else {
    const uint8_t xz = 131, yz = 20;
    init_u8(m, "xz", 0, NULL, &xz);
    init_u8(m, "yz", 0, NULL, &yz);
  }
  node(m, "QuantizeLinear", "x", "xs", "xz", "xq");
  node(m, "DequantizeLinear", "xq", "xs", "xz", "xd");
  if (!strcmp(op, "Clip")) {
    scale(m, "lo", -0.3f);
    scale(m, "hi", 0.7f);
    node(m, "Clip", "xd", "lo", "hi", "u");
  } else {
    node(m, op, "xd", NULL, NULL, "u");
  }
  node(m, "QuantizeLinear", "u", "ys", "yz", "uq");
  node(m, "DequantizeLinear", "uq", "ys", "yz", "y");
  ql_graph *g = fused(m);
  assert_int_equal(count(g, "QLinearLookup"), 1);
  assert_int_equal(count(g, op), 0);
  ql_graph_free(g);
  const int64_t xd[2] = {4, 128};
  float xv[512];
  for (int i = 0; i < 512; i++) xv[i] = (float)((i * 97) % 256 - 128) * 0.05f + (i % 5 == 0 ? 0.025f : 0);
  ql_tensor *x = input(2, xd, xv);
  ql_session_options ref = {.threads = 1, .reference_only = 1}, fast = {.threads = 2};
  ql_tensor *r = run1(m, x, &ref), *fz = run1(m, x, &fast);
  assert_int_equal(r->numel, fz->numel);
  if (memcmp(r->data, fz->data, (size_t)r->numel * sizeof(float))) fail_msg("%s (%s) differs", op, signed8 ? "int8" : "uint8");
  ql_tensor_free(r);
  ql_tensor_free(fz);
  ql_tensor_free(x);
  ql_model_free(m);
}

static void test_lookup(void **st) {
  (void)st;
  for (int s8 = 0; s8 < 2; s8++) {
    lookup_model_check("Sigmoid", 13, s8);
    lookup_model_check("Tanh", 13, s8);
    lookup_model_check("Clip", 13, s8);
    lookup_model_check("HardSwish", 14, s8);
  }
}

/* Loads tests/data/fuse-qdq/NAME.onnx with its input and ONNX Runtime's
 * output. */
static ql_model *ort_fixture(const char *name, ql_tensor **x, ql_tensor **want) {
  char path[512];
  ql_model *m;
  ql_error e = {0};
  snprintf(path, sizeof path, "%s/fuse-qdq/%s.onnx", QL_TEST_DATA, name);
  if (ql_model_load_file(path, NULL, &m, &e)) fail_msg("load: %s", e.msg);
  snprintf(path, sizeof path, "%s/fuse-qdq/%s.input.pb", QL_TEST_DATA, name);
  if (ql_tensor_load_pb(path, x, &e)) fail_msg("fixture: %s", e.msg);
  snprintf(path, sizeof path, "%s/fuse-qdq/%s.output.pb", QL_TEST_DATA, name);
  if (ql_tensor_load_pb(path, want, &e)) fail_msg("fixture: %s", e.msg);
  return m;
}

/* Fused sessions at 1 and 2 threads give ONNX Runtime's output bytes. */
static void expect_ort_bytes(const ql_model *m, const ql_tensor *x, const ql_tensor *want) {
  for (int th = 1; th <= 2; th++) {
    ql_session_options o = {.threads = th};
    ql_tensor *y = run1(m, x, &o);
    assert_int_equal(y->numel, want->numel);
    assert_memory_equal(y->data, want->data, (size_t)want->numel * sizeof(float));
    ql_tensor_free(y);
  }
}

/* DQ -> GlobalAveragePool / AveragePool / Mul -> Q (tests/data/fuse-qdq/
 * gen_ort_fused.py): ONNX Runtime fuses them into QLinearGlobalAveragePool,
 * QLinearAveragePool and QLinearMul; so does qlinear, and every output byte
 * equals ONNX Runtime's. */
static void test_pool_mul(void **st) {
  (void)st;
  ql_tensor *x, *want;
  ql_model *m = ort_fixture("pool-mul", &x, &want);
  ql_graph *g = fused(m);
  assert_int_equal(count(g, "QLinearGlobalAveragePool"), 1);
  assert_int_equal(count(g, "QLinearAveragePool"), 1);
  assert_int_equal(count(g, "QLinearMul"), 1);
  assert_int_equal(count(g, "GlobalAveragePool") + count(g, "AveragePool") + count(g, "Mul"), 0);
  ql_graph_free(g);
  expect_ort_bytes(m, x, want);
  /* on this input ORT's integer pooling differs from the float graph (two
   * bytes), so the match above is the fused arithmetic, not the float one */
  ql_session_options ref = {.threads = 1, .reference_only = 1};
  ql_tensor *r = run1(m, x, &ref);
  assert_true(memcmp(r->data, want->data, (size_t)want->numel * sizeof(float)) != 0);
  ql_tensor_free(r);
  ql_tensor_free(x);
  ql_tensor_free(want);
  ql_model_free(m);
}

/* DQ -> Gemm (transB, per-row int8 weights, int32 bias) -> Q
 * (tests/data/fuse-qdq/gen_ort_fused.py): ONNX Runtime fuses it into QGemm;
 * so does qlinear (whose QGemm runs on the packed kernels), and every output
 * byte equals ONNX Runtime's. */
static void test_gemm(void **st) {
  (void)st;
  ql_tensor *x, *want;
  ql_model *m = ort_fixture("gemm", &x, &want);
  ql_graph *g = fused(m);
  assert_int_equal(count(g, "QGemm"), 1);
  assert_int_equal(count(g, "Gemm"), 0);
  ql_graph_free(g);
  expect_ort_bytes(m, x, want);
  ql_tensor_free(x);
  ql_tensor_free(want);
  ql_model_free(m);
}

/* ------------------------------------------------------------ per channel */

static void test_perchannel_model(void **st) {
  (void)st;
  ql_tensor *x, *want;
  ql_model *m = ort_fixture("perchannel-conv", &x, &want);
  ql_graph *g = fused(m);
  assert_int_equal(count(g, "Conv"), 0);
  assert_int_equal(count(g, "QLinearConv"), 4);
  assert_int_equal(count(g, "QLinearAdd"), 1);
  assert_int_equal(count(g, "QLinearLeakyRelu"), 1);
  /* the Concat's inputs have other parameters than its output */
  assert_int_equal(count(g, "QLinearConcat"), 1);
  assert_int_equal(count(g, "DequantizeLinear"), 1); /* y's */
  assert_int_equal(count(g, "QuantizeLinear"), 1);   /* x's */
  assert_int_equal(count(g, "Add") + count(g, "LeakyRelu") + count(g, "Relu"), 0);
  ql_graph_free(g);
  /* ONNX Runtime fuses the same way: every output byte equals its */
  expect_ort_bytes(m, x, want);
  ql_tensor_free(x);
  ql_tensor_free(want);
  ql_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_leaky),     cmocka_unit_test(test_bias_rounding),
      cmocka_unit_test(test_push),           cmocka_unit_test(test_not_fused),
      cmocka_unit_test(test_perchannel_model), cmocka_unit_test(test_maxpool_requant), cmocka_unit_test(test_lookup), cmocka_unit_test(test_pool_mul), cmocka_unit_test(test_gemm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

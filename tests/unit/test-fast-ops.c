/* The fast integer ops (packed-weight GEMM, im2col, depthwise) against the
 * reference ops, bit for bit: one-node models with constant weights (so
 * prepare() packs them) run in a reference_only session and in fast
 * sessions on every ISA this CPU supports, with 1 and 2 threads. The
 * reference ops themselves are checked against the ONNX node tests and ONNX
 * Runtime outputs elsewhere (conformance lists, tests/data/msq). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "ir/ir.h"
#include "kernels/qgemm.h"
#include "ops/op.h"
#include "runtime/runtime.h"

#define GB_RNG_SEED 0x9E3779B97F4A7C15ull
#include "graph-build.h"

/* ---- matmul ---- */

static void one_matmul(int qlinear, ql_dtype at, ql_dtype bt, int batch, int64_t M, int64_t K, int64_t N,
                       int per_col, int bzp_absent) {
  ql_model *m = new_model(13);
  ql_node *n = ql_node_new(qlinear ? "QLinearMatMul" : "MatMulInteger", "", "mm");
  ql_node_add_input(n, "a");
  const int64_t one = 1, nn = N;
  const int64_t adims[3] = {batch, M, K}, bdims[2] = {K, N};
  ql_tensor *a = rand_tensor(at, batch ? 3 : 2, batch ? adims : adims + 1, 0);
  if (qlinear) {
    add_init(m, n, "as", rand_tensor(QL_FLOAT, 0, &one, 0.02f));
    add_init(m, n, "azp", rand_tensor(at, 0, &one, 0));
    add_init(m, n, "b", rand_tensor(bt, 2, bdims, 0));
    add_init(m, n, "bs", rand_tensor(QL_FLOAT, per_col ? 1 : 0, &nn, 0.01f));
    add_init(m, n, "bzp", rand_tensor(bt, per_col ? 1 : 0, &nn, 0));
    add_init(m, n, "ys", rand_tensor(QL_FLOAT, 0, &one, 0.05f * (float)K));
    add_init(m, n, "yzp", rand_tensor(rnd() & 1 ? QL_UINT8 : QL_INT8, 0, &one, 0));
  } else {
    add_init(m, n, "b", rand_tensor(bt, 2, bdims, 0));
    add_init(m, n, "azp", rand_tensor(at, 0, &one, 0));
    if (!bzp_absent) add_init(m, n, "bzp", rand_tensor(bt, per_col ? 1 : 0, &nn, 0));
  }
  ql_node_add_output(n, "y");
  ql_graph_add_node(m->graph, n);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "a", at);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "y", QL_UNDEFINED);
  char what[160];
  snprintf(what, sizeof what, "%s %s x %s batch %d M %lld K %lld N %lld per_col %d",
           qlinear ? "QLinearMatMul" : "MatMulInteger", ql_dtype_name(at), ql_dtype_name(bt), batch, (long long)M,
           (long long)K, (long long)N, per_col);
  check_isas1(m, a, NULL, what);
  ql_tensor_free(a);
  ql_model_free(m);
}

/* com.microsoft QGemm with constant B (what DQ -> Gemm -> Q fuses into):
 * transB, per-column B parameters, C absent / scalar / [N], alpha. */
static void one_qgemm(ql_dtype at, ql_dtype bt, ql_dtype yt, int64_t M, int64_t K, int64_t N, int tb, int per_col,
                      int cmode, float alpha) {
  ql_model *m = new_model(13);
  ql_node *n = ql_node_new("QGemm", "com.microsoft", "qg");
  ql_node_add_input(n, "a");
  const int64_t one = 1, nn = N, bd[2] = {tb ? N : K, tb ? K : N}, ad[2] = {M, K};
  add_init(m, n, "as", rand_tensor(QL_FLOAT, 0, &one, 0.02f));
  add_init(m, n, "az", rand_tensor(at, 0, &one, 0));
  add_init(m, n, "b", rand_tensor(bt, 2, bd, 0));
  add_init(m, n, "bs", rand_tensor(QL_FLOAT, per_col ? 1 : 0, &nn, 0.01f));
  add_init(m, n, "bz", rand_tensor(bt, per_col ? 1 : 0, &nn, 0));
  if (cmode) add_init(m, n, "c", rand_tensor(QL_INT32, cmode == 2 ? 1 : 0, &nn, 0));
  else ql_node_add_input(n, "");
  add_init(m, n, "ys", rand_tensor(QL_FLOAT, 0, &one, 0.05f * (float)K));
  add_init(m, n, "yz", rand_tensor(yt, 0, &one, 0));
  if (tb) ql_node_add_attr(n, "transB", QL_ATTR_INT)->i = 1;
  if (alpha != 1.0f) ql_node_add_attr(n, "alpha", QL_ATTR_FLOAT)->f = alpha;
  ql_node_add_output(n, "y");
  ql_graph_add_node(m->graph, n);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "a", at);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "y", QL_UNDEFINED);
  ql_tensor *a = rand_tensor(at, 2, ad, 0);
  char what[160];
  snprintf(what, sizeof what, "QGemm %s x %s -> %s M %lld K %lld N %lld transB %d per_col %d C %d alpha %g",
           ql_dtype_name(at), ql_dtype_name(bt), ql_dtype_name(yt), (long long)M, (long long)K, (long long)N, tb,
           per_col, cmode, (double)alpha);
  check_isas1(m, a, NULL, what);
  ql_tensor_free(a);
  ql_model_free(m);
}

static void test_qgemm(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {{1, 7, 3}, {5, 64, 17}, {33, 65, 31}, {128, 96, 40}};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (int v = 0; v < 4; v++)
      one_qgemm(v & 1 ? QL_INT8 : QL_UINT8, v & 2 ? QL_UINT8 : QL_INT8, (v + (int)s) & 1 ? QL_INT8 : QL_UINT8,
                shapes[s][0], shapes[s][1], shapes[s][2], v & 1, (v >> 1) & 1, (v + (int)s) % 3, v == 3 ? 0.5f : 1.0f);
}

static void test_matmul_random_shapes(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {{1, 1, 1},   {1, 7, 3},    {5, 3, 17},  {33, 65, 31}, {64, 64, 64},
                                      {70, 130, 47}, {3, 300, 129}, {129, 19, 2}, {2, 1000, 16}};
  const ql_dtype ts[2] = {QL_UINT8, QL_INT8};
  /* an int32 output of 1 MiB and more is streamed past the caches */
  one_matmul(0, QL_UINT8, QL_INT8, 0, 256, 64, 1024, 1, 0);
  one_matmul(0, QL_INT8, QL_INT8, 0, 300, 64, 1024, 0, 0);
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (int q = 0; q < 2; q++)
      for (int at = 0; at < 2; at++)
        for (int bt = 0; bt < 2; bt++) {
          const int per_col = (int)((s + (size_t)at + (size_t)bt) & 1);
          one_matmul(q, ts[at], ts[bt], (int)(s % 3 == 1) * 3, shapes[s][0], shapes[s][1], shapes[s][2], per_col,
                     !q && s % 4 == 3);
        }
}

/* ---- conv ---- */

typedef struct conv_case {
  int64_t N, C, H, W, M, group, kh, kw, sh, sw, dh, dw;
  int64_t pads[4];
  int nsp; /* 1 or 2 spatial axes (1: H is ignored) */
} conv_case;

static void one_conv(int qlinear, ql_dtype xt, ql_dtype wt, const conv_case *cc, int per_ch, int with_bias) {
  ql_model *m = new_model(13);
  ql_node *n = ql_node_new(qlinear ? "QLinearConv" : "ConvInteger", "", "cv");
  ql_node_add_input(n, "x");
  const int64_t one = 1, M = cc->M;
  const int two = cc->nsp == 2;
  const int64_t xdims[4] = {cc->N, cc->C, two ? cc->H : cc->W, cc->W};
  const int64_t wdims[4] = {M, cc->C / cc->group, two ? cc->kh : cc->kw, cc->kw};
  ql_tensor *x = rand_tensor(xt, 2 + cc->nsp, xdims, 0);
  ql_tensor *w = rand_tensor(wt, 2 + cc->nsp, wdims, 0);
  if (qlinear) {
    add_init(m, n, "xs", rand_tensor(QL_FLOAT, 0, &one, 0.02f));
    add_init(m, n, "xzp", rand_tensor(xt, 0, &one, 0));
    add_init(m, n, "w", w);
    add_init(m, n, "ws", rand_tensor(QL_FLOAT, per_ch ? 1 : 0, &M, 0.01f));
    add_init(m, n, "wzp", rand_tensor(wt, per_ch ? 1 : 0, &M, 0));
    add_init(m, n, "ys", rand_tensor(QL_FLOAT, 0, &one, 0.03f * (float)(wdims[1] * cc->kh * cc->kw)));
    add_init(m, n, "yzp", rand_tensor(rnd() & 1 ? QL_UINT8 : QL_INT8, 0, &one, 0));
    if (with_bias) add_init(m, n, "bias", rand_tensor(QL_INT32, 1, &M, 0));
  } else {
    add_init(m, n, "w", w);
    add_init(m, n, "xzp", rand_tensor(xt, 0, &one, 0));
    if (with_bias) add_init(m, n, "wzp", rand_tensor(wt, per_ch ? 1 : 0, &M, 0));
  }
  const int64_t strides[2] = {cc->sh, cc->sw}, dil[2] = {cc->dh, cc->dw};
  const int64_t pads1[2] = {cc->pads[1], cc->pads[3]};
  set_ints(n, "strides", cc->nsp, two ? strides : strides + 1);
  set_ints(n, "dilations", cc->nsp, two ? dil : dil + 1);
  set_ints(n, "pads", 2 * cc->nsp, two ? cc->pads : pads1);
  ql_attr *ga = ql_node_add_attr(n, "group", QL_ATTR_INT);
  ga->i = cc->group;
  ql_node_add_output(n, "y");
  ql_graph_add_node(m->graph, n);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "x", xt);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "y", QL_UNDEFINED);
  char what[200];
  snprintf(what, sizeof what, "%s %s x %s N%lld C%lld %lldx%lld M%lld g%lld k%lldx%lld s%lld,%lld d%lld,%lld per_ch %d",
           qlinear ? "QLinearConv" : "ConvInteger", ql_dtype_name(xt), ql_dtype_name(wt), (long long)cc->N,
           (long long)cc->C, (long long)cc->H, (long long)cc->W, (long long)M, (long long)cc->group,
           (long long)cc->kh, (long long)cc->kw, (long long)cc->sh, (long long)cc->sw, (long long)cc->dh,
           (long long)cc->dw, per_ch);
  check_isas1(m, x, NULL, what);
  ql_tensor_free(x);
  ql_model_free(m);
}

static void test_conv_random_shapes(void **state) {
  (void)state;
  static const conv_case cases[] = {
      /* N  C   H   W   M  grp kh kw sh sw dh dw  pads            nsp */
      {1, 16, 7, 9, 24, 1, 1, 1, 1, 1, 1, 1, {0, 0, 0, 0}, 2},     /* 1x1 direct */
      {2, 3, 11, 13, 5, 1, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 2},     /* first layer */
      {1, 8, 10, 10, 17, 1, 3, 3, 2, 2, 1, 1, {1, 0, 1, 2}, 2},    /* stride 2, asymmetric pads */
      {1, 12, 9, 8, 6, 3, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 2},      /* groups */
      {1, 16, 9, 9, 16, 16, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 2},    /* depthwise */
      {2, 8, 12, 11, 16, 8, 3, 3, 2, 2, 1, 1, {1, 1, 0, 0}, 2},    /* depthwise x2, stride 2 */
      {1, 6, 13, 12, 6, 6, 5, 5, 1, 1, 2, 2, {4, 4, 4, 4}, 2},     /* depthwise dilated */
      {1, 4, 6, 7, 7, 1, 2, 3, 1, 2, 2, 1, {0, 2, 1, 0}, 2},       /* odd kernel, dilation */
      {1, 32, 5, 5, 33, 1, 1, 1, 2, 2, 1, 1, {0, 0, 0, 0}, 2},     /* 1x1 stride 2 */
      {1, 64, 30, 30, 40, 1, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 2},   /* several im2col blocks */
      {1, 5, 1, 40, 9, 1, 1, 5, 1, 3, 1, 1, {0, 2, 0, 1}, 1},      /* 1-D */
      {1, 1, 8, 8, 4, 1, 3, 3, 1, 1, 1, 1, {0, 0, 0, 0}, 2},       /* one input channel */
      {1, 48, 23, 29, 40, 1, 1, 1, 1, 1, 1, 1, {0, 0, 0, 0}, 2},   /* 1x1, pixel blocks, 16x16 transposes + edges */
      {2, 64, 3, 3, 100, 1, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 2},    /* few pixels: output channels split too */
      {1, 3, 40, 41, 37, 1, 7, 7, 2, 2, 1, 1, {3, 3, 2, 3}, 2},     /* 7x7/2 stem: whole-row im2col copies */
      {1, 4, 20, 37, 4, 4, 3, 3, 2, 2, 1, 1, {1, 1, 1, 1}, 2},     /* depthwise stride 2, wide rows */
      {1, 3, 9, 45, 6, 3, 5, 5, 2, 3, 1, 1, {2, 2, 2, 2}, 2},      /* depthwise x2, strides 2 and 3 */
      {1, 4, 1, 50, 8, 4, 1, 5, 1, 2, 1, 2, {0, 3, 0, 1}, 1},      /* depthwise 1-D x2, stride 2, dilation 2 */
      {1, 5, 17, 19, 5, 5, 1, 1, 1, 1, 1, 1, {0, 0, 0, 0}, 2},     /* depthwise 1x1 */
  };
  const ql_dtype ts[2] = {QL_UINT8, QL_INT8};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    for (int q = 0; q < 2; q++)
      for (int xt = 0; xt < 2; xt++)
        for (int wt = 0; wt < 2; wt++)
          one_conv(q, ts[xt], ts[wt], &cases[i], (int)((i + (size_t)xt + (size_t)wt) & 1), (int)(i & 1) || q);
}

/* ---- QDQ fusion (runtime/fuse.c) ---- */

static ql_node *node2(ql_graph *g, const char *op, const char *const *ins, int nin, const char *out) {
  ql_node *n = ql_node_new(op, "", out);
  for (int i = 0; i < nin; i++) ql_node_add_input(n, ins[i]);
  ql_node_add_output(n, out);
  ql_graph_add_node(g, n);
  return n;
}

static ql_tensor *named(const char *name, ql_tensor *t) {
  t->name = ql_strdup(name);
  return t;
}

/* kind 0: Conv, 1: Conv -> Relu, 2: MatMul. The quantized activation is
 * the graph input; weights int8 per channel, bias int32 at x_scale*w_scale.
 * qlinear = 1 builds the equivalent QLinearConv/QLinearMatMul model. With
 * extra_out the float Conv/MatMul result is a graph output as well. */
static ql_model *qdq_model(int kind, int qlinear, int extra_out, uint64_t seed) {
  rng = seed;
  ql_model *m = new_model(13);
  ql_graph *g = m->graph;
  const int mm = kind == 2;
  const int64_t one = 1, M = 12, C = 8;
  const int64_t wdims[4] = {M, C, 3, 3}, bdims[2] = {C, M};
  ql_tensor *xs = rand_tensor(QL_FLOAT, 0, &one, 0.02f), *ws = rand_tensor(QL_FLOAT, 1, &M, 0.01f);
  ql_tensor *bs = rand_tensor(QL_FLOAT, 1, &M, 1.0f);
  for (int64_t i = 0; i < M; i++) ((float *)bs->data)[i] = ((float *)xs->data)[0] * ((float *)ws->data)[i];
  ql_tensor *xz = rand_tensor(QL_UINT8, 0, &one, 0), *wz = ql_tensor_new(QL_INT8, 1, &M, NULL);
  ql_tensor *ys = rand_tensor(QL_FLOAT, 0, &one, 0.3f), *yz = rand_tensor(QL_UINT8, 0, &one, 0);
  ql_tensor *w = rand_tensor(QL_INT8, mm ? 2 : 4, mm ? bdims : wdims, 0), *b = rand_tensor(QL_INT32, 1, &M, 0);
  ql_tensor *bz = ql_tensor_new(QL_INT32, 1, &M, NULL);
  ql_graph_add_init(g, named("xs", xs));
  ql_graph_add_init(g, named("xz", xz));
  ql_graph_add_init(g, named("ws", ws));
  ql_graph_add_init(g, named("wz", wz));
  ql_graph_add_init(g, named("ys", ys));
  ql_graph_add_init(g, named("yz", yz));
  ql_graph_add_init(g, named("w", w));
  add_vi(&g->inputs, &g->n_inputs, "xq", QL_UINT8);
  add_vi(&g->outputs, &g->n_outputs, "y", QL_UINT8);
  const int64_t pads[4] = {1, 1, 1, 1};
  if (qlinear) {
    const char *ins[9] = {"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"};
    ql_node *n = node2(g, mm ? "QLinearMatMul" : "QLinearConv", ins, mm ? 8 : 9, "y");
    if (!mm) {
      ql_graph_add_init(g, named("b", b));
      set_ints(n, "pads", 4, pads);
    } else {
      ql_tensor_free(b);
    }
    ql_tensor_free(bs);
    ql_tensor_free(bz);
    return m;
  }
  ql_graph_add_init(g, named("b", b));
  ql_graph_add_init(g, named("bs", bs));
  ql_graph_add_init(g, named("bz", bz));
  const char *dx[3] = {"xq", "xs", "xz"}, *dw[3] = {"w", "ws", "wz"}, *db[3] = {"b", "bs", "bz"};
  node2(g, "DequantizeLinear", dx, 3, "xf");
  ql_attr *ax = ql_node_add_attr(node2(g, "DequantizeLinear", dw, 3, "wf"), "axis", QL_ATTR_INT);
  ax->i = mm ? 1 : 0;
  ql_node_add_attr(node2(g, "DequantizeLinear", db, 3, "bf"), "axis", QL_ATTR_INT)->i = 0;
  const char *ci[3] = {"xf", "wf", "bf"};
  ql_node *op = node2(g, mm ? "MatMul" : "Conv", ci, mm ? 2 : 3, "cf");
  if (!mm) set_ints(op, "pads", 4, pads);
  const char *rin[1] = {"cf"};
  if (kind == 1) node2(g, "Relu", rin, 1, "rf");
  const char *qi[3] = {kind == 1 ? "rf" : "cf", "ys", "yz"};
  node2(g, "QuantizeLinear", qi, 3, "y");
  if (extra_out) add_vi(&g->outputs, &g->n_outputs, "cf", QL_FLOAT);
  return m;
}

static int saw_float_op(void *ctx, const char *name, const ql_tensor *t) {
  (void)t;
  if (!strcmp(name, "cf") || !strcmp(name, "xf")) *(int *)ctx = 1;
  return 0;
}

/* Runs m; *float_seen (if given) tells whether the float DQ/Conv/MatMul
 * values were computed (i.e. nothing was fused). */
static ql_tensor *run_n(const ql_model *m, const ql_tensor *x, int ref, size_t n_out, int *float_seen) {
  ql_session *s;
  ql_error e = {0};
  ql_session_options o = {.threads = 1, .reference_only = ref};
  if (ql_session_create(m, &o, &s, &e)) fail_msg("session: %s", e.msg);
  ql_tensor *y[2] = {NULL, NULL};
  int seen = 0;
  if (ql_session_run_observed(s, &x, 1, y, n_out, saw_float_op, &seen, &e)) fail_msg("run: %s", e.msg);
  if (float_seen) *float_seen = seen;
  ql_session_free(s);
  ql_tensor_free(y[1]);
  return y[0];
}

static void test_qdq_fusion(void **state) {
  (void)state;
  for (int kind = 0; kind < 3; kind++) {
    for (uint64_t seed = 1; seed <= 4; seed++) {
      const int64_t xd[4] = {1, 8, 9, 7}, ad[2] = {5, 8};
      ql_model *qdq = qdq_model(kind, 0, 0, seed * 7919), *ql = qdq_model(kind, 1, 0, seed * 7919);
      ql_model *kept = qdq_model(kind, 0, 1, seed * 7919);
      rng = seed;
      ql_tensor *x = rand_tensor(QL_UINT8, kind == 2 ? 2 : 4, kind == 2 ? ad : xd, 0);
      int seen_fused, seen_flt, seen_kept;
      ql_tensor *fused = run_n(qdq, x, 0, 1, &seen_fused), *flt = run_n(qdq, x, 1, 1, &seen_flt);
      ql_tensor *want = run_n(ql, x, 1, 1, NULL), *unfused = run_n(kept, x, 0, 2, &seen_kept);
      assert_false(seen_fused); /* fused: no float Conv/MatMul, no DQ of x */
      assert_true(seen_flt);    /* reference_only never fuses */
      assert_true(seen_kept);
      const uint8_t yz = ((uint8_t *)ql_graph_find_init(ql->graph, "yz")->data)[0];
      int ties = 0;
      for (int64_t i = 0; i < want->numel; i++) {
        uint8_t w = ((uint8_t *)want->data)[i];
        if (kind == 1 && w < yz) w = yz; /* Relu then Q = clamp at the zero point */
        const uint8_t got = ((uint8_t *)fused->data)[i], f = ((uint8_t *)flt->data)[i];
        /* the fused node is exactly the integer op */
        assert_int_equal(got, w);
        /* and within one step of the float QDQ graph */
        assert_true(abs((int)got - (int)f) <= 1);
        ties += got != f;
        /* a Conv/MatMul result read elsewhere stays in float: no fusion */
        assert_int_equal(((uint8_t *)unfused->data)[i], f);
      }
      assert_true(ties * 100 <= want->numel); /* "rare" */
      ql_tensor_free(x);
      ql_tensor_free(fused);
      ql_tensor_free(flt);
      ql_tensor_free(want);
      ql_tensor_free(unfused);
      ql_model_free(qdq);
      ql_model_free(ql);
      ql_model_free(kept);
    }
  }
}

/* ---- data movement and pooling on images ----
 * Resize (linear and cubic: cubic overshoots, so the 8-bit clamp is hit),
 * 8-bit MaxPool, Transpose with merged axes and the lookup ops: their
 * fast paths against the reference, every ISA, 1 and 2 threads. */
static void one_image_op(const char *op, ql_dtype t, const int64_t *xd, int variant) {
  ql_model *m = new_model(13);
  ql_node *n = ql_node_new(op, !strcmp(op, "QLinearLeakyRelu") ? "com.microsoft" : "", "op");
  ql_node_add_input(n, "x");
  const int64_t one = 1;
  if (!strcmp(op, "Resize")) {
    const int64_t four = 4;
    ql_node_add_input(n, ""); /* roi */
    const float sc[4] = {1, 1, variant ? 1.5f : 2.0f, variant ? 0.75f : 2.0f};
    ql_tensor *scales = ql_tensor_new(QL_FLOAT, 1, &four, NULL);
    memcpy(scales->data, sc, sizeof sc);
    add_init(m, n, "scales", scales);
    ql_attr *a = ql_node_add_attr(n, "mode", QL_ATTR_STRING);
    a->s = ql_strdup(variant ? "cubic" : "linear");
    a->slen = strlen(a->s);
  } else if (!strcmp(op, "MaxPool")) {
    const int64_t k[2] = {3, 3}, st[2] = {variant ? 1 : 2, 2}, pads[4] = {1, variant ? 0 : 1, 1, 2};
    set_ints(n, "kernel_shape", 2, k);
    set_ints(n, "strides", 2, st);
    set_ints(n, "pads", 4, pads);
  } else if (!strcmp(op, "Transpose")) {
    const int64_t perm[2][4] = {{0, 2, 3, 1}, {0, 1, 3, 2}};
    set_ints(n, "perm", 4, perm[variant]);
  } else if (!strcmp(op, "QuantizeLinear")) { /* x / 0.02 and x / 0.04 hit every half-integer tie */
    add_init(m, n, "ys", rand_tensor(QL_FLOAT, 0, &one, 0.0f));
    *(float *)ql_graph_find_init_mut(m->graph, "ys")->data = variant ? 0.04f : 0.02f;
    add_init(m, n, "yz", rand_tensor(QL_UINT8, 0, &one, 0));
  } else {
    add_init(m, n, "xs", rand_tensor(QL_FLOAT, 0, &one, 0.02f));
    add_init(m, n, "xz", rand_tensor(t, 0, &one, 0));
    add_init(m, n, "ys", rand_tensor(QL_FLOAT, 0, &one, 0.03f));
    add_init(m, n, "yz", rand_tensor(t, 0, &one, 0));
    ql_node_add_attr(n, "alpha", QL_ATTR_FLOAT)->f = variant ? 1.0f : 0.1f;
  }
  ql_node_add_output(n, "y");
  ql_graph_add_node(m->graph, n);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "x", t);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "y", QL_UNDEFINED);
  ql_tensor *x = rand_tensor(t, 4, xd, 1.0f);
  if (t == QL_FLOAT)
    for (int64_t i = 0; i < x->numel; i++) ((float *)x->data)[i] = (float)(rnd() % 2001) / 100.0f - 10.0f;
  char what[160];
  snprintf(what, sizeof what, "%s %s variant %d, %lldx%lldx%lldx%lld", op, ql_dtype_name(t), variant,
           (long long)xd[0], (long long)xd[1], (long long)xd[2], (long long)xd[3]);
  check_isas1(m, x, NULL, what);
  ql_tensor_free(x);
  ql_model_free(m);
}

static void test_image_ops(void **state) {
  (void)state;
  static const int64_t shapes[][4] = {{1, 3, 7, 9}, {2, 5, 16, 13}, {1, 1, 1, 1}, {1, 17, 26, 26}};
  static const ql_dtype types[] = {QL_FLOAT, QL_UINT8, QL_INT8};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (int v = 0; v < 2; v++) {
      for (size_t t = 0; t < 3; t++) {
        one_image_op("Resize", types[t], shapes[s], v);
        one_image_op("MaxPool", types[t], shapes[s], v);
        one_image_op("Transpose", types[t], shapes[s], v);
      }
      one_image_op("QuantizeLinear", QL_FLOAT, shapes[s], v);
      one_image_op("QLinearLeakyRelu", QL_UINT8, shapes[s], v);
      one_image_op("QLinearLeakyRelu", QL_INT8, shapes[s], v);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matmul_random_shapes),
      cmocka_unit_test(test_conv_random_shapes),
      cmocka_unit_test(test_qdq_fusion),
      cmocka_unit_test(test_image_ops),
      cmocka_unit_test(test_qgemm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

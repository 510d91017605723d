/* Dynamic quantization on the fast path, bit for bit against the reference
 * ops:
 *  - the dynq kernels (min/max, quantize) of every ISA against the scalar
 *    ones, special values included;
 *  - DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul chains built in
 *    memory: the fusion (src/runtime/fuse-dynamic.c) must apply where it is
 *    exact and leave the graph alone where it is not (extra readers,
 *    non-constant B, per-row scales, 2-D zero points), and a fast session
 *    on every ISA with 1 and 2 threads must give the reference session's
 *    bytes either way;
 *  - com.microsoft DynamicQuantizeMatMul / MatMulIntegerToFloat with
 *    constant B (packed at prepare) against their reference loops.
 * The reference ops are checked against ONNX node tests and ONNX Runtime
 * outputs elsewhere (test_dynamicquantizelinear*, tests/data/msq). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "ir/ir.h"
#include "kernels/dynq.h"
#include "kernels/qgemm.h"
#include "ops/op.h"
#include "runtime/fuse.h"

#define GB_RNG_SEED 0x2545F4914F6CDD1Dull
#include "graph-build.h"

static const char *const isas[] = {"scalar", "avx2", "avxvnni", "avx512vnni", "amx"};

/* ------------------------------------------------------------ kernels */

/* kind 0: random; 1: with NaN and -0; 2: with +inf; 3: zeros; 4: near
 * rounding ties of x / scale (the SIMD variants' multiply-then-check path);
 * 5: random magnitudes from subnormal to 1e30; 6: subnormals only (a scale
 * whose reciprocal overflows); 7: with -inf. */
static void fill_special(float *x, int64_t n, int kind) {
  for (int64_t i = 0; i < n; i++) x[i] = rnd_f(-4.0f, 3.0f);
  if (kind == 1 && n) {
    x[rnd() % (uint32_t)n] = NAN;
    x[rnd() % (uint32_t)n] = -0.0f;
  }
  if (kind == 2 && n) x[rnd() % (uint32_t)n] = INFINITY;
  if (kind == 3) memset(x, 0, (size_t)n * sizeof *x);
  if (kind == 4 && n >= 2) {
    for (int64_t i = 0; i < n; i++) x[i] = rnd_f(-0.3f, 0.3f);
    /* a random range [lo, hi] (so 1/scale is no round number); ties
     * where x / scale is k + 1/2, and a few ulps either side */
    const float lo = -rnd_f(0.3f, 2.0f), hi = rnd_f(0.3f, 2.0f);
    x[0] = lo, x[1] = hi;
    const float s = (hi - lo) / 255.0f;
    for (int64_t i = 2; i < n; i++) {
      /* sparse, so that most 32-lane blocks hold at most one of them (a
       * block with a flagged lane is recomputed whole) */
      if (rnd() % 64) continue;
      float v = ((float)(int)(rnd() % 255) - 127.0f + 0.5f) * s;
      for (int j = (int)(rnd() % 9); j > 4; j--) v = nextafterf(v, INFINITY);
      for (int j = (int)(rnd() % 9); j > 4; j--) v = nextafterf(v, -INFINITY);
      x[i] = v < lo ? lo : v > hi ? hi : v;
    }
  }
  if (kind == 5)
    for (int64_t i = 0; i < n; i++) x[i] = (rnd() & 1 ? -1.0f : 1.0f) * ldexpf(rnd_f(1.0f, 2.0f), (int)(rnd() % 250) - 149);
  if (kind == 6)
    for (int64_t i = 0; i < n; i++) x[i] = ldexpf(rnd_f(-1.0f, 1.0f), -135);
  if (kind == 7 && n) x[rnd() % (uint32_t)n] = -INFINITY;
}

static void test_kernels(void **st) {
  (void)st;
  static const int64_t sizes[] = {0, 1, 7, 15, 16, 17, 31, 33, 63, 64, 65, 100, 127, 129, 1000, 4099, 1 << 18};
  for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
    for (int kind = 0; kind < 8; kind++) {
      const int64_t n = sizes[si];
      float *x = malloc((size_t)n * sizeof *x + 4);
      uint8_t *want = malloc((size_t)n + 1), *got = malloc((size_t)n + 1);
      fill_special(x, n, kind);
      float mn0 = 0.0f, mx0 = 0.0f, s, z;
      ql_dynq_minmax(QL_ISA_SCALAR, x, n, &mn0, &mx0);
      ql_dynq_params(mn0, mx0, &s, &z);
      ql_dynq_quantize(QL_ISA_SCALAR, x, n, s, z, want);
      for (int i = 1; i < QL_ISA_COUNT; i++) {
        if (!ql_isa_supported((ql_isa)i)) continue;
        float mn = 0.0f, mx = 0.0f;
        ql_dynq_minmax((ql_isa)i, x, n, &mn, &mx);
        assert_memory_equal(&mn, &mn0, sizeof mn);
        assert_memory_equal(&mx, &mx0, sizeof mx);
        memset(got, 0xAA, (size_t)n + 1);
        ql_dynq_quantize((ql_isa)i, x, n, s, z, got);
        if (n && memcmp(got, want, (size_t)n)) fail_msg("quantize differs: %s, n %lld, kind %d", isas[i], (long long)n, kind);
        assert_int_equal(got[n], 0xAA); /* nothing written past the end */
      }
      free(x);
      free(want);
      free(got);
    }
}

/* Hand-worked: x = {-1, 0, 0.5, 1.55} -> range [-1, 1.55], scale 0.01,
 * zp RNE(100) = 100, y = RNE(x / 0.01) + 100 (the float32 quotients are
 * within an ulp of -100, 0, 50, 155). */
static void test_kernels_hand(void **st) {
  (void)st;
  const float x[4] = {-1.0f, 0.0f, 0.5f, 1.55f};
  for (int i = 0; i < QL_ISA_COUNT; i++) {
    if (!ql_isa_supported((ql_isa)i)) continue;
    float mn = 0.0f, mx = 0.0f, s, z;
    uint8_t y[4];
    ql_dynq_minmax((ql_isa)i, x, 4, &mn, &mx);
    assert_true(mn == -1.0f && mx == 1.55f);
    ql_dynq_params(mn, mx, &s, &z);
    assert_true(s == (1.55f + 1.0f) / 255.0f && z == 100.0f);
    ql_dynq_quantize((ql_isa)i, x, 4, s, z, y);
    assert_int_equal(y[0], 0);
    assert_int_equal(y[1], 100);
    assert_int_equal(y[2], 150);
    assert_int_equal(y[3], 255);
  }
}

/* ------------------------------------------------------------ models */

static ql_node *node(ql_model *m, const char *op, const char *domain, const char *const *in, int nin,
                     const char *const *out, int nout) {
  ql_node *n = ql_node_new(op, domain, op);
  for (int i = 0; i < nin; i++) ql_node_add_input(n, in[i]);
  for (int i = 0; i < nout; i++) ql_node_add_output(n, out[i]);
  ql_graph_add_node(m->graph, n);
  return n;
}

static ql_tensor *rand_q8(ql_dtype t, int rank, const int64_t *dims) {
  ql_tensor *x = ql_tensor_new(t, rank, dims, NULL);
  for (int64_t i = 0; i < x->numel; i++) ((uint8_t *)x->data)[i] = (uint8_t)rnd();
  return x;
}

static ql_tensor *rand_f32(int rank, const int64_t *dims, float lo, float hi) {
  ql_tensor *x = ql_tensor_new(QL_FLOAT, rank, dims, NULL);
  for (int64_t i = 0; i < x->numel; i++) ((float *)x->data)[i] = rnd_f(lo, hi);
  return x;
}

/* Runs m; returns the outputs (n_out of them). */
static void run(const ql_model *m, ql_tensor *const *in, size_t n_in, ql_tensor **out, size_t n_out,
                const ql_session_options *o) {
  ql_session *s;
  ql_error e = {0};
  if (ql_session_create(m, o, &s, &e)) fail_msg("session: %s", e.msg);
  if (ql_session_run(s, (const ql_tensor *const *)in, n_in, out, n_out, &e)) fail_msg("run: %s", e.msg);
  ql_session_free(s);
}

/* Reference vs every fast configuration, byte for byte. */
static void check_model(const ql_model *m, ql_tensor *const *in, size_t n_in, size_t n_out, const char *what) {
  ql_session_options ref = {.threads = 1, .reference_only = 1};
  ql_tensor *want[4], *got[4];
  run(m, in, n_in, want, n_out, &ref);
  for (int i = 0; i < QL_ISA_COUNT; i++) {
    if (!ql_isa_supported((ql_isa)i)) continue;
    for (int th = 1; th <= 2; th++) {
      ql_session_options o = {.threads = th, .isa = isas[i]};
      run(m, in, n_in, got, n_out, &o);
      for (size_t k = 0; k < n_out; k++) {
        assert_int_equal(got[k]->dtype, want[k]->dtype);
        assert_int_equal(got[k]->rank, want[k]->rank);
        assert_memory_equal(got[k]->dims, want[k]->dims, sizeof(int64_t) * (size_t)want[k]->rank);
        const size_t bytes = (size_t)want[k]->numel * ql_dtype_size(want[k]->dtype);
        if (bytes && memcmp(got[k]->data, want[k]->data, bytes))
          fail_msg("%s: output %zu differs on %s, %d threads", what, k, isas[i], th);
        ql_tensor_free(got[k]);
      }
    }
  }
  for (size_t k = 0; k < n_out; k++) ql_tensor_free(want[k]);
}

/* How many nodes of op_type the fusion leaves in a copy of m's graph. */
static int count_after_fusion(const ql_model *m, const char *op_type, size_t *n_nodes) {
  ql_graph *g = ql_graph_clone(m->graph);
  ql_error e = {0};
  assert_int_equal(ql_fuse_dynamic(m, g, &e), QL_OK);
  int c = 0;
  for (size_t i = 0; i < g->n_nodes; i++) c += !strcmp(g->nodes[i]->op_type, op_type);
  if (n_nodes) *n_nodes = g->n_nodes;
  ql_graph_free(g);
  return c;
}

typedef struct chain_cfg {
  int64_t batch, M, K, N; /* batch 0: A is 2-D; M 0: A is 1-D */
  ql_dtype bt;
  int bzp;           /* 0 none, 1 per tensor, 2 per column [N], 3 [1, N] (not fused) */
  int bs;            /* 0 scalar, 1 [N], 2 [1], 3 [M, 1] per row (not fused), 4 [1, N] (not fused) */
  int swap_mul;      /* y = Mul(s, accf) */
  int swap_smul;     /* s = Mul(b_scale, xs) */
  int b_input;       /* B is a graph input (not fused) */
  int b_constant;    /* B comes from a Constant node */
  int cast_reader;   /* accf is a graph output too (not fused) */
  int acc_reader;    /* acc is a graph output too (not fused) */
  int xq_reader;     /* xq is a graph output too (fused, DQL stays) */
  int s_reader;      /* s is a graph output too (fused, s stays) */
  int two;           /* a second chain on the same DQL and s (both fused) */
  int bias;          /* z = Add(y, bias): 1 [N] (taken in), 2 the same as Add(bias, y), 3 [1, N] and
                        4 a graph input (both stay an Add) */
  int xfill;         /* fill_special kind */
  int expect_fused;
} chain_cfg;

static void chain_case(const chain_cfg *c, const char *what) {
  ql_model *m = new_model(13);
  ql_graph *g = m->graph;
  const int64_t M = c->M ? c->M : 1, N = c->N, K = c->K;
  const int64_t bdims[2] = {K, N}, one = 1, n1[1] = {N}, n2[2] = {1, N}, m2[2] = {M, 1};
  ql_tensor *b = rand_q8(c->bt, 2, bdims);
  if (c->b_input) {
    add_vi(&g->inputs, &g->n_inputs, "x", QL_FLOAT);
    add_vi(&g->inputs, &g->n_inputs, "b", c->bt);
  } else {
    add_vi(&g->inputs, &g->n_inputs, "x", QL_FLOAT);
  }
  ql_tensor *bs;
  switch (c->bs) {
  case 0: bs = rand_f32(0, NULL, 0.001f, 0.02f); break;
  case 1: bs = rand_f32(1, n1, 0.001f, 0.02f); break;
  case 2: bs = rand_f32(1, &one, 0.001f, 0.02f); break;
  case 3: bs = rand_f32(2, m2, 0.001f, 0.02f); break;
  default: bs = rand_f32(2, n2, 0.001f, 0.02f); break;
  }
  add_const(m, "bs", bs);
  const char *mmi_in[4] = {"xq", "b", "xzp", "bzp"};
  if (c->bzp == 1) add_const(m, "bzp", rand_q8(c->bt, 0, NULL));
  if (c->bzp == 2) add_const(m, "bzp", rand_q8(c->bt, 1, n1));
  if (c->bzp == 3) add_const(m, "bzp", rand_q8(c->bt, 2, n2));
  node(m, "DynamicQuantizeLinear", "", (const char *const[]){"x"}, 1, (const char *const[]){"xq", "xs", "xzp"}, 3);
  if (c->b_constant) {
    ql_node *cn = node(m, "Constant", "", NULL, 0, (const char *const[]){"b"}, 1);
    ql_attr *a = ql_node_add_attr(cn, "value", QL_ATTR_TENSOR);
    a->t = b;
    b = NULL;
  } else if (!c->b_input) {
    add_const(m, "b", b);
    b = NULL;
  }
  node(m, "MatMulInteger", "", mmi_in, c->bzp ? 4 : 3, (const char *const[]){"acc"}, 1);
  ql_attr *to = ql_node_add_attr(node(m, "Cast", "", (const char *const[]){"acc"}, 1, (const char *const[]){"accf"}, 1),
                                 "to", QL_ATTR_INT);
  to->i = QL_FLOAT;
  node(m, "Mul", "", c->swap_smul ? (const char *const[]){"bs", "xs"} : (const char *const[]){"xs", "bs"}, 2,
       (const char *const[]){"s"}, 1);
  node(m, "Mul", "", c->swap_mul ? (const char *const[]){"s", "accf"} : (const char *const[]){"accf", "s"}, 2,
       (const char *const[]){"y"}, 1);
  if (c->bias) {
    if (c->bias == 4) add_vi(&g->inputs, &g->n_inputs, "bias", QL_FLOAT);
    else add_const(m, "bias", c->bias == 3 ? rand_f32(2, n2, -1.0f, 1.0f) : rand_f32(1, n1, -1.0f, 1.0f));
    node(m, "Add", "", c->bias == 2 ? (const char *const[]){"bias", "y"} : (const char *const[]){"y", "bias"}, 2,
         (const char *const[]){"z"}, 1);
    add_vi(&g->outputs, &g->n_outputs, "z", QL_FLOAT);
  } else {
    add_vi(&g->outputs, &g->n_outputs, "y", QL_FLOAT);
  }
  if (c->two) { /* y2 = the same product again, through its own chain */
    node(m, "MatMulInteger", "", mmi_in, c->bzp ? 4 : 3, (const char *const[]){"acc2"}, 1);
    ql_attr *t2 = ql_node_add_attr(
        node(m, "Cast", "", (const char *const[]){"acc2"}, 1, (const char *const[]){"accf2"}, 1), "to", QL_ATTR_INT);
    t2->i = QL_FLOAT;
    node(m, "Mul", "", (const char *const[]){"s", "accf2"}, 2, (const char *const[]){"y2"}, 1);
    add_vi(&g->outputs, &g->n_outputs, "y2", QL_FLOAT);
  }
  if (c->cast_reader) add_vi(&g->outputs, &g->n_outputs, "accf", QL_FLOAT);
  if (c->acc_reader) add_vi(&g->outputs, &g->n_outputs, "acc", QL_INT32);
  if (c->xq_reader) add_vi(&g->outputs, &g->n_outputs, "xq", QL_UINT8);
  if (c->s_reader) add_vi(&g->outputs, &g->n_outputs, "s", QL_FLOAT);

  size_t n_nodes;
  const int fused = count_after_fusion(m, "DynamicQuantizeMatMul", &n_nodes);
  const int want_fused = c->expect_fused ? 1 + c->two : 0;
  if (fused != want_fused) fail_msg("%s: %d chains fused, expected %d", what, fused, want_fused);
  if (c->expect_fused) { /* the intermediate nodes went; DQL / s only where still read */
    /* s keeps its Mul, which keeps the DynamicQuantizeLinear */
    const size_t want_nodes = (size_t)(1 + c->two) + (size_t)(c->xq_reader || c->s_reader) + (size_t)c->s_reader +
                              (size_t)c->b_constant + (size_t)(c->bias >= 3);
    if (n_nodes != want_nodes) fail_msg("%s: %zu nodes after fusion, expected %zu", what, n_nodes, want_nodes);
  }

  const int64_t xd3[3] = {c->batch, M, K}, xd2[2] = {M, K};
  ql_tensor *x = c->batch ? ql_tensor_new(QL_FLOAT, 3, xd3, NULL)
                          : c->M ? ql_tensor_new(QL_FLOAT, 2, xd2, NULL) : ql_tensor_new(QL_FLOAT, 1, &K, NULL);
  fill_special(x->data, x->numel, c->xfill);
  ql_tensor *bias = c->bias == 4 ? rand_f32(1, n1, -1.0f, 1.0f) : NULL;
  ql_tensor *in[3] = {x, c->b_input ? b : bias, bias};
  check_model(m, in, 1 + (size_t)c->b_input + (size_t)(c->bias == 4), g->n_outputs, what);
  ql_tensor_free(x);
  ql_tensor_free(b);
  ql_tensor_free(bias);
  ql_model_free(m);
}

static void test_chain_fused(void **st) {
  (void)st;
  static const int64_t shapes[][4] = {{0, 1, 16, 16}, {0, 5, 37, 19}, {0, 33, 64, 70}, {0, 70, 128, 33},
                                      {2, 3, 40, 17}, {0, 0, 24, 9},  {0, 130, 256, 48}, {0, 300, 1024, 20}};
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (int v = 0; v < 6; v++) {
      chain_cfg c = {.batch = shapes[si][0], .M = shapes[si][1], .K = shapes[si][2], .N = shapes[si][3],
                     .bt = v & 1 ? QL_UINT8 : QL_INT8, .bzp = v % 3, .bs = (v + (int)si) % 3,
                     .swap_mul = v & 2, .swap_smul = (v + (int)si) & 1, .xfill = (int)(si + (size_t)v) % 8,
                     .bias = (v + 2 * (int)si) % 5,
                     .expect_fused = 1};
      char what[96];
      snprintf(what, sizeof what, "chain %lldx%lldx%lldx%lld v%d", (long long)c.batch, (long long)c.M,
               (long long)c.K, (long long)c.N, v);
      chain_case(&c, what);
    }
  chain_case(&(chain_cfg){.M = 20, .K = 64, .N = 32, .bt = QL_INT8, .b_constant = 1, .expect_fused = 1}, "Constant B");
  chain_case(&(chain_cfg){.M = 20, .K = 64, .N = 32, .bt = QL_INT8, .xq_reader = 1, .expect_fused = 1}, "xq read");
  chain_case(&(chain_cfg){.M = 20, .K = 64, .N = 32, .bt = QL_UINT8, .bs = 1, .s_reader = 1, .expect_fused = 1},
             "s read");
  chain_case(&(chain_cfg){.M = 20, .K = 64, .N = 32, .bt = QL_INT8, .bzp = 2, .two = 1, .expect_fused = 1},
             "two chains");
}

static void test_chain_not_fused(void **st) {
  (void)st;
  const chain_cfg base = {.M = 20, .K = 64, .N = 32, .bt = QL_INT8};
  chain_cfg c = base;
  c.cast_reader = 1;
  chain_case(&c, "Cast output read twice");
  c = base;
  c.acc_reader = 1;
  chain_case(&c, "MatMulInteger output read twice");
  c = base;
  c.b_input = 1;
  chain_case(&c, "B not constant");
  c = base;
  c.bs = 3;
  chain_case(&c, "per-row scale");
  c = base;
  c.bs = 4;
  chain_case(&c, "2-D per-column scale");
  c = base;
  c.bzp = 3;
  chain_case(&c, "2-D zero point");
}

/* ------------------------------------------------------------ com.microsoft ops */

/* DynamicQuantizeMatMul(x, B, b_scale, b_zp, bias) or
 * MatMulIntegerToFloat(a, B, a_scale, b_scale, a_zp, b_zp, bias), B
 * constant, the rest graph inputs or initializers. */
static void ms_case(int dqmm, ql_dtype at, ql_dtype bt, int64_t batch, int64_t M, int64_t K, int64_t N, int bzp,
                    int bs_col, int bias, int f16) {
  ql_model *m = new_model(13);
  ql_graph *g = m->graph;
  const int64_t bdims[2] = {K, N}, n1[1] = {N}, ad[3] = {batch, M, K};
  add_const(m, "b", rand_q8(bt, 2, bdims));
  ql_tensor *bs = bs_col ? rand_f32(1, n1, 0.001f, 0.02f) : rand_f32(0, NULL, 0.001f, 0.02f);
  ql_tensor *as = rand_f32(0, NULL, 0.01f, 0.05f);
  if (f16) { /* float16 scales: MatMulIntegerToFloat's reference path */
    ql_tensor *t[2] = {bs, as};
    for (int k = 0; k < 2; k++) {
      ql_tensor *h = ql_tensor_new(QL_FLOAT16, t[k]->rank, t[k]->dims, NULL);
      for (int64_t i = 0; i < h->numel; i++) ((uint16_t *)h->data)[i] = ql_f32_to_f16(((float *)t[k]->data)[i]);
      ql_tensor_free(t[k]);
      t[k] = h;
    }
    bs = t[0], as = t[1];
  }
  add_const(m, "bs", bs);
  if (bzp) add_const(m, "bzp", bzp == 2 ? rand_q8(bt, 1, n1) : rand_q8(bt, 0, NULL));
  ql_tensor *in[2] = {NULL, NULL};
  size_t n_in = 1;
  add_vi(&g->inputs, &g->n_inputs, "a", dqmm ? QL_FLOAT : at);
  if (bias) {
    ql_tensor *bb = rand_f32(1, n1, -2.0f, 2.0f);
    if (f16) {
      ql_tensor *h = ql_tensor_new(QL_FLOAT16, 1, n1, NULL);
      for (int64_t i = 0; i < N; i++) ((uint16_t *)h->data)[i] = ql_f32_to_f16(((float *)bb->data)[i]);
      ql_tensor_free(bb);
      bb = h;
    }
    in[n_in++] = bb; /* a run-time bias */
    add_vi(&g->inputs, &g->n_inputs, "bias", bb->dtype);
  }
  if (dqmm) {
    const char *ins[5] = {"a", "b", "bs", bzp ? "bzp" : "", bias ? "bias" : ""};
    node(m, "DynamicQuantizeMatMul", "com.microsoft", ins, bias ? 5 : bzp ? 4 : 3, (const char *const[]){"y"}, 1);
    in[0] = batch ? ql_tensor_new(QL_FLOAT, 3, ad, NULL) : ql_tensor_new(QL_FLOAT, 2, ad + 1, NULL);
    fill_special(in[0]->data, in[0]->numel, (int)(rnd() % 3));
  } else {
    add_const(m, "as", as);
    as = NULL;
    add_const(m, "azp", rand_q8(at, 0, NULL));
    const char *ins[7] = {"a", "b", "as", "bs", "azp", bzp ? "bzp" : "", bias ? "bias" : ""};
    node(m, "MatMulIntegerToFloat", "com.microsoft", ins, bias ? 7 : bzp ? 6 : 5, (const char *const[]){"y"}, 1);
    in[0] = batch ? rand_q8(at, 3, ad) : rand_q8(at, 2, ad + 1);
  }
  ql_tensor_free(as);
  add_vi(&g->outputs, &g->n_outputs, "y", QL_FLOAT);
  char what[128];
  snprintf(what, sizeof what, "%s %s/%s %lldx%lldx%lldx%lld bzp %d col %d bias %d f16 %d",
           dqmm ? "DynamicQuantizeMatMul" : "MatMulIntegerToFloat", ql_dtype_name(at), ql_dtype_name(bt),
           (long long)batch, (long long)M, (long long)K, (long long)N, bzp, bs_col, bias, f16);
  check_model(m, in, n_in, 1, what);
  for (size_t i = 0; i < n_in; i++) ql_tensor_free(in[i]);
  ql_model_free(m);
}

static void test_ms_ops(void **st) {
  (void)st;
  static const int64_t shapes[][4] = {{0, 1, 16, 16}, {0, 7, 33, 21}, {0, 40, 64, 64}, {3, 5, 100, 35}, {0, 129, 96, 50}};
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (int v = 0; v < 8; v++) {
      const ql_dtype bt = v & 1 ? QL_UINT8 : QL_INT8, at = v & 2 ? QL_UINT8 : QL_INT8;
      const int bzp = v % 3, col = (v >> 1) & 1, bias = (v >> 2) & 1;
      ms_case(1, QL_FLOAT, bt, shapes[si][0], shapes[si][1], shapes[si][2], shapes[si][3], bzp, col, bias, 0);
      ms_case(0, at, bt, shapes[si][0], shapes[si][1], shapes[si][2], shapes[si][3], bzp, col, bias, 0);
    }
  ms_case(0, QL_UINT8, QL_INT8, 0, 9, 40, 24, 1, 1, 1, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernels),     cmocka_unit_test(test_kernels_hand),
      cmocka_unit_test(test_chain_fused), cmocka_unit_test(test_chain_not_fused),
      cmocka_unit_test(test_ms_ops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

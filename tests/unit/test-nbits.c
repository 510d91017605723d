/* com.microsoft MatMulNBits: hand-worked cases, and the fast path
 * (src/kernels/nbits*.c) against the reference op bit for bit on random
 * shapes, for every ISA this CPU supports at 1 and 2 threads. The reference
 * itself is checked against ONNX Runtime outputs in tests/data/msq. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "ir/ir.h"
#include "kernels/nbits.h"
#include "ops/op.h"

#define GB_RNG_SEED 0x2545F4914F6CDD1Dull
#include "graph-build.h"

typedef struct nb_case {
  int64_t M, K, N, bs;
  int acc4;        /* accuracy_level 4 */
  int zp_kind;     /* 0 none, 1 packed uint8, 2 float */
  int bias;
  int specials;    /* NaN, inf, zero and tiny blocks in A */
} nb_case;

static ql_tensor *tens(ql_dtype t, int rank, const int64_t *dims) { return ql_tensor_new(t, rank, dims, NULL); }

/* The model (B, scales, zero points, bias constant) and a random A. */
static ql_model *build(const nb_case *c, const uint8_t *bq, const float *sc, ql_tensor **a_out) {
  ql_model *m = ql_model_new();
  m->ir_version = 8;
  m->opsets = ql_calloc(2, sizeof *m->opsets);
  m->opsets[0].domain = ql_strdup("");
  m->opsets[0].version = 17;
  m->opsets[1].domain = ql_strdup("com.microsoft");
  m->opsets[1].version = 1;
  m->n_opsets = 2;
  m->graph = ql_graph_new();
  ql_graph *g = m->graph;
  ql_node *n = ql_node_new("MatMulNBits", "com.microsoft", "n");
  ql_node_add_input(n, "a");
  ql_node_add_output(n, "y");
  add_vi(&g->inputs, &g->n_inputs, "a", QL_UNDEFINED);
  add_vi(&g->outputs, &g->n_outputs, "y", QL_UNDEFINED);
  const int64_t kb = (c->K + c->bs - 1) / c->bs;
  ql_node_add_attr(n, "K", QL_ATTR_INT)->i = c->K;
  ql_node_add_attr(n, "N", QL_ATTR_INT)->i = c->N;
  ql_node_add_attr(n, "bits", QL_ATTR_INT)->i = 4;
  ql_node_add_attr(n, "block_size", QL_ATTR_INT)->i = c->bs;
  ql_node_add_attr(n, "accuracy_level", QL_ATTR_INT)->i = c->acc4 ? 4 : 0;
  int64_t bd[3] = {c->N, kb, c->bs / 2}, sd = c->N * kb;
  ql_tensor *b = tens(QL_UINT8, 3, bd), *s = tens(QL_FLOAT, 1, &sd);
  memcpy(b->data, bq, (size_t)b->numel);
  memcpy(s->data, sc, sizeof(float) * (size_t)sd);
  add_init(m, n, "b", b);
  add_init(m, n, "scales", s);
  if (c->zp_kind == 1) {
    int64_t zd = c->N * ((kb + 1) / 2);
    ql_tensor *z = tens(QL_UINT8, 1, &zd);
    for (int64_t i = 0; i < zd; i++) ((uint8_t *)z->data)[i] = (uint8_t)rnd();
    add_init(m, n, "zp", z);
  } else if (c->zp_kind == 2) {
    ql_tensor *z = tens(QL_FLOAT, 1, &sd);
    for (int64_t i = 0; i < sd; i++) ((float *)z->data)[i] = rnd_f(0.0f, 15.0f);
    add_init(m, n, "zp", z);
  } else if (c->bias) {
    ql_node_add_input(n, "");
  }
  if (c->bias) {
    ql_node_add_input(n, ""); /* g_idx */
    ql_tensor *bi = tens(QL_FLOAT, 1, &c->N);
    for (int64_t i = 0; i < c->N; i++) ((float *)bi->data)[i] = rnd_f(-1.0f, 1.0f);
    add_init(m, n, "bias", bi);
  }
  ql_graph_add_node(g, n);
  if (a_out) {
    int64_t ad[2] = {c->M, c->K};
    ql_tensor *a = tens(QL_FLOAT, 2, ad);
    float *ap = a->data;
    for (int64_t i = 0; i < a->numel; i++) ap[i] = rnd_f(-2.0f, 2.0f);
    if (c->specials && c->M * c->K >= 64) {
      ap[rnd() % (uint32_t)a->numel] = NAN;
      ap[rnd() % (uint32_t)a->numel] = 1e30f;
      ap[rnd() % (uint32_t)a->numel] = -INFINITY;
      int64_t r = rnd() % (uint32_t)c->M, k0 = rnd() % (uint32_t)c->K;
      for (int64_t k = k0; k < c->K && k < k0 + c->bs; k++) ap[r * c->K + k] = 0.0f;
      r = rnd() % (uint32_t)c->M, k0 = (rnd() % (uint32_t)kb) * c->bs;
      for (int64_t k = k0; k < c->K && k < k0 + c->bs; k++) ap[r * c->K + k] = 1e-39f * (float)(k & 3); /* subnormal */
    }
    *a_out = a;
  }
  return m;
}

/* Equal bits, except that any NaN matches any NaN (which NaN payload an FMA
 * propagates is not part of the definition). */
static int same(const float *x, const float *y, int64_t n, int64_t *at) {
  for (int64_t i = 0; i < n; i++) {
    if (isnan(x[i]) && isnan(y[i])) continue;
    if (memcmp(&x[i], &y[i], sizeof(float))) {
      *at = i;
      return 0;
    }
  }
  return 1;
}

static const char *const isas[] = {"scalar", "avx2", "avxvnni", "avx512vnni", "amx"};

static void check_case(const nb_case *c) {
  const int64_t kb = (c->K + c->bs - 1) / c->bs, nb = c->N * kb * (c->bs / 2);
  uint8_t *bq = malloc((size_t)nb);
  float *sc = malloc(sizeof(float) * (size_t)(c->N * kb));
  for (int64_t i = 0; i < nb; i++) bq[i] = (uint8_t)rnd();
  for (int64_t i = 0; i < c->N * kb; i++) sc[i] = rnd_f(0.001f, 0.1f);
  ql_tensor *a;
  ql_model *m = build(c, bq, sc, &a);
  ql_session_options ref = {.threads = 1, .reference_only = 1};
  ql_tensor *want = run1(m, a, &ref);
  for (int i = 0; i < QL_ISA_COUNT; i++) {
    if (!ql_isa_supported((ql_isa)i)) continue;
    for (int th = 1; th <= 2; th++) {
      ql_session_options o = {.threads = th, .isa = isas[i]};
      ql_tensor *got = run1(m, a, &o);
      assert_int_equal(got->numel, want->numel);
      int64_t at = 0;
      if (!same(got->data, want->data, want->numel, &at))
        fail_msg("M=%lld K=%lld N=%lld bs=%lld acc4=%d zp=%d bias=%d: element %lld is %.9g, reference %.9g (%s, %d threads)",
                 (long long)c->M, (long long)c->K, (long long)c->N, (long long)c->bs, c->acc4, c->zp_kind, c->bias,
                 (long long)at, (double)((float *)got->data)[at], (double)((float *)want->data)[at], isas[i], th);
      ql_tensor_free(got);
    }
  }
  ql_tensor_free(want);
  ql_tensor_free(a);
  ql_model_free(m);
  free(bq);
  free(sc);
}

/* K = 16, one block, N = 2, no zero points (8), scale 0.5, A = ones:
 * column 0 has q = k, so sum_k (k - 8) * 0.5 = -4; column 1 has q = 15
 * everywhere: 16 * 7 * 0.5 = 56. Bias [1, -1]. Exact in float32. In
 * accuracy_level 4, A quantizes to 127 with a_scale 1/127, so the results
 * are the same up to the rounding of 1/127 * 0.5. */
static void test_hand(void **st) {
  (void)st;
  nb_case c = {.M = 1, .K = 16, .N = 2, .bs = 16, .bias = 1};
  uint8_t bq[16];
  for (int i = 0; i < 8; i++) bq[i] = (uint8_t)((2 * i) | (2 * i + 1) << 4);
  memset(bq + 8, 0xFF, 8);
  float sc[2] = {0.5f, 0.5f};
  for (int acc4 = 0; acc4 <= 1; acc4++)
    for (int refonly = 0; refonly <= 1; refonly++) {
      c.acc4 = acc4;
      ql_model *m = build(&c, bq, sc, NULL);
      /* bias is random: replace it */
      for (size_t i = 0; i < m->graph->n_inits; i++)
        if (!strcmp(m->graph->inits[i]->name, "bias")) {
          ((float *)m->graph->inits[i]->data)[0] = 1.0f;
          ((float *)m->graph->inits[i]->data)[1] = -1.0f;
        }
      int64_t ad[2] = {1, 16};
      ql_tensor *a = tens(QL_FLOAT, 2, ad);
      for (int k = 0; k < 16; k++) ((float *)a->data)[k] = 1.0f;
      ql_session_options o = {.threads = 1, .reference_only = refonly};
      ql_tensor *y = run1(m, a, &o);
      const float *yp = y->data;
      if (!acc4) {
        assert_true(yp[0] == -3.0f);
        assert_true(yp[1] == 55.0f);
      } else {
        assert_true(fabsf(yp[0] + 3.0f) < 1e-5f);
        assert_true(fabsf(yp[1] - 55.0f) < 1e-4f);
      }
      ql_tensor_free(y);
      ql_tensor_free(a);
      ql_model_free(m);
    }
}

static void test_random(void **st) {
  (void)st;
  static const int64_t bss[] = {16, 32, 64, 128};
  for (int t = 0; t < 40; t++) {
    nb_case c;
    c.bs = bss[rnd() % 4];
    c.M = rnd() % 3 == 0 ? 1 : rnd_in(2, 19);
    c.K = rnd() % 4 == 0 ? c.bs * rnd_in(1, 6) : rnd_in(1, 300);
    c.N = rnd() % 4 == 0 ? 32 * rnd_in(1, 3) : rnd_in(1, 90);
    c.acc4 = (int)(rnd() & 1);
    c.zp_kind = rnd_in(0, c.acc4 ? 1 : 2);
    c.bias = (int)(rnd() & 1);
    c.specials = c.acc4 && (rnd() & 1);
    check_case(&c);
  }
  /* larger ones: full panels, several K chunks of the float kernels */
  nb_case big[] = {{.M = 37, .K = 1000, .N = 100, .bs = 32, .acc4 = 1, .zp_kind = 1, .bias = 1, .specials = 1},
                   {.M = 37, .K = 1000, .N = 100, .bs = 64, .acc4 = 0, .zp_kind = 2, .bias = 1},
                   {.M = 1, .K = 2048, .N = 256, .bs = 32, .acc4 = 1},
                   {.M = 9, .K = 700, .N = 65, .bs = 16, .acc4 = 0, .zp_kind = 1}};
  for (size_t i = 0; i < sizeof big / sizeof *big; i++) check_case(&big[i]);
}

/* The packing entry point refuses what it cannot do instead of guessing. */
static void test_pack_args(void **st) {
  (void)st;
  uint8_t b[8] = {0};
  float s[1] = {1.0f};
  ql_nbits_packed *pb = NULL;
  ql_error e = {0};
  assert_int_not_equal(ql_nbits_pack(b, s, NULL, NULL, 16, 1, 24, QL_NBITS_F32, QL_ISA_AUTO, &pb, &e), QL_OK);
  assert_null(pb);
  assert_int_not_equal(ql_nbits_pack(b, s, NULL, s, 16, 1, 16, QL_NBITS_INT8, QL_ISA_AUTO, &pb, &e), QL_OK);
  assert_int_equal(ql_nbits_pack(b, s, NULL, NULL, 16, 1, 16, QL_NBITS_INT8, QL_ISA_AUTO, &pb, &e), QL_OK);
  ql_nbits_packed_free(pb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hand),
      cmocka_unit_test(test_random),
      cmocka_unit_test(test_pack_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

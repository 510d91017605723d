/* --target-sqnr (mixed.c): a two-MatMul model with one channel scaled by 1000
 * in the first weight and by 1/1000 in the second (the float function does
 * not change). Per-tensor int8 activations then have a step of ~16 on a
 * tensor whose other channels are ~1, and the second weight's per-column
 * scale rounds its small rows away while the big channel multiplies the
 * error: t1, r1 and W2 must stay float; x and W1 quantize fine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#define GB_RNG_SEED 0x5eed1234abcdull
#include "graph-build.h"
#include "quant/quant.h"
#include "quant/report.h"

enum { K = 16, N = 4, ROWS = 4, SAMPLES = 8 };

static ql_model *scaled_mlp(void) {
  ql_model *m = new_model(17);
  ql_graph *g = m->graph;
  int64_t d1[2] = {K, K}, d2[2] = {K, N};
  ql_tensor *w1 = ql_tensor_new(QL_FLOAT, 2, d1, NULL), *w2 = ql_tensor_new(QL_FLOAT, 2, d2, NULL);
  for (int i = 0; i < K * K; i++) ((float *)w1->data)[i] = rnd_f(-0.5f, 0.5f) * (i % K == 0 ? 1000.0f : 1.0f);
  for (int i = 0; i < K * N; i++) ((float *)w2->data)[i] = rnd_f(-0.5f, 0.5f) * (i / N == 0 ? 0.001f : 1.0f);
  ql_node *a = ql_node_new("MatMul", "", "mm1"), *r = ql_node_new("Relu", "", "relu"), *b = ql_node_new("MatMul", "", "mm2");
  ql_node_add_input(a, "x");
  add_init(m, a, "W1", w1);
  ql_node_add_output(a, "t1");
  ql_node_add_input(r, "t1");
  ql_node_add_output(r, "r1");
  ql_node_add_input(b, "r1");
  add_init(m, b, "W2", w2);
  ql_node_add_output(b, "y");
  ql_graph_add_node(g, a);
  ql_graph_add_node(g, r);
  ql_graph_add_node(g, b);
  add_vi(&g->inputs, &g->n_inputs, "x", QL_FLOAT);
  add_vi(&g->outputs, &g->n_outputs, "y", QL_FLOAT);
  return m;
}

static int has(char **l, const char *name) {
  for (size_t i = 0; l && l[i]; i++)
    if (!strcmp(l[i], name)) return 1;
  return 0;
}

/* the output SQNR of qm against fm over the samples, measured directly */
static double output_sqnr(const ql_model *fm, const ql_model *qm, const ql_samples *s) {
  ql_session_options so = {.threads = 1};
  double sig = 0, noise = 0;
  for (size_t i = 0; i < s->n; i++) {
    ql_tensor *a = run1(fm, s->inputs[i][0], &so), *b = run1(qm, s->inputs[i][0], &so);
    assert_int_equal(a->numel, b->numel);
    for (int64_t k = 0; k < a->numel; k++) {
      double x = ((float *)a->data)[k], d = x - ((float *)b->data)[k];
      sig += x * x;
      noise += d * d;
    }
    ql_tensor_free(a);
    ql_tensor_free(b);
  }
  return ql_sqnr_db(sig, noise);
}

/* SAMPLES random inputs in [-1, 1], held in memory */
typedef struct {
  ql_tensor *xs[SAMPLES], *one[SAMPLES][1];
  ql_tensor **per[SAMPLES];
} calib_set;

static void calib_set_init(calib_set *c) {
  int64_t dx[2] = {ROWS, K};
  for (int i = 0; i < SAMPLES; i++) {
    c->xs[i] = ql_tensor_new(QL_FLOAT, 2, dx, NULL);
    for (int k = 0; k < ROWS * K; k++) ((float *)c->xs[i]->data)[k] = rnd_f(-1.0f, 1.0f);
    c->one[i][0] = c->xs[i];
    c->per[i] = c->one[i];
  }
}

static void calib_set_free(calib_set *c) {
  for (int i = 0; i < SAMPLES; i++) ql_tensor_free(c->xs[i]);
}

static void test_target_sqnr_keeps_the_scaled_path(void **state) {
  (void)state;
  ql_model *fm = scaled_mlp();
  calib_set cs;
  calib_set_init(&cs);
  ql_samples s = {.n = SAMPLES, .n_inputs = 1, .inputs = cs.per};
  ql_quant_options o;
  ql_quant_options_default(&o);
  o.per_channel = 1;
  ql_error err = {0};
  ql_model *folded = NULL, *all8 = NULL, *mixed = NULL;
  ql_ranges ranges;
  assert_int_equal(ql_quant_prepare(fm, &s, &o, &folded, &ranges, &err), QL_OK);
  assert_int_equal(ql_quant_apply(folded, &ranges, NULL, &o, &all8, &err), QL_OK);
  double all8_db = output_sqnr(fm, all8, &s);
  if (all8_db > 10) fail_msg("all-int8 SQNR %.2f dB: the case is not hard enough to test anything", all8_db);

  char **kept = NULL;
  double got = 0;
  assert_int_equal(ql_quant_target_sqnr(folded, &ranges, &s, &o, 30.0, &kept, &got, &err), QL_OK);
  assert_true(got >= 30.0);
  assert_true(has(kept, "t1") && has(kept, "r1") && has(kept, "W2"));
  assert_false(has(kept, "x") || has(kept, "W1"));
  o.keep_float = (const char *const *)kept;
  for (o.n_keep_float = 0; kept[o.n_keep_float];) o.n_keep_float++;
  assert_int_equal(ql_quant_apply(folded, &ranges, NULL, &o, &mixed, &err), QL_OK);
  double mixed_db = output_sqnr(fm, mixed, &s);
  if (!(mixed_db >= 30.0)) fail_msg("mixed model %.2f dB", mixed_db);
  /* x is still quantized: the first MatMul reads it through Q/DQ */
  int q_x = 0;
  for (size_t i = 0; i < mixed->graph->n_nodes; i++)
    q_x |= !strcmp(mixed->graph->nodes[i]->op_type, "QuantizeLinear") && !strcmp(mixed->graph->nodes[i]->inputs[0], "x");
  assert_true(q_x);

  ql_strlist_free(kept);
  ql_model_free(mixed);
  ql_model_free(all8);
  ql_model_free(folded);
  ql_ranges_free(&ranges);
  ql_model_free(fm);
  calib_set_free(&cs);
}

/* --target-keep int16: the same tensors, quantized to int16 (com.microsoft Q/DQ at opset 17), no float left */
static void test_target_sqnr_int16(void **state) {
  (void)state;
  ql_model *fm = scaled_mlp();
  calib_set cs;
  calib_set_init(&cs);
  ql_samples s = {.n = SAMPLES, .n_inputs = 1, .inputs = cs.per};
  ql_quant_options o;
  ql_quant_options_default(&o);
  o.per_channel = 1;
  o.keep_int16 = 1;
  ql_error err = {0};
  ql_model *folded = NULL, *mixed = NULL;
  ql_ranges ranges;
  assert_int_equal(ql_quant_prepare(fm, &s, &o, &folded, &ranges, &err), QL_OK);
  char **kept = NULL;
  double got = 0;
  assert_int_equal(ql_quant_target_sqnr(folded, &ranges, &s, &o, 30.0, &kept, &got, &err), QL_OK);
  assert_true(got >= 30.0);
  assert_true(has(kept, "W2"));
  o.keep_float = (const char *const *)kept;
  for (o.n_keep_float = 0; kept[o.n_keep_float];) o.n_keep_float++;
  assert_int_equal(ql_quant_apply(folded, &ranges, NULL, &o, &mixed, &err), QL_OK);
  double mixed_db = output_sqnr(fm, mixed, &s);
  if (!(mixed_db >= 30.0)) fail_msg("mixed model %.2f dB", mixed_db);
  const ql_tensor *w2 = ql_graph_find_init(mixed->graph, "W2_quantized");
  assert_non_null(w2);
  assert_int_equal(w2->dtype, QL_INT16);
  int ms_q = 0;
  for (size_t i = 0; i < mixed->graph->n_nodes; i++) {
    const ql_node *n = mixed->graph->nodes[i];
    ms_q += !strcmp(n->op_type, "QuantizeLinear") && !strcmp(n->domain, "com.microsoft");
    /* every MatMul reads dequantized operands: nothing stays float */
    if (!strcmp(n->op_type, "MatMul"))
      for (size_t k = 0; k < n->n_inputs; k++) assert_null(ql_graph_find_init(mixed->graph, n->inputs[k]));
  }
  assert_true(ms_q >= 1);
  ql_strlist_free(kept);
  ql_model_free(mixed);
  ql_model_free(folded);
  ql_ranges_free(&ranges);
  ql_model_free(fm);
  calib_set_free(&cs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_target_sqnr_keeps_the_scaled_path),
      cmocka_unit_test(test_target_sqnr_int16),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

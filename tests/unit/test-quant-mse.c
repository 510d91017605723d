/* --method mse (calibrate.c mse_range) on hand-worked distributions: an
 * Identity model whose input is observed by ql_calibrate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph-build.h"
#include "quant/quant.h"

static ql_model *identity_model(void) {
  ql_model *m = new_model(17);
  ql_graph *g = m->graph;
  ql_node *n = ql_node_new("Identity", "", "id");
  ql_node_add_input(n, "x");
  ql_node_add_output(n, "y");
  ql_graph_add_node(g, n);
  add_vi(&g->inputs, &g->n_inputs, "x", QL_FLOAT);
  add_vi(&g->outputs, &g->n_outputs, "y", QL_UNDEFINED);
  return m;
}

/* n_bulk values 1.0, n_zero exact zeros, one outlier; the range `method` gives x */
static void calibrate_case(ql_calib_method method, int64_t n_bulk, int64_t n_zero, float outlier, float *lo, float *hi) {
  ql_model *m = identity_model();
  int64_t n = n_bulk + n_zero + 1;
  ql_tensor *x = ql_tensor_new(QL_FLOAT, 1, &n, NULL);
  assert_non_null(x);
  float *d = x->data;
  for (int64_t i = 0; i < n_bulk; i++) d[i] = 1.0f;
  for (int64_t i = 0; i < n_zero; i++) d[n_bulk + i] = 0.0f;
  d[n - 1] = outlier;
  ql_tensor *one[1] = {x};
  ql_tensor **per_sample[1] = {one};
  ql_samples s = {.n = 1, .n_inputs = 1, .inputs = per_sample};
  ql_quant_options o;
  ql_quant_options_default(&o);
  o.method = method;
  const char *names[1] = {"x"};
  ql_ranges r;
  ql_error err = {0};
  assert_int_equal(ql_calibrate(m, &s, names, 1, &o, &r, &err), QL_OK);
  assert_int_equal(r.n, 1);
  *lo = r.r[0].rmin;
  *hi = r.r[0].rmax;
  ql_ranges_free(&r);
  ql_tensor_free(x);
  ql_model_free(m);
}

/* 189,000 values at 1.0 and one at 1000, int8 asymmetric (256 levels over
 * [0, 1000 f]). Expected squared error (2,048 bins: the outlier's bin centre
 * is 999.76): g(f) = (999.76 - 1000 f)^2 + 189000 (1000 f / 255)^2 / 12,
 * g'(f) = 0 at 999.76 = (1000 + 242.2) f, f = 0.805: the outlier is clipped
 * to about 805. */
static void test_mse_clips_a_rare_outlier(void **state) {
  (void)state;
  float lo, hi;
  calibrate_case(QL_CALIB_MSE, 189000, 0, 1000.0f, &lo, &hi);
  assert_true(lo == 0.0f);
  assert_true(hi >= 790.0f && hi <= 820.0f);
  /* MinMax (ONNX Runtime's) keeps the extremes */
  calibrate_case(QL_CALIB_MINMAX, 189000, 0, 1000.0f, &lo, &hi);
  assert_true(lo == 1.0f && hi == 1000.0f);
}

/* One outlier among 100 values: g(1) = 100 (1000/255)^2 / 12 = 128, while any
 * f <= 0.99 costs at least (999.76 - 990)^2 = 95 for the outlier plus
 * 100 (990/255)^2 / 12 = 126: the range stays MinMax's (the observed
 * extremes; 0 joins the range when the scale is computed). */
static void test_mse_keeps_a_frequent_extreme(void **state) {
  (void)state;
  float lo, hi;
  calibrate_case(QL_CALIB_MSE, 100, 0, 1000.0f, &lo, &hi);
  assert_true(lo == 1.0f && hi == 1000.0f);
}

/* Exact zeros (what a Relu writes) quantize without error and must not pull
 * the range: a million of them added to the first case change nothing. */
static void test_mse_zeros_are_free(void **state) {
  (void)state;
  float lo0, hi0, lo1, hi1;
  calibrate_case(QL_CALIB_MSE, 189000, 0, 1000.0f, &lo0, &hi0);
  calibrate_case(QL_CALIB_MSE, 189000, 1000000, 1000.0f, &lo1, &hi1);
  assert_true(lo0 == lo1 && hi0 == hi1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mse_clips_a_rare_outlier),
      cmocka_unit_test(test_mse_keeps_a_frequent_extreme),
      cmocka_unit_test(test_mse_zeros_are_free),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The verifier's library API (src/verify): findings name the right rule,
 * node and tensor; Constant-node parameters are read; annotate makes a model
 * verify clean under --strict; and every allocation failure ends in
 * QL_ERR_OUT_OF_MEMORY, never a crash or leak (run under ASan too).
 * Expected values are hand-worked from the models gen.py builds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "verify/verify.h"

#define DATA QL_TEST_DATA "/verify"

static ql_model *load(const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", DATA, rel);
  ql_error err = {0};
  ql_model *m = NULL;
  if (ql_model_load_file(path, NULL, &m, &err)) fail_msg("cannot load %s: %s", path, err.msg);
  return m;
}

static void test_scale_zero_finding(void **state) {
  (void)state;
  ql_model *m = load("bad/scale-invalid__zero.onnx");
  ql_vreport r;
  ql_error err = {0};
  assert_int_equal(ql_verify_model(m, NULL, &r, &err), QL_OK);
  assert_int_equal(r.n_errors, 1);
  assert_int_equal(r.n_warnings, 0);
  assert_string_equal(r.items[0].rule, "scale-invalid");
  assert_string_equal(r.items[0].node, "q");
  assert_string_equal(r.items[0].op_type, "QuantizeLinear");
  assert_string_equal(r.items[0].tensor, "xq");
  assert_non_null(strstr(r.items[0].message, "is 0"));
  assert_int_equal(r.quant_nodes, 2);
  assert_int_equal(r.quantized_tensors, 1);
  ql_vreport_free(&r);
  ql_model_free(m);
}

/* x -> Q(Constant value_float, Constant value_int zp) -> DQ: the parameters
 * are static, so no dynamic-params; a negative Constant scale is found. */
static ql_model *constant_model(float scale) {
  ql_model *m = ql_model_new();
  assert_non_null(m);
  m->ir_version = 8;
  m->opsets = calloc(1, sizeof *m->opsets);
  m->opsets[0].domain = strdup("");
  m->opsets[0].version = 13;
  m->n_opsets = 1;
  ql_graph *g = m->graph = ql_graph_new();
  assert_non_null(g);
  ql_node *cs = ql_node_new("Constant", "", "cs");
  ql_node_add_output(cs, "s");
  ql_node_add_attr(cs, "value_float", QL_ATTR_FLOAT)->f = scale;
  ql_node *q = ql_node_new("QuantizeLinear", "", "q");
  ql_node_add_input(q, "x");
  ql_node_add_input(q, "s");
  ql_node_add_output(q, "xq");
  ql_node *dq = ql_node_new("DequantizeLinear", "", "dq");
  ql_node_add_input(dq, "xq");
  ql_node_add_input(dq, "s");
  ql_node_add_output(dq, "y");
  ql_graph_add_node(g, cs);
  ql_graph_add_node(g, q);
  ql_graph_add_node(g, dq);
  g->inputs = calloc(1, sizeof *g->inputs);
  g->inputs[0].name = strdup("x");
  g->inputs[0].elem_type = QL_FLOAT;
  g->inputs[0].rank = -1;
  g->inputs[0].is_tensor = 1;
  g->n_inputs = 1;
  return m;
}

static void test_constant_params(void **state) {
  (void)state;
  ql_model *m = constant_model(0.25f);
  ql_vreport r;
  assert_int_equal(ql_verify_model(m, NULL, &r, NULL), QL_OK);
  assert_int_equal(r.n, 0); /* static (Constant), valid, one meaning */
  ql_vreport_free(&r);
  ql_model_free(m);
  m = constant_model(-1.0f);
  ql_verify_options o = {.strict = 1};
  assert_int_equal(ql_verify_model(m, &o, &r, NULL), QL_OK);
  /* scale-invalid once (one scale tensor), and --strict: xq is not annotated */
  size_t n_scale = 0, n_ann = 0;
  for (size_t i = 0; i < r.n; i++) {
    n_scale += !strcmp(r.items[i].rule, "scale-invalid");
    n_ann += !strcmp(r.items[i].rule, "annotation-mismatch");
  }
  assert_int_equal(n_scale, 1);
  assert_int_equal(n_ann, 1);
  assert_int_equal(r.n, 2);
  ql_vreport_free(&r);
  ql_model_free(m);
}

static void test_annotate_then_strict(void **state) {
  (void)state;
  const char *models[] = {"good/qoperator_conv_chain.onnx", "good/qdq_conv_per_channel.onnx",
                          "good/ms_qlinear_ops.onnx", "good/qdq_conv_annotated.onnx"};
  for (size_t k = 0; k < sizeof models / sizeof *models; k++) {
    ql_model *m = load(models[k]);
    size_t n = 0;
    assert_int_equal(ql_annotate_model(m, &n, NULL), QL_OK);
    ql_vreport r;
    ql_verify_options o = {.strict = 1};
    assert_int_equal(ql_verify_model(m, &o, &r, NULL), QL_OK);
    if (r.n) fail_msg("%s: %s: %s", models[k], r.items[0].rule, r.items[0].message);
    assert_int_equal(r.quantized_tensors, n);
    assert_true(n > 0);
    ql_vreport_free(&r);
    ql_model_free(m);
  }
}

/* QOperator chain conv1 -> Transpose -> MaxPool -> conv2: 7 quantized tensors
 * (xq, w1, y1, its two pass-through copies, w2, y2). */
static void test_qoperator_count(void **state) {
  (void)state;
  ql_model *m = load("good/qoperator_conv_chain.onnx");
  ql_vreport r;
  assert_int_equal(ql_verify_model(m, NULL, &r, NULL), QL_OK);
  assert_int_equal(r.quantized_tensors, 7);
  assert_int_equal(r.n, 0);
  ql_vreport_free(&r);
  ql_model_free(m);
}

static void test_oom(void **state) {
  (void)state;
  const char *models[] = {"good/qoperator_conv_chain.onnx", "bad/tensor-params-conflict__qoperator_through_reshape.onnx",
                          "good/qdq_conv_annotated.onnx", "bad/accumulator-overflow__qlinearconv_bias.onnx"};
  for (size_t k = 0; k < sizeof models / sizeof *models; k++) {
    int completed = 0;
    for (uint64_t at = 1; at < 5000 && !completed; at++) {
      ql_model *m = load(models[k]);
      ql_vreport r;
      ql_error err = {0};
      size_t n = 0;
      ql_fault_inject_set(at);
      ql_status s1 = ql_verify_model(m, NULL, &r, &err);
      ql_status s2 = ql_annotate_model(m, &n, &err);
      ql_fault_inject_set(0);
      assert_true(s1 == QL_OK || s1 == QL_ERR_OUT_OF_MEMORY);
      assert_true(s2 == QL_OK || s2 == QL_ERR_OUT_OF_MEMORY);
      completed = s1 == QL_OK && s2 == QL_OK;
      ql_vreport_free(&r);
      ql_model_free(m);
    }
    assert_true(completed);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scale_zero_finding), cmocka_unit_test(test_constant_params),
      cmocka_unit_test(test_annotate_then_strict), cmocka_unit_test(test_qoperator_count),
      cmocka_unit_test(test_oom),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Runtime structure: ordering, cycles, undefined names, registry version
 * resolution, constant folding, function inlining, subgraph capture. Models
 * are built in memory with the IR API so each case isolates one rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "ir/ir.h"
#include "ops/op.h"
#include "graph-build.h"

static ql_node *add_node(ql_graph *g, const char *op, const char *in, const char *out) {
  ql_node *n = ql_node_new(op, "", out);
  if (in) ql_node_add_input(n, in);
  ql_node_add_output(n, out);
  ql_graph_add_node(g, n);
  return n;
}

static ql_tensor *scalar(float v) {
  ql_tensor *t = ql_tensor_new(QL_FLOAT, 0, NULL, NULL);
  ((float *)t->data)[0] = v;
  return t;
}

static void test_orders_nodes_given_out_of_order(void **state) {
  (void)state;
  ql_model *m = new_model(13);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "a", QL_FLOAT);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "c", QL_FLOAT);
  add_node(m->graph, "Identity", "b", "c");
  add_node(m->graph, "Identity", "a", "b");
  ql_session *s;
  ql_error e = {0};
  assert_int_equal(ql_session_create(m, NULL, &s, &e), QL_OK);
  ql_tensor *in = scalar(2.5f), *out = NULL;
  assert_int_equal(ql_session_run(s, (const ql_tensor *const *)&in, 1, &out, 1, &e), QL_OK);
  assert_true(((float *)out->data)[0] == 2.5f);
  ql_tensor_free(in);
  ql_tensor_free(out);
  ql_session_free(s);
  ql_model_free(m);
}

static void test_rejects_cycle(void **state) {
  (void)state;
  ql_model *m = new_model(13);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "c", QL_FLOAT);
  add_node(m->graph, "Identity", "c", "b");
  add_node(m->graph, "Identity", "b", "c");
  ql_session *s = NULL;
  ql_error e = {0};
  assert_int_equal(ql_session_create(m, NULL, &s, &e), QL_ERR_INVALID_MODEL);
  assert_non_null(strstr(e.msg, "cycle"));
  assert_null(s);
  ql_model_free(m);
}

static void test_rejects_undefined_input(void **state) {
  (void)state;
  ql_model *m = new_model(13);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "c", QL_FLOAT);
  add_node(m->graph, "Identity", "nowhere", "c");
  ql_session *s = NULL;
  ql_error e = {0};
  assert_int_equal(ql_session_create(m, NULL, &s, &e), QL_ERR_INVALID_MODEL);
  assert_non_null(strstr(e.msg, "'nowhere' is not defined"));
  ql_model_free(m);
}

static void test_lists_every_unsupported_op_at_creation(void **state) {
  (void)state;
  ql_model *m = new_model(13);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "a", QL_FLOAT);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "c", QL_FLOAT);
  add_node(m->graph, "NoSuchOpOne", "a", "b");
  add_node(m->graph, "NoSuchOpTwo", "b", "c");
  ql_session *s = NULL;
  ql_error e = {0};
  assert_int_equal(ql_session_create(m, NULL, &s, &e), QL_ERR_UNSUPPORTED);
  assert_non_null(strstr(e.msg, "2 unsupported operators"));
  assert_non_null(strstr(e.msg, "NoSuchOpOne (ai.onnx) opset 13"));
  assert_non_null(strstr(e.msg, "NoSuchOpTwo (ai.onnx) opset 13"));
  ql_model_free(m);
}

static void test_registry_maps_opset_to_schema_version(void **state) {
  (void)state;
  ql_op_resolution r;
  ql_error e = {0};
  /* Identity schemas: 1, 13, 14, 16, 19, 21, 23, 24, 25: opset 18 -> v16 */
  assert_int_equal(ql_op_resolve("", "Identity", 18, &r, &e), QL_OK);
  assert_int_equal(r.version, 16);
  assert_int_equal(ql_op_resolve("ai.onnx", "Identity", 27, &r, &e), QL_OK);
  assert_int_equal(r.version, 25);
}

static void test_refuses_newer_opset_than_known(void **state) {
  (void)state;
  ql_model *m = new_model(QL_MAX_AI_ONNX_OPSET + 1);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "a", QL_FLOAT);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "b", QL_FLOAT);
  add_node(m->graph, "Identity", "a", "b");
  ql_session *s = NULL;
  ql_error e = {0};
  assert_int_equal(ql_session_create(m, NULL, &s, &e), QL_ERR_UNSUPPORTED);
  assert_non_null(strstr(e.msg, "opset 28"));
  ql_model_free(m);
}

static void test_folds_constants_and_runs_without_inputs(void **state) {
  (void)state;
  ql_model *m = new_model(13);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "y", QL_FLOAT);
  ql_node *c = add_node(m->graph, "Constant", NULL, "k");
  ql_attr *a = ql_node_add_attr(c, "value_float", QL_ATTR_FLOAT);
  a->f = 7.25f;
  add_node(m->graph, "Identity", "k", "y");
  ql_session *s;
  ql_error e = {0};
  assert_int_equal(ql_session_create(m, NULL, &s, &e), QL_OK);
  ql_tensor *out = NULL;
  for (int i = 0; i < 2; i++) { /* folded once, the output is a copy every run */
    assert_int_equal(ql_session_run(s, NULL, 0, &out, 1, &e), QL_OK);
    assert_true(((float *)out->data)[0] == 7.25f);
    ql_tensor_free(out);
  }
  ql_session_free(s);
  ql_model_free(m);
}

static void test_inlines_model_local_function(void **state) {
  (void)state;
  ql_model *m = new_model(13);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "x", QL_FLOAT);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "y", QL_FLOAT);
  ql_node *call = ql_node_new("Twice", "local", "call0");
  ql_node_add_input(call, "x");
  ql_node_add_output(call, "y");
  ql_graph_add_node(m->graph, call);
  m->opsets = ql_realloc(m->opsets, 2 * sizeof *m->opsets);
  m->opsets[1].domain = ql_strdup("local");
  m->opsets[1].version = 1;
  m->n_opsets = 2;
  m->functions = ql_calloc(1, sizeof *m->functions);
  m->n_functions = 1;
  ql_function *f = &m->functions[0];
  f->name = ql_strdup("Twice");
  f->domain = ql_strdup("local");
  f->inputs = ql_calloc(1, sizeof(char *));
  f->inputs[0] = ql_strdup("fx");
  f->n_inputs = 1;
  f->outputs = ql_calloc(1, sizeof(char *));
  f->outputs[0] = ql_strdup("fy");
  f->n_outputs = 1;
  f->nodes = ql_calloc(2, sizeof(ql_node *));
  f->nodes[0] = ql_node_new("Identity", "", "i0");
  ql_node_add_input(f->nodes[0], "fx");
  ql_node_add_output(f->nodes[0], "tmp");
  f->nodes[1] = ql_node_new("Identity", "", "i1");
  ql_node_add_input(f->nodes[1], "tmp");
  ql_node_add_output(f->nodes[1], "fy");
  f->n_nodes = 2;
  ql_session *s;
  ql_error e = {0};
  assert_int_equal(ql_session_create(m, NULL, &s, &e), QL_OK);
  ql_tensor *in = scalar(-3.0f), *out = NULL;
  assert_int_equal(ql_session_run(s, (const ql_tensor *const *)&in, 1, &out, 1, &e), QL_OK);
  assert_true(((float *)out->data)[0] == -3.0f);
  ql_tensor_free(in);
  ql_tensor_free(out);
  ql_session_free(s);
  ql_model_free(m);
}

static void test_rejects_wrong_input_type(void **state) {
  (void)state;
  ql_model *m = new_model(13);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "a", QL_FLOAT);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "b", QL_FLOAT);
  add_node(m->graph, "Identity", "a", "b");
  ql_session *s;
  ql_error e = {0};
  assert_int_equal(ql_session_create(m, NULL, &s, &e), QL_OK);
  int64_t d = 2;
  ql_tensor *in = ql_tensor_new(QL_INT8, 1, &d, NULL), *out = NULL;
  assert_int_equal(ql_session_run(s, (const ql_tensor *const *)&in, 1, &out, 1, &e), QL_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(e.msg, "got int8, the graph declares float32"));
  assert_null(out);
  ql_tensor_free(in);
  ql_session_free(s);
  ql_model_free(m);
}

/* A Loop whose trip count comes from the caller: its scan outputs must stay
 * within the session's tensor limit while they grow, so a huge count ends
 * in QL_ERR_LIMIT, not in running out of memory (found by fuzz-run with the
 * ONNX test_loop11 model). */
static void test_loop_scan_limit(void **state) {
  (void)state;
  ql_model *m = NULL;
  ql_error e = {0};
  assert_int_equal(ql_model_load_file(QL_SHARED_DIR "/onnx-node-tests/node/test_loop11/model.onnx", NULL, &m, &e),
                   QL_OK);
  ql_session_options o = {.threads = 1, .max_tensor_bytes = 1 << 20};
  ql_session *s = NULL;
  assert_int_equal(ql_session_create(m, &o, &s, &e), QL_OK);
  const int64_t one = 1;
  ql_tensor *in[3] = {ql_tensor_new(QL_INT64, 0, NULL, NULL), ql_tensor_new(QL_BOOL, 0, NULL, NULL),
                      ql_tensor_new(QL_FLOAT, 1, &one, NULL)};
  *(int64_t *)in[0]->data = (int64_t)1 << 40;
  *(uint8_t *)in[1]->data = 1;
  ql_tensor *out[2] = {NULL, NULL};
  assert_int_equal(ql_session_run(s, (const ql_tensor *const *)in, 3, out, 2, &e), QL_ERR_LIMIT);
  assert_non_null(strstr(e.msg, "tensor limit"));
  /* a count it can do still works: 5 iterations, as the node test */
  *(int64_t *)in[0]->data = 5;
  assert_int_equal(ql_session_run(s, (const ql_tensor *const *)in, 3, out, 2, &e), QL_OK);
  assert_int_equal(out[1]->numel, 5);
  for (int i = 0; i < 2; i++) ql_tensor_free(out[i]);
  for (int i = 0; i < 3; i++) ql_tensor_free(in[i]);
  ql_session_free(s);
  ql_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_orders_nodes_given_out_of_order),
      cmocka_unit_test(test_rejects_cycle),
      cmocka_unit_test(test_rejects_undefined_input),
      cmocka_unit_test(test_lists_every_unsupported_op_at_creation),
      cmocka_unit_test(test_registry_maps_opset_to_schema_version),
      cmocka_unit_test(test_refuses_newer_opset_than_known),
      cmocka_unit_test(test_folds_constants_and_runs_without_inputs),
      cmocka_unit_test(test_inlines_model_local_function),
      cmocka_unit_test(test_rejects_wrong_input_type),
      cmocka_unit_test(test_loop_scan_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

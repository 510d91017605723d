/* The public API end to end on a real quantized model: load, verify,
 * annotate, save, reload, run; only include/qlinear.h is used. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qlinear.h"

static void test_verify_annotate_roundtrip(void **state) {
  (void)state;
  ql_error err = {0};
  ql_model *m = NULL;
  assert_int_equal(ql_model_load_file(QL_SHARED_DIR "/models/retinaface-qdq.onnx", NULL, &m, &err), QL_OK);
  ql_verify_report *r = NULL;
  /* RetinaFace is unannotated: strict asks for annotations, nothing else is wrong */
  assert_int_equal(ql_model_verify(m, QL_VERIFY_STRICT, &r, &err), QL_OK);
  assert_true(ql_verify_report_errors(r) > 0);
  for (size_t i = 0; i < ql_verify_report_count(r); i++) {
    const char *rule;
    int is_error;
    assert_int_equal(ql_verify_report_get(r, i, &rule, &is_error, NULL, NULL, NULL), QL_OK);
    if (is_error) assert_string_equal(rule, "annotation-mismatch");
  }
  ql_verify_report_free(r);
  size_t n = 0;
  assert_int_equal(ql_model_annotate(m, &n, &err), QL_OK);
  assert_int_equal(n, 162); /* one per QuantizeLinear output: 162 Q nodes */
  char path[] = "/tmp/ql-api-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(ql_model_save_file(m, path, &err), QL_OK);
  ql_model_free(m);
  assert_int_equal(ql_model_load_file(path, NULL, &m, &err), QL_OK);
  remove(path);
  assert_int_equal(ql_model_verify(m, QL_VERIFY_STRICT, &r, &err), QL_OK);
  assert_int_equal(ql_verify_report_errors(r), 0);
  ql_verify_report_free(r);
  ql_session *s = NULL;
  assert_int_equal(ql_session_create(m, NULL, &s, &err), QL_OK);
  ql_model_free(m);
  assert_int_equal(ql_session_input_count(s), 1);
  assert_int_equal(ql_session_output_count(s), 3);
  int rank;
  int64_t dims[QL_MAX_RANK];
  assert_int_equal(ql_session_input_info(s, 0, &rank, dims), QL_FLOAT);
  ql_tensor *x = NULL, *out[3] = {0};
  assert_int_equal(ql_tensor_create(QL_FLOAT, rank, dims, &x, &err), QL_OK);
  assert_int_equal(ql_session_run(s, (const ql_tensor *const *)&x, 1, out, 3, &err), QL_OK);
  assert_int_equal(out[0]->dims[1], 4200); /* boxes [1, 4200, 4] */
  for (int j = 0; j < 3; j++) ql_tensor_free(out[j]);
  ql_tensor_free(x);
  ql_session_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_verify_annotate_roundtrip)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

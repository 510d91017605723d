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
#include <math.h>

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

/* ql_quantize_static on the bundled MNIST model and digits: the result
 * verifies strictly, and on 20 calibration digits its logits are within
 * 30 dB of the float model's with the same top-1 class. */
static double mnist_sqnr(const ql_model *fm, const ql_model *qm, int *agree) {
  ql_session *fs, *qs;
  ql_error err = {0};
  assert_int_equal(ql_session_create(fm, NULL, &fs, &err), QL_OK);
  assert_int_equal(ql_session_create(qm, NULL, &qs, &err), QL_OK);
  double sig = 0, noise = 0;
  *agree = 0;
  for (int i = 0; i < 20; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/../../data/mnist-calib/%03d/input_0.pb", QL_TEST_DATA, i);
    ql_tensor *x, *a = NULL, *b = NULL;
    assert_int_equal(ql_tensor_load_pb(path, &x, &err), QL_OK);
    const ql_tensor *in[1] = {x};
    assert_int_equal(ql_session_run(fs, in, 1, &a, 1, &err), QL_OK);
    assert_int_equal(ql_session_run(qs, in, 1, &b, 1, &err), QL_OK);
    int64_t n = a->numel, ia = 0, ib = 0;
    assert_int_equal(n, b->numel);
    for (int64_t k = 0; k < n; k++) {
      double u = ql_tensor_get_f64(a, k), v = ql_tensor_get_f64(b, k);
      sig += u * u;
      noise += (u - v) * (u - v);
      if (u > ql_tensor_get_f64(a, ia)) ia = k;
      if (v > ql_tensor_get_f64(b, ib)) ib = k;
    }
    *agree += ia == ib;
    ql_tensor_free(x);
    ql_tensor_free(a);
    ql_tensor_free(b);
  }
  ql_session_free(fs);
  ql_session_free(qs);
  return 10.0 * log10(sig / noise);
}

static void test_quantize_static(void **state) {
  (void)state;
  ql_model *fm = NULL, *qm = NULL;
  ql_error err = {0};
  assert_int_equal(ql_model_load_file(QL_SHARED_DIR "/models/mnist-float.onnx", NULL, &fm, &err), QL_OK);
  ql_quantize_options o = {.method = QL_QUANTIZE_MINMAX, .per_channel = 1, .qoperator = 1};
  if (ql_quantize_static(fm, QL_TEST_DATA "/../../data/mnist-calib", &o, &qm, &err)) fail_msg("%s", err.msg);
  ql_verify_report *vr = NULL;
  assert_int_equal(ql_model_verify(qm, QL_VERIFY_STRICT, &vr, &err), QL_OK);
  assert_int_equal(ql_verify_report_errors(vr), 0);
  ql_verify_report_free(vr);
  int agree;
  double db = mnist_sqnr(fm, qm, &agree);
  if (!(db >= 30.0) || agree < 19) fail_msg("quantized MNIST: %.2f dB, top-1 agreement %d/20", db, agree);
  ql_model_free(qm);
  /* refusals: a missing directory, an unknown method; *out stays NULL */
  qm = (ql_model *)&err;
  assert_int_not_equal(ql_quantize_static(fm, QL_TEST_DATA "/no-such-dir", NULL, &qm, &err), QL_OK);
  assert_null(qm);
  o.method = (ql_quantize_method)9;
  assert_int_equal(ql_quantize_static(fm, QL_TEST_DATA "/../../data/mnist-calib", &o, &qm, &err), QL_ERR_INVALID_ARGUMENT);
  assert_null(qm);
  ql_model_free(fm);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_verify_annotate_roundtrip),
                                     cmocka_unit_test(test_quantize_static)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

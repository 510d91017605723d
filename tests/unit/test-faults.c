/* Fault injection (SQLite-style): load a model, create a session and run it
 * with allocation n failing (and every one after it), for n = 1 .. the count
 * of a clean pass. Every pass must end in an error status with a message, or
 * -- where a failed allocation is legitimately absorbed -- in the same
 * outputs as the clean pass; never a crash. Under ASan each pass is also
 * checked for leaks on the spot, so a report names the failing allocation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"
#include "qlinear.h"

#if defined(__SANITIZE_ADDRESS__)
#define QL_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QL_HAVE_LSAN 1
#endif
#endif
#ifdef QL_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define NODE_DIR QL_SHARED_DIR "/onnx-node-tests/node"

typedef struct {
  uint8_t *buf;
  size_t len;
  size_t n_in;
  ql_tensor *in[16];
  size_t n_out;
  ql_tensor *ref[16];
} fixture;

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(sz ? (size_t)sz : 1);
  if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *n = (size_t)sz;
  return b;
}

/* One full pass: load from memory, create a session, run, free. On success
 * the outputs are left in out[] for the caller. */
static ql_status pass(const fixture *fx, ql_tensor **out, ql_error *err) {
  ql_model *m = NULL;
  ql_session *s = NULL;
  ql_status st = ql_model_load_memory(fx->buf, fx->len, NULL, NULL, &m, err);
  if (st) return st;
  ql_session_options opt = {.threads = 1};
  st = ql_session_create(m, &opt, &s, err);
  ql_model_free(m);
  if (st) return st;
  if (ql_session_input_count(s) != fx->n_in || ql_session_output_count(s) != fx->n_out) {
    ql_session_free(s);
    return ql_errf(err, QL_ERR_INTERNAL, "fixture does not match the model");
  }
  st = ql_session_run(s, (const ql_tensor *const *)fx->in, fx->n_in, out, fx->n_out, err);
  ql_session_free(s);
  return st;
}

static int same(const ql_tensor *a, const ql_tensor *b) {
  if (!a || !b || a->dtype != b->dtype || a->rank != b->rank || a->numel != b->numel) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return a->dtype == QL_STRING || !a->numel || !memcmp(a->data, b->data, ql_tensor_nbytes(a));
}

static void run_faults(const char *model_path, const char *data_dir) {
  fixture fx = {0};
  fx.buf = read_all(model_path, &fx.len);
  if (!fx.buf) {
    print_message("skip %s (not found)\n", model_path);
    return;
  }
  ql_error err = {0};
  for (; data_dir && fx.n_in < 16; fx.n_in++) {
    char p[1024];
    snprintf(p, sizeof p, "%s/input_%zu.pb", data_dir, fx.n_in);
    FILE *f = fopen(p, "rb");
    if (!f) break;
    fclose(f);
    if (ql_tensor_load_pb(p, &fx.in[fx.n_in], &err)) fail_msg("%s", err.msg);
  }
  for (; data_dir && fx.n_out < 16; fx.n_out++) {
    char p[1024];
    snprintf(p, sizeof p, "%s/output_%zu.pb", data_dir, fx.n_out);
    FILE *f = fopen(p, "rb");
    if (!f) break;
    fclose(f);
  }
  /* clean pass: the reference outputs and the allocation count */
  ql_fault_inject_set(0);
  if (pass(&fx, fx.ref, &err)) fail_msg("%s: clean pass failed: %s", model_path, err.msg);
  uint64_t total = ql_fault_inject_set(0);
  assert_true(total > 0);
  uint64_t errors = 0, absorbed = 0, other_codes = 0;
  for (uint64_t n = 1; n <= total + 1; n++) {
    ql_tensor *out[16] = {0};
    memset(&err, 0, sizeof err);
    ql_fault_inject_set(n);
    ql_status st = pass(&fx, out, &err);
    ql_fault_inject_set(0);
    if (st == QL_OK) {
      for (size_t j = 0; j < fx.n_out; j++) {
        if (!same(out[j], fx.ref[j]))
          fail_msg("%s: allocation %llu failed, the run said OK but output %zu differs", model_path,
                   (unsigned long long)n, j);
        ql_tensor_free(out[j]);
      }
      if (n <= total) absorbed++;
    } else {
      errors++;
      for (size_t j = 0; j < fx.n_out; j++)
        if (out[j]) fail_msg("%s: allocation %llu: failed run left output %zu set", model_path, (unsigned long long)n, j);
      if (err.code != st || !err.msg[0])
        fail_msg("%s: allocation %llu: status %d but err.code %d, message '%s'", model_path,
                 (unsigned long long)n, (int)st, (int)err.code, err.msg);
      if (st != QL_ERR_OUT_OF_MEMORY) {
        if (!other_codes)
          print_message("  note: allocation %llu failing gives %s: %s\n", (unsigned long long)n, ql_status_str(st),
                        err.msg);
        other_codes++;
      }
    }
#ifdef QL_HAVE_LSAN
    /* a leak check scans the heap: every 8th pass (and the last) keeps the
     * test fast while still naming a narrow range */
    if ((n % 8 == 0 || n == total + 1) && __lsan_do_recoverable_leak_check())
      fail_msg("%s: leak when one of allocations %llu..%llu failed", model_path,
               (unsigned long long)(n > 8 ? n - 7 : 1), (unsigned long long)n);
#endif
  }
  const char *label = strstr(model_path, "/node/") ? strstr(model_path, "/node/") + 6 : strrchr(model_path, '/') + 1;
  print_message("%.*s: %llu allocations, %llu failing passes, %llu absorbed, %llu with a code other than OOM\n",
                (int)strcspn(label, "/"), label, (unsigned long long)total,
                (unsigned long long)errors, (unsigned long long)absorbed, (unsigned long long)other_codes);
  assert_int_equal(other_codes, 0);
  for (size_t i = 0; i < fx.n_in; i++) ql_tensor_free(fx.in[i]);
  for (size_t j = 0; j < fx.n_out; j++) ql_tensor_free(fx.ref[j]);
  free(fx.buf);
}

static void test_faults_node_models(void **state) {
  (void)state;
  static const char *const names[] = {"test_quantizelinear", "test_dequantizelinear_axis", "test_qlinearconv",
                                      "test_qlinearmatmul_2D_uint8_float32", "test_if", "test_loop11",
                                      "test_dynamicquantizelinear", "test_matmulinteger"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    char model[512], data[512];
    snprintf(model, sizeof model, "%s/%s/model.onnx", NODE_DIR, names[i]);
    snprintf(data, sizeof data, "%s/%s/test_data_set_0", NODE_DIR, names[i]);
    run_faults(model, data);
  }
}

static void test_faults_mnist(void **state) {
  (void)state;
  run_faults(QL_SHARED_DIR "/models/mnist-float.onnx", QL_TEST_DATA "/mnist-io");
}

/* Saving and the TensorProto reader under the same treatment. */
static void test_faults_save_and_pb(void **state) {
  (void)state;
  size_t len;
  uint8_t *buf = read_all(NODE_DIR "/test_qlinearconv/model.onnx", &len);
  if (!buf) skip();
  ql_error err;
  ql_model *m = NULL;
  assert_int_equal(ql_model_load_memory(buf, len, NULL, NULL, &m, &err), QL_OK);
  uint8_t *out = NULL;
  size_t olen;
  ql_fault_inject_set(0);
  assert_int_equal(ql_model_save_memory(m, &out, &olen, &err), QL_OK);
  ql_free(out);
  uint64_t total = ql_fault_inject_set(0);
  for (uint64_t n = 1; n <= total; n++) {
    ql_fault_inject_set(n);
    ql_status st = ql_model_save_memory(m, &out, &olen, &err);
    ql_fault_inject_set(0);
    assert_int_equal(st, QL_ERR_OUT_OF_MEMORY);
    assert_null(out);
  }
  ql_model_free(m);
  free(buf);
  buf = read_all(NODE_DIR "/test_qlinearconv/test_data_set_0/input_0.pb", &len);
  assert_non_null(buf);
  ql_tensor *t = NULL;
  assert_int_equal(ql_tensor_load_pb_memory(buf, len, &t, &err), QL_OK);
  ql_tensor_free(t);
  total = ql_fault_inject_set(0);
  for (uint64_t n = 1; n <= total; n++) {
    ql_fault_inject_set(n);
    ql_status st = ql_tensor_load_pb_memory(buf, len, &t, &err);
    ql_fault_inject_set(0);
    assert_int_not_equal(st, QL_OK);
    assert_null(t);
  }
  free(buf);
#ifdef QL_HAVE_LSAN
  assert_int_equal(__lsan_do_recoverable_leak_check(), 0);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_faults_node_models),
      cmocka_unit_test(test_faults_mnist),
      cmocka_unit_test(test_faults_save_and_pb),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* One session, many threads: ql_session_run promises that a session may be
 * run from several threads at once. N threads x M runs must give outputs
 * bit-identical to a single-threaded run (which itself is checked against
 * the ONNX Runtime / ONNX reference output), and a bounded soak must keep
 * the resident set flat (no per-run growth). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h" /* QL_ASAN */

#define NODE_DIR QL_SHARED_DIR "/onnx-node-tests/node"

typedef struct {
  ql_session *s;
  size_t n_in, n_out;
  ql_tensor *in[8];
  ql_tensor *ref[8]; /* single-threaded outputs */
  int runs;
  int mismatches, errors;
  char msg[512];
} shared_t;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int same(const ql_tensor *a, const ql_tensor *b) {
  if (!a || !b || a->dtype != b->dtype || a->rank != b->rank || a->numel != b->numel) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return !a->numel || !memcmp(a->data, b->data, ql_tensor_nbytes(a));
}

static void *worker(void *arg) {
  shared_t *sh = arg;
  for (int r = 0; r < sh->runs; r++) {
    ql_tensor *out[8] = {0};
    ql_error err;
    if (ql_session_run(sh->s, (const ql_tensor *const *)sh->in, sh->n_in, out, sh->n_out, &err)) {
      __atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
      snprintf(sh->msg, sizeof sh->msg, "%s", err.msg);
      continue;
    }
    for (size_t j = 0; j < sh->n_out; j++) {
      if (!same(out[j], sh->ref[j])) __atomic_add_fetch(&sh->mismatches, 1, __ATOMIC_RELAXED);
      ql_tensor_free(out[j]);
    }
  }
  return NULL;
}

/* Loads model + inputs, checks one run against the expected outputs
 * (max abs diff tol), keeps that run as the reference. */
static int setup_model(shared_t *sh, const char *model, const char *data, int session_threads, double tol) {
  memset(sh, 0, sizeof *sh);
  ql_error err;
  ql_model *m = NULL;
  if (ql_model_load_file(model, NULL, &m, &err)) {
    print_message("skip %s: %s\n", model, err.msg);
    return -1;
  }
  ql_session_options opt = {.threads = session_threads};
  if (ql_session_create(m, &opt, &sh->s, &err)) {
    print_message("skip %s: %s\n", model, err.msg); /* ops not written yet */
    ql_model_free(m);
    return -1;
  }
  ql_model_free(m);
  sh->n_in = ql_session_input_count(sh->s);
  sh->n_out = ql_session_output_count(sh->s);
  assert_true(sh->n_in <= 8 && sh->n_out <= 8);
  char p[1024];
  for (size_t i = 0; i < sh->n_in; i++) {
    snprintf(p, sizeof p, "%s/input_%zu.pb", data, i);
    if (ql_tensor_load_pb(p, &sh->in[i], &err)) fail_msg("%s", err.msg);
  }
  if (ql_session_run(sh->s, (const ql_tensor *const *)sh->in, sh->n_in, sh->ref, sh->n_out, &err))
    fail_msg("%s: %s", model, err.msg);
  for (size_t j = 0; j < sh->n_out; j++) {
    ql_tensor *want;
    snprintf(p, sizeof p, "%s/output_%zu.pb", data, j);
    if (ql_tensor_load_pb(p, &want, &err)) fail_msg("%s", err.msg);
    assert_int_equal(want->numel, sh->ref[j]->numel);
    assert_int_equal(want->dtype, sh->ref[j]->dtype);
    for (int64_t k = 0; k < want->numel; k++) {
      double d = fabs(ql_tensor_get_f64(want, k) - ql_tensor_get_f64(sh->ref[j], k));
      if (!(d <= tol)) fail_msg("%s output %zu[%lld]: %g vs expected %g", model, j, (long long)k,
                                ql_tensor_get_f64(sh->ref[j], k), ql_tensor_get_f64(want, k));
    }
    ql_tensor_free(want);
  }
  return 0;
}

static void teardown_model(shared_t *sh) {
  for (size_t i = 0; i < sh->n_in; i++) ql_tensor_free(sh->in[i]);
  for (size_t j = 0; j < sh->n_out; j++) ql_tensor_free(sh->ref[j]);
  ql_session_free(sh->s);
}

static void hammer(const char *model, const char *data, int session_threads, double tol, int nthreads, int runs) {
  shared_t sh;
  if (setup_model(&sh, model, data, session_threads, tol)) skip();
  sh.runs = runs;
  pthread_t th[16];
  double t0 = now();
  for (int i = 0; i < nthreads; i++) assert_int_equal(pthread_create(&th[i], NULL, worker, &sh), 0);
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  print_message("%s: %d threads x %d runs (session threads %d) in %.2f s: %d mismatches, %d errors\n",
                strstr(model, "models/") ? strstr(model, "models/") + 7 : model, nthreads, runs, session_threads,
                now() - t0, sh.mismatches, sh.errors);
  if (sh.errors) fail_msg("%d runs failed: %s", sh.errors, sh.msg);
  assert_int_equal(sh.mismatches, 0);
  teardown_model(&sh);
}

static void test_threads_mnist(void **state) {
  (void)state;
  /* ONNX Runtime's output (tests/data/mnist-io/gen.py); float accumulation
   * order may differ from ORT's, hence the tolerance */
  hammer(QL_SHARED_DIR "/models/mnist-float.onnx", QL_TEST_DATA "/mnist-io", 1, 1e-3, 4, 60);
  /* the same with an intra-op thread pool inside each run */
  hammer(QL_SHARED_DIR "/models/mnist-float.onnx", QL_TEST_DATA "/mnist-io", 2, 1e-3, 3, 30);
}

static void test_threads_quant_node_models(void **state) {
  (void)state;
  /* integer outputs: exact against the ONNX reference */
  static const char *const names[] = {"test_qlinearconv", "test_qlinearmatmul_3D_int8_float32",
                                      "test_quantizelinear_axis", "test_dynamicquantizelinear"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    char model[512], data[512];
    snprintf(model, sizeof model, "%s/%s/model.onnx", NODE_DIR, names[i]);
    snprintf(data, sizeof data, "%s/%s/test_data_set_0", NODE_DIR, names[i]);
    shared_t sh;
    if (setup_model(&sh, model, data, 1, 1e-6)) continue;
    sh.runs = 200;
    pthread_t th[4];
    for (int k = 0; k < 4; k++) assert_int_equal(pthread_create(&th[k], NULL, worker, &sh), 0);
    for (int k = 0; k < 4; k++) pthread_join(th[k], NULL);
    if (sh.errors) fail_msg("%s: %d runs failed: %s", names[i], sh.errors, sh.msg);
    assert_int_equal(sh.mismatches, 0);
    teardown_model(&sh);
  }
}

static long rss_pages(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, res = 0;
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
  fclose(f);
  return res;
}

/* 2,000 runs (and 200 session create/free cycles): the resident set after a
 * warm-up must stay flat. Under ASan the quarantine grows the RSS by design,
 * so there LeakSanitizer is the check instead. */
static void test_soak(void **state) {
  (void)state;
  shared_t sh;
  if (setup_model(&sh, QL_SHARED_DIR "/models/mnist-float.onnx", QL_TEST_DATA "/mnist-io", 1, 1e-3)) skip();
  sh.runs = 200;
  worker(&sh); /* warm-up: allocator pools reach their steady size */
  long before = rss_pages();
  double t0 = now();
  int total = 200;
  while (total < 2000 && now() - t0 < 12.0) {
    worker(&sh);
    total += sh.runs;
  }
  long after = rss_pages();
  assert_int_equal(sh.errors, 0);
  assert_int_equal(sh.mismatches, 0);
  /* session create/free cycles */
  ql_error err;
  ql_model *m = NULL;
  assert_int_equal(ql_model_load_file(QL_SHARED_DIR "/models/mnist-float.onnx", NULL, &m, &err), QL_OK);
  long before_s = rss_pages();
  for (int i = 0; i < 200; i++) {
    ql_session *s = NULL;
    assert_int_equal(ql_session_create(m, NULL, &s, &err), QL_OK);
    ql_session_free(s);
  }
  long after_s = rss_pages();
  ql_model_free(m);
  long page_kb = sysconf(_SC_PAGESIZE) / 1024;
  print_message("soak: %d runs in %.1f s, RSS %ld -> %ld KiB; 200 sessions: %ld -> %ld KiB\n", total,
                now() - t0, before * page_kb, after * page_kb, before_s * page_kb, after_s * page_kb);
#ifndef QL_ASAN
  assert_true((after - before) * page_kb < 1024);     /* < 1 MiB over 1,800 runs */
  assert_true((after_s - before_s) * page_kb < 1024); /* < 1 MiB over 200 sessions */
#endif
  teardown_model(&sh);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threads_mnist),
      cmocka_unit_test(test_threads_quant_node_models),
      cmocka_unit_test(test_soak),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

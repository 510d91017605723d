/* Run states and pre-bound outputs (src/runtime/session.c): a session
 * reuses its intermediate buffers from run to run, lays them out by
 * liveness in one arena, and ql_session_run_into writes the outputs into
 * tensors the caller made. Expected values are worked by hand from the
 * graph's formula on small integers (exact in float32); every run, warm or
 * cold, bound or not, single- or multi-threaded, must give them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "ir/ir.h"
#include "runtime/runtime.h"
#include "graph-build.h"

/* x [N] float (N symbolic):
 *   a = x + x                   2x
 *   b = a * a                   4x^2
 *   c = b - x                   4x^2 - x
 *   d = Relu(c)
 *   e, _ = Dropout(d)           the mask output is omitted (its slot must be reused too)
 *   f, m = Dropout(e)           the mask is named, but nothing reads it
 *   g = Neg(f)
 *   h = Abs(g)
 *   y = h + a                   output 0
 *   z = a                       output 1 is a value later steps also read
 * Nothing here is constant, so every value comes from the arena or the
 * bound outputs. */
static void add_node(ql_graph *g, const char *op, const char *name, const char *const *in, int nin,
                     const char *const *out, int nout) {
  ql_node *n = ql_node_new(op, "", name);
  for (int i = 0; i < nin; i++) ql_node_add_input(n, in[i]);
  for (int i = 0; i < nout; i++) ql_node_add_output(n, out[i]);
  ql_graph_add_node(g, n);
}

static void value_info(ql_value_info *vi, const char *name, int rank) {
  vi->name = ql_strdup(name);
  vi->is_tensor = 1;
  vi->elem_type = QL_FLOAT;
  vi->rank = rank;
  if (rank > 0) {
    vi->dims = ql_calloc((size_t)rank, sizeof *vi->dims);
    vi->dims[0].param = ql_strdup("N");
    vi->dims[0].value = -1;
  }
}

static ql_model *chain_model(void) {
  ql_model *m = new_model(13);
  ql_graph *g = m->graph;
  g->inputs = ql_calloc(1, sizeof *g->inputs);
  value_info(&g->inputs[0], "x", 1);
  g->n_inputs = 1;
  g->outputs = ql_calloc(2, sizeof *g->outputs);
  value_info(&g->outputs[0], "y", 1);
  value_info(&g->outputs[1], "a", 1);
  g->n_outputs = 2;
  add_node(g, "Add", "n0", (const char *[]){"x", "x"}, 2, (const char *[]){"a"}, 1);
  add_node(g, "Mul", "n1", (const char *[]){"a", "a"}, 2, (const char *[]){"b"}, 1);
  add_node(g, "Sub", "n2", (const char *[]){"b", "x"}, 2, (const char *[]){"c"}, 1);
  add_node(g, "Relu", "n3", (const char *[]){"c"}, 1, (const char *[]){"d"}, 1);
  add_node(g, "Dropout", "n4", (const char *[]){"d"}, 1, (const char *[]){"e", ""}, 2);
  add_node(g, "Dropout", "n5", (const char *[]){"e"}, 1, (const char *[]){"f", "m"}, 2);
  add_node(g, "Neg", "n6", (const char *[]){"f"}, 1, (const char *[]){"g"}, 1);
  add_node(g, "Abs", "n7", (const char *[]){"g"}, 1, (const char *[]){"h"}, 1);
  add_node(g, "Add", "n8", (const char *[]){"h", "a"}, 2, (const char *[]){"y"}, 1);
  return m;
}

static ql_session *session(int threads) {
  ql_model *m = chain_model();
  ql_session *s = NULL;
  ql_error e = {0};
  ql_session_options opt = {.threads = threads};
  ql_status st = ql_session_create(m, &opt, &s, &e);
  ql_model_free(m);
  if (st) fail_msg("%s", e.msg);
  return s;
}

/* x[i] = (i % 7) - 3 + seed: small integers, negative ones too (Relu). */
static ql_tensor *input(int64_t n, int seed) {
  ql_tensor *t = ql_tensor_new(QL_FLOAT, 1, &n, NULL);
  for (int64_t i = 0; i < n; i++) ((float *)t->data)[i] = (float)(i % 7 - 3 + seed);
  return t;
}

static double relu(double v) { return v > 0 ? v : 0; }

/* The hand-worked outputs: y = relu(4 x^2 - x) + 2 x, a = 2x. */
static int check(const ql_tensor *x, const ql_tensor *y, const ql_tensor *a) {
  int64_t n = x->numel;
  if (!y || !a || y->dtype != QL_FLOAT || a->dtype != QL_FLOAT || y->rank != 1 || a->rank != 1 || y->dims[0] != n ||
      a->dims[0] != n)
    return 0;
  const float *xv = x->data, *yv = y->data, *av = a->data;
  for (int64_t i = 0; i < n; i++) {
    double want = relu(4.0 * xv[i] * xv[i] - xv[i]) + 2.0 * xv[i];
    if (yv[i] != (float)want || av[i] != 2.0f * xv[i]) return 0;
  }
  return 1;
}

static int same(const ql_tensor *p, const ql_tensor *q) {
  return p->dtype == q->dtype && p->numel == q->numel && !memcmp(p->data, q->data, ql_tensor_nbytes(p));
}

static void test_reuse_allocates_nothing(void **state) {
  (void)state;
  ql_session *s = session(1);
  int64_t n = 1 << 16;
  ql_tensor *x = input(n, 0), *y = ql_tensor_new(QL_FLOAT, 1, &n, NULL), *a = ql_tensor_new(QL_FLOAT, 1, &n, NULL);
  ql_tensor *bound[2] = {y, a};
  ql_error e = {0};
  /* the first run allocates (and sizes) the values; the next ones must not */
  assert_int_equal(ql_session_run_into(s, (const ql_tensor *const *)&x, 1, bound, 2, &e), QL_OK);
  assert_true(check(x, y, a));
  ql_tensor *y1 = NULL, *a1 = NULL;
  assert_int_equal(ql_tensor_clone(y, &y1, &e), QL_OK);
  assert_int_equal(ql_tensor_clone(a, &a1, &e), QL_OK);
  memset(y->data, 0xab, ql_tensor_nbytes(y));
  for (int r = 0; r < 3; r++) {
    ql_fault_inject_set(0);
    ql_status st = ql_session_run_into(s, (const ql_tensor *const *)&x, 1, bound, 2, &e);
    uint64_t allocs = ql_fault_inject_set(0);
    assert_int_equal(st, QL_OK);
    assert_int_equal(allocs, 0);
    assert_true(same(y, y1) && same(a, a1));
    assert_true(check(x, y, a));
  }
  /* liveness: a and y are the bound outputs; of the arena values (b, c,
   * d, e, the omitted mask, f, m, g, h) at most two float values and a
   * mask are alive at once (d, e and a mask at n4; e, f, m at n5). Without
   * sharing they would need 7 float regions and two masks. */
  size_t arena = ql_session_arena_bytes(s);
  assert_true(arena >= 2 * (size_t)n * sizeof(float) + (size_t)n);
  assert_true(arena <= 2 * (size_t)n * sizeof(float) + (size_t)n + 3 * 128);
  /* a fresh session and plain ql_session_run agree */
  ql_session *s2 = session(1);
  ql_tensor *out[2] = {0};
  assert_int_equal(ql_session_run(s2, (const ql_tensor *const *)&x, 1, out, 2, &e), QL_OK);
  assert_true(same(out[0], y1) && same(out[1], a1));
  assert_string_equal(out[0]->name, "y");
  assert_string_equal(out[1]->name, "a");
  ql_tensor_free(out[0]);
  ql_tensor_free(out[1]);
  /* plain runs on the warm session give caller-owned outputs, each new */
  for (int r = 0; r < 2; r++) {
    assert_int_equal(ql_session_run(s, (const ql_tensor *const *)&x, 1, out, 2, &e), QL_OK);
    assert_true(same(out[0], y1) && same(out[1], a1));
    ql_tensor_free(out[0]);
    ql_tensor_free(out[1]);
  }
  ql_session_free(s2);
  ql_session_free(s);
  ql_tensor_free(x);
  ql_tensor_free(y);
  ql_tensor_free(a);
  ql_tensor_free(y1);
  ql_tensor_free(a1);
}

/* Shapes known only at run time: a larger input outgrows the layout (that
 * run allocates), then the same or a smaller one fits again. */
static void test_shapes_change(void **state) {
  (void)state;
  ql_session *s = session(1);
  const int64_t ns[] = {64, 4096, 4096, 64, 1000, 4096, 2};
  ql_error e = {0};
  for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
    int64_t n = ns[k];
    ql_tensor *x = input(n, (int)k), *y = ql_tensor_new(QL_FLOAT, 1, &n, NULL),
              *a = ql_tensor_new(QL_FLOAT, 1, &n, NULL);
    ql_tensor *bound[2] = {y, a};
    ql_fault_inject_set(0);
    assert_int_equal(ql_session_run_into(s, (const ql_tensor *const *)&x, 1, bound, 2, &e), QL_OK);
    uint64_t allocs = ql_fault_inject_set(0);
    assert_true(check(x, y, a));
    if (k >= 2) assert_int_equal(allocs, 0); /* never larger than 4096 again */
    ql_tensor *out[2] = {0};
    assert_int_equal(ql_session_run(s, (const ql_tensor *const *)&x, 1, out, 2, &e), QL_OK);
    assert_true(check(x, out[0], out[1]));
    ql_tensor_free(out[0]);
    ql_tensor_free(out[1]);
    ql_tensor_free(x);
    ql_tensor_free(y);
    ql_tensor_free(a);
  }
  ql_session_free(s);
}

static void test_bound_mismatch(void **state) {
  (void)state;
  ql_session *s = session(1);
  int64_t n = 64, n2 = 66, two[2] = {8, 8};
  ql_tensor *x = input(n, 1), *y = ql_tensor_new(QL_FLOAT, 1, &n, NULL), *a = ql_tensor_new(QL_FLOAT, 1, &n, NULL);
  ql_tensor *big = ql_tensor_new(QL_FLOAT, 1, &n2, NULL), *i8 = ql_tensor_new(QL_INT8, 1, &n, NULL),
            *sq = ql_tensor_new(QL_FLOAT, 2, two, NULL);
  const ql_tensor *const *in = (const ql_tensor *const *)&x;
  ql_error e = {0};
  for (int warm = 0; warm < 2; warm++) {
    ql_tensor *b1[2] = {big, a};
    assert_int_equal(ql_session_run_into(s, in, 1, b1, 2, &e), QL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "graph output 'y' is float32 [64], the tensor bound to it is float32 [66]"));
    ql_tensor *b2[2] = {y, i8};
    assert_int_equal(ql_session_run_into(s, in, 1, b2, 2, &e), QL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "graph output 'a' is float32 [64], the tensor bound to it is int8 [64]"));
    ql_tensor *b3[2] = {sq, a};
    assert_int_equal(ql_session_run_into(s, in, 1, b3, 2, &e), QL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "the tensor bound to it is float32 [8,8]"));
    ql_tensor *b4[2] = {y, NULL};
    assert_int_equal(ql_session_run_into(s, in, 1, b4, 2, &e), QL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "no tensor is bound to graph output 1 ('a')"));
    ql_tensor *b5[2] = {y, y};
    assert_int_equal(ql_session_run_into(s, in, 1, b5, 2, &e), QL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "overlaps bound output 0"));
    ql_tensor *b6[2] = {x, a};
    assert_int_equal(ql_session_run_into(s, in, 1, b6, 2, &e), QL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "overlaps input 0"));
    assert_int_equal(ql_session_run_into(s, in, 1, b1, 1, &e), QL_ERR_INVALID_ARGUMENT);
    /* a failed run leaves the session usable */
    ql_tensor *ok[2] = {y, a};
    assert_int_equal(ql_session_run_into(s, in, 1, ok, 2, &e), QL_OK);
    assert_true(check(x, y, a));
  }
  ql_session_free(s);
  ql_tensor_free(x);
  ql_tensor_free(y);
  ql_tensor_free(a);
  ql_tensor_free(big);
  ql_tensor_free(i8);
  ql_tensor_free(sq);
}

/* Outputs that are no step's output are copied into the bound tensors: a
 * graph input, an initializer, a value listed twice. */
static void test_bound_copies(void **state) {
  (void)state;
  ql_model *m = new_model(13);
  ql_graph *g = m->graph;
  g->inputs = ql_calloc(1, sizeof *g->inputs);
  value_info(&g->inputs[0], "x", 1);
  g->n_inputs = 1;
  int64_t three = 3;
  ql_tensor *k = ql_tensor_new(QL_FLOAT, 1, &three, NULL);
  ((float *)k->data)[0] = 1.5f, ((float *)k->data)[1] = -2.0f, ((float *)k->data)[2] = 8.0f;
  k->name = ql_strdup("k");
  ql_graph_add_init(g, k);
  add_node(g, "Add", "n0", (const char *[]){"x", "k"}, 2, (const char *[]){"s"}, 1);
  const char *outs[] = {"x", "k", "s", "s"};
  g->outputs = ql_calloc(4, sizeof *g->outputs);
  for (int i = 0; i < 4; i++) value_info(&g->outputs[i], outs[i], 1);
  g->n_outputs = 4;
  ql_session *s = NULL;
  ql_error e = {0};
  assert_int_equal(ql_session_create(m, NULL, &s, &e), QL_OK);
  ql_model_free(m);
  ql_tensor *x = ql_tensor_new(QL_FLOAT, 1, &three, NULL);
  ((float *)x->data)[0] = 1, ((float *)x->data)[1] = 2, ((float *)x->data)[2] = 3;
  ql_tensor *o[4];
  for (int i = 0; i < 4; i++) o[i] = ql_tensor_new(QL_FLOAT, 1, &three, NULL);
  const float want[4][3] = {{1, 2, 3}, {1.5f, -2, 8}, {2.5f, 0, 11}, {2.5f, 0, 11}};
  for (int r = 0; r < 3; r++) {
    for (int i = 0; i < 4; i++) memset(o[i]->data, 0x7f, 12);
    assert_int_equal(ql_session_run_into(s, (const ql_tensor *const *)&x, 1, o, 4, &e), QL_OK);
    for (int i = 0; i < 4; i++) assert_memory_equal(o[i]->data, want[i], 12);
  }
  ql_session_free(s);
  ql_tensor_free(x);
  for (int i = 0; i < 4; i++) ql_tensor_free(o[i]);
}

typedef struct {
  ql_session *s;
  int seed, runs, bad;
  int64_t n;
} worker_arg;

static void *worker(void *p) {
  worker_arg *w = p;
  ql_tensor *x = input(w->n, w->seed), *y = ql_tensor_new(QL_FLOAT, 1, &w->n, NULL),
            *a = ql_tensor_new(QL_FLOAT, 1, &w->n, NULL);
  ql_tensor *bound[2] = {y, a};
  for (int r = 0; r < w->runs; r++) {
    ql_error e;
    if (r % 2) {
      ql_tensor *out[2] = {0};
      if (ql_session_run(w->s, (const ql_tensor *const *)&x, 1, out, 2, &e) || !check(x, out[0], out[1])) w->bad++;
      ql_tensor_free(out[0]);
      ql_tensor_free(out[1]);
    } else {
      memset(y->data, 0, ql_tensor_nbytes(y));
      if (ql_session_run_into(w->s, (const ql_tensor *const *)&x, 1, bound, 2, &e) || !check(x, y, a)) w->bad++;
    }
  }
  ql_tensor_free(x);
  ql_tensor_free(y);
  ql_tensor_free(a);
  return NULL;
}

/* Two threads share one session: each run must get a run state of its own
 * (different inputs and sizes per thread would show any mix-up). */
static void test_concurrent_runs(void **state) {
  (void)state;
  for (int threads = 1; threads <= 2; threads++) {
    ql_session *s = session(threads);
    worker_arg w[2] = {{s, 0, 300, 0, 4096}, {s, 5, 300, 0, 6000}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_int_equal(w[0].bad, 0);
    assert_int_equal(w[1].bad, 0);
    ql_session_free(s);
  }
}

/* A failed allocation while laying the arena out is absorbed: the run still
 * succeeds (its values came from the heap) and later runs stay correct. */
static void test_layout_oom(void **state) {
  (void)state;
  int64_t n = 256;
  ql_tensor *x = input(n, 2), *y = ql_tensor_new(QL_FLOAT, 1, &n, NULL), *a = ql_tensor_new(QL_FLOAT, 1, &n, NULL);
  ql_tensor *bound[2] = {y, a};
  ql_error e;
  for (uint64_t f = 1; f < 200; f++) {
    ql_session *s = session(1);
    ql_fault_inject_set(f);
    ql_status st = ql_session_run_into(s, (const ql_tensor *const *)&x, 1, bound, 2, &e);
    ql_fault_inject_set(0);
    if (st) assert_int_equal(st, QL_ERR_OUT_OF_MEMORY);
    else assert_true(check(x, y, a));
    for (int r = 0; r < 2; r++) {
      memset(y->data, 0, ql_tensor_nbytes(y));
      assert_int_equal(ql_session_run_into(s, (const ql_tensor *const *)&x, 1, bound, 2, &e), QL_OK);
      assert_true(check(x, y, a));
    }
    ql_session_free(s);
  }
  ql_tensor_free(x);
  ql_tensor_free(y);
  ql_tensor_free(a);
}

/* The real models (QLinearConv, fused QDQ Convs, float Convs, depthwise,
 * Resize, Transpose, Split, MatMul ...): after one run, a run_into makes no
 * allocation at all, at 1 and 2 threads, and gives the first run's bits,
 * which came from heap blocks while later runs use the scratch region and
 * the threads' blocks (stale scratch contents would show here). */
static void test_real_models_allocate_nothing(void **state) {
  (void)state;
  static const char *const models[] = {"nanodet-plus-int8", "retinaface-qdq", "yunet-float", "mnist-float",
                                       "ultraface-rfb320-float", "ppocr-v4-det-float"};
  for (size_t k = 0; k < sizeof models / sizeof *models; k++) {
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s.onnx", QL_SHARED_DIR, models[k]);
    ql_model *m = NULL;
    ql_error e = {0};
    assert_int_equal(ql_model_load_file(path, NULL, &m, &e), QL_OK);
    for (int threads = 1; threads <= 2; threads++) {
      ql_session_options o = {.threads = threads};
      ql_session *s = NULL;
      assert_int_equal(ql_session_create(m, &o, &s, &e), QL_OK);
      const size_t ni = ql_session_input_count(s), no = ql_session_output_count(s);
      assert_true(ni <= 4 && no <= 16);
      ql_tensor *in[4] = {0}, *first[16] = {0}, *out[16] = {0};
      for (size_t i = 0; i < ni; i++) {
        int r;
        int64_t d[QL_MAX_RANK];
        ql_dtype t = ql_session_input_info(s, i, &r, d);
        for (int j = 0; j < r; j++) d[j] = d[j] < 0 ? 1 : d[j];
        assert_int_equal(ql_tensor_create(t, r, d, &in[i], &e), QL_OK);
        /* a ramp over the input's range: not constant, so every op's data path shows */
        for (int64_t j = 0; j < in[i]->numel; j++) {
          if (t == QL_FLOAT) ((float *)in[i]->data)[j] = (float)(j % 251) / 125.0f - 1.0f;
          else if (t == QL_UINT8) ((uint8_t *)in[i]->data)[j] = (uint8_t)(j * 7);
        }
      }
      assert_int_equal(ql_session_run(s, (const ql_tensor *const *)in, ni, first, no, &e), QL_OK);
      for (size_t j = 0; j < no; j++) assert_int_equal(ql_tensor_clone(first[j], &out[j], &e), QL_OK);
      for (int r = 0; r < 3; r++) {
        for (size_t j = 0; j < no; j++) memset(out[j]->data, 0x5a, ql_tensor_nbytes(out[j]));
        ql_fault_inject_set(0);
        ql_status st = ql_session_run_into(s, (const ql_tensor *const *)in, ni, out, no, &e);
        uint64_t allocs = ql_fault_inject_set(0);
        assert_int_equal(st, QL_OK);
        if (allocs) fprintf(stderr, "%s, %d thread(s), run %d: %llu allocations\n", models[k], threads, r,
                            (unsigned long long)allocs);
        assert_int_equal(allocs, 0);
        for (size_t j = 0; j < no; j++) assert_true(same(out[j], first[j]));
      }
      for (size_t j = 0; j < no; j++) {
        ql_tensor_free(first[j]);
        ql_tensor_free(out[j]);
      }
      for (size_t i = 0; i < ni; i++) ql_tensor_free(in[i]);
      ql_session_free(s);
    }
    ql_model_free(m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_models_allocate_nothing),
      cmocka_unit_test(test_reuse_allocates_nothing), cmocka_unit_test(test_shapes_change),
      cmocka_unit_test(test_bound_mismatch),          cmocka_unit_test(test_bound_copies),
      cmocka_unit_test(test_concurrent_runs),         cmocka_unit_test(test_layout_oom),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

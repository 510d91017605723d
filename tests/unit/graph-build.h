/* Helpers shared by the unit tests that build multi-node models in memory
 * with the IR API and run them (one-node.h is the one-node harness; this is
 * for tests that wire graphs themselves). Functions are static inline so
 * each test uses what it needs. Include after cmocka.h.
 *
 * The PRNG is there only when the test defines GB_RNG_SEED before the
 * include: each test keeps its own seed, so its random cases stay the ones
 * it always drew. */
#ifndef QL_TEST_GRAPH_BUILD_H
#define QL_TEST_GRAPH_BUILD_H

#include <stdint.h>
#include <string.h>

#include "ir/ir.h"
#include "kernels/qgemm.h"
#include "runtime/runtime.h"

#ifdef GB_RNG_SEED
/* xorshift64, upper bits: small, fast, and the same on every platform */
static uint64_t rng = GB_RNG_SEED;
static inline uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}
static inline int rnd_in(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static inline float rnd_f(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 100000) / 100000.0f; }

/* A random tensor: 8-bit types over their range, int32 in [-2^16, 2^16],
 * float in [lo, 2*lo) (scales). */
static inline ql_tensor *rand_tensor(ql_dtype t, int rank, const int64_t *dims, float lo) {
  ql_tensor *x = ql_tensor_new(t, rank, dims, NULL);
  for (int64_t i = 0; i < x->numel; i++) {
    if (t == QL_UINT8) ((uint8_t *)x->data)[i] = (uint8_t)rnd();
    else if (t == QL_INT8) ((int8_t *)x->data)[i] = (int8_t)rnd();
    else if (t == QL_INT32) ((int32_t *)x->data)[i] = rnd_in(-65536, 65536);
    else ((float *)x->data)[i] = lo * (1.0f + (float)(rnd() % 1000) / 1000.0f);
  }
  return x;
}
#endif

/* An empty model importing the default domain at `opset`. */
static inline ql_model *new_model(int64_t opset) {
  ql_model *m = ql_model_new();
  m->ir_version = 8;
  m->opsets = ql_calloc(1, sizeof *m->opsets);
  m->opsets[0].domain = ql_strdup("");
  m->opsets[0].version = opset;
  m->n_opsets = 1;
  m->graph = ql_graph_new();
  return m;
}

/* Appends a tensor value of unknown rank to a graph's inputs or outputs. */
static inline void add_vi(ql_value_info **arr, size_t *n, const char *name, ql_dtype t) {
  *arr = ql_realloc(*arr, (*n + 1) * sizeof **arr);
  ql_value_info *v = &(*arr)[(*n)++];
  memset(v, 0, sizeof *v);
  v->name = ql_strdup(name);
  v->is_tensor = 1;
  v->elem_type = t;
  v->rank = -1;
}

/* Makes t (now owned by the graph) an initializer called name. */
static inline void add_const(ql_model *m, const char *name, ql_tensor *t) {
  t->name = ql_strdup(name);
  ql_graph_add_init(m->graph, t);
}

/* An initializer that is also n's next input. */
static inline void add_init(ql_model *m, ql_node *n, const char *name, ql_tensor *t) {
  add_const(m, name, t);
  ql_node_add_input(n, name);
}

static inline void set_ints(ql_node *n, const char *name, int cnt, const int64_t *v) {
  ql_attr *a = ql_node_add_attr(n, name, QL_ATTR_INTS);
  a->ints = ql_calloc((size_t)cnt, sizeof *a->ints);
  memcpy(a->ints, v, (size_t)cnt * sizeof *a->ints);
  a->n = (size_t)cnt;
}

/* Runs a one-input, one-output model with the given options; returns the
 * output (the test's to free). Any failure fails the test. */
static inline ql_tensor *run1(const ql_model *m, const ql_tensor *x, const ql_session_options *o) {
  ql_session *s;
  ql_error e = {0};
  if (ql_session_create(m, o, &s, &e)) fail_msg("session: %s", e.msg);
  ql_tensor *y = NULL;
  if (ql_session_run(s, &x, 1, &y, 1, &e)) fail_msg("run: %s", e.msg);
  ql_session_free(s);
  return y;
}
/* A one-input, one-output model on the reference path (its output checked
 * against want_data when that is not NULL), then on every ISA this CPU
 * supports at 1 and 2 threads: each must give the reference's bytes. */
static inline void check_isas1(const ql_model *m, const ql_tensor *x, const void *want_data, const char *what) {
  static const char *const isas[] = {"scalar", "avx2", "avxvnni", "avx512vnni", "amx"};
  ql_session_options ref = {.threads = 1, .reference_only = 1};
  ql_tensor *want = run1(m, x, &ref);
  const size_t bytes = (size_t)want->numel * ql_dtype_size(want->dtype);
  if (want_data && memcmp(want->data, want_data, bytes)) fail_msg("%s: reference differs from the expected", what);
  for (int i = 0; i < QL_ISA_COUNT; i++) {
    if (!ql_isa_supported((ql_isa)i)) continue;
    for (int th = 1; th <= 2; th++) {
      ql_session_options o = {.threads = th, .isa = isas[i]};
      ql_tensor *got = run1(m, x, &o);
      assert_int_equal(got->dtype, want->dtype);
      assert_int_equal(got->numel, want->numel);
      if (memcmp(got->data, want->data, bytes)) fail_msg("%s differs on %s, %d threads", what, isas[i], th);
      ql_tensor_free(got);
    }
  }
  ql_tensor_free(want);
}
#endif

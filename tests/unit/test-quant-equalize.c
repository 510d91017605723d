/* Channel equalization (prep.c ql_equalize_channels): Conv A -> LeakyRelu ->
 * MaxPool -> {depthwise Conv, 1x1 Conv}. A's channels have ranges 100x apart.
 * After ql_quant_prepare (per channel):
 *  - the float function is unchanged (both outputs within float rounding),
 *  - the chain's tensors are renamed <t>_equalized,
 *  - channel c of A's weights is scaled by s_c = sqrt(widest / own range of
 *    A's output over the samples) (a full Conv reads the tensor), and the
 *    readers' input-channel weights by 1 / s_c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#define GB_RNG_SEED 0xe9a11e5ull
#include "graph-build.h"
#include "quant/quant.h"

enum { C = 8, IN = 3, HW = 8, SAMPLES = 4 };

static ql_node *conv(ql_model *m, const char *name, const char *x, const char *w, const char *y, int64_t group,
                     int64_t k) {
  ql_node *n = ql_node_new("Conv", "", name);
  ql_node_add_input(n, x);
  ql_node_add_input(n, w);
  ql_node_add_output(n, y);
  int64_t ks[2] = {k, k}, pads[4] = {k / 2, k / 2, k / 2, k / 2};
  set_ints(n, "kernel_shape", 2, ks);
  set_ints(n, "pads", 4, pads);
  ql_attr *g = ql_node_add_attr(n, "group", QL_ATTR_INT);
  g->i = group;
  ql_graph_add_node(m->graph, n);
  return n;
}

static ql_tensor *weights(int64_t o, int64_t i, int64_t k, int scaled) {
  int64_t d[4] = {o, i, k, k};
  ql_tensor *w = ql_tensor_new(QL_FLOAT, 4, d, NULL);
  int64_t per = i * k * k;
  for (int64_t j = 0; j < w->numel; j++)
    ((float *)w->data)[j] = rnd_f(-1.0f, 1.0f) * (scaled ? (j / per == 0 ? 100.0f : 1.0f + (float)(j / per)) : 1.0f);
  return w;
}

/* full: the whole chain; else A alone, its output as the graph output */
static ql_model *build(int full, const ql_tensor *wa, const ql_tensor *wd, const ql_tensor *wf) {
  ql_model *m = new_model(17);
  ql_tensor *a, *d, *f;
  ql_tensor_clone(wa, &a, NULL);
  add_const(m, "wa", a);
  conv(m, "A", "x", "wa", "t", 1, 3);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "x", QL_FLOAT);
  if (!full) {
    add_vi(&m->graph->outputs, &m->graph->n_outputs, "t", QL_FLOAT);
    return m;
  }
  ql_node *lr = ql_node_new("LeakyRelu", "", "lr");
  ql_node_add_input(lr, "t");
  ql_node_add_output(lr, "l");
  ql_graph_add_node(m->graph, lr);
  ql_node *mp = ql_node_new("MaxPool", "", "mp");
  ql_node_add_input(mp, "l");
  ql_node_add_output(mp, "p");
  int64_t ks[2] = {2, 2};
  set_ints(mp, "kernel_shape", 2, ks);
  set_ints(mp, "strides", 2, ks);
  ql_graph_add_node(m->graph, mp);
  ql_tensor_clone(wd, &d, NULL);
  ql_tensor_clone(wf, &f, NULL);
  add_const(m, "wd", d);
  add_const(m, "wf", f);
  conv(m, "D", "p", "wd", "yd", C, 3);
  conv(m, "F", "p", "wf", "yf", 1, 1);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "yd", QL_FLOAT);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "yf", QL_FLOAT);
  return m;
}

static void run2(const ql_model *m, const ql_tensor *x, ql_tensor **out) {
  ql_session *s;
  ql_error e = {0};
  if (ql_session_create(m, NULL, &s, &e) || ql_session_run(s, &x, 1, out, 2, &e)) fail_msg("%s", e.msg);
  ql_session_free(s);
}

static const ql_tensor *init_read_by(const ql_model *m, const char *node) {
  for (size_t i = 0; i < m->graph->n_nodes; i++)
    if (!strcmp(m->graph->nodes[i]->name, node)) return ql_graph_find_init(m->graph, m->graph->nodes[i]->inputs[1]);
  return NULL;
}

static void test_equalize_leaky_maxpool_chain(void **state) {
  (void)state;
  ql_tensor *wa = weights(C, IN, 3, 1), *wd = weights(C, 1, 3, 0), *wf = weights(4, C, 1, 0);
  ql_model *fm = build(1, wa, wd, wf), *am = build(0, wa, wd, wf);
  ql_tensor *xs[SAMPLES], *one[SAMPLES][1], **per[SAMPLES];
  int64_t dx[4] = {1, IN, HW, HW};
  double absmax[C] = {0};
  ql_session_options so = {.threads = 1};
  for (int i = 0; i < SAMPLES; i++) {
    xs[i] = ql_tensor_new(QL_FLOAT, 4, dx, NULL);
    for (int64_t k = 0; k < xs[i]->numel; k++) ((float *)xs[i]->data)[k] = rnd_f(-1.0f, 1.0f);
    one[i][0] = xs[i];
    per[i] = one[i];
    ql_tensor *t = run1(am, xs[i], &so);
    for (int64_t k = 0; k < t->numel; k++)
      absmax[k / (HW * HW)] = fmax(absmax[k / (HW * HW)], fabs(((float *)t->data)[k]));
    ql_tensor_free(t);
  }
  ql_samples s = {.n = SAMPLES, .n_inputs = 1, .inputs = per};
  ql_quant_options o;
  ql_quant_options_default(&o);
  o.per_channel = 1;
  ql_model *folded;
  ql_ranges ranges;
  ql_error err = {0};
  assert_int_equal(ql_quant_prepare(fm, &s, &o, &folded, &ranges, &err), QL_OK);

  /* the same function */
  for (int i = 0; i < SAMPLES; i++) {
    ql_tensor *a[2] = {0}, *b[2] = {0};
    run2(fm, xs[i], a);
    run2(folded, xs[i], b);
    for (int j = 0; j < 2; j++) {
      for (int64_t k = 0; k < a[j]->numel; k++) {
        float u = ((float *)a[j]->data)[k], v = ((float *)b[j]->data)[k];
        if (fabsf(u - v) > 1e-4f * (1.0f + fabsf(u))) fail_msg("output %d[%lld]: %.9g vs %.9g", j, (long long)k, u, v);
      }
      ql_tensor_free(a[j]);
      ql_tensor_free(b[j]);
    }
  }
  /* renamed chain */
  int renamed = 0;
  for (size_t i = 0; i < folded->graph->n_nodes; i++) {
    const char *y = folded->graph->nodes[i]->outputs[0];
    renamed += !strcmp(y, "t_equalized") + !strcmp(y, "l_equalized") + !strcmp(y, "p_equalized");
  }
  assert_int_equal(renamed, 3);
  /* the factors: sqrt(widest / own), since F is a full Conv */
  double widest = 0;
  for (int c = 0; c < C; c++) widest = fmax(widest, absmax[c]);
  const ql_tensor *na = init_read_by(folded, "A"), *nd = init_read_by(folded, "D"), *nf = init_read_by(folded, "F");
  assert_non_null(na);
  assert_non_null(nd);
  assert_non_null(nf);
  for (int c = 0; c < C; c++) {
    double want = sqrt(widest / absmax[c]);
    double got = ((const float *)na->data)[c * IN * 9] / ((const float *)wa->data)[c * IN * 9];
    double got_d = ((const float *)wd->data)[c * 9] / ((const float *)nd->data)[c * 9];
    double got_f = ((const float *)wf->data)[c] / ((const float *)nf->data)[c]; /* output 0, input c */
    if (fabs(got - want) > 1e-4 * want || fabs(got_d - want) > 1e-4 * want || fabs(got_f - want) > 1e-4 * want)
      fail_msg("channel %d: factors %.6g / %.6g / %.6g, want %.6g", c, got, got_d, got_f, want);
  }
  assert_true(sqrt(widest / absmax[1]) > 2); /* the case does scale something */

  ql_ranges_free(&ranges);
  ql_model_free(folded);
  ql_model_free(fm);
  ql_model_free(am);
  for (int i = 0; i < SAMPLES; i++) ql_tensor_free(xs[i]);
  ql_tensor_free(wa);
  ql_tensor_free(wd);
  ql_tensor_free(wf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equalize_leaky_maxpool_chain),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* float32 Conv (im2col + sgemm, src/kernels/sgemm.h) and the float32 2-D
 * MaxPool path. Conv: every ISA at 1 and 2 threads must give the reference
 * path's bits (the fmaf chain is the definition), and the reference must
 * agree with a double-precision convolution written here from the ONNX
 * formula. MaxPool: exactly the maximum over the window's taps inside the
 * input, computed here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#define GB_RNG_SEED 0x51c0aa77ull
#include "graph-build.h"

typedef struct {
  int64_t n, c, h, w, m, kh, kw, group, sh, sw, dh, dw, pt, pl, pb, pr;
  int bias, one_d;
} conv_case;

static ql_model *conv_model(const conv_case *k, ql_tensor **wt, ql_tensor **bt) {
  ql_model *m = new_model(17);
  ql_node *n = ql_node_new("Conv", "", "conv");
  ql_node_add_input(n, "x");
  int64_t wd[4] = {k->m, k->c / k->group, k->kh, k->kw};
  if (k->one_d) wd[2] = k->kw;
  ql_tensor *w = ql_tensor_new(QL_FLOAT, k->one_d ? 3 : 4, wd, NULL);
  for (int64_t i = 0; i < w->numel; i++) ((float *)w->data)[i] = rnd_f(-1.0f, 1.0f);
  add_init(m, n, "w", w);
  *wt = w;
  *bt = NULL;
  if (k->bias) {
    ql_tensor *b = ql_tensor_new(QL_FLOAT, 1, &k->m, NULL);
    for (int64_t i = 0; i < b->numel; i++) ((float *)b->data)[i] = rnd_f(-1.0f, 1.0f);
    add_init(m, n, "b", b);
    *bt = b;
  }
  ql_node_add_output(n, "y");
  if (k->one_d) {
    int64_t ks[1] = {k->kw}, st[1] = {k->sw}, dl[1] = {k->dw}, pd[2] = {k->pl, k->pr};
    set_ints(n, "kernel_shape", 1, ks);
    set_ints(n, "strides", 1, st);
    set_ints(n, "dilations", 1, dl);
    set_ints(n, "pads", 2, pd);
  } else {
    int64_t ks[2] = {k->kh, k->kw}, st[2] = {k->sh, k->sw}, dl[2] = {k->dh, k->dw}, pd[4] = {k->pt, k->pl, k->pb, k->pr};
    set_ints(n, "kernel_shape", 2, ks);
    set_ints(n, "strides", 2, st);
    set_ints(n, "dilations", 2, dl);
    set_ints(n, "pads", 4, pd);
  }
  ql_attr *g = ql_node_add_attr(n, "group", QL_ATTR_INT);
  g->i = k->group;
  ql_graph_add_node(m->graph, n);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "x", QL_FLOAT);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "y", QL_FLOAT);
  return m;
}

/* y[n][m][oy][ox] in double from the ONNX formula */
static double conv_at(const conv_case *k, const float *x, const float *w, const float *b, int64_t n, int64_t m,
                      int64_t oy, int64_t ox, int64_t h, int64_t wd) {
  int64_t cg = k->c / k->group, mg = k->m / k->group, g = m / mg, kh = k->one_d ? 1 : k->kh;
  double acc = b ? b[m] : 0.0;
  for (int64_t c = 0; c < cg; c++)
    for (int64_t r = 0; r < kh; r++)
      for (int64_t q = 0; q < k->kw; q++) {
        int64_t iy = k->one_d ? 0 : oy * k->sh - k->pt + r * k->dh, ix = ox * k->sw - k->pl + q * k->dw;
        if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
        acc += (double)w[((m * cg + c) * kh + r) * k->kw + q] * x[((n * k->c + g * cg + c) * h + iy) * wd + ix];
      }
  return acc;
}

static void run_case(const conv_case *k) {
  ql_tensor *w, *b;
  ql_model *m = conv_model(k, &w, &b);
  int64_t h = k->one_d ? 1 : k->h;
  int64_t xd[4] = {k->n, k->c, k->h, k->w};
  if (k->one_d) xd[2] = k->w;
  ql_tensor *x = ql_tensor_new(QL_FLOAT, k->one_d ? 3 : 4, xd, NULL);
  for (int64_t i = 0; i < x->numel; i++) ((float *)x->data)[i] = rnd_f(-2.0f, 2.0f);
  check_isas1(m, x, NULL, "float Conv");
  ql_session_options ref = {.threads = 1, .reference_only = 1};
  ql_tensor *y = run1(m, x, &ref);
  int64_t oh = k->one_d ? 1 : y->dims[2], ow = y->dims[k->one_d ? 2 : 3];
  for (int64_t n = 0; n < k->n; n++)
    for (int64_t mm = 0; mm < k->m; mm++)
      for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t ox = 0; ox < ow; ox++) {
          double want = conv_at(k, x->data, w->data, b ? b->data : NULL, n, mm, oy, ox, h, k->w);
          float got = ((float *)y->data)[((n * k->m + mm) * oh + oy) * ow + ox];
          if (fabs(got - want) > 1e-4 * (1 + fabs(want)))
            fail_msg("y[%lld][%lld][%lld][%lld] = %.9g, want %.9g", (long long)n, (long long)mm, (long long)oy,
                     (long long)ox, got, want);
        }
  ql_tensor_free(y);
  ql_tensor_free(x);
  ql_model_free(m);
}

static void test_conv_shapes(void **state) {
  (void)state;
  static const conv_case cases[] = {
      /* n  c   h   w   m  kh kw grp sh sw dh dw pt pl pb pr bias 1d */
      {1, 8, 9, 11, 20, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0},   /* 1x1: X read in place */
      {2, 3, 17, 19, 16, 3, 3, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0},  /* stem: stride 2, padded */
      {1, 12, 13, 13, 12, 3, 3, 12, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, /* depthwise */
      {1, 12, 14, 15, 12, 5, 5, 12, 2, 2, 1, 1, 2, 2, 2, 2, 0, 0}, /* depthwise 5x5 stride 2 */
      {2, 4, 5, 70, 4, 3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0},     /* depthwise rows past 64 columns */
      {1, 3, 9, 40, 3, 3, 3, 3, 1, 1, 2, 2, 2, 0, 1, 3, 1, 0},     /* depthwise, dilated, uneven pads */
      {1, 2, 5, 5, 2, 3, 3, 2, 1, 1, 1, 1, 40, 40, 40, 40, 1, 0},  /* depthwise, pads far past the input: im2col */
      {1, 8, 10, 12, 6, 3, 2, 2, 1, 2, 2, 1, 2, 0, 1, 3, 1, 0},   /* groups, dilation, odd pads */
      {1, 5, 1, 40, 33, 1, 4, 1, 1, 3, 1, 2, 0, 3, 0, 1, 1, 1},   /* 1-D */
      {1, 4, 6, 7, 9, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0},     /* 1x1 stride 2: im2col */
      {1, 3, 5, 5, 4, 7, 7, 1, 1, 1, 1, 1, 3, 3, 3, 3, 1, 0},     /* kernel wider than the input */
      {1, 16, 3, 200, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0},  /* several column blocks */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i]);
}

static void test_maxpool_windows(void **state) {
  (void)state;
  /* kernel, stride, pads (t, l, b, r), ceil_mode */
  static const int64_t cases[][8] = {{2, 2, 0, 0, 0, 0, 0, 0}, {3, 2, 1, 1, 1, 1, 0, 0}, {3, 1, 1, 1, 1, 1, 0, 0},
                                     {2, 2, 0, 0, 0, 0, 1, 0}, {5, 3, 2, 0, 1, 2, 1, 0}};
  static const ql_dtype types[] = {QL_FLOAT, QL_UINT8, QL_INT8};
  for (size_t ci = 0; ci < 3 * sizeof cases / sizeof *cases; ci++) {
    const int64_t *k = cases[ci / 3];
    const ql_dtype dt = types[ci % 3];
    ql_model *m = new_model(12);
    ql_node *n = ql_node_new("MaxPool", "", "mp");
    ql_node_add_input(n, "x");
    ql_node_add_output(n, "y");
    int64_t ks[2] = {k[0], k[0]}, st[2] = {k[1], k[1]}, pd[4] = {k[2], k[3], k[4], k[5]};
    set_ints(n, "kernel_shape", 2, ks);
    set_ints(n, "strides", 2, st);
    set_ints(n, "pads", 4, pd);
    ql_attr *cm = ql_node_add_attr(n, "ceil_mode", QL_ATTR_INT);
    cm->i = k[6];
    ql_graph_add_node(m->graph, n);
    add_vi(&m->graph->inputs, &m->graph->n_inputs, "x", dt);
    add_vi(&m->graph->outputs, &m->graph->n_outputs, "y", dt);
    int64_t xd[4] = {2, 3, 11, 13};
    ql_tensor *x = ql_tensor_new(dt, 4, xd, NULL);
    for (int64_t i = 0; i < x->numel; i++) {
      if (dt == QL_FLOAT) ((float *)x->data)[i] = rnd_f(-3.0f, 3.0f);
      else ((uint8_t *)x->data)[i] = (uint8_t)rnd();
    }
    ql_session_options o = {.threads = 2};
    ql_tensor *y = run1(m, x, &o);
    const int64_t oh = y->dims[2], ow = y->dims[3];
    for (int64_t p = 0; p < 6; p++)
      for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t ox = 0; ox < ow; ox++) {
          float want = -INFINITY;
          for (int64_t r = 0; r < k[0]; r++)
            for (int64_t q = 0; q < k[0]; q++) {
              int64_t iy = oy * k[1] - k[2] + r, ix = ox * k[1] - k[3] + q;
              if (iy >= 0 && iy < 11 && ix >= 0 && ix < 13)
                want = fmaxf(want, (float)ql_tensor_get_f64(x, (p * 11 + iy) * 13 + ix));
            }
          assert_true((float)ql_tensor_get_f64(y, (p * oh + oy) * ow + ox) == want);
        }
    ql_tensor_free(y);
    ql_tensor_free(x);
    ql_model_free(m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_shapes),
      cmocka_unit_test(test_maxpool_windows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

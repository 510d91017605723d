/* Depthwise QLinearConv / ConvInteger (src/kernels/dwconv.h and its use in
 * src/ops/qlinear-conv.c):
 *  - a hand-worked case (sums and round-half-even ties worked out on paper)
 *    on the reference and on every fast configuration;
 *  - the kernels themselves on every ISA against the definition, written
 *    out here as a plain loop over the unpadded input;
 *  - one-node models over random depthwise geometries (strides, dilations,
 *    pads, 1-D and 2-D, channel multipliers, uint8/int8 inputs and weights,
 *    per-channel parameters, odd widths, the generic fallback's geometries)
 *    run on every ISA this CPU supports with 1 and 2 threads, byte for byte
 *    against the reference op (itself held to the ONNX node tests and ONNX
 *    Runtime outputs by the conformance lists and tests/data/msq). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "ir/ir.h"
#include "kernels/dwconv.h"
#include "ops/op.h"
#include "runtime/runtime.h"

#define GB_RNG_SEED 0x2545F4914F6CDD1Dull
#include "graph-build.h"

static const char *const isas[] = {"scalar", "avx2", "avxvnni", "avx512vnni", "amx"};

/* ---- models ---- */

static ql_tensor *filled(ql_dtype t, int rank, const int64_t *dims, const void *data) {
  ql_tensor *x = ql_tensor_new(t, rank, dims, NULL);
  memcpy(x->data, data, ql_tensor_nbytes(x));
  return x;
}

/* ---- hand-worked ---- */

/* Two 3x3 planes, 3x3 kernels, pads 1, y_scale 2 (mult 0.5 exactly):
 * plane 0 = 1..9 with all-ones weights: the neighbourhood sums
 *   12 21 16 / 27 45 33 / 24 39 28  -> halves with ties to even
 *    6 10  8 / 14 22 16 / 12 20 14
 * plane 1 = all 10 (x_zp 0), weight 3 at the centre only, bias 5:
 *   (30 + 5) / 2 = 17.5 -> 18 everywhere. */
static void test_hand_worked(void **state) {
  (void)state;
  ql_model *m = new_model(13);
  ql_node *n = ql_node_new("QLinearConv", "", "cv");
  ql_node_add_input(n, "x");
  const int64_t xd[4] = {1, 2, 3, 3}, wd[4] = {2, 1, 3, 3}, two = 2, one = 1;
  uint8_t xv[18], wv[18] = {0};
  for (int i = 0; i < 9; i++) {
    xv[i] = (uint8_t)(i + 1);
    xv[9 + i] = 10;
    wv[i] = 1;
  }
  wv[9 + 4] = 3;
  const float s1 = 1.0f, s2 = 2.0f;
  const uint8_t z = 0;
  const int32_t bias[2] = {0, 5};
  add_init(m, n, "xs", filled(QL_FLOAT, 0, &one, &s1));
  add_init(m, n, "xz", filled(QL_UINT8, 0, &one, &z));
  add_init(m, n, "w", filled(QL_UINT8, 4, wd, wv));
  add_init(m, n, "ws", filled(QL_FLOAT, 0, &one, &s1));
  add_init(m, n, "wz", filled(QL_UINT8, 0, &one, &z));
  add_init(m, n, "ys", filled(QL_FLOAT, 0, &one, &s2));
  add_init(m, n, "yz", filled(QL_UINT8, 0, &one, &z));
  add_init(m, n, "b", filled(QL_INT32, 1, &two, bias));
  const int64_t pads[4] = {1, 1, 1, 1};
  set_ints(n, "pads", 4, pads);
  ql_node_add_attr(n, "group", QL_ATTR_INT)->i = 2;
  ql_node_add_output(n, "y");
  ql_graph_add_node(m->graph, n);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "x", QL_UINT8);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "y", QL_UNDEFINED);
  ql_tensor *x = filled(QL_UINT8, 4, xd, xv);
  static const uint8_t want[18] = {6, 10, 8, 14, 22, 16, 12, 20, 14, 18, 18, 18, 18, 18, 18, 18, 18, 18};
  check_isas1(m, x, want, "hand-worked depthwise");
  ql_tensor_free(x);
  ql_model_free(m);
}

/* ---- the kernels against the definition ---- */

typedef struct dw_geo {
  int nsp;
  int64_t in[2], k[2], s[2], d[2], pb[2], pe[2];
} dw_geo;

static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe) {
  const int64_t ek = (k - 1) * d + 1;
  return in + pb + pe < ek ? 0 : (in + pb + pe - ek) / s + 1;
}

static void kernel_case(const dw_geo *g, int sgn, int out_kind) {
  int64_t out[2];
  for (int i = 0; i < g->nsp; i++) out[i] = out_len(g->in[i], g->k[i], g->s[i], g->d[i], g->pb[i], g->pe[i]);
  ql_dwconv_plan pl;
  assert_true(ql_dwconv_plan_init(&pl, g->nsp, g->in, out, g->k, g->s, g->d, g->pb));
  const int two = g->nsp == 2;
  const int64_t ih = two ? g->in[0] : 1, iw = g->in[g->nsp - 1], oh = two ? out[0] : 1, ow = out[g->nsp - 1];
  const int64_t kh = two ? g->k[0] : 1, kw = g->k[g->nsp - 1], sh = two ? g->s[0] : 1, sw = g->s[g->nsp - 1];
  const int64_t dh = two ? g->d[0] : 1, dw = g->d[g->nsp - 1], pt = two ? g->pb[0] : 0, pl0 = g->pb[g->nsp - 1];
  uint8_t *x = malloc((size_t)(ih * iw));
  int16_t *w = malloc((size_t)(kh * kw) * sizeof *w);
  uint32_t *wp = malloc((size_t)(kh * kw) * sizeof *wp);
  int plo[QL_DWCONV_MAX_PAIRS], phi[QL_DWCONV_MAX_PAIRS];
  const int np = ql_dwconv_pairs(kh, kw, sh, sw, dh, dw, plo, phi);
  assert_int_equal(np, pl.npairs);
  int32_t *want = malloc((size_t)(oh * ow) * sizeof *want);
  int32_t *got = malloc((size_t)(oh * ow) * sizeof *got);
  void *scratch = ql_malloc_aligned(ql_dwconv_scratch_size(&pl));
  ql_dwconv_scratch_init(&pl, scratch);
  for (int64_t i = 0; i < ih * iw; i++) x[i] = (uint8_t)rnd();
  for (int64_t i = 0; i < kh * kw; i++) w[i] = (int16_t)rnd_in(-255, 255);
  ql_dwconv_pack_w(w, np, plo, phi, wp);
  const int32_t xzp = sgn ? rnd_in(-128, 127) : rnd_in(0, 255), bias = rnd_in(-100000, 100000);
  const float mult = 0.0005f * (float)rnd_in(1, 100);
  const int32_t lo = out_kind == 1 ? 0 : -128, hi = out_kind == 1 ? 255 : 127;
  const int32_t yzp = rnd_in(lo, hi);
  for (int64_t oy = 0; oy < oh; oy++)
    for (int64_t ox = 0; ox < ow; ox++) {
      int64_t acc = bias;
      for (int64_t ky = 0; ky < kh; ky++)
        for (int64_t kx = 0; kx < kw; kx++) {
          const int64_t iy = oy * sh + ky * dh - pt, ix = ox * sw + kx * dw - pl0;
          if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) continue;
          const int32_t xv = sgn ? (int8_t)x[iy * iw + ix] : x[iy * iw + ix];
          acc += (int64_t)(xv - xzp) * w[ky * kw + kx];
        }
      int32_t v = (int32_t)acc; /* far from overflow here */
      if (out_kind) {
        float f = (float)v * mult;
        f = f < (float)(lo - yzp) ? (float)(lo - yzp) : f > (float)(hi - yzp) ? (float)(hi - yzp) : f;
        v = (int32_t)nearbyintf(f) + yzp;
      }
      want[oy * ow + ox] = v;
    }
  for (int i = 0; i < QL_ISA_COUNT; i++) {
    if (!ql_isa_supported((ql_isa)i)) continue;
    memset(got, 0x5a, (size_t)(oh * ow) * sizeof *got);
    uint8_t *g8 = (uint8_t *)got;
    ql_dwconv_args a = {.x = x, .x_signed = sgn, .x_zp = xzp, .wpair = wp, .bias = bias, .out_kind = out_kind,
                        .mult = mult, .y_zp = yzp, .lo = lo, .hi = hi, .y = got};
    ql_dwconv_plane(&pl, (ql_isa)i, &a, scratch);
    for (int64_t o = 0; o < oh * ow; o++) {
      const int32_t v = out_kind == 0 ? got[o] : out_kind == 1 ? g8[o] : (int8_t)g8[o];
      if (v != want[o])
        fail_msg("%s: %lldx%lld k%lldx%lld s%lld,%lld d%lld,%lld p%lld,%lld out %d sgn %d: [%lld] %d != %d",
                 isas[i], (long long)ih, (long long)iw, (long long)kh, (long long)kw, (long long)sh, (long long)sw,
                 (long long)dh, (long long)dw, (long long)pt, (long long)pl0, out_kind, sgn, (long long)o, v,
                 want[o]);
    }
    if (out_kind && g8[oh * ow] != 0x5a) fail_msg("%s wrote past the plane", isas[i]);
  }
  ql_free_aligned(scratch);
  free(x);
  free(w);
  free(wp);
  free(want);
  free(got);
}

static void test_kernels(void **state) {
  (void)state;
  static const dw_geo fixed[] = {
      {2, {56, 56}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},     /* the bench case */
      {2, {26, 26}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}},     /* stride 2, even */
      {2, {13, 13}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}},     /* odd width */
      {2, {27, 33}, {5, 5}, {2, 2}, {1, 1}, {2, 2}, {2, 2}},     /* 5x5 stride 2 */
      {2, {20, 70}, {3, 3}, {1, 1}, {2, 3}, {2, 3}, {2, 3}},     /* dilated */
      {2, {9, 100}, {3, 5}, {3, 3}, {1, 2}, {0, 4}, {2, 0}},     /* stride 3, asymmetric */
      {2, {7, 150}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}},     /* stride 2, whole 64-byte loads */
      {2, {5, 151}, {3, 3}, {2, 2}, {1, 1}, {0, 0}, {0, 0}},     /* stride 2, odd, unpadded */
      {2, {6, 97}, {3, 3}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},      /* stride 1, unpadded */
      {1, {200, 0}, {7, 0}, {1, 0}, {1, 0}, {3, 0}, {3, 0}},     /* 1-D */
      {2, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},       /* one pixel */
      {2, {4, 4}, {7, 7}, {1, 1}, {1, 1}, {3, 3}, {3, 3}},       /* kernel larger than the input */
  };
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    for (int ok = 0; ok < 3; ok++) kernel_case(&fixed[i], (int)(i + (size_t)ok) & 1, ok);
  for (int it = 0; it < 150; it++) {
    dw_geo g = {.nsp = rnd_in(1, 2)};
    for (int i = 0; i < g.nsp; i++) {
      g.in[i] = rnd_in(1, 40);
      g.k[i] = rnd_in(1, 5);
      g.s[i] = rnd_in(1, 4);
      g.d[i] = rnd_in(1, 3);
      g.pb[i] = rnd_in(0, 4);
      g.pe[i] = rnd_in(0, 4);
      while (g.in[i] + g.pb[i] + g.pe[i] < (g.k[i] - 1) * g.d[i] + 1) g.pe[i]++;
    }
    kernel_case(&g, it & 1, it % 3);
  }
}

/* ---- one-node models against the reference op ---- */

typedef struct conv_case {
  int64_t N, C, H, W, mult, kh, kw, sh, sw, dh, dw;
  int64_t pads[4];
  int nsp;
} conv_case;

static void one_conv(int qlinear, ql_dtype xt, ql_dtype wt, const conv_case *cc, int per_ch, int with_bias) {
  ql_model *m = new_model(13);
  ql_node *n = ql_node_new(qlinear ? "QLinearConv" : "ConvInteger", "", "cv");
  ql_node_add_input(n, "x");
  const int64_t one = 1, M = cc->C * cc->mult;
  const int two = cc->nsp == 2;
  const int64_t xdims[4] = {cc->N, cc->C, two ? cc->H : cc->W, cc->W};
  const int64_t wdims[4] = {M, 1, two ? cc->kh : cc->kw, cc->kw};
  ql_tensor *x = rand_tensor(xt, 2 + cc->nsp, xdims, 0);
  ql_tensor *w = rand_tensor(wt, 2 + cc->nsp, wdims, 0);
  if (qlinear) {
    add_init(m, n, "xs", rand_tensor(QL_FLOAT, 0, &one, 0.02f));
    add_init(m, n, "xzp", rand_tensor(xt, 0, &one, 0));
    add_init(m, n, "w", w);
    add_init(m, n, "ws", rand_tensor(QL_FLOAT, per_ch ? 1 : 0, &M, 0.01f));
    add_init(m, n, "wzp", rand_tensor(wt, per_ch ? 1 : 0, &M, 0));
    add_init(m, n, "ys", rand_tensor(QL_FLOAT, 0, &one, 0.03f * (float)(cc->kh * cc->kw)));
    add_init(m, n, "yzp", rand_tensor(rnd() & 1 ? QL_UINT8 : QL_INT8, 0, &one, 0));
    if (with_bias) add_init(m, n, "bias", rand_tensor(QL_INT32, 1, &M, 0));
  } else {
    add_init(m, n, "w", w);
    add_init(m, n, "xzp", rand_tensor(xt, 0, &one, 0));
    if (with_bias) add_init(m, n, "wzp", rand_tensor(wt, per_ch ? 1 : 0, &M, 0));
  }
  const int64_t strides[2] = {cc->sh, cc->sw}, dil[2] = {cc->dh, cc->dw};
  const int64_t pads1[2] = {cc->pads[1], cc->pads[3]};
  set_ints(n, "strides", cc->nsp, two ? strides : strides + 1);
  set_ints(n, "dilations", cc->nsp, two ? dil : dil + 1);
  set_ints(n, "pads", 2 * cc->nsp, two ? cc->pads : pads1);
  ql_node_add_attr(n, "group", QL_ATTR_INT)->i = cc->C;
  ql_node_add_output(n, "y");
  ql_graph_add_node(m->graph, n);
  add_vi(&m->graph->inputs, &m->graph->n_inputs, "x", xt);
  add_vi(&m->graph->outputs, &m->graph->n_outputs, "y", QL_UNDEFINED);
  char what[200];
  snprintf(what, sizeof what, "%s %s x %s N%lld C%lld x%lld %lldx%lld k%lldx%lld s%lld,%lld d%lld,%lld per_ch %d",
           qlinear ? "QLinearConv" : "ConvInteger", ql_dtype_name(xt), ql_dtype_name(wt), (long long)cc->N,
           (long long)cc->C, (long long)cc->mult, (long long)cc->H, (long long)cc->W, (long long)cc->kh,
           (long long)cc->kw, (long long)cc->sh, (long long)cc->sw, (long long)cc->dh, (long long)cc->dw, per_ch);
  check_isas1(m, x, NULL, what);
  ql_tensor_free(x);
  ql_model_free(m);
}

static void test_models(void **state) {
  (void)state;
  static const conv_case fixed[] = {
      /* N  C   H   W  mult kh kw sh sw dh dw  pads          nsp */
      {1, 144, 56, 56, 1, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 2},  /* the bench case */
      {1, 24, 104, 104, 1, 3, 3, 2, 2, 1, 1, {1, 1, 1, 1}, 2}, /* nanodet: stride 2 */
      {1, 58, 13, 13, 1, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, 2},   /* nanodet: odd width */
      {2, 8, 12, 11, 2, 3, 3, 2, 2, 1, 1, {1, 1, 0, 0}, 2},    /* multiplier 2, stride 2 */
      {1, 6, 13, 12, 1, 5, 5, 1, 1, 2, 2, {4, 4, 4, 4}, 2},    /* 5x5 dilated */
      {1, 3, 9, 45, 2, 5, 5, 2, 3, 1, 1, {2, 2, 2, 2}, 2},     /* strides 2 and 3 */
      {1, 4, 1, 50, 2, 1, 5, 1, 2, 1, 2, {0, 3, 0, 1}, 1},     /* 1-D */
      {1, 5, 17, 19, 1, 1, 1, 1, 1, 1, 1, {0, 0, 0, 0}, 2},    /* 1x1 */
      {1, 2, 30, 30, 1, 23, 23, 1, 1, 1, 1, {11, 11, 11, 11}, 2}, /* 529 taps: the generic loop */
      {1, 2, 5, 300, 1, 3, 3, 20, 20, 1, 1, {1, 1, 1, 1}, 2},  /* stride 20: the generic loop */
  };
  const ql_dtype ts[2] = {QL_UINT8, QL_INT8};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    for (int q = 0; q < 2; q++)
      one_conv(q, ts[(i + (size_t)q) & 1], ts[(i >> 1) & 1], &fixed[i], (int)(i & 1), (int)(i & 2) || q);
  for (int it = 0; it < 60; it++) {
    conv_case cc = {.N = rnd_in(1, 2), .C = rnd_in(2, 9), .mult = rnd_in(1, 3), .nsp = rnd_in(1, 2)};
    int64_t *in[2] = {&cc.H, &cc.W}, *k[2] = {&cc.kh, &cc.kw}, *s[2] = {&cc.sh, &cc.sw}, *d[2] = {&cc.dh, &cc.dw};
    cc.H = cc.kh = cc.sh = cc.dh = 1;
    for (int a = 2 - cc.nsp; a < 2; a++) {
      *in[a] = rnd_in(1, 37);
      *k[a] = rnd_in(1, 5);
      *s[a] = rnd_in(1, 3);
      *d[a] = rnd_in(1, 3);
      cc.pads[a] = rnd_in(0, 3);
      cc.pads[2 + a] = rnd_in(0, 3);
      while (*in[a] + cc.pads[a] + cc.pads[2 + a] < (*k[a] - 1) * *d[a] + 1) cc.pads[2 + a]++;
    }
    if (cc.nsp == 1) cc.pads[0] = cc.pads[2] = 0;
    one_conv(it & 1, ts[rnd() & 1], ts[rnd() & 1], &cc, (int)(rnd() & 1), (int)(rnd() & 1));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hand_worked),
      cmocka_unit_test(test_kernels),
      cmocka_unit_test(test_models),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Empirical bias correction (Nagel et al., "Data-Free Quantization", and
 * AIMET's empirical variant): quantizing weights and activations shifts the
 * mean of each output channel of a Conv a little (a depthwise kernel has 9
 * weights per channel, so their rounding errors do not average out; a Relu'd
 * tensor's values below half a step all round to zero). The next layers
 * see that shift as a signal, and a score head that ends in a sigmoid turns
 * it into a systematic error. The cure is to measure the shift per channel
 * on the calibration samples and subtract it from the int32 bias.
 *
 * What is compared: the float model's value of the Conv's output, clipped to
 * the range its QuantizeLinear represents (the clipping is intended, it is
 * not a bias to undo), against what the quantized model carries on, the
 * dequantized QuantizeLinear output (a Conv whose output is not quantized:
 * the output itself). Correcting every layer at once would count a shift
 * twice (in the layer that causes it, and in every layer it reaches, e.g.
 * YuNet's score heads then lose 10-20 dB), so layers are corrected level by
 * level (a level: the Conv/Gemm layers whose corrected ancestors are all in
 * earlier levels), each measured after the levels before it are corrected:
 * one run of the quantized model over the samples per level, which makes
 * this slow (YuNet: 30 levels). The quantized model runs on qlinear's
 * integer kernels, as it will be run. */
#include "../common/strmap.h"
#include "../runtime/runtime.h"
#include "quant.h"
#include <math.h>
#include <stdio.h>

typedef struct {
  const char *out;     /* the Conv/Gemm output in the float model */
  char *qout;          /* what the quantized model carries on: Q output, or `out` */
  float scale, lo, hi; /* the Q's parameters (scale 0: not quantized) */
  int64_t zp;
  ql_tensor *bias;     /* int32 bias initializer, one element per channel */
  const ql_tensor *bscale;
  int64_t c;           /* channels */
  double *fsum, *qsum, fn, qn;
  int64_t headroom;    /* room the accumulation needs in int32 */
  int group;
} bc_layer;

typedef struct {
  bc_layer *l;
  size_t n;
  int quant; /* 0: float pass, 1: quantized pass */
  int group;
  ql_strmap idx;
} bc_state;

static void add_channels(bc_layer *L, const ql_tensor *t, int quant) {
  if (t->rank < 2 || t->dims[1] != L->c || !t->numel) return;
  int64_t inner = 1;
  for (int d = 2; d < t->rank; d++) inner *= t->dims[d];
  double *sum = quant ? L->qsum : L->fsum;
  for (int64_t i = 0; i < t->numel; i++) {
    int64_t ch = (i / inner) % L->c;
    double v;
    if (quant && L->scale > 0) v = ((double)ql_load_i64(t->dtype, t->data, i) - (double)L->zp) * (double)L->scale;
    else if (t->dtype == QL_FLOAT) {
      v = (double)((const float *)t->data)[i];
      if (v != v) continue;
      if (!quant && L->scale > 0) v = v < L->lo ? L->lo : v > L->hi ? L->hi : v;
    } else return;
    sum[ch] += v;
  }
  *(quant ? &L->qn : &L->fn) += (double)(t->numel / L->c);
}

static int bc_observe(void *ctx, const char *name, const ql_tensor *t) {
  bc_state *s = ctx;
  int k = ql_strmap_get(&s->idx, name);
  if (k < 0 || (s->quant && s->l[k].group != s->group)) return 0;
  add_channels(&s->l[k], t, s->quant);
  return 0;
}

static ql_status run_all(const ql_model *m, const ql_samples *calib, int threads, bc_state *s, ql_error *err) {
  ql_session *ss = NULL;
  ql_session_options so = {.threads = threads};
  ql_status st = ql_session_create(m, &so, &ss, err);
  if (st) return st;
  for (size_t i = 0; i < calib->n && !st; i++) st = ql_samples_run_observed(ss, calib, i, 0, bc_observe, s, err);
  if (st) ql_err_prefix(err, "bias correction");
  ql_session_free(ss);
  return st;
}

static ql_node *producer(const ql_graph *g, const char *name) {
  for (size_t i = 0; i < g->n_nodes; i++)
    for (size_t k = 0; k < g->nodes[i]->n_outputs; k++)
      if (!strcmp(g->nodes[i]->outputs[k], name)) return g->nodes[i];
  return NULL;
}

static int n_readers(const ql_graph *g, const char *name) {
  int n = 0;
  for (size_t i = 0; i < g->n_nodes; i++)
    for (size_t k = 0; k < g->nodes[i]->n_inputs; k++) n += !strcmp(g->nodes[i]->inputs[k], name);
  return n;
}

static float scalar_f(const ql_tensor *t) { return t && t->numel == 1 && t->dtype == QL_FLOAT ? ((const float *)t->data)[0] : 0; }

ql_status ql_bias_correct(const ql_model *folded, ql_model *qm, const ql_samples *calib, int threads, int progress,
                          ql_error *err) {
  ql_graph *g = qm->graph;
  bc_state s = {0};
  size_t cap = 0;
  ql_status st = QL_OK;
  for (size_t i = 0; i < g->n_nodes && !st; i++) {
    ql_node *n = g->nodes[i];
    if (*ql_domain_canon(n->domain) || n->n_inputs < 3 || n->n_outputs != 1 ||
        (strcmp(n->op_type, "Conv") && strcmp(n->op_type, "Gemm")))
      continue;
    ql_node *bdq = producer(g, n->inputs[2]), *wdq = producer(g, n->inputs[1]);
    if (!bdq || strcmp(bdq->op_type, "DequantizeLinear") || bdq->n_inputs < 2 || !wdq ||
        strcmp(wdq->op_type, "DequantizeLinear"))
      continue;
    ql_tensor *b = ql_graph_find_init_mut(g, bdq->inputs[0]), *wq = ql_graph_find_init_mut(g, wdq->inputs[0]);
    const ql_tensor *bs = ql_graph_find_init(g, bdq->inputs[1]);
    if (!b || b->dtype != QL_INT32 || b->rank != 1 || !bs || !wq || (bs->numel != 1 && bs->numel != b->numel) ||
        n_readers(g, bdq->inputs[0]) != 1 || n_readers(g, n->inputs[2]) != 1 || !producer(folded->graph, n->outputs[0]))
      continue;
    if (ql_grow((void **)&s.l, &cap, s.n + 1, sizeof *s.l)) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      break;
    }
    bc_layer *L = &s.l[s.n];
    memset(L, 0, sizeof *L);
    L->out = n->outputs[0];
    L->bias = b;
    L->bscale = bs;
    L->c = b->numel;
    /* the QuantizeLinear that reads the output, if any */
    for (size_t j = 0; j < g->n_nodes; j++) {
      const ql_node *q = g->nodes[j];
      if (strcmp(q->op_type, "QuantizeLinear") || q->n_inputs < 3 || strcmp(q->inputs[0], L->out)) continue;
      const ql_tensor *qs = ql_graph_find_init(g, q->inputs[1]), *qz = ql_graph_find_init(g, q->inputs[2]);
      if (!qs || !qz || qs->numel != 1 || qz->numel != 1 || !(scalar_f(qs) > 0)) continue;
      int64_t lo, hi;
      ql_dtype_int_range(qz->dtype, &lo, &hi);
      L->scale = scalar_f(qs);
      L->zp = ql_load_i64(qz->dtype, qz->data, 0);
      L->lo = (float)(((double)lo - (double)L->zp) * L->scale);
      L->hi = (float)(((double)hi - (double)L->zp) * L->scale);
      L->qout = ql_strdup(q->outputs[0]);
      break;
    }
    if (!L->qout) L->qout = ql_strdup(L->out);
    /* the accumulation bound verify checks: K * max|w_q| * (activation span) */
    int64_t wmax = 0, amin, amax;
    for (int64_t k = 0; k < wq->numel; k++) {
      int64_t v = ql_load_i64(wq->dtype, wq->data, k);
      if (v < 0) v = -v;
      if (v > wmax) wmax = v;
    }
    ql_dtype_int_range(QL_UINT8, &amin, &amax);
    L->headroom = (wq->numel / L->c) * wmax * (amax - amin);
    L->fsum = ql_calloc((size_t)L->c, sizeof(double));
    L->qsum = ql_calloc((size_t)L->c, sizeof(double));
    s.n++;
    if (!L->qout || !L->fsum || !L->qsum) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  /* levels: a layer is measured once every corrected layer upstream of it
   * is corrected; layers of one level do not feed each other */
  int groups = 0;
  {
    ql_strmap lvl = {0};
    for (size_t i = 0; i < g->n_nodes && !st; i++) {
      const ql_node *n = g->nodes[i];
      int in = 0;
      for (size_t k = 0; k < n->n_inputs; k++) {
        int v = *n->inputs[k] ? ql_strmap_get(&lvl, n->inputs[k]) : -1;
        if (v > in) in = v;
      }
      int outl = in;
      for (size_t k = 0; k < s.n; k++)
        if (n->n_outputs && s.l[k].out == n->outputs[0]) {
          s.l[k].group = in;
          outl = in + 1;
          if (in + 1 > groups) groups = in + 1;
        }
      for (size_t k = 0; k < n->n_outputs && !st; k++)
        if (*n->outputs[k] && ql_strmap_put(&lvl, n->outputs[k], outl)) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    ql_strmap_free(&lvl);
  }
  /* float pass: the outputs by their own names */
  for (size_t k = 0; k < s.n && !st; k++)
    if (ql_strmap_put(&s.idx, s.l[k].out, (int)k)) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  if (!st && s.n) st = run_all(folded, calib, threads, &s, err);
  ql_strmap_free(&s.idx);
  memset(&s.idx, 0, sizeof s.idx);
  for (size_t k = 0; k < s.n && !st; k++)
    if (ql_strmap_put(&s.idx, s.l[k].qout, (int)k)) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  s.quant = 1;
  size_t corrected = 0;
  for (int grp = 0; grp < groups && s.n && !st; grp++) {
    s.group = grp;
    if ((st = run_all(qm, calib, threads, &s, err))) break;
    for (size_t k = 0; k < s.n; k++) {
      bc_layer *L = &s.l[k];
      if (L->group != grp || !(L->fn > 0) || !(L->qn > 0)) continue;
      int32_t *bq = L->bias->data;
      double lim = 2147483647.0 - (double)L->headroom;
      for (int64_t ch = 0; ch < L->c; ch++) {
        double bs = (double)((const float *)L->bscale->data)[L->bscale->numel == 1 ? 0 : ch];
        double d = L->fsum[ch] / L->fn - L->qsum[ch] / L->qn;
        if (!(bs > 0) || !isfinite(d)) continue;
        double nb = (double)bq[ch] + nearbyint(d / bs);
        if (!(fabs(nb) <= lim)) continue; /* no room: leave the channel as it is */
        bq[ch] = (int32_t)nb;
      }
      corrected++;
    }
    if (progress) fprintf(stderr, "bias correction %d/%d\n", grp + 1, groups);
  }
  for (size_t k = 0; k < s.n; k++) {
    ql_free(s.l[k].qout);
    ql_free(s.l[k].fsum);
    ql_free(s.l[k].qsum);
  }
  ql_free(s.l);
  ql_strmap_free(&s.idx);
  (void)corrected;
  return st;
}

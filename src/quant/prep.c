/* Float-graph preparation before quantization (what ONNX Runtime's
 * quant_pre_process does with its graph optimizer): an inference
 * BatchNormalization right after a Conv is folded into the Conv's weight and
 * bias. Left unfolded, the Conv output is quantized per tensor before the
 * normalization rescales each channel, and channels that the normalization
 * amplifies lose most of their precision (MobileNetV3-style models such as
 * PaddleOCR's classifier keep their BatchNormalization nodes in ONNX). */
#include "../runtime/runtime.h"
#include "quant.h"
#include <math.h>

static int readers(const ql_graph *g, const char *name) {
  int n = 0;
  for (size_t i = 0; i < g->n_nodes; i++)
    for (size_t k = 0; k < g->nodes[i]->n_inputs; k++) n += !strcmp(g->nodes[i]->inputs[k], name);
  for (size_t i = 0; i < g->n_outputs; i++) n += !strcmp(g->outputs[i].name, name) ? 100 : 0;
  return n;
}

/* a float constant of exactly n elements */
static const float *vec(ql_graph *g, const ql_node *n, size_t k, int64_t len) {
  if (k >= n->n_inputs || !*n->inputs[k]) return NULL;
  const ql_tensor *t = ql_graph_find_init(g, n->inputs[k]);
  return t && t->dtype == QL_FLOAT && t->numel == len ? t->data : NULL;
}

/* base + suffix (+ a number), a name no initializer has yet */
static char *fused_name(ql_graph *g, const char *base, const char *suffix) {
  char buf[600];
  for (unsigned k = 0;; k++) {
    snprintf(buf, sizeof buf, k ? "%s%s%u" : "%s%s", base, suffix, k);
    if (!ql_graph_find_init(g, buf)) return ql_strdup(buf);
  }
}

ql_status ql_fuse_conv_bn(ql_model *m, ql_error *err) {
  ql_graph *g = m->graph;
  for (size_t i = 0; i < g->n_nodes; i++) {
    ql_node *bn = g->nodes[i];
    if (strcmp(bn->op_type, "BatchNormalization") || *ql_domain_canon(bn->domain) || bn->n_inputs < 5 || !*bn->outputs[0])
      continue;
    int extra = 0; /* training-mode outputs that something reads */
    for (size_t k = 1; k < bn->n_outputs; k++) extra |= *bn->outputs[k] && readers(g, bn->outputs[k]);
    if (extra || ql_attr_int(bn, "spatial", 1) != 1 || ql_attr_int(bn, "training_mode", 0)) continue;
    ql_node *cv = NULL;
    for (size_t j = 0; j < g->n_nodes && !cv; j++)
      for (size_t k = 0; k < g->nodes[j]->n_outputs; k++)
        if (!strcmp(g->nodes[j]->outputs[k], bn->inputs[0])) cv = g->nodes[j];
    if (!cv || strcmp(cv->op_type, "Conv") || *ql_domain_canon(cv->domain) || cv->n_inputs < 2 || cv->n_outputs != 1 ||
        readers(g, cv->outputs[0]) != 1)
      continue;
    const ql_tensor *w = ql_graph_find_init(g, cv->inputs[1]);
    if (!w || w->dtype != QL_FLOAT || w->rank < 3 || w->dims[0] < 1) continue;
    int64_t co = w->dims[0], per = w->numel / co;
    const float *b = cv->n_inputs > 2 && *cv->inputs[2] ? vec(g, cv, 2, co) : NULL;
    if (cv->n_inputs > 2 && *cv->inputs[2] && !b) continue;
    const float *sc = vec(g, bn, 1, co), *bb = vec(g, bn, 2, co), *mean = vec(g, bn, 3, co), *var = vec(g, bn, 4, co);
    if (!sc || !bb || !mean || !var) continue;
    double eps = ql_attr_float(bn, "epsilon", 1e-5f);
    int64_t bdim = co;
    ql_tensor *nw = ql_tensor_new(QL_FLOAT, w->rank, w->dims, err), *nb = ql_tensor_new(QL_FLOAT, 1, &bdim, err);
    char bbase[600];
    snprintf(bbase, sizeof bbase, "%s%s", cv->n_inputs > 2 && *cv->inputs[2] ? cv->inputs[2] : cv->inputs[1],
             cv->n_inputs > 2 && *cv->inputs[2] ? "" : "_bias");
    char *wn = fused_name(g, cv->inputs[1], "_bn"), *bname = fused_name(g, bbase, "_bn");
    char *out = ql_strdup(bn->outputs[0]);
    if (!nw || !nb || !wn || !bname || !out) {
      ql_tensor_free(nw);
      ql_tensor_free(nb);
      ql_free(wn);
      ql_free(bname);
      ql_free(out);
      return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory folding BatchNormalization");
    }
    for (int64_t o = 0; o < co; o++) {
      /* y = (conv - mean) * scale / sqrt(var + eps) + B, computed in float64 */
      double a = (double)sc[o] / sqrt((double)var[o] + eps);
      for (int64_t k = 0; k < per; k++)
        ((float *)nw->data)[o * per + k] = (float)((double)((const float *)w->data)[o * per + k] * a);
      ((float *)nb->data)[o] = (float)(((b ? (double)b[o] : 0.0) - (double)mean[o]) * a + (double)bb[o]);
    }
    nw->name = wn;
    nb->name = bname;
    if (ql_graph_add_init(g, nw)) {
      ql_tensor_free(nw);
      ql_tensor_free(nb);
      ql_free(out);
      return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory folding BatchNormalization");
    }
    if (ql_graph_add_init(g, nb)) {
      ql_tensor_free(nb);
      ql_free(out);
      return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory folding BatchNormalization");
    }
    while (cv->n_inputs < 3)
      if (ql_node_add_input(cv, "")) {
        ql_free(out);
        return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory folding BatchNormalization");
      }
    char *w2 = ql_strdup(wn), *b2 = ql_strdup(bname);
    if (!w2 || !b2) {
      ql_free(w2);
      ql_free(b2);
      ql_free(out);
      return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory folding BatchNormalization");
    }
    ql_free(cv->inputs[1]);
    cv->inputs[1] = w2;
    ql_free(cv->inputs[2]);
    cv->inputs[2] = b2;
    ql_free(cv->outputs[0]);
    cv->outputs[0] = out;
    /* the BatchNormalization goes */
    ql_node_free(bn);
    memmove(&g->nodes[i], &g->nodes[i + 1], (g->n_nodes - i - 1) * sizeof *g->nodes);
    g->n_nodes--;
    i--;
  }
  return QL_OK;
}

/* ------------------------------------------------------------ equalization */
/* A Conv whose output reaches other Convs through channel-wise positive-
 * homogeneous ops only (Relu, LeakyRelu, MaxPool: f(s x) = s f(x) for s > 0)
 * is the worst case of per-tensor activations: each channel of that tensor
 * has its own range, the next Convs scale each channel again, and a channel
 * much narrower than the widest one keeps only a few of the 256 levels
 * (YuNet and NanoDet lose 5-15 dB there; NanoDet's stem tensor alone costs
 * its class scores 15 dB). Scaling channel c by s_c (the first Conv's
 * weights and bias times s_c, the readers' weights for input channel c
 * divided by s_c) changes nothing in float. Per-channel weight scales absorb
 * s_c exactly in the first Conv and in a depthwise reader, so when every
 * reader is depthwise s_c = widest / own range fills the quantized range for
 * every channel. A full Conv reader's output channels mix all inputs, and
 * dividing input column c by s_c costs that column weight precision, so
 * there s_c = sqrt(widest / own), splitting the range between activation and
 * weights as cross-layer equalization does (Nagel et al. 2019). The scaled
 * tensors are renamed <t>_equalized, since their values are no longer the
 * float model's. */
#define EQ_MAX_CHAIN 4
typedef struct {
  ql_node *a, *chain[EQ_MAX_CHAIN];
  int n_chain;
  ql_node **readers;
  size_t n_readers;
  int all_depthwise;
  int64_t c;
  double *absmax;
} eq_pair;

typedef struct {
  eq_pair *p;
  size_t n;
} eq_state;

static int eq_observe(void *ctx, const char *name, const ql_tensor *t) {
  eq_state *e = ctx;
  if (t->dtype != QL_FLOAT || t->rank < 2) return 0;
  for (size_t i = 0; i < e->n; i++) {
    eq_pair *p = &e->p[i];
    if (strcmp(p->a->outputs[0], name) || t->dims[1] != p->c) continue;
    int64_t inner = 1;
    for (int d = 2; d < t->rank; d++) inner *= t->dims[d];
    const float *x = t->data;
    for (int64_t k = 0; k < t->numel; k++) {
      double v = fabs((double)x[k]);
      int64_t ch = (k / inner) % p->c;
      if (v > p->absmax[ch]) p->absmax[ch] = v; /* NaN never wins */
    }
  }
  return 0;
}

static int is_graph_output(const ql_graph *g, const char *name) {
  for (size_t i = 0; i < g->n_outputs; i++)
    if (!strcmp(g->outputs[i].name, name)) return 1;
  return 0;
}

/* The nodes reading `name`, all as their input 0 (else -1); at most cap. */
static int readers_of(const ql_graph *g, const char *name, ql_node **out, int cap) {
  int n = 0;
  for (size_t i = 0; i < g->n_nodes; i++)
    for (size_t k = 0; k < g->nodes[i]->n_inputs; k++)
      if (!strcmp(g->nodes[i]->inputs[k], name)) {
        if (k || n == cap) return -1;
        out[n++] = g->nodes[i];
        break;
      }
  return n;
}

static int is_onnx_op(const ql_node *n, const char *op) { return !strcmp(n->op_type, op) && !*ql_domain_canon(n->domain); }

/* A Conv reading the scaled tensor: 1 depthwise, 2 full (group 1), 0 neither. */
static int reader_kind(const ql_graph *g, const ql_node *r, const ql_tensor *w, int64_t c) {
  if (!is_onnx_op(r, "Conv") || r->n_inputs < 2 || !strcmp(r->inputs[1], r->inputs[0])) return 0;
  const ql_tensor *k = ql_graph_find_init(g, r->inputs[1]);
  if (!k || k->dtype != QL_FLOAT || k->rank != w->rank) return 0;
  int64_t group = ql_attr_int(r, "group", 1);
  if (group == c && k->dims[0] == c && k->dims[1] == 1) return 1;
  return group == 1 && k->dims[1] == c ? 2 : 0;
}

static ql_status rename_tensor(ql_graph *g, const char *from, ql_error *err) {
  char buf[600];
  snprintf(buf, sizeof buf, "%s_equalized", from);
  char *keep = ql_strdup(from);
  if (!keep) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; i < g->n_nodes; i++) {
    ql_node *n = g->nodes[i];
    for (size_t k = 0; k < n->n_inputs + n->n_outputs; k++) {
      char **s = k < n->n_inputs ? &n->inputs[k] : &n->outputs[k - n->n_inputs];
      if (strcmp(*s, keep)) continue;
      char *d = ql_strdup(buf);
      if (!d) {
        ql_free(keep);
        return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      }
      ql_free(*s);
      *s = d;
    }
  }
  ql_free(keep);
  return QL_OK;
}

/* a private copy of initializer input k of n (so that scaling it touches no other reader) */
static ql_tensor *own_init(ql_graph *g, ql_node *n, size_t k, ql_error *err) {
  const ql_tensor *t = ql_graph_find_init(g, n->inputs[k]);
  if (!t) return NULL;
  ql_tensor *c;
  if (ql_tensor_clone(t, &c, err)) return NULL;
  ql_free(c->name);
  c->name = fused_name(g, n->inputs[k], "_eq");
  char *in = c->name ? ql_strdup(c->name) : NULL;
  if (!c->name || !in || ql_graph_add_init(g, c)) {
    ql_free(in);
    ql_tensor_free(c);
    return NULL;
  }
  ql_free(n->inputs[k]);
  n->inputs[k] = in;
  return c;
}

#define EQ_MAX_READERS 8

ql_status ql_equalize_channels(ql_model *m, const ql_samples *calib, int threads, ql_error *err) {
  ql_graph *g = m->graph;
  eq_state e = {0};
  size_t cap = 0;
  ql_status st = QL_OK;
  for (size_t i = 0; i < g->n_nodes && !st; i++) {
    ql_node *a = g->nodes[i];
    if (!is_onnx_op(a, "Conv") || a->n_inputs < 2 || a->n_outputs != 1) continue;
    const ql_tensor *w = ql_graph_find_init(g, a->inputs[1]);
    if (!w || w->dtype != QL_FLOAT || w->rank < 3 || w->dims[0] < 2) continue;
    if (a->n_inputs > 2 && *a->inputs[2] && !vec(g, a, 2, w->dims[0])) continue;
    eq_pair p = {.a = a, .c = w->dims[0], .all_depthwise = 1};
    ql_node *rd[EQ_MAX_READERS];
    const char *t = a->outputs[0];
    int n = 0;
    for (;;) { /* through the channel-wise ops, each the tensor's only reader */
      if (is_graph_output(g, t) || (n = readers_of(g, t, rd, EQ_MAX_READERS)) < 1) break;
      ql_node *r = rd[0];
      int through = n == 1 && r->n_outputs >= 1 && (is_onnx_op(r, "Relu") || is_onnx_op(r, "LeakyRelu") ||
                                                    (is_onnx_op(r, "MaxPool") && (r->n_outputs == 1 || !*r->outputs[1])));
      if (!through || p.n_chain == EQ_MAX_CHAIN) break;
      p.chain[p.n_chain++] = r;
      t = r->outputs[0];
    }
    if (is_graph_output(g, t) || n < 1) continue;
    int ok = 1;
    for (int k = 0; k < n && ok; k++) {
      int kind = reader_kind(g, rd[k], w, p.c);
      ok = kind != 0;
      if (kind == 2) p.all_depthwise = 0;
    }
    if (!ok) continue;
    if (ql_grow((void **)&e.p, &cap, e.n + 1, sizeof *e.p) ||
        !(p.readers = ql_calloc((size_t)n, sizeof *p.readers)) || !(p.absmax = ql_calloc((size_t)p.c, sizeof(double)))) {
      ql_free(p.readers);
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      break;
    }
    memcpy(p.readers, rd, (size_t)n * sizeof *rd);
    p.n_readers = (size_t)n;
    e.p[e.n++] = p;
  }
  if (!st && e.n) {
    /* per-channel extremes of each first Conv's output over the calibration set */
    ql_session *s = NULL;
    ql_session_options so = {.threads = threads};
    st = ql_session_create(m, &so, &s, err);
    for (size_t i = 0; i < calib->n && !st; i++) st = ql_samples_run_observed(s, calib, i, 0, eq_observe, &e, err);
    if (st) ql_err_prefix(err, "equalization sample");
    ql_session_free(s);
  }
  for (size_t i = 0; i < e.n && !st; i++) {
    eq_pair *p = &e.p[i];
    double widest = 0;
    for (int64_t ch = 0; ch < p->c; ch++)
      if (p->absmax[ch] > widest) widest = p->absmax[ch];
    if (!(widest > 0) || !isfinite(widest)) continue;
    ql_tensor *w = own_init(g, p->a, 1, err);
    ql_tensor *bias = p->a->n_inputs > 2 && *p->a->inputs[2] ? own_init(g, p->a, 2, err) : NULL;
    if (!w || (p->a->n_inputs > 2 && *p->a->inputs[2] && !bias)) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory equalizing channels");
      break;
    }
    double *sc = p->absmax; /* becomes the factors */
    for (int64_t ch = 0; ch < p->c; ch++) {
      /* a dead channel stays as it is; the gain is capped so that a nearly
       * dead one does not blow up the readers' weight precision */
      double f = sc[ch] > 0 ? widest / sc[ch] : 1.0;
      f = p->all_depthwise ? (f > 1024 ? 1024 : f) : (f > 1024 ? 32 : sqrt(f));
      sc[ch] = f;
    }
    int64_t per_w = w->numel / p->c;
    for (int64_t ch = 0; ch < p->c; ch++) {
      for (int64_t j = 0; j < per_w; j++) ((float *)w->data)[ch * per_w + j] *= (float)sc[ch];
      if (bias) ((float *)bias->data)[ch] *= (float)sc[ch];
    }
    for (size_t r = 0; r < p->n_readers && !st; r++) {
      ql_node *rn = p->readers[r];
      ql_tensor *k = own_init(g, rn, 1, err);
      /* a reader's bias keeps its values, but its int32 scale follows the
       * equalized input's: a new name says so */
      if (!k || (rn->n_inputs > 2 && *rn->inputs[2] && ql_graph_find_init(g, rn->inputs[2]) && !own_init(g, rn, 2, err))) {
        st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory equalizing channels");
        break;
      }
      int64_t ks = 1; /* kernel elements */
      for (int d = 2; d < k->rank; d++) ks *= k->dims[d];
      int64_t outs = k->dims[1] == 1 && p->c > 1 && k->dims[0] == p->c ? 1 : k->dims[0]; /* depthwise: row c is channel c */
      for (int64_t o = 0; o < outs; o++)
        for (int64_t ch = 0; ch < p->c; ch++) {
          float *kw = (float *)k->data + (outs == 1 ? ch : o * p->c + ch) * ks;
          for (int64_t j = 0; j < ks; j++) kw[j] /= (float)sc[ch];
        }
    }
    if (!st) st = rename_tensor(g, p->a->outputs[0], err);
    for (int c = 0; c < p->n_chain && !st; c++) st = rename_tensor(g, p->chain[c]->outputs[0], err);
  }
  for (size_t i = 0; i < e.n; i++) {
    ql_free(e.p[i].absmax);
    ql_free(e.p[i].readers);
  }
  ql_free(e.p);
  return st;
}

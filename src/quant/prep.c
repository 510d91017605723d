/* Float-graph preparation before quantization (what ONNX Runtime's
 * quant_pre_process does with its graph optimizer): an inference
 * BatchNormalization right after a Conv is folded into the Conv's weight and
 * bias. Left unfolded, the Conv output is quantized per tensor before the
 * normalization rescales each channel, and channels that the normalization
 * amplifies lose most of their precision (MobileNetV3-style models such as
 * PaddleOCR's classifier keep their BatchNormalization nodes in ONNX). */
#include "quant.h"
#include <math.h>

static ql_tensor *init_mut(ql_graph *g, const char *name) {
  for (size_t i = 0; i < g->n_inits; i++)
    if (!strcmp(g->inits[i]->name, name)) return g->inits[i];
  return NULL;
}

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
  const ql_tensor *t = init_mut(g, n->inputs[k]);
  return t && t->dtype == QL_FLOAT && t->numel == len ? t->data : NULL;
}

static char *fused_name(ql_graph *g, const char *base) {
  char buf[600];
  for (unsigned k = 0;; k++) {
    snprintf(buf, sizeof buf, k ? "%s_bn%u" : "%s_bn", base, k);
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
    const ql_tensor *w = init_mut(g, cv->inputs[1]);
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
    char *wn = fused_name(g, cv->inputs[1]), *bname = fused_name(g, bbase);
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

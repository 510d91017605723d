/* The quantizer's driver: clone, fold constants, calibrate, rewrite. */
#include "../common/strmap.h"
#include "../runtime/runtime.h"
#include "quant.h"

ql_status ql_quantize_qdq(ql_model *m, const ql_ranges *ranges, const ql_quant_options *o, ql_error *err);
ql_status ql_quant_to_qoperator(ql_model *m, ql_error *err);
ql_status ql_graph_toposort(ql_graph *g, ql_error *err);
void ql_graph_drop_unused_inits(ql_graph *g);

/* Initializers listed as graph inputs (IR < 4 required it) are overridable
 * inputs; in a quantized model the float originals are gone, so they are not
 * inputs any more. */
void ql_graph_drop_init_inputs(ql_graph *g) {
  size_t w = 0;
  for (size_t i = 0; i < g->n_inputs; i++) {
    if (!ql_graph_find_init(g, g->inputs[i].name)) g->inputs[w++] = g->inputs[i];
    else ql_value_info_clear(&g->inputs[i]);
  }
  g->n_inputs = w;
}

ql_model *ql_model_clone(const ql_model *src) {
  ql_model *m = ql_model_new();
  if (!m) return NULL;
  m->ir_version = src->ir_version;
  m->model_version = src->model_version;
  if ((src->producer_name && !(m->producer_name = ql_strdup(src->producer_name))) ||
      (src->producer_version && !(m->producer_version = ql_strdup(src->producer_version))) ||
      (src->domain && !(m->domain = ql_strdup(src->domain))) || (src->doc && !(m->doc = ql_strdup(src->doc))) ||
      (src->base_dir && !(m->base_dir = ql_strdup(src->base_dir))))
    goto fail;
  if (src->n_opsets && !(m->opsets = ql_calloc(src->n_opsets, sizeof *m->opsets))) goto fail;
  for (size_t i = 0; i < src->n_opsets; i++) {
    m->n_opsets = i + 1;
    if (!(m->opsets[i].domain = ql_strdup(src->opsets[i].domain))) goto fail;
    m->opsets[i].version = src->opsets[i].version;
  }
  if (src->n_metadata && !(m->metadata = ql_calloc(src->n_metadata, sizeof *m->metadata))) goto fail;
  for (size_t i = 0; i < src->n_metadata; i++) {
    m->n_metadata = i + 1;
    if (!(m->metadata[i].key = ql_strdup(src->metadata[i].key)) ||
        !(m->metadata[i].value = ql_strdup(src->metadata[i].value)))
      goto fail;
  }
  if (!(m->graph = ql_graph_clone(src->graph))) goto fail;
  /* model-local functions are inlined into the clone so every node is visible */
  ql_error e;
  if (ql_inline_functions(src, m->graph, &e)) goto fail;
  return m;
fail:
  ql_model_free(m);
  return NULL;
}

ql_status ql_fold_model(ql_model *m, ql_error *err) {
  ql_session *s = NULL;
  ql_status st = ql_session_create(m, NULL, &s, err);
  if (st) return st;
  ql_graph *g = m->graph;
  size_t w = 0;
  for (size_t i = 0; i < g->n_nodes; i++) {
    ql_node *n = g->nodes[i];
    int folded = !st && n->n_outputs > 0;
    for (size_t k = 0; k < n->n_outputs && folded; k++)
      folded = !*n->outputs[k] || (ql_session_const(s, n->outputs[k]) && !ql_graph_find_init(g, n->outputs[k]));
    for (size_t a = 0; a < n->n_attrs && folded; a++) folded = n->attrs[a].type != QL_ATTR_GRAPH;
    if (!folded) {
      g->nodes[w++] = n;
      continue;
    }
    for (size_t k = 0; k < n->n_outputs && !st; k++) {
      if (!*n->outputs[k]) continue;
      ql_tensor *t;
      if ((st = ql_tensor_clone(ql_session_const(s, n->outputs[k]), &t, err))) break;
      ql_free(t->name);
      if (!(t->name = ql_strdup(n->outputs[k])) || ql_graph_add_init(g, t)) {
        ql_tensor_free(t);
        st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory folding constants");
      }
    }
    ql_node_free(n);
  }
  ql_session_free(s);
  g->n_nodes = w;
  if (!st) ql_graph_drop_unused_inits(g);
  return st;
}

static ql_status collect_names(const ql_graph *g, char ***names, size_t *n) {
  size_t cap = 0;
  *names = NULL;
  *n = 0;
  for (size_t i = 0; i < g->n_inputs; i++) {
    if (ql_graph_find_init(g, g->inputs[i].name)) continue;
    if (ql_grow((void **)names, &cap, *n + 1, sizeof **names)) return QL_ERR_OUT_OF_MEMORY;
    (*names)[(*n)++] = g->inputs[i].name;
  }
  for (size_t i = 0; i < g->n_nodes; i++)
    for (size_t k = 0; k < g->nodes[i]->n_outputs; k++) {
      if (!*g->nodes[i]->outputs[k]) continue;
      if (ql_grow((void **)names, &cap, *n + 1, sizeof **names)) return QL_ERR_OUT_OF_MEMORY;
      (*names)[(*n)++] = g->nodes[i]->outputs[k];
    }
  return QL_OK;
}

ql_status ql_quant_prepare(const ql_model *in, const ql_samples *calib, const ql_quant_options *o, ql_model **folded,
                           ql_ranges *ranges, ql_error *err) {
  *folded = NULL;
  memset(ranges, 0, sizeof *ranges);
  ql_model *m = ql_model_clone(in);
  if (!m) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory copying the model");
  char **names = NULL;
  size_t n_names = 0, n_init0 = m->graph->n_inits;
  ql_strmap orig = {0}, folded_c = {0};
  ql_status st = QL_OK;
  for (size_t i = 0; i < n_init0 && !st; i++)
    if (ql_strmap_put(&orig, m->graph->inits[i]->name, 1)) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  if (!st) st = ql_fold_model(m, err);
  /* constants the graph computed (ORT, which does not fold, sees them as
   * activations), told apart before BatchNormalization folding adds more */
  for (size_t i = 0; i < m->graph->n_inits && !st; i++)
    if (ql_strmap_get(&orig, m->graph->inits[i]->name) < 0 && ql_strmap_put(&folded_c, m->graph->inits[i]->name, 1))
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  if (!st) st = ql_fuse_conv_bn(m, err);
  /* only with per-channel weights, whose scales absorb the channel factors */
  if (!st && !o->no_equalize && o->per_channel) st = ql_equalize_channels(m, calib, o->threads, err);
  if (!st) ql_graph_drop_unused_inits(m->graph);
  if (!st && collect_names(m->graph, &names, &n_names)) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  if (!st) st = ql_calibrate(m, calib, (const char *const *)names, n_names, o, ranges, err);
  ql_free(names);
  for (size_t i = 0; i < m->graph->n_inits && !st; i++) {
    const ql_tensor *t = m->graph->inits[i];
    if (ql_strmap_get(&folded_c, t->name) < 0 || t->dtype != QL_FLOAT) continue;
    ql_range *r = ql_realloc(ranges->r, (ranges->n + 1) * sizeof *r);
    if (!r) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      break;
    }
    ranges->r = r;
    r = &r[ranges->n];
    memset(r, 0, sizeof *r);
    if (!(r->name = ql_strdup(t->name))) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      break;
    }
    ranges->n++;
    r->folded_const = 1;
    r->rank = t->rank;
    r->rmin = r->rmax = 0;
    for (int64_t k = 0; k < t->numel; k++) {
      float v = ((const float *)t->data)[k];
      if (v < r->rmin || k == 0) r->rmin = v;
      if (v > r->rmax || k == 0) r->rmax = v;
    }
    r->obs_min = r->rmin;
    r->obs_max = r->rmax;
  }
  ql_strmap_free(&folded_c);
  ql_strmap_free(&orig);
  if (st) {
    ql_ranges_free(ranges);
    ql_model_free(m);
    return st;
  }
  *folded = m;
  return QL_OK;
}

ql_status ql_quant_apply(const ql_model *folded, const ql_ranges *ranges, const ql_samples *calib,
                         const ql_quant_options *o, ql_model **out, ql_error *err) {
  *out = NULL;
  ql_model *m = ql_model_clone(folded);
  if (!m) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory copying the model");
  ql_status st = ql_quantize_qdq(m, ranges, o, err);
  if (!st && o->bias_correction && calib && calib->n)
    st = ql_bias_correct(folded, m, calib, o->threads, o->progress, err);
  if (!st && o->format == QL_QFORMAT_QOPERATOR) st = ql_quant_to_qoperator(m, err);
  if (!st) ql_graph_drop_init_inputs(m->graph);
  if (st) {
    ql_model_free(m);
    return st;
  }
  *out = m;
  return QL_OK;
}

ql_status ql_quantize_model(const ql_model *in, const ql_samples *calib, const ql_quant_options *o, ql_model **out,
                            ql_error *err) {
  ql_model *folded;
  ql_ranges ranges;
  ql_status st = ql_quant_prepare(in, calib, o, &folded, &ranges, err);
  if (st) return st;
  st = ql_quant_apply(folded, &ranges, calib, o, out, err);
  ql_ranges_free(&ranges);
  ql_model_free(folded);
  return st;
}

/* ------------------------------------------------------------ public API */
ql_status ql_quantize_static(const ql_model *in, const char *calib_dir, const ql_quantize_options *opt,
                             ql_model **out, ql_error *err) {
  static const ql_quantize_options defaults = {0};
  static const ql_calib_method methods[] = {QL_CALIB_MINMAX, QL_CALIB_ENTROPY, QL_CALIB_PERCENTILE, QL_CALIB_MSE};
  if (!out) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = NULL;
  if (!in || !in->graph || !calib_dir) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "model and calibration directory are required");
  if (!opt) opt = &defaults;
  if ((unsigned)opt->method > QL_QUANTIZE_MSE) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "unknown method %d", (int)opt->method);
  ql_quant_options o;
  ql_quant_options_default(&o);
  o.method = methods[opt->method];
  o.format = opt->qoperator ? QL_QFORMAT_QOPERATOR : QL_QFORMAT_QDQ;
  o.per_channel = opt->per_channel != 0;
  o.bias_correction = opt->bias_correction != 0;
  o.keep_int16 = opt->keep_int16 != 0;
  o.threads = opt->threads > 0 ? opt->threads : 1;
  size_t n_in = ql_graph_n_data_inputs(in->graph);
  ql_samples calib = {0}, probe = {0};
  ql_model *folded = NULL, *qm = NULL;
  ql_ranges ranges = {0};
  char **kept = NULL;
  ql_status st = ql_samples_load(calib_dir, n_in, 1000, &calib, err);
  if (!st) st = ql_quant_prepare(in, &calib, &o, &folded, &ranges, err);
  if (!st && opt->target_sqnr_db > 0) {
    double got;
    if (!(st = ql_samples_spread(&calib, 8, &probe, err)))
      st = ql_quant_target_sqnr(folded, &ranges, &probe, &o, opt->target_sqnr_db, &kept, &got, err);
    for (o.n_keep_float = 0; !st && kept && kept[o.n_keep_float];) o.n_keep_float++;
    o.keep_float = (const char *const *)kept;
  }
  if (!st) st = ql_quant_apply(folded, &ranges, &calib, &o, &qm, err);
  if (!st) {
    ql_verify_report *vr = NULL;
    st = ql_model_verify(qm, QL_VERIFY_STRICT, &vr, err);
    for (size_t i = 0; !st && i < ql_verify_report_count(vr); i++) {
      const char *rule, *node, *tensor, *msg;
      int is_error;
      ql_verify_report_get(vr, i, &rule, &is_error, &node, &tensor, &msg);
      if (is_error)
        st = ql_errf(err, QL_ERR_INVALID_MODEL, "the quantized model fails verify --strict: %s node '%s' tensor '%s': %s",
                     rule, node, tensor, msg);
    }
    ql_verify_report_free(vr);
  }
  ql_samples_view_free(&probe);
  ql_strlist_free(kept);
  ql_ranges_free(&ranges);
  ql_samples_free(&calib);
  ql_model_free(folded);
  if (st) ql_model_free(qm);
  else *out = qm;
  return st;
}

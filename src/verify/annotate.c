/* qlinear annotate: writes GraphProto.quantization_annotation for every
 * quantized tensor, naming the scale and zero point tensors the graph already
 * uses for it, so that verify can check them and vendors can read them. */
#include "verify.h"

static void free_annotation(ql_annotation *a) {
  ql_free(a->tensor_name);
  for (size_t k = 0; k < a->n; k++) {
    ql_free(a->params[k].key);
    ql_free(a->params[k].value);
  }
  ql_free(a->params);
  memset(a, 0, sizeof *a);
}

static int make_annotation(ql_annotation *a, const char *tensor, const char *scale, const char *zp) {
  memset(a, 0, sizeof *a);
  a->params = ql_calloc(2, sizeof *a->params);
  a->tensor_name = ql_strdup(tensor);
  if (!a->params || !a->tensor_name) return -1;
  a->params[0].key = ql_strdup("SCALE_TENSOR");
  a->params[0].value = ql_strdup(scale);
  a->n = 1;
  if (!a->params[0].key || !a->params[0].value) return -1;
  if (zp) {
    a->params[1].key = ql_strdup("ZERO_POINT_TENSOR");
    a->params[1].value = ql_strdup(zp);
    a->n = 2;
    if (!a->params[1].key || !a->params[1].value) return -1;
  }
  return 0;
}

ql_status ql_annotate_model(ql_model *m, size_t *n_written, ql_error *err) {
  if (n_written) *n_written = 0;
  if (!m || !m->graph) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "model has no graph");
  ql_graph *g = m->graph;
  ql_vreport scratch = {0};
  vctx c;
  vctx_init(&c, m, NULL, &scratch);
  if (!c.oom) vcollect(&c);
  if (!c.oom) vlink_groups(&c);
  ql_annotation *fresh = NULL;
  size_t n_fresh = 0;
  char *mine = NULL;
  if (!c.oom) {
    fresh = ql_calloc(c.n_vals + 1, sizeof *fresh);
    mine = ql_calloc(c.n_vals + 1, 1);
    if (!fresh || !mine) c.oom = 1;
  }
  for (size_t v = 0; !c.oom && v < c.n_vals; v++) {
    if (!vquantized(&c, (int)v)) continue;
    const vdecl *d = vdecl_of(&c, (int)v);
    if (!d || d->scale < 0) continue;
    if (make_annotation(&fresh[n_fresh++], c.vals[v].name, c.vals[d->scale].name,
                        d->zp >= 0 ? c.vals[d->zp].name : NULL))
      c.oom = 1;
    mine[v] = 1;
  }
  ql_annotation *all = NULL;
  if (!c.oom && !(all = ql_calloc(g->n_annotations + n_fresh + 1, sizeof *all))) c.oom = 1;
  if (c.oom) {
    for (size_t i = 0; i < n_fresh; i++) free_annotation(&fresh[i]);
    ql_free(fresh);
    ql_free(mine);
    ql_free(all);
    vctx_free(&c);
    ql_vreport_free(&scratch);
    return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory while annotating");
  }
  /* keep annotations of tensors we do not annotate (vendor extras), replace the rest */
  size_t n = 0;
  for (size_t i = 0; i < g->n_annotations; i++) {
    int v = vctx_find(&c, g->annotations[i].tensor_name);
    if (v >= 0 && mine[v]) free_annotation(&g->annotations[i]);
    else all[n++] = g->annotations[i];
  }
  memcpy(all + n, fresh, n_fresh * sizeof *fresh);
  ql_free(g->annotations);
  g->annotations = all;
  g->n_annotations = n + n_fresh;
  if (n_written) *n_written = n_fresh;
  ql_free(fresh);
  ql_free(mine);
  vctx_free(&c);
  ql_vreport_free(&scratch);
  return QL_OK;
}

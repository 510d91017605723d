/* Deep copies, so that a session does not depend on its model. */
#include "ir.h"

static int clone_attr(ql_attr *d, const ql_attr *s) {
  memset(d, 0, sizeof *d);
  d->type = s->type;
  d->f = s->f;
  d->i = s->i;
  d->slen = s->slen;
  d->n = s->n;
  ql_error e;
  if (!(d->name = ql_strdup(s->name))) return -1;
  if (s->ref_attr_name && !(d->ref_attr_name = ql_strdup(s->ref_attr_name))) return -1;
  if (s->s && !(d->s = ql_strndup(s->s, s->slen))) return -1;
  if (s->t && ql_tensor_clone(s->t, &d->t, &e)) return -1;
  if (s->g && !(d->g = ql_graph_clone(s->g))) return -1;
  if (s->floats) {
    if (!(d->floats = ql_malloc(sizeof(float) * (s->n ? s->n : 1)))) return -1;
    if (s->n) memcpy(d->floats, s->floats, sizeof(float) * s->n);
  }
  if (s->ints) {
    if (!(d->ints = ql_malloc(sizeof(int64_t) * (s->n ? s->n : 1)))) return -1;
    if (s->n) memcpy(d->ints, s->ints, sizeof(int64_t) * s->n);
  }
  if (s->strings) {
    if (!(d->strings = ql_calloc(s->n ? s->n : 1, sizeof(char *)))) return -1;
    for (size_t i = 0; i < s->n; i++)
      if (!(d->strings[i] = ql_strdup(s->strings[i]))) return -1;
  }
  if (s->tensors) {
    if (!(d->tensors = ql_calloc(s->n ? s->n : 1, sizeof(ql_tensor *)))) return -1;
    for (size_t i = 0; i < s->n; i++)
      if (ql_tensor_clone(s->tensors[i], &d->tensors[i], &e)) return -1;
  }
  if (s->graphs) {
    if (!(d->graphs = ql_calloc(s->n ? s->n : 1, sizeof(ql_graph *)))) return -1;
    for (size_t i = 0; i < s->n; i++)
      if (!(d->graphs[i] = ql_graph_clone(s->graphs[i]))) return -1;
  }
  return 0;
}

ql_node *ql_node_clone(const ql_node *s) {
  ql_node *n = ql_node_new(s->op_type, s->domain, s->name);
  if (!n) return NULL;
  for (size_t i = 0; i < s->n_inputs; i++)
    if (ql_node_add_input(n, s->inputs[i])) goto fail;
  for (size_t i = 0; i < s->n_outputs; i++)
    if (ql_node_add_output(n, s->outputs[i])) goto fail;
  if (s->n_attrs) {
    if (!(n->attrs = ql_calloc(s->n_attrs, sizeof *n->attrs))) goto fail;
    for (size_t i = 0; i < s->n_attrs; i++) {
      n->n_attrs = i + 1;
      if (clone_attr(&n->attrs[i], &s->attrs[i])) goto fail;
    }
  }
  return n;
fail:
  ql_node_free(n);
  return NULL;
}

int ql_value_info_copy(ql_value_info *d, const ql_value_info *s) {
  memset(d, 0, sizeof *d);
  d->elem_type = s->elem_type;
  d->rank = s->rank;
  d->is_tensor = s->is_tensor;
  if (!(d->name = ql_strdup(s->name))) return -1;
  if (s->rank > 0) {
    if (!(d->dims = ql_calloc((size_t)s->rank, sizeof *d->dims))) return -1;
    for (int i = 0; i < s->rank; i++) {
      d->dims[i].value = s->dims[i].value;
      if (s->dims[i].param && !(d->dims[i].param = ql_strdup(s->dims[i].param))) return -1;
    }
  }
  return 0;
}

static int clone_vis(ql_value_info **d, size_t *nd, const ql_value_info *s, size_t n) {
  if (!n) return 0;
  if (!(*d = ql_calloc(n, sizeof **d))) return -1;
  for (size_t i = 0; i < n; i++) {
    *nd = i + 1;
    if (ql_value_info_copy(&(*d)[i], &s[i])) return -1;
  }
  return 0;
}

ql_graph *ql_graph_clone(const ql_graph *s) {
  ql_graph *g = ql_graph_new();
  ql_error e;
  if (!g) return NULL;
  if (!(g->name = ql_strdup(s->name ? s->name : ""))) goto fail;
  for (size_t i = 0; i < s->n_nodes; i++) {
    ql_node *n = ql_node_clone(s->nodes[i]);
    if (!n) goto fail;
    if (ql_graph_add_node(g, n)) {
      ql_node_free(n);
      goto fail;
    }
  }
  for (size_t i = 0; i < s->n_inits; i++) {
    ql_tensor *t;
    if (ql_tensor_clone(s->inits[i], &t, &e)) goto fail;
    if (ql_graph_add_init(g, t)) {
      ql_tensor_free(t);
      goto fail;
    }
  }
  if (clone_vis(&g->inputs, &g->n_inputs, s->inputs, s->n_inputs) ||
      clone_vis(&g->outputs, &g->n_outputs, s->outputs, s->n_outputs) ||
      clone_vis(&g->value_info, &g->n_value_info, s->value_info, s->n_value_info))
    goto fail;
  /* annotations are metadata for tools, not needed to run: not cloned */
  return g;
fail:
  ql_graph_free(g);
  return NULL;
}

#include "ir.h"
#include <stdlib.h>

const char *ql_domain_canon(const char *d) {
  if (!d || !strcmp(d, "ai.onnx")) return "";
  return d;
}

int64_t ql_model_opset(const ql_model *m, const char *domain) {
  const char *d = ql_domain_canon(domain);
  for (size_t i = 0; i < m->n_opsets; i++)
    if (!strcmp(ql_domain_canon(m->opsets[i].domain), d)) return m->opsets[i].version;
  return -1;
}

const ql_attr *ql_node_attr(const ql_node *n, const char *name) {
  for (size_t i = 0; i < n->n_attrs; i++)
    if (n->attrs[i].name && !strcmp(n->attrs[i].name, name)) return &n->attrs[i];
  return NULL;
}

int64_t ql_attr_int(const ql_node *n, const char *name, int64_t def) {
  const ql_attr *a = ql_node_attr(n, name);
  return a && a->type == QL_ATTR_INT ? a->i : def;
}
float ql_attr_float(const ql_node *n, const char *name, float def) {
  const ql_attr *a = ql_node_attr(n, name);
  if (a && a->type == QL_ATTR_FLOAT) return a->f;
  if (a && a->type == QL_ATTR_INT) return (float)a->i;
  return def;
}
const char *ql_attr_string(const ql_node *n, const char *name, const char *def) {
  const ql_attr *a = ql_node_attr(n, name);
  return a && a->type == QL_ATTR_STRING ? a->s : def;
}
const int64_t *ql_attr_ints(const ql_node *n, const char *name, size_t *count) {
  const ql_attr *a = ql_node_attr(n, name);
  if (a && a->type == QL_ATTR_INTS) {
    *count = a->n;
    return a->ints ? a->ints : (const int64_t *)"";
  }
  *count = 0;
  return NULL;
}
const float *ql_attr_floats(const ql_node *n, const char *name, size_t *count) {
  const ql_attr *a = ql_node_attr(n, name);
  if (a && a->type == QL_ATTR_FLOATS) {
    *count = a->n;
    return a->floats ? a->floats : (const float *)"\0\0\0";
  }
  *count = 0;
  return NULL;
}

void ql_attr_clear(ql_attr *a) {
  ql_free(a->name);
  ql_free(a->ref_attr_name);
  ql_free(a->s);
  ql_tensor_free(a->t);
  ql_graph_free(a->g);
  ql_free(a->floats);
  ql_free(a->ints);
  if (a->strings)
    for (size_t i = 0; i < a->n; i++) ql_free(a->strings[i]);
  ql_free(a->strings);
  if (a->tensors)
    for (size_t i = 0; i < a->n; i++) ql_tensor_free(a->tensors[i]);
  ql_free(a->tensors);
  if (a->graphs)
    for (size_t i = 0; i < a->n; i++) ql_graph_free(a->graphs[i]);
  ql_free(a->graphs);
  memset(a, 0, sizeof *a);
}

ql_node *ql_node_new(const char *op_type, const char *domain, const char *name) {
  ql_node *n = ql_calloc(1, sizeof *n);
  if (!n) return NULL;
  n->op_type = ql_strdup(op_type ? op_type : "");
  n->domain = ql_strdup(domain ? domain : "");
  n->name = ql_strdup(name ? name : "");
  if (!n->op_type || !n->domain || !n->name) {
    ql_node_free(n);
    return NULL;
  }
  return n;
}

void ql_node_free(ql_node *n) {
  if (!n) return;
  ql_free(n->name);
  ql_free(n->op_type);
  ql_free(n->domain);
  ql_free(n->doc);
  for (size_t i = 0; i < n->n_inputs; i++) ql_free(n->inputs[i]);
  for (size_t i = 0; i < n->n_outputs; i++) ql_free(n->outputs[i]);
  ql_free(n->inputs);
  ql_free(n->outputs);
  for (size_t i = 0; i < n->n_attrs; i++) ql_attr_clear(&n->attrs[i]);
  ql_free(n->attrs);
  ql_free(n);
}

static int push_str(char ***arr, size_t *n, const char *s) {
  char **p = ql_realloc(*arr, (*n + 1) * sizeof *p);
  if (!p) return -1;
  *arr = p;
  if (!(p[*n] = ql_strdup(s ? s : ""))) return -1;
  (*n)++;
  return 0;
}
int ql_node_add_input(ql_node *n, const char *name) { return push_str(&n->inputs, &n->n_inputs, name); }
int ql_node_add_output(ql_node *n, const char *name) { return push_str(&n->outputs, &n->n_outputs, name); }

ql_attr *ql_node_add_attr(ql_node *n, const char *name, ql_attr_type type) {
  ql_attr *p = ql_realloc(n->attrs, (n->n_attrs + 1) * sizeof *p);
  if (!p) return NULL;
  n->attrs = p;
  ql_attr *a = &p[n->n_attrs];
  memset(a, 0, sizeof *a);
  if (!(a->name = ql_strdup(name))) return NULL;
  a->type = type;
  n->n_attrs++;
  return a;
}

ql_graph *ql_graph_new(void) { return ql_calloc(1, sizeof(ql_graph)); }

void ql_value_info_clear(ql_value_info *v) {
  ql_free(v->name);
  if (v->dims)
    for (int i = 0; i < v->rank; i++) ql_free(v->dims[i].param);
  ql_free(v->dims);
  memset(v, 0, sizeof *v);
}

static void free_vis(ql_value_info *v, size_t n) {
  for (size_t i = 0; i < n; i++) ql_value_info_clear(&v[i]);
  ql_free(v);
}

void ql_graph_free(ql_graph *g) {
  if (!g) return;
  ql_free(g->name);
  ql_free(g->doc);
  for (size_t i = 0; i < g->n_nodes; i++) ql_node_free(g->nodes[i]);
  ql_free(g->nodes);
  for (size_t i = 0; i < g->n_inits; i++) ql_tensor_free(g->inits[i]);
  ql_free(g->inits);
  free_vis(g->inputs, g->n_inputs);
  free_vis(g->outputs, g->n_outputs);
  free_vis(g->value_info, g->n_value_info);
  for (size_t i = 0; i < g->n_annotations; i++) {
    ql_annotation *a = &g->annotations[i];
    ql_free(a->tensor_name);
    for (size_t k = 0; k < a->n; k++) {
      ql_free(a->params[k].key);
      ql_free(a->params[k].value);
    }
    ql_free(a->params);
  }
  ql_free(g->annotations);
  ql_free(g);
}

int ql_graph_add_node(ql_graph *g, ql_node *n) {
  if (ql_grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes)) return -1;
  g->nodes[g->n_nodes++] = n;
  return 0;
}

int ql_graph_add_init(ql_graph *g, ql_tensor *t) {
  if (ql_grow((void **)&g->inits, &g->cap_inits, g->n_inits + 1, sizeof *g->inits)) return -1;
  g->inits[g->n_inits++] = t;
  return 0;
}

const ql_tensor *ql_graph_find_init(const ql_graph *g, const char *name) {
  for (size_t i = 0; i < g->n_inits; i++)
    if (g->inits[i]->name && !strcmp(g->inits[i]->name, name)) return g->inits[i];
  return NULL;
}

ql_tensor *ql_graph_find_init_mut(ql_graph *g, const char *name) {
  return (ql_tensor *)ql_graph_find_init(g, name);
}

size_t ql_graph_n_data_inputs(const ql_graph *g) {
  size_t n = 0;
  for (size_t i = 0; i < g->n_inputs; i++) n += !ql_graph_find_init(g, g->inputs[i].name);
  return n;
}

void ql_function_clear(ql_function *f) {
  ql_free(f->name);
  ql_free(f->domain);
  for (size_t i = 0; i < f->n_inputs; i++) ql_free(f->inputs[i]);
  for (size_t i = 0; i < f->n_outputs; i++) ql_free(f->outputs[i]);
  for (size_t i = 0; i < f->n_attr_names; i++) ql_free(f->attr_names[i]);
  for (size_t i = 0; i < f->n_attr_defaults; i++) ql_attr_clear(&f->attr_defaults[i]);
  for (size_t i = 0; i < f->n_nodes; i++) ql_node_free(f->nodes[i]);
  for (size_t i = 0; i < f->n_opsets; i++) ql_free(f->opsets[i].domain);
  ql_free(f->inputs);
  ql_free(f->outputs);
  ql_free(f->attr_names);
  ql_free(f->attr_defaults);
  ql_free(f->nodes);
  ql_free(f->opsets);
  memset(f, 0, sizeof *f);
}

ql_model *ql_model_new(void) { return ql_calloc(1, sizeof(ql_model)); }

void ql_model_free(ql_model *m) {
  if (!m) return;
  ql_free(m->producer_name);
  ql_free(m->producer_version);
  ql_free(m->domain);
  ql_free(m->doc);
  for (size_t i = 0; i < m->n_opsets; i++) ql_free(m->opsets[i].domain);
  ql_free(m->opsets);
  for (size_t i = 0; i < m->n_functions; i++) ql_function_clear(&m->functions[i]);
  ql_free(m->functions);
  for (size_t i = 0; i < m->n_metadata; i++) {
    ql_free(m->metadata[i].key);
    ql_free(m->metadata[i].value);
  }
  ql_free(m->metadata);
  ql_graph_free(m->graph);
  ql_free(m->base_dir);
  ql_free(m);
}

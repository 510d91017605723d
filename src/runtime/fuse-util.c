/* Name maps and graph queries shared by the fusions: see fuse-util.h. */
#include "fuse-util.h"

#include "../common/util.h"
#include <string.h>

static int add_reader(ql_strmap *m, const char *name) {
  if (!name[0]) return 0;
  const int r = ql_strmap_get(m, name);
  return ql_strmap_put(m, name, r < 0 ? 1 : r + 1);
}

/* Every value a nested graph reads counts as read (outer-scope capture). */
static int add_subgraph_readers(ql_strmap *m, const ql_graph *g) {
  for (size_t i = 0; i < g->n_nodes; i++) {
    const ql_node *n = g->nodes[i];
    for (size_t k = 0; k < n->n_inputs; k++)
      if (add_reader(m, n->inputs[k])) return -1;
    for (size_t a = 0; a < n->n_attrs; a++) {
      const ql_attr *at = &n->attrs[a];
      if (at->g && add_subgraph_readers(m, at->g)) return -1;
      for (size_t j = 0; at->graphs && j < at->n; j++)
        if (add_subgraph_readers(m, at->graphs[j])) return -1;
    }
  }
  for (size_t i = 0; i < g->n_outputs; i++)
    if (add_reader(m, g->outputs[i].name)) return -1;
  return 0;
}

void ql_fuse_maps_clear(ql_strmap *prod, ql_strmap *readers) {
  ql_strmap_free(prod);
  ql_strmap_free(readers);
  memset(prod, 0, sizeof *prod);
  memset(readers, 0, sizeof *readers);
}

ql_status ql_fuse_build_maps(const ql_graph *g, ql_strmap *prod, ql_strmap *readers, int *nested) {
  ql_fuse_maps_clear(prod, readers);
  if (nested) *nested = 0;
  for (size_t i = 0; i < g->n_nodes; i++) {
    const ql_node *n = g->nodes[i];
    for (size_t k = 0; k < n->n_outputs; k++)
      if (n->outputs[k][0] && ql_strmap_put(prod, n->outputs[k], (int)i)) return QL_ERR_OUT_OF_MEMORY;
    for (size_t k = 0; k < n->n_inputs; k++)
      if (add_reader(readers, n->inputs[k])) return QL_ERR_OUT_OF_MEMORY;
    for (size_t a = 0; a < n->n_attrs; a++) {
      const ql_attr *at = &n->attrs[a];
      if (nested) *nested |= at->g || at->graphs;
      if (at->g && add_subgraph_readers(readers, at->g)) return QL_ERR_OUT_OF_MEMORY;
      for (size_t j = 0; at->graphs && j < at->n; j++)
        if (add_subgraph_readers(readers, at->graphs[j])) return QL_ERR_OUT_OF_MEMORY;
    }
  }
  for (size_t i = 0; i < g->n_outputs; i++)
    if (add_reader(readers, g->outputs[i].name)) return QL_ERR_OUT_OF_MEMORY;
  return QL_OK;
}

int ql_fuse_readers(const ql_strmap *readers, const char *name) {
  const int r = ql_strmap_get(readers, name);
  return r < 0 ? 0 : r;
}

int ql_fuse_producer_index(const ql_strmap *prod, const char *name) {
  return name[0] ? ql_strmap_get(prod, name) : -1;
}

ql_node *ql_fuse_producer(const ql_graph *g, const ql_strmap *prod, const char *name) {
  const int i = ql_fuse_producer_index(prod, name);
  return i < 0 ? NULL : g->nodes[i];
}

int ql_fuse_is_op(const ql_node *n, const char *op) {
  return n && !strcmp(n->op_type, op) && !strcmp(ql_domain_canon(n->domain), "");
}

const char *ql_fuse_in_name(const ql_node *n, size_t i) {
  return i < n->n_inputs ? n->inputs[i] : "";
}

const ql_tensor *ql_fuse_const_value(const ql_graph *g, const ql_strmap *prod, const char *name) {
  if (!name[0]) return NULL;
  const ql_tensor *t = ql_graph_find_init(g, name);
  if (t) return t;
  const ql_node *p = ql_fuse_producer(g, prod, name);
  if (!ql_fuse_is_op(p, "Constant") || p->n_attrs != 1 || strcmp(p->attrs[0].name, "value") ||
      p->attrs[0].type != QL_ATTR_TENSOR)
    return NULL;
  return p->attrs[0].t;
}

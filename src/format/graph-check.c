/* Structural rules every ONNX graph must keep, checked at load time so that
 * every consumer (inspect, verify, quantize, sessions) sees a well-formed
 * graph: each value is defined once (SSA), each node input and graph output
 * names a graph input, an initializer, a node output or a value of an
 * enclosing graph, and the nodes form no cycle. Node order itself is not
 * required (some exporters write unsorted graphs; sessions sort them).
 *
 * A subgraph's reads of outer values are dependencies of the node that owns
 * the subgraph, so they take part in the cycle check of the outer graph. */
#include "format.h"
#include "../common/strmap.h"
#include <limits.h>

#define FROM_OUTSIDE INT_MAX /* graph input or initializer: no producer node */

typedef struct edge { int from, to; } edge;

typedef struct scope {
  struct scope *parent;
  const ql_graph *g;
  ql_strmap names; /* value -> producing node index, or FROM_OUTSIDE */
  int cur_node;    /* node whose subgraphs are being checked */
  size_t n_extra, cap_extra;
  edge *extra;     /* implicit dependencies through subgraphs */
} scope;

static ql_status check(scope *s, uint32_t depth, ql_error *err);

static ql_status oom(ql_error *err) { return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory checking the graph"); }

static const char *node_label(const ql_node *n) { return n->name && *n->name ? n->name : "(unnamed)"; }

/* Finds name in s or an enclosing scope; records an outer read as a
 * dependency of the enclosing node. Returns 1 found, 0 absent, -1 OOM. */
static int resolve(scope *s, const char *name) {
  for (scope *q = s; q; q = q->parent) {
    int v = ql_strmap_get(&q->names, name);
    if (v < 0) continue;
    if (q != s && v != FROM_OUTSIDE) {
      if (ql_grow((void **)&q->extra, &q->cap_extra, q->n_extra + 1, sizeof *q->extra)) return -1;
      q->extra[q->n_extra++] = (edge){v, q->cur_node};
    }
    return 1;
  }
  return 0;
}

static ql_status define(scope *s, const char *name, int producer, ql_error *err) {
  int old = ql_strmap_get(&s->names, name);
  if (old >= 0) {
    const ql_graph *g = s->g;
    if (producer == FROM_OUTSIDE)
      return ql_errf(err, QL_ERR_INVALID_MODEL, "graph '%.64s': '%.64s' is declared twice as an input or initializer",
                     g->name, name);
    return ql_errf(err, QL_ERR_INVALID_MODEL,
                   "graph '%.64s': value '%.64s' is produced by node '%.64s' (%s) but is already %s", g->name, name,
                   node_label(g->nodes[producer]), g->nodes[producer]->op_type,
                   old == FROM_OUTSIDE ? "a graph input or initializer" : "produced by another node");
  }
  return ql_strmap_put(&s->names, name, producer) ? oom(err) : QL_OK;
}

static ql_status check_acyclic(scope *s, ql_error *err) {
  const ql_graph *g = s->g;
  size_t n = g->n_nodes;
  if (!n) return QL_OK;
  /* Kahn's algorithm over direct inputs plus the subgraph dependencies. */
  size_t *indeg = ql_calloc(n, sizeof *indeg), *queue = ql_calloc(n, sizeof *queue);
  size_t *cnt = ql_calloc(n + 1, sizeof *cnt); /* CSR of consumers per producer */
  size_t n_edges = 0;
  ql_status st = QL_OK;
  int *adj = NULL;
  if (!indeg || !queue || !cnt) goto nomem;
  for (int pass = 0; pass < 2; pass++) {
    size_t *fill = pass ? indeg : NULL; /* second pass reuses indeg as cursor */
    if (pass) {
      if (!(adj = ql_calloc(n_edges ? n_edges : 1, sizeof *adj))) goto nomem;
      for (size_t i = 1; i <= n; i++) cnt[i] += cnt[i - 1];
      for (size_t i = 0; i < n; i++) fill[i] = 0;
    }
    for (size_t i = 0; i < n; i++) {
      const ql_node *nd = g->nodes[i];
      for (size_t k = 0; k < nd->n_inputs; k++) {
        int p = *nd->inputs[k] ? ql_strmap_get(&s->names, nd->inputs[k]) : -1;
        if (p < 0 || p == FROM_OUTSIDE) continue;
        if (!pass) cnt[p + 1]++, n_edges++;
        else adj[cnt[p] + fill[p]++] = (int)i;
      }
    }
    for (size_t e = 0; e < s->n_extra; e++) {
      int p = s->extra[e].from;
      if (!pass) cnt[p + 1]++, n_edges++;
      else adj[cnt[p] + fill[p]++] = s->extra[e].to;
    }
  }
  for (size_t i = 0; i < n; i++) indeg[i] = 0;
  for (size_t e = 0; e < n_edges; e++) indeg[adj[e]]++;
  size_t head = 0, tail = 0;
  for (size_t i = 0; i < n; i++)
    if (!indeg[i]) queue[tail++] = i;
  while (head < tail) {
    size_t v = queue[head++];
    for (size_t e = cnt[v]; e < cnt[v + 1]; e++)
      if (!--indeg[adj[e]]) queue[tail++] = (size_t)adj[e];
  }
  if (tail < n) {
    size_t i = 0;
    while (!indeg[i]) i++;
    st = ql_errf(err, QL_ERR_INVALID_MODEL, "graph '%.64s': node '%.64s' (%s) is part of a cycle", g->name,
                 node_label(g->nodes[i]), g->nodes[i]->op_type);
  }
  goto done;
nomem:
  st = oom(err);
done:
  ql_free(indeg);
  ql_free(queue);
  ql_free(cnt);
  ql_free(adj);
  return st;
}

static ql_status check_sub(scope *s, const ql_graph *sub, uint32_t depth, ql_error *err) {
  if (!sub) return QL_OK;
  scope c = {.parent = s, .g = sub};
  ql_status st = check(&c, depth + 1, err);
  ql_strmap_free(&c.names);
  ql_free(c.extra);
  return st;
}

static ql_status check(scope *s, uint32_t depth, ql_error *err) {
  const ql_graph *g = s->g;
  ql_status st;
  if (g->n_nodes >= FROM_OUTSIDE)
    return ql_errf(err, QL_ERR_LIMIT, "graph '%.64s' has too many nodes", g->name);
  for (size_t i = 0; i < g->n_inputs; i++)
    if ((st = define(s, g->inputs[i].name, FROM_OUTSIDE, err))) return st;
  /* an initializer may give a graph input its default value, but only once */
  ql_strmap inits = {0};
  for (size_t i = 0; i < g->n_inits; i++) {
    const char *nm = g->inits[i]->name;
    if (ql_strmap_get(&inits, nm) >= 0) {
      ql_strmap_free(&inits);
      return ql_errf(err, QL_ERR_INVALID_MODEL, "graph '%.64s': initializer '%.64s' is defined twice", g->name, nm);
    }
    if (ql_strmap_put(&inits, nm, 0) ||
        (ql_strmap_get(&s->names, nm) < 0 && ql_strmap_put(&s->names, nm, FROM_OUTSIDE))) {
      ql_strmap_free(&inits);
      return oom(err);
    }
  }
  ql_strmap_free(&inits);
  for (size_t i = 0; i < g->n_nodes; i++) {
    const ql_node *nd = g->nodes[i];
    for (size_t k = 0; k < nd->n_outputs; k++)
      if (*nd->outputs[k] && (st = define(s, nd->outputs[k], (int)i, err))) return st;
  }
  for (size_t i = 0; i < g->n_nodes; i++) {
    const ql_node *nd = g->nodes[i];
    s->cur_node = (int)i;
    for (size_t k = 0; k < nd->n_inputs; k++) {
      if (!*nd->inputs[k]) continue;
      int r = resolve(s, nd->inputs[k]);
      if (r < 0) return oom(err);
      if (!r)
        return ql_errf(err, QL_ERR_INVALID_MODEL,
                       "graph '%.64s': node '%.64s' (%s) reads '%.64s', which is not a graph input, an initializer or "
                       "the output of any node",
                       g->name, node_label(nd), nd->op_type, nd->inputs[k]);
    }
    for (size_t a = 0; a < nd->n_attrs; a++) {
      const ql_attr *at = &nd->attrs[a];
      if (at->type == QL_ATTR_GRAPH) st = check_sub(s, at->g, depth, err);
      else {
        st = QL_OK;
        if (at->type == QL_ATTR_GRAPHS)
          for (size_t k = 0; k < at->n && !st; k++) st = check_sub(s, at->graphs[k], depth, err);
      }
      if (st) { /* the outermost node names the path; see onnx-load.c */
        if (!depth) ql_err_prefix(err, "node '%.64s' (%.64s) attribute '%.64s'", node_label(nd), nd->op_type, at->name);
        return st;
      }
    }
  }
  s->cur_node = -1;
  for (size_t i = 0; i < g->n_outputs; i++) {
    int r = resolve(s, g->outputs[i].name);
    if (r < 0) return oom(err);
    if (!r)
      return ql_errf(err, QL_ERR_INVALID_MODEL, "graph '%.64s': output '%.64s' is not produced by any node", g->name,
                     g->outputs[i].name);
  }
  return check_acyclic(s, err);
}

ql_status ql_graph_check(const ql_graph *g, ql_error *err) {
  if (!g) return QL_OK;
  scope s = {.g = g, .cur_node = -1};
  ql_status st = check(&s, 0, err);
  ql_strmap_free(&s.names);
  ql_free(s.extra);
  return st;
}

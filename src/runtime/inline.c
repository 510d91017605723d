/* Model-local functions are expanded into the graph at session creation:
 * formal inputs/outputs are renamed to the call's actual names, internal
 * values get a prefix unique to the call, and attribute references
 * (ref_attr_name) take the caller's value or the function's default. */
#include "runtime.h"

static const ql_function *find_fn(const ql_model *m, const ql_node *n) {
  for (size_t i = 0; i < m->n_functions; i++) {
    const ql_function *f = &m->functions[i];
    if (!strcmp(f->name, n->op_type) && !strcmp(ql_domain_canon(f->domain), ql_domain_canon(n->domain))) return f;
  }
  return NULL;
}

static const char *actual(const ql_function *f, const ql_node *call, const char *nm, char *buf, size_t bufsz,
                          unsigned id) {
  if (!*nm) return "";
  for (size_t i = 0; i < f->n_inputs; i++)
    if (!strcmp(f->inputs[i], nm)) return i < call->n_inputs ? call->inputs[i] : "";
  for (size_t i = 0; i < f->n_outputs; i++)
    if (!strcmp(f->outputs[i], nm)) return i < call->n_outputs ? call->outputs[i] : "";
  snprintf(buf, bufsz, "%s__fn%u__%s", call->name, id, nm);
  return buf;
}

static int rename_all(char **names, size_t n, const ql_function *f, const ql_node *call, unsigned id) {
  char buf[1024];
  for (size_t i = 0; i < n; i++) {
    const char *a = actual(f, call, names[i], buf, sizeof buf, id);
    char *d = ql_strdup(a);
    if (!d) return -1;
    ql_free(names[i]);
    names[i] = d;
  }
  return 0;
}

/* Resolves ref_attr_name attributes; drops those with no value. */
static int bind_attrs(ql_node *n, const ql_function *f, const ql_node *call) {
  size_t w = 0;
  for (size_t i = 0; i < n->n_attrs; i++) {
    ql_attr *a = &n->attrs[i];
    if (a->ref_attr_name) {
      const ql_attr *src = ql_node_attr(call, a->ref_attr_name);
      for (size_t k = 0; !src && k < f->n_attr_defaults; k++)
        if (!strcmp(f->attr_defaults[k].name, a->ref_attr_name)) src = &f->attr_defaults[k];
      if (!src) {
        ql_attr_clear(a);
        continue;
      }
      /* clone src into a via a scratch node */
      ql_node tmp = {.n_attrs = 1, .attrs = (ql_attr *)src};
      ql_node *c = ql_node_clone(&tmp);
      if (!c) return -1;
      char *name = a->name;
      a->name = NULL;
      ql_attr_clear(a);
      *a = c->attrs[0];
      ql_free(a->name);
      a->name = name;
      c->n_attrs = 0;
      ql_free(c->attrs);
      c->attrs = NULL;
      ql_node_free(c);
    }
    if (w != i) n->attrs[w] = *a;
    w++;
  }
  n->n_attrs = w;
  return 0;
}

ql_status ql_inline_functions(const ql_model *m, ql_graph *g, ql_error *err) {
  if (!m->n_functions) return QL_OK;
  unsigned id = 0;
  for (size_t i = 0; i < g->n_nodes;) {
    ql_node *call = g->nodes[i];
    const ql_function *f = find_fn(m, call);
    if (!f) {
      i++;
      continue;
    }
    if (++id > 100000)
      return ql_errf(err, QL_ERR_LIMIT, "function '%s': too many expansions (recursive function?)", f->name);
    size_t nn = f->n_nodes;
    ql_node **body = ql_calloc(nn + 1, sizeof *body);
    if (!body) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory inlining functions");
    int bad = 0;
    for (size_t k = 0; k < nn && !bad; k++) {
      body[k] = ql_node_clone(f->nodes[k]);
      bad = !body[k] || rename_all(body[k]->inputs, body[k]->n_inputs, f, call, id) ||
            rename_all(body[k]->outputs, body[k]->n_outputs, f, call, id) || bind_attrs(body[k], f, call);
    }
    if (!bad && ql_grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + nn, sizeof *g->nodes)) bad = 1;
    if (bad) {
      for (size_t k = 0; k < nn; k++) ql_node_free(body[k]);
      ql_free(body);
      return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory inlining function '%s'", f->name);
    }
    memmove(&g->nodes[i + nn], &g->nodes[i + 1], (g->n_nodes - i - 1) * sizeof *g->nodes);
    memcpy(&g->nodes[i], body, nn * sizeof *body);
    g->n_nodes += nn - 1;
    ql_node_free(call);
    ql_free(body);
    /* do not advance: the body may call functions too */
  }
  return QL_OK;
}

/* Test harness shared by the op unit tests: a model with one node, built
 * with the IR API, run once through a session. Functions are static inline
 * so each test uses what it needs. Include after cmocka.h. */
#ifndef QL_TEST_ONE_NODE_H
#define QL_TEST_ONE_NODE_H

#include <stdio.h>
#include <string.h>

#include "ir/ir.h"
#include "ops/op.h"

typedef struct {
  ql_model *m;
  ql_node *n;
  int nin, nout;
} one_node;

/* A model with one node: graph inputs i0.., outputs o0.. (untyped). */
static inline one_node mk(int64_t opset, const char *op, int nin, int nout) {
  one_node r = {ql_model_new(), NULL, nin, nout};
  r.m->ir_version = 8;
  r.m->opsets = ql_calloc(1, sizeof *r.m->opsets);
  r.m->opsets[0].domain = ql_strdup("");
  r.m->opsets[0].version = opset;
  r.m->n_opsets = 1;
  r.m->graph = ql_graph_new();
  ql_graph *g = r.m->graph;
  r.n = ql_node_new(op, "", "n");
  char nm[16];
  g->inputs = ql_calloc((size_t)nin + 1, sizeof *g->inputs);
  g->outputs = ql_calloc((size_t)nout + 1, sizeof *g->outputs);
  for (int i = 0; i < nin; i++) {
    snprintf(nm, sizeof nm, "i%d", i);
    ql_node_add_input(r.n, nm);
    g->inputs[i].name = ql_strdup(nm);
    g->inputs[i].is_tensor = 1;
    g->inputs[i].rank = -1;
  }
  for (int i = 0; i < nout; i++) {
    snprintf(nm, sizeof nm, "o%d", i);
    ql_node_add_output(r.n, nm);
    g->outputs[i].name = ql_strdup(nm);
    g->outputs[i].is_tensor = 1;
    g->outputs[i].rank = -1;
  }
  g->n_inputs = (size_t)nin;
  g->n_outputs = (size_t)nout;
  ql_graph_add_node(g, r.n);
  return r;
}

static inline void attr_int(one_node *o, const char *name, int64_t v) { ql_node_add_attr(o->n, name, QL_ATTR_INT)->i = v; }
static inline void attr_str(one_node *o, const char *name, const char *v) {
  ql_attr *a = ql_node_add_attr(o->n, name, QL_ATTR_STRING);
  a->s = ql_strdup(v);
  a->slen = strlen(v);
}

/* Runs the model; inputs are consumed (freed). */
static inline ql_status run(one_node *o, ql_tensor **in, ql_tensor **out, ql_error *e) {
  ql_session *s = NULL;
  ql_status st = ql_session_create(o->m, NULL, &s, e);
  if (!st) st = ql_session_run(s, (const ql_tensor *const *)in, (size_t)o->nin, out, (size_t)o->nout, e);
  for (int i = 0; i < o->nin; i++) ql_tensor_free(in[i]);
  ql_session_free(s);
  ql_model_free(o->m);
  return st;
}

static inline ql_tensor *tensor(ql_dtype t, int rank, const int64_t *dims, const void *data) {
  ql_tensor *x = ql_tensor_new(t, rank, dims, NULL);
  if (x->numel) memcpy(x->data, data, ql_tensor_nbytes(x));
  return x;
}
#endif

/* Control flow: If and Loop. Both run subgraphs through ql_op_run_subgraph;
 * the runtime gives the bodies their outer-scope values. Tensor values only
 * (sequence and optional values are not supported by the runtime). */
#include "op.h"

/* Subgraph outputs carry the subgraph's value names; a node output must not. */
static ql_tensor *unname(ql_tensor *t) {
  if (t) {
    ql_free(t->name);
    t->name = NULL;
  }
  return t;
}

static const ql_graph *graph_attr(const ql_op_ctx *c, const char *name) {
  const ql_attr *a = ql_node_attr(c->node, name);
  return a && a->type == QL_ATTR_GRAPH ? a->g : NULL;
}

static ql_status if_op(ql_op_ctx *c) {
  const ql_tensor *cond = ql_op_in(c, 0);
  if (!cond) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input cond is required");
  if (cond->numel != 1 || cond->dtype == QL_STRING || !ql_dtype_size(cond->dtype))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "cond must hold exactly one boolean, got %lld %s elements",
                      (long long)cond->numel, ql_dtype_name(cond->dtype));
  int take = ql_load_f64(cond->dtype, cond->data, 0) != 0;
  const char *branch = take ? "then_branch" : "else_branch";
  const ql_graph *g = graph_attr(c, branch);
  if (!g) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "graph attribute '%s' is missing", branch);
  if (g->n_outputs != c->n_out)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has %zu outputs, the node has %zu", branch, g->n_outputs, c->n_out);
  ql_tensor *outb[16], **out = c->n_out <= 16 ? outb : ql_calloc(c->n_out, sizeof *out);
  if (!out) return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; i < c->n_out; i++) out[i] = NULL;
  ql_status st = ql_op_run_subgraph(c, branch, 0, NULL, c->n_out, out);
  if (!st)
    for (size_t i = 0; i < c->n_out; i++) {
      ql_tensor_free(c->out[i]);
      c->out[i] = unname(out[i]);
    }
  if (out != outb) ql_free(out);
  return st;
}

/* Scan outputs of every iteration, stacked along a new leading axis at the end. */
typedef struct scan_acc {
  ql_tensor **items;
  size_t n, cap;
} scan_acc;

static ql_status scan_stack(ql_op_ctx *c, size_t oi, const scan_acc *a, const ql_value_info *vi) {
  if (a->n == 0) {
    /* no iteration ran: an empty stack, typed from the body's declaration */
    ql_dtype t = vi && vi->elem_type ? (ql_dtype)vi->elem_type : QL_FLOAT;
    int rank = vi && vi->rank >= 0 && vi->rank < QL_MAX_RANK ? vi->rank + 1 : 1;
    int64_t dims[QL_MAX_RANK] = {0};
    for (int i = 1; i < rank; i++) dims[i] = vi->dims[i - 1].value > 0 ? vi->dims[i - 1].value : 0;
    return ql_op_output(c, oi, t, rank, dims) ? QL_OK : c->err->code;
  }
  const ql_tensor *f = a->items[0];
  if (f->rank + 1 > QL_MAX_RANK) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "scan output rank %d is too large", f->rank);
  for (size_t k = 1; k < a->n; k++) {
    const ql_tensor *t = a->items[k];
    int same = t->dtype == f->dtype && t->rank == f->rank;
    for (int i = 0; same && i < f->rank; i++) same = t->dims[i] == f->dims[i];
    if (!same)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "scan output %zu changes type or shape at iteration %zu", oi, k);
  }
  int64_t dims[QL_MAX_RANK];
  dims[0] = (int64_t)a->n;
  for (int i = 0; i < f->rank; i++) dims[i + 1] = f->dims[i];
  if (ql_dims_numel(f->rank + 1, dims) < 0) return ql_op_fail(c, QL_ERR_LIMIT, "scan output %zu is too large", oi);
  ql_tensor *y = ql_op_output(c, oi, f->dtype, f->rank + 1, dims);
  if (!y) return c->err->code;
  size_t bytes = ql_tensor_nbytes(f);
  for (size_t k = 0; k < a->n; k++) {
    if (f->dtype == QL_STRING) {
      char **d = (char **)y->data + (size_t)f->numel * k, *const *s = a->items[k]->data;
      for (int64_t i = 0; i < f->numel; i++)
        if (!(d[i] = ql_strdup(s[i] ? s[i] : ""))) return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
    } else if (bytes) {
      memcpy((char *)y->data + bytes * k, a->items[k]->data, bytes);
    }
  }
  return QL_OK;
}

/* Iterations beyond this are treated as a runaway loop. */
#define LOOP_MAX_ITERS ((int64_t)1 << 31)

static ql_status loop_op(ql_op_ctx *c) {
  const ql_graph *body = graph_attr(c, "body");
  if (!body) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "graph attribute 'body' is missing");
  const ql_tensor *m = ql_op_in(c, 0), *cond0 = ql_op_in(c, 1);
  size_t nv = c->n_in >= 2 ? c->n_in - 2 : 0; /* loop-carried values */
  if (c->n_out < nv) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%zu loop-carried inputs but %zu outputs", nv, c->n_out);
  size_t ns = c->n_out - nv; /* scan outputs */
  if (body->n_inputs != nv + 2 || body->n_outputs != 1 + nv + ns)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "body has %zu inputs and %zu outputs, expected %zu and %zu",
                      body->n_inputs, body->n_outputs, nv + 2, 1 + nv + ns);
  int64_t trips = INT64_MAX;
  if (m) {
    if (m->numel != 1 || !ql_dtype_is_int(m->dtype)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "M must be one integer");
    trips = ql_load_i64(m->dtype, m->data, 0);
  }
  int cond = 1;
  if (cond0) {
    if (cond0->numel != 1 || cond0->dtype == QL_STRING || !ql_dtype_size(cond0->dtype))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "cond must hold exactly one boolean");
    cond = ql_load_f64(cond0->dtype, cond0->data, 0) != 0;
  }
  for (size_t i = 0; i < nv; i++)
    if (!ql_op_in(c, 2 + i)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "loop-carried input %zu is omitted", i);

  ql_status st = QL_OK;
  const ql_tensor **in = ql_calloc(nv + 2, sizeof *in);
  ql_tensor **vals = ql_calloc(nv + 1, sizeof *vals); /* owned current values (NULL: still the input) */
  ql_tensor **out = ql_calloc(1 + nv + ns, sizeof *out);
  scan_acc *acc = ql_calloc(ns + 1, sizeof *acc);
  int64_t zero = 0;
  ql_tensor *iter_t = ql_tensor_new(QL_INT64, 0, &zero, c->err), *cond_t = ql_tensor_new(QL_BOOL, 0, &zero, c->err);
  if (!in || !vals || !out || !acc || !iter_t || !cond_t) {
    st = ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  int64_t it = 0;
  uint64_t scan_bytes = 0;
  /* without a cond input the body's cond output is ignored (spec table) */
  for (; it < trips && (!cond0 || cond); it++) {
    if (it >= LOOP_MAX_ITERS) {
      st = ql_op_fail(c, QL_ERR_LIMIT, "loop ran %lld iterations without stopping", (long long)it);
      goto done;
    }
    *(int64_t *)iter_t->data = it;
    *(uint8_t *)cond_t->data = (uint8_t)cond;
    in[0] = iter_t;
    in[1] = cond_t;
    for (size_t i = 0; i < nv; i++) in[2 + i] = vals[i] ? vals[i] : ql_op_in(c, 2 + i);
    for (size_t i = 0; i < 1 + nv + ns; i++) out[i] = NULL;
    if ((st = ql_op_run_subgraph(c, "body", nv + 2, in, 1 + nv + ns, out))) goto done;
    const ql_tensor *co = out[0];
    if (!co || co->numel != 1 || co->dtype == QL_STRING || !ql_dtype_size(co->dtype)) {
      for (size_t i = 0; i < 1 + nv + ns; i++) ql_tensor_free(out[i]);
      st = ql_op_fail(c, QL_ERR_INVALID_MODEL, "the body's cond output must hold one boolean");
      goto done;
    }
    cond = ql_load_f64(co->dtype, co->data, 0) != 0;
    ql_tensor_free(out[0]);
    for (size_t i = 0; i < nv; i++) {
      ql_tensor_free(vals[i]);
      vals[i] = out[1 + i];
    }
    for (size_t k = 0; k < ns; k++) {
      scan_acc *a = &acc[k];
      if (ql_grow((void **)&a->items, &a->cap, a->n + 1, sizeof *a->items)) {
        for (size_t j = k; j < ns; j++) ql_tensor_free(out[1 + nv + j]);
        st = ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
      }
      a->items[a->n++] = out[1 + nv + k];
      /* the stacked outputs must fit the tensor limit: stop as soon as the
       * pieces cannot (each also costs its header), not after an input-given
       * trip count has filled the memory */
      scan_bytes += ql_tensor_nbytes(out[1 + nv + k]) + 256;
    }
    if (ns && c->max_tensor_bytes && scan_bytes > c->max_tensor_bytes) {
      st = ql_op_fail(c, QL_ERR_LIMIT, "scan outputs outgrew the %llu-byte tensor limit after %lld iterations",
                      (unsigned long long)c->max_tensor_bytes, (long long)it + 1);
      goto done;
    }
  }
  for (size_t i = 0; i < nv && !st; i++) {
    if (vals[i]) {
      ql_tensor_free(c->out[i]);
      c->out[i] = unname(vals[i]);
      vals[i] = NULL;
    } else {
      ql_tensor *t = NULL;
      if ((st = ql_tensor_clone(ql_op_in(c, 2 + i), &t, c->err))) break;
      ql_tensor_free(c->out[i]);
      c->out[i] = unname(t);
    }
  }
  for (size_t k = 0; k < ns && !st; k++) st = scan_stack(c, nv + k, &acc[k], &body->outputs[1 + nv + k]);
done:
  if (vals)
    for (size_t i = 0; i < nv; i++) ql_tensor_free(vals[i]);
  if (acc)
    for (size_t k = 0; k < ns; k++) {
      for (size_t j = 0; j < acc[k].n; j++) ql_tensor_free(acc[k].items[j]);
      ql_free(acc[k].items);
    }
  ql_tensor_free(iter_t);
  ql_tensor_free(cond_t);
  ql_free(in);
  ql_free(vals);
  ql_free(out);
  ql_free(acc);
  return st;
}

const ql_op_def ql_ops_control[] = {
    {"", "If", 1, 25, if_op},
    {"", "Loop", 1, 25, loop_op},
    {0},
};

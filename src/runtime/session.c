/* Sessions: a graph is compiled once into a plan (values numbered, nodes
 * ordered and resolved against the registry, constants folded), then run
 * any number of times, from any number of threads, each run with its own
 * frame of values. Subgraphs (If/Loop bodies) get plans of their own whose
 * free names resolve to the enclosing plan's values.
 *
 * Memory: a run borrows a run state from the session (a free list under a
 * mutex; a run that finds none makes one) and gives it back at the end. The
 * state holds the frame's arrays, a tensor header per value and one arena
 * in which the top-level graph's intermediate values live. Shapes are known
 * only at run time, so the arena is laid out from the largest size each
 * value has had in earlier runs: values whose lifetimes (producing step ..
 * last reading step, both inclusive) do not overlap share bytes (greedy by
 * size, as TFLite's arena planner). A value that does not fit its region
 * (first run, or a larger shape) is allocated on the heap as before and the
 * arena is laid out again when the state is given back, so after one run
 * per shape a run allocates nothing for its values. Graph outputs are new
 * tensors for the caller, or the caller's own with ql_session_run_into. */
#include "../common/scratch.h"
#include "../common/strmap.h"
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include "../ops/op.h"
#include "runtime.h"
#include "../kernels/qgemm.h"
#include "threadpool.h"
#include "fuse.h"

typedef struct ql_step {
  const ql_node *node;
  ql_op_resolution res;
  size_t n_in, n_out;
  int *in;   /* value index, -1 = omitted */
  int *out;  /* value index, -1 = omitted */
  size_t n_sub;
  struct ql_plan **sub;   /* one per GRAPH attribute, in attribute order */
  const char **sub_attr;
  int folded;
  void *state;            /* the op's prepared state */
  int *slot;              /* top-level plan: run-state slot of each output (omitted ones included) */
} ql_step;

typedef struct ql_plan {
  const struct ql_plan *parent;
  ql_strmap names;
  size_t n_values, cap_values;
  const char **value_names;
  ql_tensor **consts;  /* owned */
  int *outer;          /* index in parent plan, or -1 */
  int *last_use;       /* last step reading the value; INT32_MAX = graph output */
  size_t n_steps;
  ql_step *steps;
  size_t n_inputs, n_outputs;
  int *inputs, *outputs;
  const ql_value_info *input_info;
  /* run-state slots (top-level plan only): one per value, then one per
   * omitted output of a step that runs */
  size_t n_slots;
  uint8_t *slot_kind;  /* SLOT_* */
  int *slot_out;       /* SLOT_OUTPUT: the first graph output it is */
  int *slot_def, *slot_last; /* lifetime in steps, both inclusive */
} ql_plan;

enum { SLOT_HEAP, SLOT_ARENA, SLOT_OUTPUT };

/* What one run borrows from its session (see the top of the file). */
typedef struct ql_runstate {
  struct ql_runstate *next;
  ql_tensor **vals;   /* the frame's values, n_values + 1 */
  uint8_t *borrowed;  /* n_values + 1 */
  ql_tensor *hdr;     /* n_slots: headers of arena and bound tensors */
  size_t *want;       /* n_slots: region bytes the largest tensor seen needs; 0 = none seen */
  size_t *off, *room; /* n_slots: the slot's region in the arena; room 0 = none */
  uint8_t *arena;
  size_t arena_bytes;
  int grew;           /* a value did not fit its region: lay the arena out again */
  ql_scratch scratch; /* the ops' temporaries */
  ql_tensor *const *bound; /* ql_session_run_into's outputs, or NULL */
} ql_runstate;

typedef struct ql_frame {
  const ql_plan *plan;
  ql_tensor **vals;
  struct ql_frame *parent;
  ql_runstate *rs;       /* top-level frame of a session run only */
  ql_scratch *scratch;   /* the run state's, shared by subgraph frames */
  const ql_step *step;   /* the step running */
} ql_frame;

/* What every run of a session shares besides the plan. */
typedef struct ql_runcfg {
  int threads;
  uint64_t max_tensor_bytes;
  ql_threadpool *pool;
  int reference_only;
  int isa;
} ql_runcfg;

struct ql_session {
  ql_graph *graph;  /* private deep copy */
  ql_plan *plan;
  ql_runcfg cfg;
  pthread_mutex_t rs_lock;
  int rs_lock_ok;
  ql_runstate *rs_free;  /* run states no run is using */
};

/* ------------------------------------------------------------ plan build */

typedef struct {
  const ql_model *model;
  ql_error *err;
  char *unsupported;  /* accumulated list of unsupported ops */
  size_t unsup_len;
  int n_unsupported;
} builder;

static ql_status oom(ql_error *err) { return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory building the session"); }

static int add_value(ql_plan *p, const char *name) {
  if (ql_grow((void **)&p->value_names, &p->cap_values, p->n_values + 1, sizeof(char *))) return -1;
  size_t cap = p->cap_values;
  ql_tensor **c = ql_realloc(p->consts, cap * sizeof *c);
  if (!c) return -1;
  p->consts = c;
  int *o = ql_realloc(p->outer, cap * sizeof *o);
  if (!o) return -1;
  p->outer = o;
  int *lu = ql_realloc(p->last_use, cap * sizeof *lu);
  if (!lu) return -1;
  p->last_use = lu;
  int idx = (int)p->n_values;
  p->value_names[idx] = name;
  p->consts[idx] = NULL;
  p->outer[idx] = -1;
  p->last_use[idx] = -1;
  if (ql_strmap_put(&p->names, name, idx)) return -1;
  p->n_values++;
  return idx;
}

/* Looks a name up locally, then in enclosing plans (capturing it). */
static int lookup(ql_plan *p, const char *name) {
  int v = ql_strmap_get(&p->names, name);
  if (v >= 0) return v;
  if (!p->parent) return -1;
  int pv = lookup((ql_plan *)p->parent, name);
  if (pv < 0) return -1;
  v = add_value(p, name);
  if (v >= 0) p->outer[v] = pv;
  return v < 0 ? -2 : v;
}

static void plan_free(ql_plan *p);

static void step_clear(ql_step *s) {
  if (s->state && s->res.def && s->res.def->release) s->res.def->release(s->state);
  ql_free(s->in);
  ql_free(s->out);
  for (size_t k = 0; k < s->n_sub; k++) plan_free(s->sub[k]);
  ql_free(s->sub);
  ql_free(s->sub_attr);
  ql_free(s->slot);
}

static void plan_free(ql_plan *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n_values; i++) ql_tensor_free(p->consts[i]);
  for (size_t i = 0; i < p->n_steps; i++) step_clear(&p->steps[i]);
  ql_free(p->steps);
  ql_free(p->consts);
  ql_free(p->outer);
  ql_free(p->last_use);
  ql_free(p->value_names);
  ql_free(p->inputs);
  ql_free(p->outputs);
  ql_free(p->slot_kind);
  ql_free(p->slot_out);
  ql_free(p->slot_def);
  ql_free(p->slot_last);
  ql_strmap_free(&p->names);
  ql_free(p);
}

/* Names a subgraph reads from enclosing scopes (used to order the outer
 * graph's nodes correctly). */
static int collect_free_names(const ql_graph *g, ql_strmap *defined_outer_unused, const char ***out, size_t *n,
                              size_t *cap) {
  (void)defined_outer_unused;
  ql_strmap local = {0};
  int rc = 0;
  for (size_t i = 0; i < g->n_inits && !rc; i++) rc = ql_strmap_put(&local, g->inits[i]->name, 1);
  for (size_t i = 0; i < g->n_inputs && !rc; i++) rc = ql_strmap_put(&local, g->inputs[i].name, 1);
  for (size_t i = 0; i < g->n_nodes && !rc; i++)
    for (size_t k = 0; k < g->nodes[i]->n_outputs && !rc; k++)
      rc = ql_strmap_put(&local, g->nodes[i]->outputs[k], 1);
  for (size_t i = 0; i < g->n_nodes && !rc; i++) {
    const ql_node *nd = g->nodes[i];
    for (size_t k = 0; k < nd->n_inputs && !rc; k++) {
      const char *nm = nd->inputs[k];
      if (!*nm || ql_strmap_get(&local, nm) >= 0) continue;
      if ((rc = ql_grow((void **)out, cap, *n + 1, sizeof(char *)))) break;
      (*out)[(*n)++] = nm;
    }
    for (size_t a = 0; a < nd->n_attrs && !rc; a++) {
      const ql_attr *at = &nd->attrs[a];
      size_t before = *n;
      if (at->g) rc = collect_free_names(at->g, NULL, out, n, cap);
      for (size_t j = 0; at->graphs && j < at->n && !rc; j++) rc = collect_free_names(at->graphs[j], NULL, out, n, cap);
      /* names the subgraph reads that this graph defines are not free here */
      size_t w = before;
      for (size_t j = before; j < *n; j++)
        if (ql_strmap_get(&local, (*out)[j]) < 0) (*out)[w++] = (*out)[j];
      *n = w;
    }
  }
  for (size_t i = 0; i < g->n_outputs && !rc; i++)
    if (ql_strmap_get(&local, g->outputs[i].name) < 0) {
      if ((rc = ql_grow((void **)out, cap, *n + 1, sizeof(char *)))) break;
      (*out)[(*n)++] = g->outputs[i].name;
    }
  ql_strmap_free(&local);
  return rc;
}

static ql_status build_plan(builder *B, const ql_graph *g, const ql_plan *parent, ql_plan **out);

static void note_unsupported(builder *B, const char *msg) {
  if (B->unsupported && strstr(B->unsupported, msg)) return;
  size_t add = strlen(msg) + 3;
  char *p = ql_realloc(B->unsupported, B->unsup_len + add + 1);
  if (!p) return;
  B->unsupported = p;
  snprintf(p + B->unsup_len, add + 1, "%s%s", B->n_unsupported ? "; " : "", msg);
  B->unsup_len += strlen(p + B->unsup_len);
  B->n_unsupported++;
}

static ql_status build_step(builder *B, ql_plan *p, const ql_node *nd, ql_step *s) {
  memset(s, 0, sizeof *s);
  s->node = nd;
  int64_t opset = ql_model_opset(B->model, nd->domain);
  const char *dom = ql_domain_canon(nd->domain);
  if (opset < 0) {
    /* com.microsoft ops are commonly used without an explicit import */
    if (!strcmp(dom, "com.microsoft") || !strcmp(dom, QL_INTERNAL_DOMAIN)) opset = 1;
    else
      return ql_errf(B->err, QL_ERR_INVALID_MODEL, "node '%s' (%s): domain '%s' is not in the model's opset_import",
                     nd->name, nd->op_type, *dom ? dom : "ai.onnx");
  }
  if (!*dom && opset > QL_MAX_AI_ONNX_OPSET) {
    return ql_errf(B->err, QL_ERR_UNSUPPORTED,
                   "the model imports ai.onnx opset %lld; qlinear knows the operator schemas up to opset %d",
                   (long long)opset, QL_MAX_AI_ONNX_OPSET);
  }
  ql_error e = {0};
  if (ql_op_resolve(nd->domain, nd->op_type, opset, &s->res, &e)) {
    if (e.code != QL_ERR_UNSUPPORTED) {
      *B->err = e;
      return ql_err_prefix(B->err, "node '%s' (%s)", nd->name, nd->op_type);
    }
    note_unsupported(B, e.msg);
  }
  s->n_in = nd->n_inputs;
  s->n_out = nd->n_outputs;
  if (!(s->in = ql_malloc(sizeof(int) * (s->n_in + 1))) || !(s->out = ql_malloc(sizeof(int) * (s->n_out + 1))))
    return oom(B->err);
  for (size_t k = 0; k < nd->n_inputs; k++) {
    const char *nm = nd->inputs[k];
    if (!*nm) {
      s->in[k] = -1;
      continue;
    }
    int v = lookup(p, nm);
    if (v == -2) return oom(B->err);
    if (v < 0)
      return ql_errf(B->err, QL_ERR_INVALID_MODEL, "node '%s' (%s): input '%s' is not defined by any node, input or initializer",
                     nd->name, nd->op_type, nm);
    s->in[k] = v;
  }
  for (size_t a = 0; a < nd->n_attrs; a++) {
    const ql_attr *at = &nd->attrs[a];
    if (at->type != QL_ATTR_GRAPH || !at->g) continue;
    ql_plan **sp = ql_realloc(s->sub, (s->n_sub + 1) * sizeof *sp);
    if (!sp) return oom(B->err);
    s->sub = sp;
    const char **sa = ql_realloc(s->sub_attr, (s->n_sub + 1) * sizeof *sa);
    if (!sa) return oom(B->err);
    s->sub_attr = sa;
    sa[s->n_sub] = at->name;
    sp[s->n_sub] = NULL;
    s->n_sub++;
    ql_status st = build_plan(B, at->g, p, &sp[s->n_sub - 1]);
    if (st) return ql_err_prefix(B->err, "node '%s' (%s), subgraph '%s'", nd->name, nd->op_type, at->name);
  }
  for (size_t k = 0; k < nd->n_outputs; k++) {
    const char *nm = nd->outputs[k];
    if (!*nm) {
      s->out[k] = -1;
      continue;
    }
    if (ql_strmap_get(&p->names, nm) >= 0)
      return ql_errf(B->err, QL_ERR_INVALID_MODEL,
                     "node '%s' (%s): output '%s' is already defined (ONNX graphs are single-assignment)", nd->name,
                     nd->op_type, nm);
    int v = add_value(p, nm);
    if (v < 0) return oom(B->err);
    s->out[k] = v;
  }
  return QL_OK;
}

/* Orders nodes so every input is defined first; rejects cycles and names
 * that nothing defines. */
static ql_status topo_order(builder *B, const ql_graph *g, const ql_plan *p, size_t *order) {
  size_t n = g->n_nodes;
  ql_strmap defined = {0};
  ql_status st = QL_OK;
  uint8_t *done = ql_calloc(n ? n : 1, 1);
  const char ***needs = ql_calloc(n ? n : 1, sizeof *needs);
  size_t *n_needs = ql_calloc(n ? n : 1, sizeof *n_needs);
  if (!done || !needs || !n_needs) {
    st = oom(B->err);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    size_t cap = 0;
    const ql_node *nd = g->nodes[i];
    for (size_t k = 0; k < nd->n_inputs; k++) {
      if (!*nd->inputs[k]) continue;
      if (ql_grow((void **)&needs[i], &cap, n_needs[i] + 1, sizeof(char *))) {
        st = oom(B->err);
        goto out;
      }
      needs[i][n_needs[i]++] = nd->inputs[k];
    }
    for (size_t a = 0; a < nd->n_attrs; a++) {
      const ql_attr *at = &nd->attrs[a];
      int rc = 0;
      if (at->g) rc = collect_free_names(at->g, NULL, &needs[i], &n_needs[i], &cap);
      for (size_t j = 0; at->graphs && j < at->n && !rc; j++)
        rc = collect_free_names(at->graphs[j], NULL, &needs[i], &n_needs[i], &cap);
      if (rc) {
        st = oom(B->err);
        goto out;
      }
    }
  }
  size_t placed = 0;
  /* Repeated sweeps in file order keep the given order when it is already
   * topological (the normal case costs one sweep). */
  for (int progress = 1; progress && placed < n;) {
    progress = 0;
    for (size_t i = 0; i < n; i++) {
      if (done[i]) continue;
      int ready = 1;
      for (size_t k = 0; k < n_needs[i] && ready; k++) {
        const char *nm = needs[i][k];
        if (ql_strmap_get(&defined, nm) >= 0 || ql_strmap_get(&p->names, nm) >= 0) continue;
        const ql_plan *q = p->parent;
        while (q && ql_strmap_get(&q->names, nm) < 0) q = q->parent;
        if (!q) ready = 0;
      }
      if (!ready) continue;
      for (size_t k = 0; k < g->nodes[i]->n_outputs; k++)
        if (*g->nodes[i]->outputs[k] && ql_strmap_put(&defined, g->nodes[i]->outputs[k], 1)) {
          st = oom(B->err);
          goto out;
        }
      done[i] = 1;
      order[placed++] = i;
      progress = 1;
    }
  }
  if (placed < n) {
    /* name the first stuck node and what it waits for */
    ql_strmap all = {0};
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < g->nodes[i]->n_outputs; k++) ql_strmap_put(&all, g->nodes[i]->outputs[k], 1);
    for (size_t i = 0; i < n; i++) {
      if (done[i]) continue;
      for (size_t k = 0; k < n_needs[i]; k++) {
        const char *nm = needs[i][k];
        if (ql_strmap_get(&defined, nm) >= 0 || ql_strmap_get(&p->names, nm) >= 0) continue;
        const ql_plan *q = p->parent;
        while (q && ql_strmap_get(&q->names, nm) < 0) q = q->parent;
        if (q) continue;
        const ql_node *nd = g->nodes[i];
        if (ql_strmap_get(&all, nm) >= 0)
          st = ql_errf(B->err, QL_ERR_INVALID_MODEL, "node '%s' (%s): input '%s' is part of a cycle in the graph",
                       nd->name, nd->op_type, nm);
        else
          st = ql_errf(B->err, QL_ERR_INVALID_MODEL,
                       "node '%s' (%s): input '%s' is not defined by any node, graph input or initializer", nd->name,
                       nd->op_type, nm);
        break;
      }
      if (st) break;
    }
    ql_strmap_free(&all);
    if (!st) st = ql_errf(B->err, QL_ERR_INVALID_MODEL, "the graph cannot be ordered");
  }
out:
  for (size_t i = 0; needs && i < n; i++) ql_free(needs[i]);
  ql_free(needs);
  ql_free(n_needs);
  ql_free(done);
  ql_strmap_free(&defined);
  return st;
}

static ql_status build_plan(builder *B, const ql_graph *g, const ql_plan *parent, ql_plan **out) {
  ql_plan *p = ql_calloc(1, sizeof *p);
  size_t *order = NULL;
  ql_status st = QL_OK;
  *out = p;
  if (!p) return oom(B->err);
  p->parent = parent;
  ql_error e;
  for (size_t i = 0; i < g->n_inits; i++) {
    int v = ql_strmap_get(&p->names, g->inits[i]->name);
    if (v < 0 && (v = add_value(p, g->inits[i]->name)) < 0) return oom(B->err);
    ql_tensor_free(p->consts[v]);
    p->consts[v] = NULL;
    if (ql_tensor_clone(g->inits[i], &p->consts[v], &e)) return oom(B->err);
  }
  if (g->n_inputs && !(p->inputs = ql_malloc(sizeof(int) * g->n_inputs))) return oom(B->err);
  p->input_info = g->inputs;
  for (size_t i = 0; i < g->n_inputs; i++) {
    const char *nm = g->inputs[i].name;
    int v = ql_strmap_get(&p->names, nm);
    if (v >= 0 && p->consts[v]) continue; /* an initializer: a default, not an input */
    if (v >= 0)
      return ql_errf(B->err, QL_ERR_INVALID_MODEL, "graph input '%s' is listed twice", nm);
    if ((v = add_value(p, nm)) < 0) return oom(B->err);
    p->inputs[p->n_inputs++] = v;
  }
  if (!(order = ql_malloc(sizeof(size_t) * (g->n_nodes + 1)))) return oom(B->err);
  if ((st = topo_order(B, g, p, order))) goto done;
  if (g->n_nodes && !(p->steps = ql_calloc(g->n_nodes, sizeof *p->steps))) {
    st = oom(B->err);
    goto done;
  }
  for (size_t i = 0; i < g->n_nodes; i++) {
    p->n_steps = i + 1;
    if ((st = build_step(B, p, g->nodes[order[i]], &p->steps[i]))) goto done;
  }
  if (g->n_outputs && !(p->outputs = ql_malloc(sizeof(int) * g->n_outputs))) {
    st = oom(B->err);
    goto done;
  }
  for (size_t i = 0; i < g->n_outputs; i++) {
    int v = lookup(p, g->outputs[i].name);
    if (v == -2) {
      st = oom(B->err);
      goto done;
    }
    if (v < 0) {
      st = ql_errf(B->err, QL_ERR_INVALID_MODEL, "graph output '%s' is not produced by any node", g->outputs[i].name);
      goto done;
    }
    p->outputs[p->n_outputs++] = v;
  }
  for (size_t i = 0; i < p->n_steps; i++)
    for (size_t k = 0; k < p->steps[i].n_in; k++)
      if (p->steps[i].in[k] >= 0) p->last_use[p->steps[i].in[k]] = (int)i;
  for (size_t i = 0; i < p->n_outputs; i++) p->last_use[p->outputs[i]] = INT32_MAX;
  /* values captured by subgraphs stay alive until their node has run */
  for (size_t i = 0; i < p->n_steps; i++)
    for (size_t k = 0; k < p->steps[i].n_sub; k++) {
      const ql_plan *sp = p->steps[i].sub[k];
      for (size_t v = 0; v < sp->n_values; v++)
        if (sp->outer[v] >= 0 && p->last_use[sp->outer[v]] < (int)i) p->last_use[sp->outer[v]] = (int)i;
    }
done:
  ql_free(order);
  return st;
}

/* ------------------------------------------------------------ run states */

/* The arena's free bytes are poisoned (QL_ASAN_POISON), so ASan still
 * catches a read past a value's region or of a value whose lifetime has
 * ended. */

/* Numbers the run-state slots of the top-level plan and gives each its
 * lifetime. After folding: folded steps do not run. */
static ql_status plan_slots(ql_plan *p, ql_error *err) {
  size_t n = p->n_values;
  for (size_t i = 0; i < p->n_steps; i++)
    for (size_t k = 0; !p->steps[i].folded && k < p->steps[i].n_out; k++) n += p->steps[i].out[k] < 0;
  p->n_slots = n;
  if (!(p->slot_kind = ql_calloc(n + 1, 1)) || !(p->slot_out = ql_malloc((n + 1) * sizeof(int))) ||
      !(p->slot_def = ql_calloc(n + 1, sizeof(int))) || !(p->slot_last = ql_calloc(n + 1, sizeof(int))))
    return oom(err);
  for (size_t v = 0; v < n; v++) p->slot_out[v] = -1;
  size_t extra = p->n_values;
  for (size_t i = 0; i < p->n_steps; i++) {
    ql_step *st = &p->steps[i];
    if (st->folded) continue;
    if (!(st->slot = ql_malloc((st->n_out + 1) * sizeof(int)))) return oom(err);
    for (size_t k = 0; k < st->n_out; k++) {
      int sl = st->out[k] >= 0 ? st->out[k] : (int)extra++;
      st->slot[k] = sl;
      p->slot_kind[sl] = SLOT_ARENA;
      p->slot_def[sl] = p->slot_last[sl] = (int)i;
      if (st->out[k] >= 0 && p->last_use[sl] > (int)i) p->slot_last[sl] = p->last_use[sl];
    }
  }
  for (size_t j = 0; j < p->n_outputs; j++) {
    int v = p->outputs[j];
    if (p->slot_out[v] < 0) p->slot_out[v] = (int)j;
    if (p->slot_kind[v] == SLOT_ARENA) p->slot_kind[v] = SLOT_OUTPUT;
  }
  return QL_OK;
}

static void rs_free(ql_runstate *rs) {
  if (!rs) return;
  QL_ASAN_UNPOISON(rs->arena, rs->arena_bytes);
  ql_free_aligned(rs->arena);
  ql_free(rs->vals);
  ql_free(rs->borrowed);
  ql_free(rs->hdr);
  ql_free(rs->want);
  ql_free(rs->off);
  ql_free(rs->room);
  ql_scratch_free(&rs->scratch);
  ql_free(rs);
}

static ql_runstate *rs_new(const ql_plan *p, const ql_runcfg *cfg) {
  ql_runstate *rs = ql_calloc(1, sizeof *rs);
  if (!rs) return NULL;
  size_t n = p->n_slots + 1;
  if (ql_scratch_init(&rs->scratch, (size_t)ql_threadpool_size(cfg->pool)) ||
      !(rs->vals = ql_calloc(p->n_values + 1, sizeof *rs->vals)) || !(rs->borrowed = ql_calloc(p->n_values + 1, 1)) ||
      !(rs->hdr = ql_calloc(n, sizeof *rs->hdr)) || !(rs->want = ql_calloc(n, sizeof(size_t))) ||
      !(rs->off = ql_calloc(n, sizeof(size_t))) || !(rs->room = ql_calloc(n, sizeof(size_t)))) {
    rs_free(rs);
    return NULL;
  }
  return rs;
}

typedef struct span {
  size_t off, len;
  int slot;
} span;

static int span_by_len_desc(const void *a, const void *b) {
  const span *x = a, *y = b;
  if (x->len != y->len) return x->len < y->len ? 1 : -1;
  return (x->slot > y->slot) - (x->slot < y->slot);
}
static int span_by_off(const void *a, const void *b) {
  const span *x = a, *y = b;
  return (x->off > y->off) - (x->off < y->off);
}

/* Lays the arena out again from the sizes seen so far: largest value first,
 * each at the lowest offset clear of every placed value it is alive with.
 * On allocation failure the old layout stays (it is still valid for the
 * sizes it was made for) and the next give-back tries again. */
static void rs_layout(const ql_plan *p, ql_runstate *rs) {
  size_t n = p->n_slots, m = 0, n_placed = 0, total = 0;
  span *order = ql_malloc((n + 1) * sizeof *order), *conf = ql_malloc((n + 1) * sizeof *conf);
  size_t *off = ql_malloc((n + 1) * sizeof *off);
  uint8_t *arena = NULL;
  if (!order || !conf || !off) goto out;
  for (size_t s = 0; s < n; s++)
    if (p->slot_kind[s] == SLOT_ARENA && rs->want[s]) order[m++] = (span){0, rs->want[s], (int)s};
  qsort(order, m, sizeof *order, span_by_len_desc);
  for (size_t a = 0; a < m; a++) {
    int s = order[a].slot;
    size_t w = order[a].len, nc = 0, at = 0;
    for (size_t b = 0; b < n_placed; b++) {
      int t = order[b].slot;
      if (p->slot_def[t] <= p->slot_last[s] && p->slot_def[s] <= p->slot_last[t])
        conf[nc++] = (span){off[t], order[b].len, t};
    }
    qsort(conf, nc, sizeof *conf, span_by_off);
    for (size_t c = 0; c < nc; c++) {
      size_t end;
      if (!ql_add_overflow_size(at, w, &end) && conf[c].off >= end) break;
      if (conf[c].off + conf[c].len > at) at = conf[c].off + conf[c].len;
    }
    off[s] = at;
    size_t end;
    if (ql_add_overflow_size(at, w, &end)) goto out;
    if (end > total) total = end;
    n_placed++;
  }
  if (total && !(arena = ql_malloc_aligned(total))) goto out;
  QL_ASAN_UNPOISON(rs->arena, rs->arena_bytes);
  ql_free_aligned(rs->arena);
  rs->arena = arena;
  rs->arena_bytes = total;
  for (size_t s = 0; s < n; s++) rs->room[s] = 0;
  for (size_t a = 0; a < m; a++) {
    rs->off[order[a].slot] = off[order[a].slot];
    rs->room[order[a].slot] = order[a].len;
  }
  QL_ASAN_POISON(rs->arena, rs->arena_bytes);
  rs->grew = 0;
out:
  ql_free(order);
  ql_free(conf);
  ql_free(off);
}

static ql_runstate *rs_acquire(ql_session *s) {
  ql_runstate *rs = NULL;
  if (s->rs_lock_ok) {
    pthread_mutex_lock(&s->rs_lock);
    if ((rs = s->rs_free)) s->rs_free = rs->next;
    pthread_mutex_unlock(&s->rs_lock);
  }
  if (!rs) rs = rs_new(s->plan, &s->cfg);
  if (rs) rs->next = NULL;
  return rs;
}

static void rs_release(ql_session *s, ql_runstate *rs) {
  if (rs->grew) rs_layout(s->plan, rs);
  rs->bound = NULL;
  QL_ASAN_POISON(rs->arena, rs->arena_bytes);
  if (!s->rs_lock_ok) {
    rs_free(rs);
    return;
  }
  pthread_mutex_lock(&s->rs_lock);
  rs->next = s->rs_free;
  s->rs_free = rs;
  pthread_mutex_unlock(&s->rs_lock);
}

/* ------------------------------------------------------------ execution */

static const ql_tensor *frame_get(const ql_frame *f, int v) {
  while (f) {
    const ql_plan *p = f->plan;
    if (p->consts[v]) return p->consts[v];
    if (f->vals[v]) return f->vals[v];
    if (p->outer[v] < 0) return NULL;
    v = p->outer[v];
    f = f->parent;
  }
  return NULL;
}

static void fmt_shape(char *buf, size_t cap, ql_dtype dtype, int rank, const int64_t *dims) {
  size_t w = (size_t)snprintf(buf, cap, "%s [", ql_dtype_name(dtype));
  for (int d = 0; d < rank && w < cap; d++) w += (size_t)snprintf(buf + w, cap - w, d ? ",%lld" : "%lld", (long long)dims[d]);
  if (w < cap) snprintf(buf + w, cap - w, "]");
}

/* A tensor the caller bound as graph output `name` must have the shape the
 * run gives it. */
static ql_status bound_check(const ql_tensor *b, const char *name, ql_dtype dtype, int rank, const int64_t *dims,
                             ql_error *err) {
  int same = b->dtype == dtype && b->rank == rank;
  for (int d = 0; same && d < rank; d++) same = b->dims[d] == dims[d];
  if (same) return QL_OK;
  char want[160], got[160];
  fmt_shape(want, sizeof want, dtype, rank, dims);
  fmt_shape(got, sizeof got, b->dtype, b->rank, b->dims);
  return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "graph output '%s' is %s, the tensor bound to it is %s", name, want, got);
}

static void set_header(ql_tensor *t, ql_dtype dtype, int rank, const int64_t *dims, int64_t n, void *data) {
  memset(t, 0, sizeof *t);
  t->dtype = dtype;
  t->rank = rank;
  for (int d = 0; d < rank; d++) t->dims[d] = dims[d];
  t->numel = n;
  t->data = data;
  t->flags_ = QL_TENSOR_ARENA;
}

/* Zeroes a reused buffer, or for ql_op_output_nofill leaves it as it is:
 * sanitizer builds then fill it with a pattern so that a test catches an op
 * that does not write every element. */
static void prefill(void *d, size_t bytes, int fill) {
#ifdef QL_ASAN
  memset(d, fill ? 0 : 0xA5, bytes);
#else
  if (fill) memset(d, 0, bytes);
#endif
}

/* The run state's tensor for a step output of `bytes` bytes: the caller's
 * bound output, or the slot's region of the arena when it fits. *out stays
 * NULL when the heap must serve (the first run, a larger shape, a graph
 * output of ql_session_run); the size is noted for the next layout. */
static ql_status slot_output(ql_frame *f, int sl, ql_dtype dtype, int rank, const int64_t *dims, size_t bytes,
                             int fill, ql_tensor **out, ql_error *err) {
  const ql_plan *p = f->plan;
  ql_runstate *rs = f->rs;
  int64_t n = ql_dims_numel(rank, dims);
  if (p->slot_kind[sl] == SLOT_OUTPUT) {
    if (!rs->bound) return QL_OK;
    const ql_tensor *b = rs->bound[p->slot_out[sl]];
    ql_status st = bound_check(b, p->value_names[sl], dtype, rank, dims, err);
    if (st) return st;
    if (bytes) prefill(b->data, bytes, fill);
    set_header(&rs->hdr[sl], dtype, rank, dims, n, b->data);
    *out = &rs->hdr[sl];
    return QL_OK;
  }
  if (p->slot_kind[sl] != SLOT_ARENA) return QL_OK;
  /* 64-byte aligned with 64 bytes to spare, as ql_malloc_aligned gives:
   * kernels may read whole vectors past the end */
  size_t want = bytes > SIZE_MAX - 191 ? SIZE_MAX : ((bytes + 63) & ~(size_t)63) + 64;
  if (want <= rs->room[sl]) {
    uint8_t *d = rs->arena + rs->off[sl];
    QL_ASAN_UNPOISON(d, rs->room[sl]);
    prefill(d, bytes, fill);
    set_header(&rs->hdr[sl], dtype, rank, dims, n, d);
    *out = &rs->hdr[sl];
  } else if (want > rs->want[sl] && want != SIZE_MAX) {
    rs->want[sl] = want;
    rs->grew = 1;
  }
  return QL_OK;
}

static ql_tensor *op_output(ql_op_ctx *c, size_t i, ql_dtype dtype, int rank, const int64_t *dims, int fill) {
  if (i >= c->n_out) {
    ql_errf(c->err, QL_ERR_INVALID_MODEL, "output %zu requested but the node has %zu outputs", i, c->n_out);
    return NULL;
  }
  ql_tensor_free(c->out[i]);
  c->out[i] = NULL;
  /* sizes computed from a model's data (Resize scales, Expand shapes, ...)
   * are untrusted: cap them before asking for memory */
  int64_t n = rank >= 0 && rank <= QL_MAX_RANK ? ql_dims_numel(rank, dims) : -1;
  size_t es = ql_dtype_size(dtype);
  if (n >= 0 && es && c->max_tensor_bytes && (uint64_t)n > c->max_tensor_bytes / es) {
    ql_errf(c->err, QL_ERR_LIMIT, "output %zu would hold %lld elements of %s, over the %llu-byte tensor limit", i,
            (long long)n, ql_dtype_name(dtype), (unsigned long long)c->max_tensor_bytes);
    return NULL;
  }
  ql_frame *f = c->frame_;
  if (n >= 0 && es && dtype != QL_STRING && f && f->rs && f->step && f->step->slot) {
    ql_tensor *t = NULL;
    if (slot_output(f, f->step->slot[i], dtype, rank, dims, (size_t)n * es, fill, &t, c->err)) return NULL;
    if (t) return c->out[i] = t;
  }
  c->out[i] = ql_tensor_new(dtype, rank, dims, c->err);
  if (c->out[i] && !fill && n > 0 && es) prefill(c->out[i]->data, (size_t)n * es, 0);
  return c->out[i];
}

ql_tensor *ql_op_output(ql_op_ctx *c, size_t i, ql_dtype dtype, int rank, const int64_t *dims) {
  return op_output(c, i, dtype, rank, dims, 1);
}

ql_tensor *ql_op_output_nofill(ql_op_ctx *c, size_t i, ql_dtype dtype, int rank, const int64_t *dims) {
  return op_output(c, i, dtype, rank, dims, 0);
}

void *ql_op_scratch(ql_op_ctx *c, size_t bytes) {
  void *p = ql_scratch_get(c->scratch_, bytes);
  if (!p) ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory for %zu bytes of scratch", bytes);
  return p;
}

void *ql_op_thread_scratch(ql_op_ctx *c, size_t thread, size_t bytes) {
  return ql_scratch_thread(c->scratch_, thread, bytes);
}

ql_status ql_op_fail(ql_op_ctx *c, ql_status code, const char *fmt, ...) {
  if (c->err) {
    va_list ap;
    va_start(ap, fmt);
    c->err->code = code;
    vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

typedef struct observer {
  ql_observer_fn fn;      /* each value, or NULL */
  void *ctx;
  ql_step_time_fn timed;  /* each step's time, or NULL */
} observer;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static ql_status run_plan(const ql_plan *p, ql_frame *parent, const ql_tensor *const *inputs, size_t n_inputs,
                          ql_tensor **outputs, size_t n_outputs, const ql_runcfg *cfg, const observer *obs,
                          ql_runstate *rs, ql_error *err);

ql_status ql_op_run_subgraph(ql_op_ctx *c, const char *attr, size_t n_in, const ql_tensor *const *in, size_t n_out,
                             ql_tensor **out) {
  const ql_node *nd = c->node;
  size_t k = 0;
  for (size_t a = 0; a < nd->n_attrs; a++) {
    if (nd->attrs[a].type != QL_ATTR_GRAPH || !nd->attrs[a].g) continue;
    if (!strcmp(nd->attrs[a].name, attr))
      return run_plan(c->subplans_[k], c->frame_, in, n_in, out, n_out, c->cfg_, NULL, NULL, c->err);
    k++;
  }
  return ql_errf(c->err, QL_ERR_INVALID_MODEL, "missing graph attribute '%s'", attr);
}

static ql_status run_step(const ql_step *s, ql_frame *f, ql_tensor **vals_out_slots, const ql_runcfg *cfg, ql_error *err) {
  const ql_tensor *inb[64];
  ql_tensor *outb[64];
  const ql_tensor **in = inb;
  ql_tensor **out = outb;
  ql_status st = QL_OK;
  if (s->n_in > 64 || s->n_out > 64) {
    in = ql_calloc(s->n_in + 1, sizeof *in);
    out = ql_calloc(s->n_out + 1, sizeof *out);
    if (!in || !out) {
      st = oom(err);
      goto done;
    }
  }
  for (size_t k = 0; k < s->n_in; k++) in[k] = s->in[k] >= 0 ? frame_get(f, s->in[k]) : NULL;
  for (size_t k = 0; k < s->n_out; k++) out[k] = NULL;
  f->step = s;
  ql_op_ctx c = {.node = s->node,
                 .version = s->res.version,
                 .n_in = s->n_in,
                 .in = in,
                 .n_out = s->n_out,
                 .out = out,
                 .err = err,
                 .threads = cfg->threads,
                 .max_tensor_bytes = cfg->max_tensor_bytes,
                 .state = s->state,
                 .pool = cfg->pool,
                 .scratch_ = f->scratch,
                 .cfg_ = cfg,
                 .subplans_ = (const struct ql_plan *const *)s->sub,
                 .frame_ = f};
  const ql_scratch_mark mark = ql_scratch_begin(f->scratch);
  st = s->res.def->run(&c);
  ql_scratch_release(f->scratch, mark);
  if (!st)
    for (size_t k = 0; k < s->n_out; k++)
      if (s->out[k] >= 0 && !out[k]) {
        st = ql_errf(err, QL_ERR_INTERNAL, "output %zu was not produced", k);
        break;
      }
  if (st) {
    ql_err_prefix(err, "node '%s' (%s)", s->node->name, s->node->op_type);
    for (size_t k = 0; k < s->n_out; k++) ql_tensor_free(out[k]);
    goto done;
  }
  for (size_t k = 0; k < s->n_out; k++) {
    if (s->out[k] >= 0) vals_out_slots[s->out[k]] = out[k];
    else ql_tensor_free(out[k]);
  }
done:
  if (in != inb) ql_free(in);
  if (out != outb) ql_free(out);
  return st;
}

static int check_input(const ql_value_info *vi, const ql_tensor *t, ql_error *err) {
  if (!t) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "input '%s' is missing", vi->name);
  if (vi->is_tensor && vi->elem_type && vi->elem_type != (int)t->dtype)
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "input '%s': got %s, the graph declares %s", vi->name,
                   ql_dtype_name(t->dtype), ql_dtype_name((ql_dtype)vi->elem_type));
  if (vi->is_tensor && vi->rank >= 0) {
    if (vi->rank != t->rank)
      return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "input '%s': got rank %d, the graph declares rank %d", vi->name,
                     t->rank, vi->rank);
    for (int i = 0; i < t->rank; i++)
      if (vi->dims[i].value >= 0 && !vi->dims[i].param && vi->dims[i].value != t->dims[i])
        return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "input '%s': dim %d is %lld, the graph declares %lld",
                       vi->name, i, (long long)t->dims[i], (long long)vi->dims[i].value);
  }
  return QL_OK;
}

/* A value no later step reads: freed, or its arena region poisoned. */
static void drop_value(ql_frame *f, int v) {
  ql_tensor *t = f->vals[v];
  f->vals[v] = NULL;
  if (t && f->rs && t == &f->rs->hdr[v] && f->plan->slot_kind[v] == SLOT_ARENA)
    QL_ASAN_POISON(f->rs->arena + f->rs->off[v], f->rs->room[v]);
  ql_tensor_free(t);
}

/* Runs plan p. outputs[j] receive new tensors, or (bound != NULL, top-level
 * runs with a run state only) the values are written into bound[j]. */
static ql_status run_plan(const ql_plan *p, ql_frame *parent, const ql_tensor *const *inputs, size_t n_inputs,
                          ql_tensor **outputs, size_t n_outputs, const ql_runcfg *cfg, const observer *obs,
                          ql_runstate *rs, ql_error *err) {
  ql_status st = QL_OK;
  if (n_inputs != p->n_inputs)
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "the graph has %zu inputs, %zu were given", p->n_inputs, n_inputs);
  if (n_outputs != p->n_outputs)
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "the graph has %zu outputs, room for %zu was given",
                   p->n_outputs, n_outputs);
  ql_tensor *const *bound = rs ? rs->bound : NULL;
  ql_frame f = {.plan = p, .parent = parent, .rs = rs, .scratch = rs ? &rs->scratch : parent->scratch};
  /* Graph inputs are borrowed: a frame slot is owned unless it is an input. */
  uint8_t *borrowed;
  if (rs) {
    f.vals = rs->vals;
    borrowed = rs->borrowed;
    memset(f.vals, 0, (p->n_values + 1) * sizeof *f.vals);
    memset(borrowed, 0, p->n_values + 1);
  } else {
    if (!(f.vals = ql_calloc(p->n_values + 1, sizeof *f.vals))) return oom(err);
    if (!(borrowed = ql_calloc(p->n_values + 1, 1))) {
      ql_free(f.vals);
      return oom(err);
    }
  }
  for (size_t i = 0; i < n_inputs; i++) {
    f.vals[p->inputs[i]] = (ql_tensor *)inputs[i];
    borrowed[p->inputs[i]] = 1;
  }
  for (size_t i = 0; i < p->n_steps && !st; i++) {
    const ql_step *s = &p->steps[i];
    if (s->folded) continue;
    const double t0 = obs && obs->timed ? now_ms() : 0;
    st = run_step(s, &f, f.vals, cfg, err);
    if (st) break;
    if (obs && obs->timed) obs->timed(obs->ctx, s->node, now_ms() - t0);
    for (size_t k = 0; obs && obs->fn && k < s->n_out && !st; k++)
      if (s->out[k] >= 0 && f.vals[s->out[k]] && obs->fn(obs->ctx, p->value_names[s->out[k]], f.vals[s->out[k]]))
        st = ql_errf(err, QL_ERR_INVALID_STATE, "the observer stopped the run");
    if (st) break;
    /* free what no later step reads */
    for (size_t k = 0; k < s->n_in; k++) {
      int v = s->in[k];
      if (v >= 0 && p->last_use[v] == (int)i && f.vals[v] && !borrowed[v]) drop_value(&f, v);
    }
    for (size_t k = 0; k < s->n_out; k++) {
      int v = s->out[k];
      if (v >= 0 && p->last_use[v] < 0) drop_value(&f, v);
    }
  }
  for (size_t j = 0; j < n_outputs && !st; j++) {
    int v = p->outputs[j];
    if (bound) {
      /* written in place unless the value is an input, a constant, listed
       * twice, or came from the heap (If/Loop results, strings) */
      const ql_tensor *t = frame_get(&f, v);
      ql_tensor *b = bound[j];
      if (!t) st = ql_errf(err, QL_ERR_INTERNAL, "graph output '%s' was not computed", p->value_names[v]);
      else if (t == &rs->hdr[v] && t->data == b->data) continue;
      else if (!(st = bound_check(b, p->value_names[v], t->dtype, t->rank, t->dims, err)) && t->numel)
        memcpy(b->data, t->data, ql_tensor_nbytes(t));
      continue;
    }
    int again = 0;
    for (size_t k = j + 1; k < n_outputs; k++) again |= p->outputs[k] == v;
    if (f.vals[v] && !borrowed[v] && !again && !(f.vals[v]->flags_ & QL_TENSOR_ARENA)) {
      outputs[j] = f.vals[v];
      f.vals[v] = NULL;
    } else {
      const ql_tensor *t = frame_get(&f, v);
      if (!t) st = ql_errf(err, QL_ERR_INTERNAL, "graph output '%s' was not computed", p->value_names[v]);
      else st = ql_tensor_clone(t, &outputs[j], err);
    }
    if (!st && outputs[j] && !outputs[j]->name) outputs[j]->name = ql_strdup(p->value_names[v]);
  }
  if (st && !bound)
    for (size_t j = 0; j < n_outputs; j++) {
      ql_tensor_free(outputs[j]);
      outputs[j] = NULL;
    }
  for (size_t v = 0; v < p->n_values; v++)
    if (!borrowed[v]) ql_tensor_free(f.vals[v]);
  if (!rs) {
    ql_free(f.vals);
    ql_free(borrowed);
  }
  return st;
}

/* Runs, once, every step whose inputs are all constant, and keeps its
 * outputs as constants (RetinaFace quantizes its float weights in-graph,
 * PaddleOCR computes shapes from hundreds of Constant nodes). */
static ql_status fold_constants(ql_plan *p, const ql_runcfg *cfg, ql_error *err) {
  for (size_t i = 0; i < p->n_steps; i++) {
    ql_step *s = &p->steps[i];
    if (s->n_sub) continue;
    int all_const = 1;
    for (size_t k = 0; k < s->n_in && all_const; k++)
      if (s->in[k] >= 0 && !p->consts[s->in[k]]) all_const = 0;
    if (!all_const) continue;
    ql_scratch scratch;
    ql_frame f = {.plan = p, .scratch = &scratch};
    ql_tensor **slots = ql_calloc(p->n_values + 1, sizeof *slots);
    if (!slots || ql_scratch_init(&scratch, 1)) {
      ql_free(slots);
      return oom(err);
    }
    f.vals = slots;
    ql_status st = run_step(s, &f, slots, cfg, err);
    ql_scratch_free(&scratch);
    if (st) {
      ql_free(slots);
      return st;
    }
    for (size_t k = 0; k < s->n_out; k++)
      if (s->out[k] >= 0) p->consts[s->out[k]] = slots[s->out[k]];
    ql_free(slots);
    s->folded = 1;
  }
  /* constants nothing reads any more are dropped */
  for (size_t v = 0; v < p->n_values; v++) {
    if (!p->consts[v] || p->last_use[v] == INT32_MAX) continue;
    int used = 0;
    for (size_t i = 0; i < p->n_steps && !used; i++) {
      if (p->steps[i].folded) continue;
      for (size_t k = 0; k < p->steps[i].n_in; k++) used |= p->steps[i].in[k] == (int)v;
      for (size_t k = 0; k < p->steps[i].n_sub && !used; k++) {
        const ql_plan *sp = p->steps[i].sub[k];
        for (size_t w = 0; w < sp->n_values; w++) used |= sp->outer[w] == (int)v;
      }
    }
    if (!used) {
      ql_tensor_free(p->consts[v]);
      p->consts[v] = NULL;
    }
  }
  return QL_OK;
}

/* Lets each remaining op precompute from its constant inputs. */
static ql_status prepare_steps(ql_plan *p, const ql_runcfg *cfg, ql_error *err) {
  for (size_t i = 0; i < p->n_steps; i++) {
    ql_step *s = &p->steps[i];
    if (s->folded || !s->res.def || !s->res.def->prepare) continue;
    const ql_tensor *inb[64];
    const ql_tensor **in = s->n_in > 64 ? ql_calloc(s->n_in, sizeof *in) : inb;
    if (!in) return oom(err);
    for (size_t k = 0; k < s->n_in; k++) in[k] = s->in[k] >= 0 ? p->consts[s->in[k]] : NULL;
    ql_op_prep pr = {.node = s->node, .version = s->res.version, .n_in = s->n_in, .in = in,
                     .threads = cfg->threads, .reference_only = cfg->reference_only, .isa = cfg->isa, .err = err};
    ql_status st = s->res.def->prepare(&pr, &s->state);
    if (in != inb) ql_free(in);
    if (st) return ql_err_prefix(err, "node '%s' (%s)", s->node->name, s->node->op_type);
  }
  return QL_OK;
}

ql_status ql_session_create(const ql_model *m, const ql_session_options *opt, ql_session **out, ql_error *err) {
  if (!m || !out) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "NULL argument");
  *out = NULL;
  ql_error local;
  if (!err) err = &local;
  ql_session *s = ql_calloc(1, sizeof *s);
  if (!s) return oom(err);
  s->cfg.threads = opt && opt->threads > 0 ? opt->threads : 1;
  s->cfg.max_tensor_bytes = opt && opt->max_tensor_bytes ? opt->max_tensor_bytes : (4ull << 30);
  s->cfg.reference_only = opt && opt->reference_only;
  s->cfg.isa = QL_ISA_AUTO;
  if (opt && opt->isa) {
    s->cfg.isa = ql_isa_from_name(opt->isa);
    if (s->cfg.isa == QL_ISA_AUTO) {
      ql_session_free(s);
      return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "unknown ISA '%s' (scalar, avx2, avxvnni, avx512vnni, amx)", opt->isa);
    }
    if (!ql_isa_supported((ql_isa)s->cfg.isa)) {
      ql_session_free(s);
      return ql_errf(err, QL_ERR_UNSUPPORTED_HARDWARE, "this CPU cannot run %s kernels", opt->isa);
    }
  }
  builder B = {.model = m, .err = err};
  ql_status st = QL_OK;
  if (!(s->graph = ql_graph_clone(m->graph))) st = oom(err);
  if (!st) st = ql_inline_functions(m, s->graph, err);
  if (!st && !s->cfg.reference_only) st = ql_fuse_qdq(m, s->graph, err);
  if (!st && !s->cfg.reference_only) st = ql_fuse_dynamic(m, s->graph, err);
  if (!st) st = build_plan(&B, s->graph, NULL, &s->plan);
  if (!st && B.n_unsupported)
    st = ql_errf(err, QL_ERR_UNSUPPORTED, "%d unsupported operator%s: %s", B.n_unsupported,
                 B.n_unsupported > 1 ? "s" : "", B.unsupported);
  if (!st) st = fold_constants(s->plan, &s->cfg, err);
  if (!st) st = plan_slots(s->plan, err);
  if (!st && !(s->rs_lock_ok = !pthread_mutex_init(&s->rs_lock, NULL)))
    st = ql_errf(err, QL_ERR_INTERNAL, "cannot create the session's mutex");
  if (!st && s->cfg.threads > 1) st = ql_threadpool_create(s->cfg.threads, &s->cfg.pool, err);
  if (!st) st = prepare_steps(s->plan, &s->cfg, err);
  ql_free(B.unsupported);
  if (st) {
    ql_session_free(s);
    return st;
  }
  *out = s;
  return QL_OK;
}

size_t ql_session_input_count(const ql_session *s) { return s->plan->n_inputs; }
size_t ql_session_output_count(const ql_session *s) { return s->plan->n_outputs; }
const char *ql_session_input_name(const ql_session *s, size_t i) {
  return i < s->plan->n_inputs ? s->plan->value_names[s->plan->inputs[i]] : NULL;
}
const char *ql_session_output_name(const ql_session *s, size_t i) {
  return i < s->plan->n_outputs ? s->plan->value_names[s->plan->outputs[i]] : NULL;
}

static const ql_value_info *input_vi(const ql_plan *p, size_t i) {
  const char *nm = p->value_names[p->inputs[i]];
  for (const ql_value_info *vi = p->input_info;; vi++)
    if (!strcmp(vi->name, nm)) return vi;
}

ql_dtype ql_session_input_info(const ql_session *s, size_t i, int *rank, int64_t dims[QL_MAX_RANK]) {
  if (i >= s->plan->n_inputs) return QL_UNDEFINED;
  const ql_value_info *vi = input_vi(s->plan, i);
  *rank = vi->rank > QL_MAX_RANK ? QL_MAX_RANK : vi->rank;
  for (int k = 0; k < *rank; k++) dims[k] = vi->dims[k].param ? -1 : vi->dims[k].value;
  return (ql_dtype)vi->elem_type;
}

static ql_status session_run(ql_session *s, const ql_tensor *const *inputs, size_t n_inputs, ql_tensor **outputs,
                             ql_tensor *const *bound, size_t n_outputs, const observer *obs, ql_error *err) {
  if (!s || (n_inputs && !inputs) || (n_outputs && !outputs && !bound))
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "NULL argument");
  ql_error local;
  if (!err) err = &local;
  for (size_t j = 0; outputs && j < n_outputs; j++) outputs[j] = NULL;
  if (n_inputs == s->plan->n_inputs)
    for (size_t i = 0; i < n_inputs; i++) {
      ql_status st = check_input(input_vi(s->plan, i), inputs[i], err);
      if (st) return st;
    }
  for (size_t j = 0; bound && j < n_outputs; j++) {
    const ql_tensor *b = bound[j];
    const char *nm = j < s->plan->n_outputs ? s->plan->value_names[s->plan->outputs[j]] : "?";
    if (!b)
      return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "no tensor is bound to graph output %zu ('%s')", j, nm);
    if (b->rank < 0 || b->rank > QL_MAX_RANK || !ql_dtype_size(b->dtype) || b->dtype == QL_STRING ||
        ql_dims_numel(b->rank, b->dims) != b->numel || (b->numel && !b->data))
      return ql_errf(err, QL_ERR_INVALID_ARGUMENT,
                     "the tensor bound to graph output %zu ('%s') is not a valid numeric tensor (string outputs "
                     "cannot be bound)", j, nm);
    /* the run writes output j while it still reads the inputs */
    const uint8_t *lo = b->data, *hi = lo + ql_tensor_nbytes(b);
    for (size_t i = 0; i < n_inputs + j && b->numel; i++) {
      const ql_tensor *o = i < n_inputs ? inputs[i] : bound[i - n_inputs];
      const uint8_t *olo = o && o->numel ? o->data : NULL;
      if (olo && olo < hi && lo < olo + ql_tensor_nbytes(o))
        return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "the tensor bound to graph output %zu ('%s') overlaps %s %zu", j,
                       nm, i < n_inputs ? "input" : "bound output", i < n_inputs ? i : i - n_inputs);
    }
  }
  ql_runstate *rs = rs_acquire(s);
  if (!rs) return oom(err);
  rs->bound = bound;
  ql_status st = run_plan(s->plan, NULL, inputs, n_inputs, outputs, n_outputs, &s->cfg, obs, rs, err);
  rs_release(s, rs);
  return st;
}

ql_status ql_session_run_observed(ql_session *s, const ql_tensor *const *inputs, size_t n_inputs,
                                  ql_tensor **outputs, size_t n_outputs, ql_observer_fn fn, void *ctx,
                                  ql_error *err) {
  if (n_outputs && !outputs) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "NULL argument");
  const observer obs = {fn, ctx, NULL};
  return session_run(s, inputs, n_inputs, outputs, NULL, n_outputs, fn ? &obs : NULL, err);
}

ql_status ql_session_run(ql_session *s, const ql_tensor *const *inputs, size_t n_inputs, ql_tensor **outputs,
                         size_t n_outputs, ql_error *err) {
  return ql_session_run_observed(s, inputs, n_inputs, outputs, n_outputs, NULL, NULL, err);
}

ql_status ql_session_run_into(ql_session *s, const ql_tensor *const *inputs, size_t n_inputs,
                              ql_tensor *const *outputs, size_t n_outputs, ql_error *err) {
  return ql_session_run_into_timed(s, inputs, n_inputs, outputs, n_outputs, NULL, NULL, err);
}

ql_status ql_session_run_into_timed(ql_session *s, const ql_tensor *const *inputs, size_t n_inputs,
                                    ql_tensor *const *outputs, size_t n_outputs, ql_step_time_fn fn, void *ctx,
                                    ql_error *err) {
  if (n_outputs && !outputs) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "NULL argument");
  if (s && n_outputs != s->plan->n_outputs)
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "the graph has %zu outputs, %zu tensors were bound",
                   s->plan->n_outputs, n_outputs);
  const observer obs = {NULL, ctx, fn};
  return session_run(s, inputs, n_inputs, NULL, outputs, n_outputs, fn ? &obs : NULL, err);
}

const ql_tensor *ql_session_const(const ql_session *s, const char *name) {
  int v = ql_strmap_get(&s->plan->names, name);
  return v >= 0 ? s->plan->consts[v] : NULL;
}

size_t ql_session_arena_bytes(ql_session *s) {
  size_t n = 0;
  if (!s || !s->rs_lock_ok) return 0;
  pthread_mutex_lock(&s->rs_lock);
  for (const ql_runstate *rs = s->rs_free; rs; rs = rs->next)
    if (rs->arena_bytes > n) n = rs->arena_bytes;
  pthread_mutex_unlock(&s->rs_lock);
  return n;
}

void ql_session_free(ql_session *s) {
  if (!s) return;
  while (s->rs_free) {
    ql_runstate *rs = s->rs_free;
    s->rs_free = rs->next;
    rs_free(rs);
  }
  if (s->rs_lock_ok) pthread_mutex_destroy(&s->rs_lock);
  plan_free(s->plan);
  ql_threadpool_free(s->cfg.pool);
  ql_graph_free(s->graph);
  ql_free(s);
}

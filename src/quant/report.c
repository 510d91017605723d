/* Where the accuracy went: the float and the quantized model run side by
 * side on the same samples; each quantized tensor's dequantized value is
 * compared with the float tensor it stands for (found from the Q -> DQ
 * pairs of the quantized graph), and each graph output with its float twin.
 * SQNR = 10 log10(sum x^2 / sum (x - x~)^2). */
#include "report.h"
#include "../common/strmap.h"
#include "../runtime/runtime.h"
#include <math.h>

double ql_sqnr_db(double signal, double noise) {
  if (noise <= 0) return INFINITY;
  if (signal <= 0) return -INFINITY;
  return 10.0 * log10(signal / noise);
}

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

typedef struct {
  ql_strmap fidx;   /* float name -> stat index */
  ql_strmap qidx;   /* quantized name -> stat index */
  ql_strmap qqidx;  /* QuantizeLinear output name -> stat index */
  uint8_t *done;    /* this sample's quantized value is counted already */
  ql_qreport *r;
  ql_tensor **held; /* float values of the current sample */
  int hist_ready;   /* histogram ranges are known (after the first sample) */
} eval_state;

static int hist_bin(double v, double lo, double w) {
  double b = w > 0 ? (v - lo) / w : 32;
  if (!(b >= 0)) return 0; /* NaN too */
  return b > 63 ? 63 : (int)b;
}

static int float_obs(void *ctx, const char *name, const ql_tensor *t) {
  eval_state *e = ctx;
  int k = ql_strmap_get(&e->fidx, name);
  if (k < 0 || t->dtype != QL_FLOAT) return 0;
  ql_tensor_free(e->held[k]);
  e->held[k] = NULL;
  ql_error err;
  if (ql_tensor_clone(t, &e->held[k], &err)) return 1;
  if (!e->hist_ready) return 0;
  ql_qstat *s = &e->r->tensors[k];
  const float *x = t->data;
  double w = ((double)s->obs_max - s->obs_min) / 64.0;
  for (int64_t i = 0; i < t->numel; i++) s->hist[hist_bin(x[i], s->obs_min, w)] += 1;
  return 0;
}

static void accumulate(const ql_tensor *ref, const ql_tensor *got, double *sig, double *noise, double *maxabs) {
  if (!ref || !got || ref->numel != got->numel || ref->dtype != QL_FLOAT || got->dtype != QL_FLOAT) return;
  const float *a = ref->data, *b = got->data;
  for (int64_t i = 0; i < ref->numel; i++) {
    double d = (double)a[i] - (double)b[i];
    *sig += (double)a[i] * a[i];
    *noise += d * d;
    if (fabs(d) > *maxabs) *maxabs = fabs(d);
  }
}

/* A quantized value: the DequantizeLinear output, or, in a session whose
 * fusion replaced DQ -> op -> Q by an integer op (the DQ output never
 * exists), the Q output dequantized here as DequantizeLinear does. */
static int quant_obs(void *ctx, const char *name, const ql_tensor *t) {
  eval_state *e = ctx;
  int k = ql_strmap_get(&e->qidx, name), from_q = 0;
  if (k < 0 && (k = ql_strmap_get(&e->qqidx, name)) >= 0) from_q = 1;
  if (k < 0 || e->done[k]) return 0;
  ql_qstat *s = &e->r->tensors[k];
  ql_tensor *ref = e->held[k], *deq = NULL;
  if (from_q) {
    if (!isfinite(s->scale) || !isfinite(s->zp) || t->dtype == QL_FLOAT) return 0;
    ql_error err;
    if (ql_tensor_create(QL_FLOAT, t->rank, t->dims, &deq, &err)) return 1;
    for (int64_t i = 0; i < t->numel; i++)
      ((float *)deq->data)[i] = (float)(ql_load_i64(t->dtype, t->data, i) - (int64_t)s->zp) * s->scale;
    t = deq;
  }
  e->done[k] = 1;
  if (ref && ref->dtype == QL_FLOAT && (s->clip_lo > -INFINITY || s->clip_hi < INFINITY)) {
    float *x = ref->data; /* what the Relu/Clip passes on */
    for (int64_t i = 0; i < ref->numel; i++) x[i] = x[i] < s->clip_lo ? s->clip_lo : x[i] > s->clip_hi ? s->clip_hi : x[i];
  }
  accumulate(ref, t, &s->signal, &s->noise, &s->max_abs);
  ql_tensor_free(deq);
  return 0;
}

/* The bounds of the Relu/Clip that is the only reader of `name` in the
 * float model (-inf, inf when there is none). */
static void activation_bounds(const ql_graph *g, const char *name, float *lo, float *hi) {
  const ql_node *only = NULL;
  int n = 0;
  *lo = -INFINITY;
  *hi = INFINITY;
  for (size_t i = 0; i < g->n_nodes; i++)
    for (size_t k = 0; k < g->nodes[i]->n_inputs; k++)
      if (!strcmp(g->nodes[i]->inputs[k], name)) {
        n++;
        only = g->nodes[i];
      }
  for (size_t i = 0; i < g->n_outputs; i++) n += !strcmp(g->outputs[i].name, name);
  if (n != 1 || !only || strcmp(only->inputs[0], name)) return;
  if (!strcmp(only->op_type, "Relu")) *lo = 0;
  else if (!strcmp(only->op_type, "Clip")) {
    const ql_attr *a = ql_node_attr(only, "min"), *b = ql_node_attr(only, "max");
    if (a) *lo = a->f;
    if (b) *hi = b->f;
    for (size_t k = 1; k < 3 && k < only->n_inputs; k++) {
      const ql_tensor *t = *only->inputs[k] ? ql_graph_find_init(g, only->inputs[k]) : NULL;
      if (t && t->numel == 1) *(k == 1 ? lo : hi) = (float)ql_tensor_get_f64(t, 0);
    }
  }
}

static const ql_node *producer(const ql_graph *g, const char *name, int *order) {
  for (size_t i = 0; i < g->n_nodes; i++)
    for (size_t k = 0; k < g->nodes[i]->n_outputs; k++)
      if (!strcmp(g->nodes[i]->outputs[k], name)) {
        *order = (int)i;
        return g->nodes[i];
      }
  *order = -1;
  return NULL;
}

static float scalar_of(const ql_graph *g, const char *name) {
  const ql_tensor *t = ql_graph_find_init(g, name);
  return t && t->numel == 1 ? (float)ql_tensor_get_f64(t, 0) : NAN;
}

/* (float name, dequantized name, range) for every Q -> DQ pair */
static ql_status find_pairs(const ql_model *fm, const ql_model *qm, ql_qreport *r) {
  const ql_graph *g = qm->graph;
  size_t cap = 0;
  for (size_t i = 0; i < g->n_nodes; i++) {
    const ql_node *q = g->nodes[i];
    if (strcmp(q->op_type, "QuantizeLinear") || q->n_inputs < 2) continue;
    for (size_t j = 0; j < g->n_nodes; j++) {
      const ql_node *d = g->nodes[j];
      if (strcmp(d->op_type, "DequantizeLinear") || !d->n_inputs || strcmp(d->inputs[0], q->outputs[0])) continue;
      const char *fname = ends_with(q->inputs[0], "_QuantizeLinear_Input") ? d->outputs[0] : q->inputs[0];
      int order;
      const ql_node *p = producer(fm->graph, fname, &order);
      if (!p && !ql_graph_find_init(fm->graph, fname)) {
        int is_input = 0;
        for (size_t k = 0; k < fm->graph->n_inputs; k++) is_input |= !strcmp(fm->graph->inputs[k].name, fname);
        if (!is_input) continue;
      }
      if (ql_grow((void **)&r->tensors, &cap, r->n_tensors + 1, sizeof *r->tensors)) return QL_ERR_OUT_OF_MEMORY;
      ql_qstat *s = &r->tensors[r->n_tensors];
      memset(s, 0, sizeof *s);
      r->n_tensors++;
      if (!(s->name = ql_strdup(fname)) || !(s->qname = ql_strdup(d->outputs[0])) || !(s->qqname = ql_strdup(q->outputs[0])) ||
          !(s->node = ql_strdup(p ? p->name : "")) || !(s->op_type = ql_strdup(p ? p->op_type : "input")))
        return QL_ERR_OUT_OF_MEMORY;
      s->order = order;
      activation_bounds(fm->graph, fname, &s->clip_lo, &s->clip_hi);
      float sc = scalar_of(g, q->inputs[1]);
      float zp = q->n_inputs > 2 ? scalar_of(g, q->inputs[2]) : 0;
      const ql_tensor *zt = q->n_inputs > 2 ? ql_graph_find_init(g, q->inputs[2]) : NULL;
      int64_t lo = 0, hi = 255;
      if (zt) ql_dtype_int_range(zt->dtype, &lo, &hi);
      s->scale = sc;
      s->zp = zp;
      s->rmin = ((float)lo - zp) * sc;
      s->rmax = ((float)hi - zp) * sc;
      break;
    }
  }
  return QL_OK;
}

ql_status ql_quant_evaluate(const ql_model *fm, const ql_model *qm, const ql_samples *eval, int threads,
                            ql_qreport *r, ql_error *err) {
  memset(r, 0, sizeof *r);
  ql_session *fs = NULL, *qs = NULL;
  ql_session_options so = {.threads = threads};
  eval_state e = {.r = r};
  ql_tensor **fo = NULL, **qo = NULL, **inb = NULL;
  ql_status st = find_pairs(fm, qm, r);
  if (st) return ql_errf(err, st, "out of memory");
  if ((st = ql_session_create(fm, &so, &fs, err)) || (st = ql_session_create(qm, &so, &qs, err))) goto done;
  size_t no = ql_session_output_count(fs);
  if (no != ql_session_output_count(qs)) {
    st = ql_errf(err, QL_ERR_INVALID_ARGUMENT, "the models have different numbers of outputs");
    goto done;
  }
  r->n_outputs = no;
  r->outputs = ql_calloc(no + 1, sizeof *r->outputs);
  e.held = ql_calloc(r->n_tensors + 1, sizeof *e.held);
  e.done = ql_calloc(r->n_tensors + 1, 1);
  fo = ql_calloc(no + 1, sizeof *fo);
  qo = ql_calloc(no + 1, sizeof *qo);
  if (!r->outputs || !e.held || !e.done || !fo || !qo) {
    st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  for (size_t j = 0; j < no; j++)
    if (!(r->outputs[j].name = ql_strdup(ql_session_output_name(fs, j)))) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "oom");
  /* extremes for the report histograms: a first float pass */
  for (size_t k = 0; k < r->n_tensors && !st; k++) {
    r->tensors[k].obs_min = INFINITY;
    r->tensors[k].obs_max = -INFINITY;
    if (ql_strmap_put(&e.fidx, r->tensors[k].name, (int)k) || ql_strmap_put(&e.qidx, r->tensors[k].qname, (int)k) ||
        ql_strmap_put(&e.qqidx, r->tensors[k].qqname, (int)k))
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  inb = ql_calloc(eval->n_inputs + 1, sizeof *inb);
  if (!inb) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; i < eval->n && !st; i++) {
    if ((st = ql_samples_get(eval, i, inb, err))) break;
    const ql_tensor *const *in = (const ql_tensor *const *)inb;
    /* graph inputs are not produced by a node */
    for (size_t k = 0; k < eval->n_inputs; k++) float_obs(&e, ql_session_input_name(fs, k), in[k]);
    st = ql_session_run_observed(fs, in, eval->n_inputs, fo, no, float_obs, &e, err);
    if (st) {
      ql_samples_release(eval, inb);
      break;
    }
    if (i == 0)
      for (size_t k = 0; k < r->n_tensors; k++) { /* histogram range: the first sample's extremes, widened */
        const ql_tensor *t = e.held[k];
        ql_qstat *s = &r->tensors[k];
        memset(s->hist, 0, sizeof s->hist);
        for (int64_t x = 0; t && x < t->numel; x++) {
          float v = ((const float *)t->data)[x];
          if (v < s->obs_min) s->obs_min = v;
          if (v > s->obs_max) s->obs_max = v;
        }
        if (s->rmin < s->obs_min) s->obs_min = s->rmin;
        if (s->rmax > s->obs_max) s->obs_max = s->rmax;
        if (!(s->obs_min <= s->obs_max)) s->obs_min = s->obs_max = 0;
        double lo = s->obs_min, hi = s->obs_max, w = (hi - lo) / 64.0;
        (void)hi;
        for (int64_t x = 0; t && x < t->numel; x++) s->hist[hist_bin(((const float *)t->data)[x], lo, w)] += 1;
      }
    e.hist_ready = 1;
    memset(e.done, 0, r->n_tensors);
    for (size_t k = 0; k < eval->n_inputs; k++) quant_obs(&e, ql_session_input_name(qs, k), in[k]);
    st = ql_session_run_observed(qs, in, eval->n_inputs, qo, no, quant_obs, &e, err);
    ql_samples_release(eval, inb);
    for (size_t j = 0; j < no && !st; j++) {
      ql_qoutput *o = &r->outputs[j];
      accumulate(fo[j], qo[j], &o->signal, &o->noise, &o->max_abs);
      const ql_tensor *a = fo[j], *b = qo[j];
      if (a->dtype == QL_FLOAT && b->dtype == QL_FLOAT && a->numel == b->numel && a->rank == 2 && a->dims[1] > 1) {
        int64_t C = a->dims[1];
        for (int64_t row = 0; row < a->dims[0]; row++) {
          const float *x = (const float *)a->data + row * C, *y = (const float *)b->data + row * C;
          int64_t ax = 0, ay = 0;
          for (int64_t c = 1; c < C; c++) {
            if (x[c] > x[ax]) ax = c;
            if (y[c] > y[ay]) ay = c;
          }
          o->top1_agree += ax == ay;
          o->top1_total++;
        }
      }
    }
    for (size_t j = 0; j < no; j++) {
      ql_tensor_free(fo[j]);
      ql_tensor_free(qo[j]);
      fo[j] = qo[j] = NULL;
    }
    r->n_samples++;
  }
done:
  ql_free(inb);
  for (size_t k = 0; e.held && k < r->n_tensors; k++) ql_tensor_free(e.held[k]);
  ql_free(e.held);
  ql_free(fo);
  ql_free(qo);
  ql_strmap_free(&e.fidx);
  ql_strmap_free(&e.qidx);
  ql_strmap_free(&e.qqidx);
  ql_free(e.done);
  ql_session_free(fs);
  ql_session_free(qs);
  if (st) ql_qreport_free(r);
  return st;
}

void ql_qreport_free(ql_qreport *r) {
  for (size_t j = 0; j < r->n_outputs; j++) ql_free(r->outputs[j].name);
  for (size_t k = 0; k < r->n_tensors; k++) {
    ql_free(r->tensors[k].name);
    ql_free(r->tensors[k].qname);
    ql_free(r->tensors[k].qqname);
    ql_free(r->tensors[k].node);
    ql_free(r->tensors[k].op_type);
  }
  ql_free(r->outputs);
  ql_free(r->tensors);
  memset(r, 0, sizeof *r);
}

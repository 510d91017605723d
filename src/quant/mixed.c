/* Accuracy-driven mixed precision: which activations and weights stay in float so that
 * the outputs reach a target SQNR (--target-sqnr).
 *
 * Rounding noise from different activations is close to independent, so an
 * output's noise power is close to the sum of what each quantized activation
 * adds alone. That makes one measurement per activation enough to rank them
 * by what they cost each output; a search that re-quantizes the whole model
 * for every candidate and every step would cost the square. What is left
 * with every candidate float (nothing, unless --exclude left something odd)
 * is measured once and taken off each share. The sum is only a prediction (noises correlate through Relu and
 * clipping), so the chosen set is run and extended while it falls short. */
#include <math.h>
#include <string.h>

#include "../common/strmap.h"
#include "quant.h"
#include "report.h"

void ql_strlist_free(char **l) {
  for (size_t i = 0; l && l[i]; i++) ql_free(l[i]);
  ql_free(l);
}

typedef struct {
  const ql_samples *probe;
  ql_tensor ***ref; /* float outputs per probe sample */
  size_t no;
  int threads;
  double *signal;   /* per output, over the probe */
} probe_set;

/* The noise power of each output of qm against the float outputs. */
static ql_status probe_noise(const probe_set *p, const ql_model *qm, double *noise, ql_error *err) {
  ql_session *s = NULL;
  ql_session_options so = {.threads = p->threads};
  ql_status st = ql_session_create(qm, &so, &s, err);
  ql_tensor **in = ql_calloc(p->probe->n_inputs + 1, sizeof *in), **out = ql_calloc(p->no + 1, sizeof *out);
  if (!st && (!in || !out)) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  memset(noise, 0, p->no * sizeof *noise);
  for (size_t i = 0; i < p->probe->n && !st; i++) {
    if ((st = ql_samples_get(p->probe, i, in, err))) break;
    st = ql_session_run(s, (const ql_tensor *const *)in, p->probe->n_inputs, out, p->no, err);
    ql_samples_release(p->probe, in);
    for (size_t j = 0; j < p->no; j++) {
      const ql_tensor *a = p->ref[i][j], *b = out[j];
      if (!st && a && b && a->dtype == QL_FLOAT && b->dtype == QL_FLOAT && a->numel == b->numel)
        for (int64_t k = 0; k < a->numel; k++) {
          double d = (double)((const float *)a->data)[k] - ((const float *)b->data)[k];
          noise[j] += d * d;
        }
      ql_tensor_free(out[j]);
      out[j] = NULL;
    }
  }
  ql_free(in);
  ql_free(out);
  ql_session_free(s);
  return st;
}

static ql_status quantize_keeping(const ql_model *folded, const ql_ranges *ranges, const ql_quant_options *o,
                                  const char *const *keep, size_t n_keep, ql_model **qm, ql_error *err) {
  ql_quant_options k = *o;
  k.keep_float = keep;
  k.n_keep_float = n_keep;
  k.bias_correction = 0; /* a ranking does not need it, and it costs a run per layer level */
  k.format = QL_QFORMAT_QDQ;
  return ql_quant_apply(folded, ranges, NULL, &k, qm, err);
}

static double worst_db(const probe_set *p, const double *noise, size_t *which) {
  double w = INFINITY;
  for (size_t j = 0; j < p->no; j++) {
    double d = ql_sqnr_db(p->signal[j], noise[j]);
    if (d < w) {
      w = d;
      if (which) *which = j;
    }
  }
  return w;
}

/* The candidate not in `skip` with the largest share of output wo (n when none). */
static size_t largest(const double *share, const uint8_t *skip, size_t n, size_t no, size_t wo) {
  size_t best = n;
  for (size_t c = 0; c < n; c++)
    if (!skip[c] && (best == n || share[c * no + wo] > share[best * no + wo])) best = c;
  return best;
}

ql_status ql_quant_target_sqnr(const ql_model *folded, const ql_ranges *ranges, const ql_samples *probe,
                               const ql_quant_options *o, double target_db, char ***kept, double *got_db,
                               ql_error *err) {
  *kept = NULL;
  *got_db = -INFINITY;
  probe_set p = {.probe = probe, .threads = o->threads};
  ql_session *fs = NULL;
  ql_model *qm = NULL;
  char **cand = NULL;     /* what the all-int8 model quantizes */
  size_t n_cand = 0, cap = 0;
  const char **keep = NULL;
  double *share = NULL, *base = NULL, *noise = NULL;
  uint8_t *in_float = NULL;
  ql_tensor **in = NULL;
  ql_session_options so = {.threads = o->threads};
  ql_status st = ql_session_create(folded, &so, &fs, err);
  if (st) return st;
  p.no = ql_session_output_count(fs);
  p.ref = ql_calloc(probe->n + 1, sizeof *p.ref);
  p.signal = ql_calloc(p.no + 1, sizeof *p.signal);
  in = ql_calloc(probe->n_inputs + 1, sizeof *in);
  base = ql_calloc(p.no + 1, sizeof *base);
  noise = ql_calloc(p.no + 1, sizeof *noise);
  if (!p.ref || !p.signal || !in || !base || !noise) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; i < probe->n && !st; i++) {
    if (!(p.ref[i] = ql_calloc(p.no + 1, sizeof **p.ref))) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    if (st || (st = ql_samples_get(probe, i, in, err))) break;
    st = ql_session_run(fs, (const ql_tensor *const *)in, probe->n_inputs, p.ref[i], p.no, err);
    ql_samples_release(probe, in);
    for (size_t j = 0; j < p.no && !st; j++) {
      const ql_tensor *a = p.ref[i][j];
      for (int64_t k = 0; a && a->dtype == QL_FLOAT && k < a->numel; k++)
        p.signal[j] += (double)((const float *)a->data)[k] * ((const float *)a->data)[k];
    }
  }
  ql_session_free(fs);
  /* the candidates: every activation the all-int8 model quantizes, and the
   * weights (a weight kept in float keeps its bias in float) */
  if (!st) st = quantize_keeping(folded, ranges, o, NULL, 0, &qm, err);
  for (size_t i = 0; !st && i < qm->graph->n_nodes; i++) {
    const ql_node *n = qm->graph->nodes[i];
    if (strcmp(n->op_type, "QuantizeLinear") || !n->n_inputs || ql_graph_find_init(qm->graph, n->inputs[0])) continue;
    if (ql_grow((void **)&cand, &cap, n_cand + 1, sizeof *cand) || !(cand[n_cand++] = ql_strdup(n->inputs[0])))
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (size_t i = 0; !st && i < folded->graph->n_nodes; i++) {
    const ql_node *n = folded->graph->nodes[i];
    const ql_tensor *w = n->n_inputs > 1 ? ql_graph_find_init(folded->graph, n->inputs[1]) : NULL;
    if (!w || w->dtype != QL_FLOAT || *ql_domain_canon(n->domain) ||
        (strcmp(n->op_type, "Conv") && strcmp(n->op_type, "ConvTranspose") && strcmp(n->op_type, "Gemm") &&
         strcmp(n->op_type, "MatMul")))
      continue;
    if (ql_grow((void **)&cand, &cap, n_cand + 1, sizeof *cand) || !(cand[n_cand++] = ql_strdup(n->inputs[1])))
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  if (!st) st = probe_noise(&p, qm, noise, err);
  ql_model_free(qm);
  qm = NULL;
  if (!st && worst_db(&p, noise, NULL) >= target_db) {
    *got_db = worst_db(&p, noise, NULL);
    goto done; /* nothing to keep */
  }
  keep = ql_calloc(n_cand + 1, sizeof *keep);
  share = ql_calloc(n_cand * p.no + 1, sizeof *share);
  in_float = ql_calloc(n_cand + 1, 1);
  if (!st && (!keep || !share || !in_float)) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  /* every candidate float (the base), then each candidate alone */
  for (size_t c = 0; c <= n_cand && !st; c++) {
    size_t nk = 0;
    for (size_t j = 0; j < n_cand; j++)
      if (j + 1 != c) keep[nk++] = cand[j];
    if ((st = quantize_keeping(folded, ranges, o, keep, nk, &qm, err)) ||
        (st = probe_noise(&p, qm, c ? noise : base, err)))
      break;
    ql_model_free(qm);
    qm = NULL;
    for (size_t j = 0; c && j < p.no; j++) share[(c - 1) * p.no + j] = fmax(0.0, noise[j] - base[j]);
    if (o->progress) ql_progress("mixed precision: one tensor at a time", c + 1, n_cand + 1);
  }
  if (o->progress && !st) {
    /* where the noise comes from: the five largest shares of the all-int8 model's worst output */
    size_t wo = 0;
    for (size_t j = 0; j < p.no; j++) noise[j] = base[j];
    for (size_t c = 0; c < n_cand; c++)
      for (size_t j = 0; j < p.no; j++) noise[j] += share[c * p.no + j];
    worst_db(&p, noise, &wo);
    fprintf(stderr, "mixed precision: largest noise shares of output %zu (SQNR each would give alone):\n", wo);
    for (size_t r = 0; r < 5 && r < n_cand; r++) {
      size_t best = largest(share, in_float, n_cand, p.no, wo);
      in_float[best] = 1; /* marks what is shown; cleared below */
      fprintf(stderr, "  %-40s %7.2f dB\n", cand[best], ql_sqnr_db(p.signal[wo], share[best * p.no + wo]));
    }
    memset(in_float, 0, n_cand);
  }
  /* keep the largest share of the worst predicted output in float until the
   * prediction meets the target; then run it, and go on while it falls short */
  size_t nk = 0;
  while (!st) {
    for (size_t j = 0; j < p.no; j++) {
      noise[j] = base[j];
      for (size_t c = 0; c < n_cand; c++)
        if (!in_float[c]) noise[j] += share[c * p.no + j];
    }
    size_t wo = 0;
    double predicted = worst_db(&p, noise, &wo);
    int all = nk == n_cand;
    if (predicted >= target_db || all) {
      if ((st = quantize_keeping(folded, ranges, o, keep, nk, &qm, err)) || (st = probe_noise(&p, qm, noise, err)))
        break;
      ql_model_free(qm);
      qm = NULL;
      *got_db = worst_db(&p, noise, &wo);
      if (o->progress)
        fprintf(stderr, "mixed precision: %zu of %zu tensors kept in %s: worst output %.2f dB (predicted %.2f)\n",
                nk, n_cand, o->keep_int16 ? "int16" : "float", *got_db, predicted);
      if (*got_db >= target_db || all) break;
      /* the prediction was optimistic: the largest share of the measured worst output goes next */
    }
    size_t best = largest(share, in_float, n_cand, p.no, wo);
    in_float[best] = 1;
    keep[nk++] = cand[best];
  }
  if (!st) {
    if (!(*kept = ql_calloc(nk + 1, sizeof **kept))) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < nk && !st; i++)
      if (!((*kept)[i] = ql_strdup(keep[i]))) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
done:
  if (st) {
    ql_strlist_free(*kept);
    *kept = NULL;
  }
  ql_model_free(qm);
  for (size_t i = 0; i < probe->n && p.ref; i++)
    for (size_t j = 0; p.ref[i] && j < p.no; j++) ql_tensor_free(p.ref[i][j]);
  for (size_t i = 0; i < probe->n && p.ref; i++) ql_free(p.ref[i]);
  ql_free(p.ref);
  ql_free(p.signal);
  for (size_t c = 0; c < n_cand; c++) ql_free(cand[c]);
  ql_free(cand);
  ql_free(keep);
  ql_free(share);
  ql_free(base);
  ql_free(noise);
  ql_free(in_float);
  ql_free(in);
  return st;
}

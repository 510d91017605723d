/* Calibration: the float model runs over the samples on qlinear's own
 * runtime while an observer records what each watched tensor holds.
 * MinMax needs one pass. Entropy and Percentile need a histogram over the
 * final range; ONNX Runtime builds it in one shot over all samples, which
 * costs memory proportional to the sample count. We take two passes instead
 * (extremes first, then the histogram over exactly the range ORT would use),
 * so memory is bounded by the histogram size. */
#include "../common/strmap.h"
#include "../runtime/runtime.h"
#include "quant.h"
#include <math.h>
#include <stdio.h>

typedef struct {
  ql_strmap idx;
  ql_ranges *rs;
  int pass;            /* 1: extremes, 2: histogram */
  int absolute;        /* histogram of |x| (symmetric percentile) */
  int zeros_apart;     /* MSE: exact zeros counted apart (they quantize exactly) */
  double *abs_min, *abs_max;
} cal_state;

static void observe(cal_state *c, size_t k, const ql_tensor *t) {
  ql_range *r = &c->rs->r[k];
  if (t->dtype != QL_FLOAT) return;
  r->seen_float = 1;
  r->rank = t->rank;
  if (t->numel == 0) return;
  const float *x = t->data;
  if (c->pass == 1) {
    float mn = INFINITY, mx = -INFINITY;
    double amn = INFINITY, amx = 0;
    for (int64_t i = 0; i < t->numel; i++) {
      float v = x[i];
      if (v != v) continue; /* nanmin/nanmax */
      if (v < mn) mn = v;
      if (v > mx) mx = v;
      double a = fabs((double)v);
      if (a < amn) amn = a;
      if (a > amx) amx = a;
    }
    if (mn <= mx) {
      if (mn < r->obs_min) r->obs_min = mn;
      if (mx > r->obs_max) r->obs_max = mx;
      if (amn < c->abs_min[k]) c->abs_min[k] = amn;
      if (amx > c->abs_max[k]) c->abs_max[k] = amx;
    }
    return;
  }
  /* np.histogram with uniform bins: index = floor((v - lo) * n / (hi - lo)),
   * the top edge belongs to the last bin, values outside are dropped */
  double lo = r->hist_lo, hi = r->hist_hi, n = (double)r->nbins;
  if (!(hi > lo)) {
    r->hist[r->nbins / 2] += (double)t->numel;
    return;
  }
  double norm = n / (hi - lo);
  for (int64_t i = 0; i < t->numel; i++) {
    double v = c->absolute ? fabs((double)x[i]) : (double)x[i];
    if (c->zeros_apart && v == 0) {
      r->zeros += 1;
      continue;
    }
    if (!(v >= lo && v <= hi)) continue;
    size_t b = (size_t)((v - lo) * norm);
    if (b >= r->nbins) b = r->nbins - 1;
    r->hist[b] += 1;
  }
}

static int observer_cb(void *ctx, const char *name, const ql_tensor *t) {
  cal_state *c = ctx;
  int k = ql_strmap_get(&c->idx, name);
  if (k >= 0) observe(c, (size_t)k, t);
  return 0;
}

static ql_status run_pass(ql_session *s, const ql_samples *smp, cal_state *c, const ql_quant_options *o,
                          const char *label, ql_error *err) {
  ql_status st = QL_OK;
  for (size_t i = 0; i < smp->n && !st; i++) {
    /* one sample in memory at a time */
    st = ql_samples_run_observed(s, smp, i, 1, observer_cb, c, err);
    if (st && smp->paths) ql_err_prefix(err, "%s", smp->paths[i]); /* a path is not a format */
    if (o->progress) ql_progress(label, i + 1, smp->n);
  }
  if (st) ql_err_prefix(err, "calibration sample");
  return st;
}

/* ORT HistogramCollector.compute_percentile */
static void percentile_range(ql_range *r, double pct, int symmetric) {
  double total = 0;
  for (size_t b = 0; b < r->nbins; b++) total += r->hist[b];
  double width = (r->hist_hi - r->hist_lo) / (double)r->nbins;
  double cdf = 0;
  size_t right = r->nbins, left = r->nbins;
  double tr = symmetric ? pct / 100.0 : 1.0 - (100.0 - pct) / 200.0;
  double tl = (100.0 - pct) / 200.0;
  for (size_t b = 0; b < r->nbins; b++) {
    cdf += r->hist[b] / total;
    /* np.searchsorted(cdf, v): first index with cdf >= v */
    if (left == r->nbins && cdf >= tl) left = b;
    if (right == r->nbins && cdf >= tr) right = b;
  }
  float edge_r = (float)(r->hist_lo + (double)right * width);
  float edge_l = (float)(r->hist_lo + (double)left * width);
  if (symmetric) {
    r->rmin = -edge_r;
    r->rmax = edge_r;
  } else {
    r->rmin = edge_l;
    r->rmax = edge_r;
  }
  if (r->rmin < r->obs_min) r->rmin = r->obs_min;
  if (r->rmax > r->obs_max) r->rmax = r->obs_max;
}

/* MSE: the range [f * lo, f * hi] (f in (0, 1], the observed range with 0
 * inside) whose quantization has the least expected squared error on the
 * histogram: a value inside the range costs the uniform rounding noise
 * scale^2 / 12, one outside costs its distance to the range's end squared,
 * an exact zero nothing (zero is always representable). MinMax ranges are
 * set by a few extreme values; most tensors after a Relu or a 1x1 Conv have
 * a long thin tail, and spending fewer levels on it rounds the bulk more
 * finely (e.g. YuNet's equalized depthwise inputs gain 1-2 dB each). The
 * ends scale together so that the zero point stays where MinMax puts it. */
static void mse_range(ql_range *r, const ql_quant_options *o) {
  int64_t qmin, qmax;
  ql_qrange(o->activation_type, o->symmetric_activations, 0, &qmin, &qmax);
  double lo = r->hist_lo, hi = r->hist_hi, width = (hi - lo) / (double)r->nbins;
  if (!(hi > lo)) return;
  double best = INFINITY, best_f = 1;
  for (int step = 100; step >= 1; step--) {
    double f = step / 100.0;
    float cmin = (float)(lo * f), cmax = (float)(hi * f), sc;
    int64_t zp;
    ql_compute_scale_zp(cmin, cmax, qmin, qmax, o->symmetric_activations, &sc, &zp);
    double elo = ((double)qmin - (double)zp) * sc, ehi = ((double)qmax - (double)zp) * sc;
    double noise = (double)sc * (double)sc / 12.0, e = 0;
    for (size_t b = 0; b < r->nbins; b++) {
      double n = r->hist[b];
      if (!n) continue;
      double v = lo + ((double)b + 0.5) * width;
      if (v < elo) e += n * ((elo - v) * (elo - v));
      else if (v > ehi) e += n * ((v - ehi) * (v - ehi));
      else e += n * noise;
    }
    if (e < best) { /* ties keep the wider range */
      best = e;
      best_f = f;
    }
  }
  r->rmin = (float)(lo * best_f);
  r->rmax = (float)(hi * best_f);
  if (best_f == 1) {
    r->rmin = r->obs_min;
    r->rmax = r->obs_max;
  }
}

/* ORT smooth_distribution (float32 arithmetic as in numpy there) */
static int smooth(float *p, size_t n) {
  size_t nz = 0;
  for (size_t i = 0; i < n; i++) nz += p[i] == 0;
  size_t nnz = n - nz;
  if (!nnz) return -1;
  float eps = 0.0001f, eps1 = eps * (float)nz / (float)nnz;
  for (size_t i = 0; i < n; i++) p[i] += p[i] == 0 ? eps : -eps1;
  return 0;
}

/* ORT HistogramCollector.get_entropy_threshold (KL divergence search) */
static ql_status entropy_range(ql_range *r, size_t nq, ql_error *err) {
  size_t nb = r->nbins, zero = nb / 2, half = nq / 2;
  if (half > zero) half = zero;
  float *p = ql_malloc(sizeof(float) * (nb + 1)), *q = ql_malloc(sizeof(float) * (nb + 1));
  double *qb = ql_malloc(sizeof(double) * (nq + 1));
  if (!p || !q || !qb) {
    ql_free(p);
    ql_free(q);
    ql_free(qb);
    return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  double width = (r->hist_hi - r->hist_lo) / (double)nb, best = INFINITY;
  size_t best_i = half;
  for (size_t i = half; i <= zero; i++) {
    size_t start = zero - i, end = zero + i + 1 < nb ? zero + i + 1 : nb, len = end - start;
    double left = 0, right = 0;
    for (size_t b = 0; b < start; b++) left += r->hist[b];
    for (size_t b = end; b < nb; b++) right += r->hist[b];
    for (size_t b = 0; b < len; b++) p[b] = (float)r->hist[start + b];
    p[0] += (float)left;
    p[len - 1] += (float)right;
    size_t merged = len / nq;
    for (size_t k = 0; k < nq; k++) {
      qb[k] = 0;
      for (size_t b = k * merged; b < (k + 1) * merged; b++) qb[k] += r->hist[start + b];
    }
    for (size_t b = nq * merged; b < len; b++) qb[nq - 1] += r->hist[start + b];
    for (size_t b = 0; b < len; b++) q[b] = 0;
    for (size_t k = 0; k < nq; k++) {
      size_t s0 = k * merged, s1 = s0 + merged, norm = 0;
      for (size_t b = s0; b < s1; b++) norm += p[b] != 0; /* nonzeros of p before smoothing */
      if (norm)
        for (size_t b = s0; b < s1; b++) q[b] = (float)(int64_t)(qb[k] / (double)norm); /* int64 array in ORT */
    }
    double div;
    if (smooth(p, len) || smooth(q, len)) div = INFINITY;
    else {
      /* scipy.stats.entropy normalizes both */
      double sp = 0, sq = 0;
      for (size_t b = 0; b < len; b++) {
        sp += p[b];
        sq += q[b];
      }
      div = 0;
      for (size_t b = 0; b < len; b++) {
        double pb = p[b] / sp, qv = q[b] / sq;
        if (pb > 0) div += pb * log(pb / qv);
      }
    }
    if (div < best) {
      best = div;
      best_i = i;
    }
  }
  size_t start = zero - best_i, end = zero + best_i + 1 < nb ? zero + best_i + 1 : nb;
  r->rmin = (float)(r->hist_lo + (double)start * width);
  r->rmax = (float)(r->hist_lo + (double)end * width);
  if (r->rmin < r->obs_min) r->rmin = r->obs_min;
  if (r->rmax > r->obs_max) r->rmax = r->obs_max;
  ql_free(p);
  ql_free(q);
  ql_free(qb);
  return QL_OK;
}

ql_status ql_calibrate(const ql_model *m, const ql_samples *samples, const char *const *names, size_t n_names,
                       const ql_quant_options *o, ql_ranges *out, ql_error *err) {
  memset(out, 0, sizeof *out);
  if (!samples->n) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "the calibration set is empty");
  ql_session *s = NULL;
  ql_session_options so = {.threads = o->threads};
  cal_state c = {.rs = out, .pass = 1};
  ql_status st = ql_session_create(m, &so, &s, err);
  if (st) return st;
  if (ql_session_input_count(s) != samples->n_inputs) {
    st = ql_errf(err, QL_ERR_INVALID_ARGUMENT, "the model has %zu inputs, the calibration samples %zu",
                 ql_session_input_count(s), samples->n_inputs);
    goto done;
  }
  out->r = ql_calloc(n_names + 1, sizeof *out->r);
  c.abs_min = ql_calloc(n_names + 1, sizeof(double));
  c.abs_max = ql_calloc(n_names + 1, sizeof(double));
  if (!out->r || !c.abs_min || !c.abs_max) {
    st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  for (size_t k = 0; k < n_names; k++) {
    out->n = k + 1;
    if (!(out->r[k].name = ql_strdup(names[k])) || ql_strmap_put(&c.idx, out->r[k].name, (int)k)) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      goto done;
    }
    out->r[k].obs_min = INFINITY;
    out->r[k].obs_max = -INFINITY;
    c.abs_min[k] = INFINITY;
  }
  if ((st = run_pass(s, samples, &c, o, "calibrating", err))) goto done;
  for (size_t k = 0; k < n_names; k++) {
    ql_range *r = &out->r[k];
    if (r->obs_min > r->obs_max) r->obs_min = r->obs_max = 0; /* never observed (or all NaN) */
    r->rmin = r->obs_min;
    r->rmax = r->obs_max;
  }
  if (o->method == QL_CALIB_MINMAX) goto done;
  int percentile = o->method == QL_CALIB_PERCENTILE, mse = o->method == QL_CALIB_MSE;
  c.absolute = percentile; /* ORT: percentile is symmetric by default, histogram of |x| */
  c.zeros_apart = mse;
  for (size_t k = 0; k < n_names; k++) {
    ql_range *r = &out->r[k];
    r->nbins = percentile || mse ? 2048 : 128;
    if (mse) {
      r->hist_lo = r->obs_min < 0 ? (double)r->obs_min : 0.0;
      r->hist_hi = r->obs_max > 0 ? (double)r->obs_max : 0.0;
    } else if (c.absolute) {
      r->hist_lo = c.abs_min[k] == INFINITY ? 0 : c.abs_min[k];
      r->hist_hi = c.abs_max[k];
    } else {
      double t = fabs((double)r->obs_min) > fabs((double)r->obs_max) ? fabs((double)r->obs_min) : fabs((double)r->obs_max);
      r->hist_lo = -(double)(float)t;
      r->hist_hi = (double)(float)t;
    }
    if (!(r->hist = ql_calloc(r->nbins, sizeof(double)))) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      goto done;
    }
  }
  c.pass = 2;
  if ((st = run_pass(s, samples, &c, o, "histograms ", err))) goto done;
  for (size_t k = 0; k < n_names && !st; k++) {
    if (percentile) percentile_range(&out->r[k], o->percentile, 1);
    else if (mse) mse_range(&out->r[k], o);
    else st = entropy_range(&out->r[k], 128, err);
  }
done:
  ql_strmap_free(&c.idx);
  ql_free(c.abs_min);
  ql_free(c.abs_max);
  ql_session_free(s);
  if (st) ql_ranges_free(out);
  return st;
}

const ql_range *ql_ranges_find(const ql_ranges *rs, const char *name) {
  for (size_t i = 0; i < rs->n; i++)
    if (!strcmp(rs->r[i].name, name)) return &rs->r[i];
  return NULL;
}

void ql_ranges_free(ql_ranges *rs) {
  for (size_t i = 0; i < rs->n; i++) {
    ql_free(rs->r[i].name);
    ql_free(rs->r[i].hist);
  }
  ql_free(rs->r);
  memset(rs, 0, sizeof *rs);
}

/* Recurrent layers: LSTM, GRU and RNN (one layer, forward / reverse /
 * bidirectional, layout 0 or 1, optional B, sequence_lens, initial states
 * and peepholes, clip, the ONNX activation list with alpha/beta).
 *
 * Computed in double, one batch row at a time. sequence_lens follows ONNX
 * Runtime: a row shorter than seq_length leaves its later Y steps at zero,
 * its final state is the one after its last valid step, and the reverse
 * direction starts at the row's own last valid step; a row of length 0 gets
 * zero final states. */
#include "op.h"
#include <ctype.h>
#include <math.h>

typedef enum { A_SIGMOID, A_TANH, A_RELU, A_AFFINE, A_LEAKYRELU, A_THRESHOLDEDRELU, A_SCALEDTANH, A_HARDSIGMOID,
               A_ELU, A_SOFTSIGN, A_SOFTPLUS } act_kind;

typedef struct act {
  act_kind k;
  double alpha, beta;
} act;

static double act_apply(const act *a, double x) {
  switch (a->k) {
  case A_SIGMOID: return 1 / (1 + exp(-x));
  case A_TANH: return tanh(x);
  case A_RELU: return x > 0 ? x : 0;
  case A_AFFINE: return a->alpha * x + a->beta;
  case A_LEAKYRELU: return x >= 0 ? x : a->alpha * x;
  case A_THRESHOLDEDRELU: return x >= a->alpha ? x : 0;
  case A_SCALEDTANH: return a->alpha * tanh(a->beta * x);
  case A_HARDSIGMOID: {
    double v = a->alpha * x + a->beta;
    return v < 0 ? 0 : v > 1 ? 1 : v;
  }
  case A_ELU: return x >= 0 ? x : a->alpha * (exp(x) - 1);
  case A_SOFTSIGN: return x / (1 + fabs(x));
  case A_SOFTPLUS: return log1p(exp(-fabs(x))) + (x > 0 ? x : 0);
  }
  return x;
}

/* Name table: which of alpha/beta each function takes, with defaults. */
static const struct {
  const char *name;
  act_kind k;
  int n_alpha, n_beta;
  double alpha, beta;
} k_acts[] = {
    {"sigmoid", A_SIGMOID, 0, 0, 0, 0},         {"tanh", A_TANH, 0, 0, 0, 0},
    {"relu", A_RELU, 0, 0, 0, 0},               {"affine", A_AFFINE, 1, 1, 1.0, 0.0},
    {"leakyrelu", A_LEAKYRELU, 1, 0, 0.01, 0},  {"thresholdedrelu", A_THRESHOLDEDRELU, 1, 0, 1.0, 0},
    {"scaledtanh", A_SCALEDTANH, 1, 1, 1.0, 1.0}, {"hardsigmoid", A_HARDSIGMOID, 1, 1, 0.2, 0.5},
    {"elu", A_ELU, 1, 0, 1.0, 0},               {"softsign", A_SOFTSIGN, 0, 0, 0, 0},
    {"softplus", A_SOFTPLUS, 0, 0, 0, 0},
};

/* Reads `activations` (per direction n_per functions, defaults def[]) and
 * hands out activation_alpha/beta in order to the functions that take them
 * (as ONNX Runtime does). */
static ql_status read_acts(ql_op_ctx *c, int nd, int n_per, const act_kind *def, act *out) {
  size_t na = 0, nal = 0, nbe = 0;
  const ql_attr *a = ql_node_attr(c->node, "activations");
  if (a && a->type == QL_ATTR_STRINGS) na = a->n;
  const float *al = ql_attr_floats(c->node, "activation_alpha", &nal);
  const float *be = ql_attr_floats(c->node, "activation_beta", &nbe);
  size_t ia = 0, ib = 0;
  if (na == 0) {
    for (int d = 0; d < nd; d++)
      for (int i = 0; i < n_per; i++) out[d * n_per + i] = (act){def[i], 0, 0};
    return QL_OK;
  }
  /* a unidirectional layer may list only its own functions */
  if (na != (size_t)(n_per * nd) && !(nd == 2 && na == (size_t)n_per))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "activations has %zu entries, expected %d", na, n_per * nd);
  for (int i = 0; i < n_per * nd; i++) {
    const char *s = a->strings[(size_t)i % na];
    char low[32];
    size_t l = 0;
    for (; s[l] && l < sizeof low - 1; l++) low[l] = (char)tolower((unsigned char)s[l]);
    low[l] = 0;
    size_t k;
    for (k = 0; k < sizeof k_acts / sizeof *k_acts; k++)
      if (!strcmp(low, k_acts[k].name)) break;
    if (k == sizeof k_acts / sizeof *k_acts)
      return ql_op_fail(c, QL_ERR_UNSUPPORTED, "activation '%s' is not supported", s);
    act v = {k_acts[k].k, k_acts[k].alpha, k_acts[k].beta};
    if (k_acts[k].n_alpha && al && ia < nal) v.alpha = al[ia++];
    if (k_acts[k].n_beta && be && ib < nbe) v.beta = be[ib++];
    out[i] = v;
  }
  return QL_OK;
}

typedef enum { CELL_LSTM, CELL_GRU, CELL_RNN } cell_kind;

static int float_type(ql_dtype t) { return t == QL_FLOAT || t == QL_DOUBLE || t == QL_FLOAT16 || t == QL_BFLOAT16; }

/* t must be [d0, d1, d2] (d2 < 0: any). */
static int shape3(const ql_tensor *t, int64_t d0, int64_t d1, int64_t d2) {
  return t->rank == 3 && t->dims[0] == d0 && t->dims[1] == d1 && (d2 < 0 || t->dims[2] == d2);
}

/* t as doubles in the op's scratch; NULL (c->err set) when out of memory. */
static double *load_all(ql_op_ctx *c, const ql_tensor *t) {
  double *v = ql_op_scratch(c, (size_t)t->numel * sizeof *v);
  if (v)
    for (int64_t i = 0; i < t->numel; i++) v[i] = ql_load_f64(t->dtype, t->data, i);
  return v;
}

static ql_status rnn_run(ql_op_ctx *c, cell_kind kind) {
  const int gates = kind == CELL_LSTM ? 4 : kind == CELL_GRU ? 3 : 1;
  const int n_act = kind == CELL_LSTM ? 3 : kind == CELL_GRU ? 2 : 1;
  const ql_tensor *X = ql_op_in(c, 0), *W = ql_op_in(c, 1), *R = ql_op_in(c, 2), *B = ql_op_in(c, 3),
                  *SL = ql_op_in(c, 4), *H0 = ql_op_in(c, 5), *C0 = kind == CELL_LSTM ? ql_op_in(c, 6) : NULL,
                  *P = kind == CELL_LSTM ? ql_op_in(c, 7) : NULL;
  if (!X || !W || !R) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs X, W and R are required");
  if (!float_type(X->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "X has type %s", ql_dtype_name(X->dtype));
  const ql_tensor *fl[] = {W, R, B, H0, C0, P};
  for (size_t i = 0; i < sizeof fl / sizeof *fl; i++)
    if (fl[i] && fl[i]->dtype != X->dtype) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs mix element types");
  const char *dir = ql_attr_string(c->node, "direction", "forward");
  int nd = !strcmp(dir, "bidirectional") ? 2 : 1, reverse_only = !strcmp(dir, "reverse");
  if (nd == 1 && !reverse_only && strcmp(dir, "forward"))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "unknown direction '%s'", dir);
  int layout = c->version >= 14 ? (int)ql_attr_int(c->node, "layout", 0) : 0;
  if (layout != 0 && layout != 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "layout must be 0 or 1");
  if (X->rank != 3) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X must be 3-D, got rank %d", X->rank);
  int64_t seq = layout ? X->dims[1] : X->dims[0], batch = layout ? X->dims[0] : X->dims[1], isz = X->dims[2];
  if (R->rank != 3) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "R must be 3-D");
  int64_t hs = R->dims[2];
  int64_t hs_attr = ql_attr_int(c->node, "hidden_size", hs);
  if (hs_attr != hs) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "hidden_size %lld does not match R", (long long)hs_attr);
  if (!shape3(W, nd, gates * hs, isz) || !shape3(R, nd, gates * hs, hs))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "W or R does not have shape [%d, %lld, input or hidden size]", nd,
                      (long long)(gates * hs));
  if (B && (B->rank != 2 || B->dims[0] != nd || B->dims[1] != 2 * gates * hs))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "B must have shape [%d, %lld]", nd, (long long)(2 * gates * hs));
  if (P && (P->rank != 2 || P->dims[0] != nd || P->dims[1] != 3 * hs))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "P must have shape [%d, %lld]", nd, (long long)(3 * hs));
  const ql_tensor *st0[2] = {H0, C0};
  for (int k = 0; k < 2; k++)
    if (st0[k] && !(layout ? shape3(st0[k], batch, nd, hs) : shape3(st0[k], nd, batch, hs)))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "initial_%c has the wrong shape", k ? 'c' : 'h');
  int64_t *lens = ql_op_scratch(c, (size_t)batch * sizeof *lens);
  if (!lens) return c->err->code;
  for (int64_t b = 0; b < batch; b++) lens[b] = seq;
  if (SL) {
    if (!ql_dtype_is_int(SL->dtype) || SL->numel != batch)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "sequence_lens must hold %lld integers", (long long)batch);
    for (int64_t b = 0; b < batch; b++) {
      lens[b] = ql_load_i64(SL->dtype, SL->data, b);
      if (lens[b] < 0 || lens[b] > seq)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "sequence_lens[%lld] = %lld is outside [0, %lld]", (long long)b,
                          (long long)lens[b], (long long)seq);
    }
  }
  act acts[6];
  static const act_kind def_lstm[] = {A_SIGMOID, A_TANH, A_TANH}, def_gru[] = {A_SIGMOID, A_TANH},
                        def_rnn[] = {A_TANH};
  ql_status s = read_acts(c, nd, n_act, kind == CELL_LSTM ? def_lstm : kind == CELL_GRU ? def_gru : def_rnn, acts);
  if (s) return s;
  double clip = 0;
  const ql_attr *ca = ql_node_attr(c->node, "clip");
  if (ca && ca->type == QL_ATTR_FLOAT) clip = ca->f;
  if (clip < 0 || clip != clip) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "clip must be positive");
  int input_forget = kind == CELL_LSTM && ql_attr_int(c->node, "input_forget", 0) != 0;
  int lbr = kind == CELL_GRU && ql_attr_int(c->node, "linear_before_reset", 0) != 0;

  /* outputs */
  int64_t ydims[4], sdims[3];
  if (layout) {
    ydims[0] = batch, ydims[1] = seq, ydims[2] = nd, ydims[3] = hs;
    sdims[0] = batch, sdims[1] = nd, sdims[2] = hs;
  } else {
    ydims[0] = seq, ydims[1] = nd, ydims[2] = batch, ydims[3] = hs;
    sdims[0] = nd, sdims[1] = batch, sdims[2] = hs;
  }
  ql_tensor *Y = NULL, *YH = NULL, *YC = NULL;
  const ql_node *n = c->node;
  int want[3] = {0};
  for (int i = 0; i < 3; i++) want[i] = (size_t)i < c->n_out && (size_t)i < n->n_outputs && n->outputs[i][0];
  if ((want[0] && !(Y = ql_op_output(c, 0, X->dtype, 4, ydims))) ||
      (want[1] && !(YH = ql_op_output(c, 1, X->dtype, 3, sdims))) ||
      (kind == CELL_LSTM && want[2] && !(YC = ql_op_output(c, 2, X->dtype, 3, sdims))))
    return c->err->code;
  double *x, *w, *r, *bb = NULL, *p = NULL, *h0 = NULL, *c0 = NULL;
  if (!(x = load_all(c, X)) || !(w = load_all(c, W)) || !(r = load_all(c, R)) || (B && !(bb = load_all(c, B))) ||
      (P && !(p = load_all(c, P))) || (H0 && !(h0 = load_all(c, H0))) || (C0 && !(c0 = load_all(c, C0))))
    return c->err->code;
  /* state, cell, gates and GRU's r (.) h: every entry is written before it
   * is read (h and cs per batch entry, g per step, rh per step) */
  double *h = ql_op_scratch(c, (size_t)(3 + gates) * (size_t)hs * sizeof *h);
  if (!h) return c->err->code;
  double *cs = h + hs, *rh = h + 2 * hs, *g = h + 3 * hs;
  for (int d = 0; d < nd; d++) {
    int rev = reverse_only || d == 1;
    const double *wd = w + (size_t)d * gates * hs * isz, *rd = r + (size_t)d * gates * hs * hs;
    const double *wb = bb ? bb + (size_t)d * 2 * gates * hs : NULL, *rb = wb ? wb + gates * hs : NULL;
    const double *pd = p ? p + (size_t)d * 3 * hs : NULL;
    const act *f = &acts[d * n_act];
    for (int64_t b = 0; b < batch; b++) {
      /* state index of (direction d, batch b) in layout 0 or 1 */
      int64_t si = layout ? (b * nd + d) * hs : (d * batch + b) * hs;
      for (int64_t j = 0; j < hs; j++) {
        h[j] = h0 ? h0[si + j] : 0;
        cs[j] = c0 ? c0[si + j] : 0;
      }
      for (int64_t step = 0; step < lens[b]; step++) {
        int64_t t = rev ? lens[b] - 1 - step : step;
        const double *xt = x + (layout ? (b * seq + t) : (t * batch + b)) * isz;
        /* g = x W^T + (h R^T, except the GRU hidden gate) + biases */
        for (int64_t q = 0; q < gates * hs; q++) {
          double v = 0;
          const double *wr = wd + q * isz;
          for (int64_t k = 0; k < isz; k++) v += xt[k] * wr[k];
          if (wb) v += wb[q];
          if (!(kind == CELL_GRU && q >= 2 * hs)) {
            const double *rr = rd + q * hs;
            for (int64_t k = 0; k < hs; k++) v += h[k] * rr[k];
            if (rb) v += rb[q];
          }
          g[q] = v;
        }
#define CLIP(v) (clip > 0 ? ((v) < -clip ? -clip : (v) > clip ? clip : (v)) : (v))
        if (kind == CELL_LSTM) {
          /* gate order i, o, f, c; peepholes P[i, o, f] */
          for (int64_t j = 0; j < hs; j++) {
            double gi = g[j] + (pd ? pd[j] * cs[j] : 0);
            double gf = g[2 * hs + j] + (pd ? pd[2 * hs + j] * cs[j] : 0);
            double it = act_apply(&f[0], CLIP(gi));
            double ft = input_forget ? 1 - it : act_apply(&f[0], CLIP(gf));
            double ct = act_apply(&f[1], CLIP(g[3 * hs + j]));
            cs[j] = ft * cs[j] + it * ct;
            double go = g[hs + j] + (pd ? pd[hs + j] * cs[j] : 0);
            double ot = act_apply(&f[0], CLIP(go));
            g[j] = ot * act_apply(&f[2], cs[j]); /* new h, kept aside until R used the old one */
          }
          for (int64_t j = 0; j < hs; j++) h[j] = g[j];
        } else if (kind == CELL_GRU) {
          /* gate order z, r, h */
          const double *rdh = rd + 2 * hs * hs;
          for (int64_t j = 0; j < hs; j++) {
            double rt = act_apply(&f[0], CLIP(g[hs + j]));
            double acc = 0;
            if (lbr) {
              for (int64_t k = 0; k < hs; k++) acc += h[k] * rdh[j * hs + k];
              if (rb) acc += rb[2 * hs + j];
              acc *= rt;
            } else {
              rh[j] = rt; /* r (.) H applied below, once every r is known */
            }
            g[hs + j] = lbr ? acc : rt;
          }
          if (!lbr) {
            for (int64_t k = 0; k < hs; k++) rh[k] *= h[k];
            for (int64_t j = 0; j < hs; j++) {
              double acc = 0;
              for (int64_t k = 0; k < hs; k++) acc += rh[k] * rdh[j * hs + k];
              if (rb) acc += rb[2 * hs + j];
              g[hs + j] = acc;
            }
          }
          for (int64_t j = 0; j < hs; j++) {
            double zt = act_apply(&f[0], CLIP(g[j]));
            double ht = act_apply(&f[1], CLIP(g[2 * hs + j] + g[hs + j]));
            g[2 * hs + j] = (1 - zt) * ht + zt * h[j];
          }
          for (int64_t j = 0; j < hs; j++) h[j] = g[2 * hs + j];
        } else {
          for (int64_t j = 0; j < hs; j++) h[j] = act_apply(&f[0], CLIP(g[j]));
        }
#undef CLIP
        if (Y) {
          int64_t yo = layout ? ((b * seq + t) * nd + d) * hs : ((t * nd + d) * batch + b) * hs;
          for (int64_t j = 0; j < hs; j++) ql_store_f64(Y->dtype, Y->data, yo + j, h[j]);
        }
      }
      for (int64_t j = 0; j < hs; j++) {
        if (YH) ql_store_f64(YH->dtype, YH->data, si + j, lens[b] ? h[j] : 0);
        if (YC) ql_store_f64(YC->dtype, YC->data, si + j, lens[b] ? cs[j] : 0);
      }
    }
  }
  return QL_OK;
}

static ql_status lstm(ql_op_ctx *c) { return rnn_run(c, CELL_LSTM); }
static ql_status gru(ql_op_ctx *c) { return rnn_run(c, CELL_GRU); }
static ql_status rnn(ql_op_ctx *c) { return rnn_run(c, CELL_RNN); }

const ql_op_def ql_ops_rnn[] = {
    {"", "LSTM", 1, 22, lstm},
    {"", "GRU", 1, 22, gru},
    {"", "RNN", 1, 22, rnn},
    {0},
};

/* Static QDQ quantization: Q/DQ pairs on activations, DQ on constant
 * weights, int32 biases at scale x_scale*w_scale, parameters shared by the
 * inputs and outputs of value-preserving ops (so one tensor has one
 * real-value meaning), and GraphProto.quantization_annotation for every
 * quantized tensor. Naming follows ONNX Runtime's tool (<t>_scale,
 * <t>_zero_point, <w>_quantized, <t>_QuantizeLinear_Output, ...). */
#include "../common/strmap.h"
#include "../runtime/runtime.h"
#include "quant.h"
#include <math.h>

void ql_quant_options_default(ql_quant_options *o) {
  memset(o, 0, sizeof *o);
  o->method = QL_CALIB_MINMAX;
  o->percentile = 99.999;
  o->format = QL_QFORMAT_QDQ;
  o->activation_type = QL_INT8;
  o->weight_type = QL_INT8;
  o->symmetric_weights = -1;
  o->threads = 1;
}

/* The op types quantize_static quantizes by default (its QLinear and QDQ
 * registries) that qlinear can run and convert. Left out: the ones whose
 * quantized form would only add rounding here (BatchNormalization and the
 * other normalizations, Where, TopK, CumSum, ArgMax, Pad, GatherElements). */
static const char *const k_default_ops[] = {
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Mul", "Relu", "Clip", "LeakyRelu", "Sigmoid",
    "MaxPool", "AveragePool", "GlobalAveragePool", "Concat", "Reshape", "Transpose", "Squeeze",
    "Unsqueeze", "Flatten", "Resize", "Split", "Slice", "Gather", "Softmax", NULL};

/* How ORT's QDQ quantizer treats each op (its operators/ folder, registry.py):
 * WEIGHTED: activation in, weight, int32 bias, activation out (QDQConv,
 * QDQGemm; MatMul quantizes each input by kind). SAME: the output takes the
 * input's parameters when the input is already quantized (QDQDirect8BitOp,
 * QDQResize, QDQMaxPool, QDQGather). SPLIT: input quantized, every output
 * shares it. REMOVABLE: Relu/Clip, quantized when the input is (ORT removes
 * them; we keep them with the same parameters, see adjust_ranges). Anything
 * else: every input and output gets its own parameters (QDQOperatorBase). */
enum { K_DEFAULT, K_CONV, K_GEMM, K_MATMUL, K_SAME, K_SPLIT, K_REMOVABLE };

static int op_kind(const char *op) {
  static const char *const same[] = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "AveragePool",
                                     "Slice", "MaxPool", "Resize", "Gather", NULL};
  if (!strcmp(op, "Conv") || !strcmp(op, "ConvTranspose")) return K_CONV;
  if (!strcmp(op, "Gemm")) return K_GEMM;
  if (!strcmp(op, "MatMul")) return K_MATMUL;
  if (!strcmp(op, "Split")) return K_SPLIT;
  if (!strcmp(op, "Relu") || !strcmp(op, "Clip")) return K_REMOVABLE;
  for (int i = 0; same[i]; i++)
    if (!strcmp(op, same[i])) return K_SAME;
  return K_DEFAULT;
}

/* The role of each input of a quantized node. */
enum { R_NONE, R_ACT, R_WEIGHT, R_CONST, R_BIAS };

static int weight_axis(const ql_node *n, int rank) {
  if (!strcmp(n->op_type, "Conv")) return 0;
  if (!strcmp(n->op_type, "ConvTranspose")) return 1;
  if (!strcmp(n->op_type, "Gemm")) return ql_attr_int(n, "transB", 0) ? 0 : 1;
  return rank >= 2 ? rank - 1 : -1; /* MatMul: per output column; ORT's axis 1 does not exist at rank 1 */
}

typedef struct {
  ql_model *m;
  const ql_quant_options *o;
  const ql_ranges *ranges;
  ql_error *err;
  ql_strmap act;      /* activation tensor -> index into acts */
  ql_strmap want;     /* tensor -> worth quantizing (1), not (0), being decided (2) */
  size_t n_acts, cap_acts;
  struct act {
    char *name;
    int provider;     /* -1: own range; else the act whose parameters it takes */
    float rmin, rmax;
    float scale;
    int64_t zp;
    char *dq_out;     /* what quantized consumers read */
    int wide;         /* int16 (keep_int16) */
  } *acts;
  ql_graph *g;
  int per_channel_ok; /* ai.onnx DQ has `axis` (opset >= 13) */
  unsigned dup;       /* counter for copies of shared biases */
} qctx;

static ql_status oom(qctx *q) { return ql_errf(q->err, QL_ERR_OUT_OF_MEMORY, "out of memory while quantizing"); }

static char *cat(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *r = ql_malloc(la + lb + 1);
  if (r) {
    memcpy(r, a, la);
    memcpy(r + la, b, lb + 1);
  }
  return r;
}

/* the act that owns the parameters of act i */
static int root(const qctx *q, int i) {
  for (size_t hops = 0; q->acts[i].provider >= 0 && hops <= q->n_acts; hops++) i = q->acts[i].provider;
  return i;
}

static int kept_float(const ql_quant_options *o, const char *name) {
  for (size_t i = 0; i < o->n_keep_float; i++)
    if (!strcmp(o->keep_float[i], name)) return 1;
  return 0;
}

/* Marks a float activation for quantization (own parameters unless it has
 * some already); -1 when it is not a float tensor the calibration saw, -2 on
 * out of memory. */
static int act_index(qctx *q, const char *name) {
  int k = ql_strmap_get(&q->act, name);
  if (k >= 0) return k;
  const ql_range *r = ql_ranges_find(q->ranges, name);
  if (!r || !r->seen_float) return -1;
  int kept = kept_float(q->o, name);
  if (kept && !q->o->keep_int16) return -1;
  if (ql_grow((void **)&q->acts, &q->cap_acts, q->n_acts + 1, sizeof *q->acts)) return -2;
  struct act *a = &q->acts[q->n_acts];
  memset(a, 0, sizeof *a);
  a->wide = kept;
  if (!(a->name = ql_strdup(name))) return -2;
  a->provider = -1;
  a->rmin = r->rmin;
  a->rmax = r->rmax;
  if (ql_strmap_put(&q->act, a->name, (int)q->n_acts)) return -2;
  return (int)q->n_acts++;
}

/* quantize_output_same_as_input: `out` takes the parameters of act `in`
 * (replacing its own, as ORT does). */
static int share(qctx *q, const char *out, int in) {
  int a = act_index(q, out);
  if (a >= 0 && a != in) q->acts[a].provider = in;
  return a;
}

static int is_selected(const ql_quant_options *o, const ql_node *n) {
  for (size_t i = 0; i < o->n_exclude; i++)
    if (!strcmp(o->exclude[i], n->name)) return 0;
  if (*ql_domain_canon(n->domain)) return 0;
  if (o->op_types) {
    for (size_t i = 0; i < o->n_op_types; i++)
      if (!strcmp(o->op_types[i], n->op_type)) return 1;
    return 0;
  }
  for (int i = 0; k_default_ops[i]; i++)
    if (!strcmp(k_default_ops[i], n->op_type)) return 1;
  return 0;
}

static ql_tensor *scalar_tensor(const char *name, ql_dtype t, double v) {
  ql_tensor *x = ql_tensor_new(t, 0, NULL, NULL);
  if (!x) return NULL;
  ql_store_f64(t, x->data, 0, v);
  if (!(x->name = ql_strdup(name))) {
    ql_tensor_free(x);
    return NULL;
  }
  return x;
}

static ql_status add_init(qctx *q, ql_tensor *t) {
  if (!t || ql_graph_add_init(q->g, t)) {
    ql_tensor_free(t);
    return oom(q);
  }
  return QL_OK;
}

static ql_status add_qdq_node(qctx *q, const char *op, const char *x, const char *scale, const char *zp,
                              const char *y, int axis, int contrib) {
  char *nm = cat(y, op[0] == 'Q' ? "_QuantizeLinear" : "_DequantizeLinear");
  ql_node *n = nm ? ql_node_new(op, contrib ? "com.microsoft" : "", nm) : NULL;
  ql_free(nm);
  if (!n || ql_node_add_input(n, x) || ql_node_add_input(n, scale) || ql_node_add_input(n, zp) ||
      ql_node_add_output(n, y)) {
    ql_node_free(n);
    return oom(q);
  }
  if (axis >= 0) {
    ql_attr *a = ql_node_add_attr(n, "axis", QL_ATTR_INT);
    if (!a) {
      ql_node_free(n);
      return oom(q);
    }
    a->i = axis;
  }
  if (ql_graph_add_node(q->g, n)) {
    ql_node_free(n);
    return oom(q);
  }
  return QL_OK;
}

static ql_status annotate(qctx *q, const char *tensor, const char *scale, const char *zp) {
  ql_graph *g = q->g;
  ql_annotation *a = ql_realloc(g->annotations, (g->n_annotations + 1) * sizeof *a);
  if (!a) return oom(q);
  g->annotations = a;
  a = &a[g->n_annotations];
  memset(a, 0, sizeof *a);
  g->n_annotations++;
  if (!(a->tensor_name = ql_strdup(tensor)) || !(a->params = ql_calloc(2, sizeof *a->params))) return oom(q);
  a->n = 2;
  if (!(a->params[0].key = ql_strdup("SCALE_TENSOR")) || !(a->params[0].value = ql_strdup(scale)) ||
      !(a->params[1].key = ql_strdup("ZERO_POINT_TENSOR")) || !(a->params[1].value = ql_strdup(zp)))
    return oom(q);
  return QL_OK;
}

/* The bias a weight's scale must leave room for (ORT
 * _adjust_weight_scale_for_int32_bias): NULL when there is none. */
typedef struct {
  const ql_tensor *b;
  float x_scale;
} bias_ctx;

/* ORT enlarges a symmetric int8/int16 weight scale when x_scale * w_scale is
 * too small for the int32 bias: smallest valid = 1.0001 * 2 * |b|max /
 * (2^32 - 2), in float64. */
static void adjust_for_bias(const bias_ctx *bc, float *sc, int64_t nch, int per_channel, double headroom) {
  /* ORT's range is 2 * INT32_MAX, which lets the bias alone fill int32; the
   * worst-case accumulation (K * max|w| * activation span, what verify's
   * accumulator-overflow rule checks) is kept free on top of it, so the
   * scale grows a little more only in the cases where ORT's model could
   * overflow */
  double qrange = 2.0 * (2147483647.0 - headroom), eps = 1.0001;
  if (qrange < 2.0) qrange = 2.0;
  const float *b = bc->b->data;
  for (int64_t c = 0; c < nch; c++) {
    double absmax = 0;
    if (per_channel) absmax = fabs((double)b[c]);
    else {
      double mn = 0, mx = 0;
      for (int64_t i = 0; i < bc->b->numel; i++) {
        if (b[i] < mn) mn = b[i];
        if (b[i] > mx) mx = b[i];
      }
      absmax = fabs(mn) > fabs(mx) ? fabs(mn) : fabs(mx);
    }
    double smallest = eps * (2.0 * absmax) / qrange, cand = (double)bc->x_scale * (double)sc[c];
    if (cand < smallest && cand > 0) sc[c] = (float)((double)sc[c] * (smallest / cand));
  }
}

/* Quantizes a constant float tensor; per-channel along `axis` when axis >= 0. */

static ql_status quantize_weight(qctx *q, const ql_tensor *w, ql_dtype type, int symmetric, int reduce_range, int axis,
                                 const bias_ctx *bc, char **dq_out, ql_tensor **scale_out) {
  ql_status st = QL_OK;
  char *qn0 = cat(w->name, "_quantized");
  if (!qn0) return oom(q);
  int shared = ql_graph_find_init(q->g, qn0) != NULL;
  ql_free(qn0);
  if (shared) { /* a weight read by several nodes is quantized once */
    char *sn0 = cat(w->name, "_scale");
    *dq_out = cat(w->name, "_DequantizeLinear_Output");
    *scale_out = sn0 ? ql_graph_find_init_mut(q->g, sn0) : NULL;
    ql_free(sn0);
    return *dq_out && *scale_out ? QL_OK : oom(q);
  }
  int64_t nch = axis >= 0 ? w->dims[axis] : 1, inner = 1;
  for (int d = axis + 1; axis >= 0 && d < w->rank; d++) inner *= w->dims[d];
  char *qn = cat(w->name, "_quantized"), *sn = cat(w->name, "_scale"), *zn = cat(w->name, "_zero_point");
  char *dn = cat(w->name, "_DequantizeLinear_Output");
  ql_tensor *qt = ql_tensor_new(type, w->rank, w->dims, q->err);
  ql_tensor *sc = axis >= 0 ? ql_tensor_new(QL_FLOAT, 1, &nch, q->err) : ql_tensor_new(QL_FLOAT, 0, NULL, q->err);
  ql_tensor *zt = axis >= 0 ? ql_tensor_new(type, 1, &nch, q->err) : ql_tensor_new(type, 0, NULL, q->err);
  if (!qn || !sn || !zn || !dn || !qt || !sc || !zt) {
    st = oom(q);
    goto fail;
  }
  int64_t qmin, qmax;
  ql_qrange(type, symmetric, reduce_range, &qmin, &qmax);
  const float *x = w->data;
  float *s = sc->data;
  int zero_zps = 1;
  for (int64_t c = 0; c < nch; c++) {
    float mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < w->numel; i++) {
      if (axis >= 0 && (i / inner) % nch != c) continue;
      if (x[i] < mn) mn = x[i];
      if (x[i] > mx) mx = x[i];
    }
    if (mn > mx) mn = mx = 0;
    int64_t z;
    ql_compute_scale_zp(mn, mx, qmin, qmax, symmetric, &s[c], &z);
    ql_store_i64(type, zt->data, c, z);
    zero_zps &= z == 0;
  }
  if (bc && zero_zps && (type == QL_INT8 || type == QL_INT16) && bc->b->numel == (axis >= 0 ? nch : bc->b->numel)) {
    int64_t amin, amax;
    ql_dtype_int_range(q->o->activation_type, &amin, &amax);
    double wmax = (double)(qmax > -qmin ? qmax : -qmin), k = (double)w->numel / (double)bc->b->numel;
    adjust_for_bias(bc, s, nch, axis >= 0, k * wmax * (double)(amax - amin));
  }
  for (int64_t i = 0; i < w->numel; i++) {
    int64_t c = axis >= 0 ? (i / inner) % nch : 0;
    ql_store_i64(type, qt->data, i, ql_quantize_value(x[i], s[c], ql_load_i64(type, zt->data, c), type));
  }
  qt->name = qn;
  sc->name = sn;
  zt->name = zn;
  qn = sn = zn = NULL;
  *scale_out = sc;
  if ((st = add_init(q, qt)) || (st = add_init(q, sc)) || (st = add_init(q, zt))) {
    ql_free(dn);
    return st;
  }
  /* per-axis DQ needs opset 13, int16 DQ opset 21: below that, com.microsoft's */
  int ms = (axis >= 0 && !q->per_channel_ok) || ((type == QL_INT16 || type == QL_UINT16) && ql_model_opset(q->m, "") < 21);
  if ((st = add_qdq_node(q, "DequantizeLinear", qt->name, sc->name, zt->name, dn, axis, ms)))
    goto fail_dn;
  if ((st = annotate(q, qt->name, sc->name, zt->name))) goto fail_dn;
  *dq_out = dn;
  return QL_OK;
fail:
  ql_tensor_free(qt);
  ql_tensor_free(sc);
  ql_tensor_free(zt);
  ql_free(qn);
  ql_free(sn);
  ql_free(zn);
fail_dn:
  ql_free(dn);
  return st;
}

/* int32 bias at scale x_scale * w_scale[c] (float32 product), zero point 0,
 * q = RNE(b / scale) in float64, clipped to int32 (ORT
 * quantize_bias_static_impl). A bias read by several nodes gets one copy per
 * node, since each node has its own scale. */
static ql_status quantize_bias(qctx *q, const ql_tensor *b, float x_scale, const ql_tensor *w_scale, char **dq_out) {
  int64_t n = b->numel;
  int per_ch = w_scale->numel > 1;
  if (per_ch && w_scale->numel != n)
    return ql_errf(q->err, QL_ERR_INVALID_MODEL, "bias '%s' has %lld elements but the weight has %lld channels",
                   b->name, (long long)n, (long long)w_scale->numel);
  char base[600];
  snprintf(base, sizeof base, "%s_quantized", b->name);
  if (ql_graph_find_init(q->g, base)) snprintf(base, sizeof base, "%s_%u", b->name, ++q->dup);
  else snprintf(base, sizeof base, "%s", b->name);
  char *qn = cat(base, "_quantized"), *sn = cat(base, "_scale"), *zn = cat(base, "_zero_point");
  char *dn = cat(base, "_DequantizeLinear_Output");
  int64_t one = n;
  ql_tensor *qt = ql_tensor_new(QL_INT32, b->rank, b->dims, q->err);
  ql_tensor *sc = per_ch ? ql_tensor_new(QL_FLOAT, 1, &one, q->err) : ql_tensor_new(QL_FLOAT, 0, NULL, q->err);
  ql_tensor *zt = per_ch ? ql_tensor_new(QL_INT32, 1, &one, q->err) : ql_tensor_new(QL_INT32, 0, NULL, q->err);
  ql_status st = QL_OK;
  if (!qn || !sn || !zn || !dn || !qt || !sc || !zt) {
    ql_tensor_free(qt);
    ql_tensor_free(sc);
    ql_tensor_free(zt);
    ql_free(qn);
    ql_free(sn);
    ql_free(zn);
    ql_free(dn);
    return oom(q);
  }
  for (int64_t i = 0; i < n; i++) {
    float s = x_scale * ((const float *)w_scale->data)[per_ch ? i : 0];
    if (!per_ch && i == 0) ((float *)sc->data)[0] = s;
    if (per_ch) ((float *)sc->data)[i] = s;
    double v = nearbyint((double)((const float *)b->data)[i] / (double)s);
    if (!(v >= INT32_MIN)) v = INT32_MIN;
    if (v > INT32_MAX) v = INT32_MAX;
    ((int32_t *)qt->data)[i] = (int32_t)v;
  }
  qt->name = qn;
  sc->name = sn;
  zt->name = zn;
  if ((st = add_init(q, qt)) || (st = add_init(q, sc)) || (st = add_init(q, zt)) ||
      (st = add_qdq_node(q, "DequantizeLinear", qn, sn, zn, dn, per_ch ? 0 : -1, per_ch && !q->per_channel_ok)) ||
      (st = annotate(q, qn, sn, zn))) {
    ql_free(dn);
    return st;
  }
  *dq_out = dn;
  return QL_OK;
}

static ql_status set_input(ql_node *n, size_t i, const char *name) {
  char *d = ql_strdup(name);
  if (!d) return QL_ERR_OUT_OF_MEMORY;
  ql_free(n->inputs[i]);
  n->inputs[i] = d;
  return QL_OK;
}

/* Nodes in an order where every input is produced first (Kahn, stable). */
ql_status ql_graph_toposort(ql_graph *g, ql_error *err) {
  size_t n = g->n_nodes, placed = 0;
  ql_node **out = ql_malloc(sizeof *out * (n + 1));
  uint8_t *done = ql_calloc(n + 1, 1);
  ql_strmap produced = {0}, avail = {0};
  ql_status st = QL_OK;
  if (!out || !done) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; i < n && !st; i++)
    for (size_t k = 0; k < g->nodes[i]->n_outputs; k++)
      if (ql_strmap_put(&produced, g->nodes[i]->outputs[k], 1)) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  for (int progress = 1; !st && progress && placed < n;) {
    progress = 0;
    for (size_t i = 0; i < n && !st; i++) {
      if (done[i]) continue;
      int ready = 1;
      for (size_t k = 0; k < g->nodes[i]->n_inputs && ready; k++) {
        const char *in = g->nodes[i]->inputs[k];
        if (*in && ql_strmap_get(&produced, in) >= 0 && ql_strmap_get(&avail, in) < 0) ready = 0;
      }
      if (!ready) continue;
      done[i] = 1;
      out[placed++] = g->nodes[i];
      progress = 1;
      for (size_t k = 0; k < g->nodes[i]->n_outputs; k++)
        if (ql_strmap_put(&avail, g->nodes[i]->outputs[k], 1)) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    }
  }
  if (!st && placed < n) st = ql_errf(err, QL_ERR_INVALID_MODEL, "the graph has a cycle");
  if (!st) memcpy(g->nodes, out, n * sizeof *out);
  ql_free(out);
  ql_free(done);
  ql_strmap_free(&produced);
  ql_strmap_free(&avail);
  return st;
}

/* Drops initializers nothing reads any more (and graph inputs naming them). */
void ql_graph_drop_unused_inits(ql_graph *g) {
  ql_strmap used = {0}, dropped = {0};
  for (size_t i = 0; i < g->n_nodes; i++)
    for (size_t k = 0; k < g->nodes[i]->n_inputs; k++) ql_strmap_put(&used, g->nodes[i]->inputs[k], 1);
  for (size_t i = 0; i < g->n_outputs; i++) ql_strmap_put(&used, g->outputs[i].name, 1);
  size_t w = 0;
  for (size_t i = 0; i < g->n_inits; i++) {
    if (ql_strmap_get(&used, g->inits[i]->name) >= 0) {
      g->inits[w++] = g->inits[i];
      continue;
    }
    /* a graph input of the same name is a default-valued input: it goes too */
    for (size_t k = 0; k < g->n_inputs; k++)
      if (!strcmp(g->inputs[k].name, g->inits[i]->name)) ql_strmap_put(&dropped, g->inputs[k].name, 1);
    ql_tensor_free(g->inits[i]);
  }
  g->n_inits = w;
  w = 0;
  for (size_t i = 0; i < g->n_inputs; i++) {
    if (ql_strmap_get(&dropped, g->inputs[i].name) < 0) g->inputs[w++] = g->inputs[i];
    else ql_value_info_clear(&g->inputs[i]);
  }
  g->n_inputs = w;
  ql_strmap_free(&used);
  ql_strmap_free(&dropped);
}

/* An output is worth a Q/DQ pair when a quantized op needs it: a Conv,
 * Gemm or MatMul always (its integer form reads it), any other op only when
 * one of its own outputs is worth quantizing (otherwise it has no integer
 * form and the rounding of its input feeds nothing but float ops). ORT also
 * quantizes outputs that only float ops read (e.g. hard-swish's
 * x * relu6(x + 3) before its Div), the graph's outputs, and the whole
 * value-preserving path in front of an output (NanoDet's class scores go
 * Conv -> Split -> Sigmoid -> Reshape -> Transpose -> output, and int8 steps
 * of 1/256 on sigmoids mostly near 0 cost it 2 dB; YuNet's face scores
 * likewise): that rounding only adds noise, so qlinear leaves it out, and
 * the last Conv of such a head writes float from int8 inputs and weights. A
 * graph output that quantized ops also read keeps its float value for the
 * caller, and they read the Q/DQ of it. */
static int wanted_d(qctx *q, const ql_quant_options *o, const char *name, int depth) {
  const ql_graph *g = q->g;
  int v = ql_strmap_get(&q->want, name);
  if (v >= 0) return v == 1; /* 2: being decided (a cycle): not through here */
  if (depth > 4096) return 1;
  if (ql_strmap_put(&q->want, name, 2)) return 1;
  int res = 0;
  for (size_t i = 0; i < g->n_nodes && !res; i++) {
    const ql_node *n = g->nodes[i];
    if (!is_selected(o, n)) continue;
    int reads = 0;
    for (size_t k = 0; k < n->n_inputs && !reads; k++) reads = !strcmp(n->inputs[k], name);
    if (!reads) continue;
    int kind = op_kind(n->op_type);
    if (kind == K_CONV || kind == K_GEMM || kind == K_MATMUL) res = 1;
    for (size_t k = 0; k < n->n_outputs && !res; k++) res = *n->outputs[k] && wanted_d(q, o, n->outputs[k], depth + 1);
  }
  if (ql_strmap_put(&q->want, name, res)) return 1;
  return res;
}

static int wanted(qctx *q, const ql_quant_options *o, const char *name) { return wanted_d(q, o, name, 0); }

/* A node other than Conv/Gemm/MatMul is quantized only when it has an
 * output worth quantizing. */
static int node_needed(qctx *q, const ql_quant_options *o, const ql_node *n) {
  int kind = op_kind(n->op_type);
  if (kind == K_CONV || kind == K_GEMM || kind == K_MATMUL) return 1;
  for (size_t k = 0; k < n->n_outputs; k++)
    if (*n->outputs[k] && wanted(q, o, n->outputs[k])) return 1;
  return 0;
}

/* Number of nodes reading each tensor (ORT input_name_to_nodes). */
static int n_consumers(const ql_graph *g, const char *name) {
  int c = 0;
  for (size_t i = 0; i < g->n_nodes; i++)
    for (size_t k = 0; k < g->nodes[i]->n_inputs; k++)
      if (!strcmp(g->nodes[i]->inputs[k], name)) {
        c++;
        break;
      }
  return c;
}

/* ORT adjust_tensor_ranges: the input of a quantized Relu/Clip that nothing
 * else reads takes the output's range (so the producer's Q already does the
 * clipping and the activation is exact on quantized values: ORT then removes
 * it, we keep it), and a quantized Softmax's output is [0, 1]. */
static void adjust_ranges(qctx *q, const uint8_t *sel, size_t n0) {
  ql_graph *g = q->g;
  for (size_t i = 0; i < n0; i++) {
    const ql_node *n = g->nodes[i];
    if (!sel[i] || !n->n_inputs || !n->n_outputs) continue;
    int in = ql_strmap_get(&q->act, n->inputs[0]), out = ql_strmap_get(&q->act, n->outputs[0]);
    if (op_kind(n->op_type) == K_REMOVABLE) {
      const ql_range *ri = ql_ranges_find(q->ranges, n->inputs[0]), *ro = ql_ranges_find(q->ranges, n->outputs[0]);
      if (in < 0 || !ri || !ro || !ro->seen_float || n_consumers(g, n->inputs[0]) != 1) continue;
      q->acts[in].rmin = ro->rmin;
      q->acts[in].rmax = ro->rmax;
    } else if (!strcmp(n->op_type, "Softmax") && out >= 0) {
      q->acts[out].rmin = 0;
      q->acts[out].rmax = 1;
    }
  }
}

ql_status ql_quantize_qdq(ql_model *m, const ql_ranges *ranges, const ql_quant_options *o, ql_error *err) {
  qctx q = {.m = m, .o = o, .ranges = ranges, .err = err, .g = m->graph};
  ql_graph *g = m->graph;
  ql_status st = QL_OK;
  /* per-axis DequantizeLinear needs opset 13; if the model cannot be raised
   * that far, 10 (Q/DQ exist) with com.microsoft DequantizeLinear for axes */
  /* the opset ORT would quantize at (it raises anything below 10 to 11):
   * its MaxPool needs 12 and its Resize 11 to pass parameters through */
  int64_t ort_opset = ql_model_opset(m, "");
  if (ort_opset < 10) ort_opset = 11;
  ql_error e13 = {0};
  if (ql_upgrade_opset(m, 13, ranges, &e13)) {
    if (e13.code != QL_ERR_UNSUPPORTED) {
      if (err) *err = e13;
      return e13.code;
    }
    if ((st = ql_upgrade_opset(m, 10, ranges, err))) return st;
  }
  q.per_channel_ok = ql_model_opset(m, "") >= 13;
  size_t n0 = g->n_nodes;
  uint8_t *sel = ql_calloc(n0 + 1, 1);
  uint8_t **role = ql_calloc(n0 + 1, sizeof *role);
  if (!sel || !role) {
    ql_free(sel);
    ql_free(role);
    return oom(&q);
  }
  int sym_w = o->symmetric_weights >= 0 ? o->symmetric_weights : ql_dtype_is_signed(o->weight_type);
  /* 1. mark, node by node in graph order, what ORT's QDQ quantizer marks */
  for (size_t i = 0; i < n0 && !st; i++) {
    ql_node *n = g->nodes[i];
    if (!is_selected(o, n) || !n->n_outputs || !node_needed(&q, o, n)) continue;
    if (!(role[i] = ql_calloc(n->n_inputs + 1, 1))) {
      st = oom(&q);
      break;
    }
    sel[i] = 1;
    uint8_t *r = role[i];
    int kind = op_kind(n->op_type), a = 0;
    int in0 = n->n_inputs && *n->inputs[0] ? ql_strmap_get(&q.act, n->inputs[0]) : -1;
#define MARK(name) ((a = act_index(&q, (name))) == -2 ? (st = oom(&q), a) : a)
    switch (kind) {
    case K_CONV:
    case K_GEMM:
    case K_MATMUL:
      for (size_t k = 0; k < n->n_inputs && k < 3 && !st; k++) {
        const char *in = n->inputs[k];
        if (!*in) continue;
        const ql_tensor *t = ql_graph_find_init(g, in);
        if (kind == K_MATMUL && k == 2) break;
        if (k == 2) {
          /* a constant float bias; ORT leaves a Gemm bias with beta != 1 alone here (it would fold beta) */
          if (t && t->dtype == QL_FLOAT && t->rank == 1 && (kind != K_GEMM || ql_attr_float(n, "beta", 1.0f) == 1.0f))
            r[k] = R_BIAS;
        } else if (t) {
          if (t->dtype == QL_FLOAT) r[k] = (k == 1 || kind == K_MATMUL) ? R_WEIGHT : R_CONST;
        } else if (MARK(in) >= 0) r[k] = R_ACT;
      }
      if (!st && wanted(&q, o, n->outputs[0])) MARK(n->outputs[0]);
      break;
    case K_REMOVABLE:
      if (in0 < 0) break; /* the input is not quantized: neither is the activation */
      r[0] = R_ACT;
      if (wanted(&q, o, n->outputs[0])) MARK(n->outputs[0]);
      break;
    case K_SAME:
      /* below those opsets ORT leaves MaxPool/Resize alone and their readers
       * quantize the output with its own (for MaxPool after LeakyRelu,
       * tighter) range */
      if (in0 < 0 || (!strcmp(n->op_type, "MaxPool") && ort_opset < 12) ||
          (!strcmp(n->op_type, "Resize") && ort_opset < 11))
        break;
      r[0] = R_ACT;
      if (wanted(&q, o, n->outputs[0]) && share(&q, n->outputs[0], in0) == -2) st = oom(&q);
      break;
    case K_SPLIT:
      if (in0 < 0 && MARK(n->inputs[0]) >= 0) in0 = a;
      if (in0 < 0) break;
      r[0] = R_ACT;
      for (size_t k = 0; k < n->n_outputs && !st; k++)
        if (*n->outputs[k] && wanted(&q, o, n->outputs[k]) && share(&q, n->outputs[k], in0) == -2) st = oom(&q);
      break;
    default:
      for (size_t k = 0; k < n->n_inputs && !st; k++) {
        const char *in = n->inputs[k];
        if (!*in) continue;
        const ql_tensor *t = ql_graph_find_init(g, in);
        if (t) {
          if (t->dtype == QL_FLOAT) r[k] = R_CONST;
        } else if (MARK(in) >= 0) r[k] = R_ACT;
      }
      for (size_t k = 0; k < n->n_outputs && !st; k++)
        if (*n->outputs[k] && wanted(&q, o, n->outputs[k])) MARK(n->outputs[k]);
    }
#undef MARK
  }
  if (st) goto done;
  /* 2. ranges, then parameters: own ones from the range, shared ones from the provider */
  adjust_ranges(&q, sel, n0);
  /* a tensor sharing parameters is int16 when any of its group is */
  for (size_t k = 0; k < q.n_acts; k++)
    if (q.acts[k].wide) q.acts[root(&q, (int)k)].wide = 1;
  for (size_t k = 0; k < q.n_acts; k++) {
    struct act *a = &q.acts[k];
    int64_t qmin, qmax;
    ql_qrange(a->wide ? QL_INT16 : o->activation_type, o->symmetric_activations, 0, &qmin, &qmax);
    if (a->provider < 0) ql_compute_scale_zp(a->rmin, a->rmax, qmin, qmax, o->symmetric_activations, &a->scale, &a->zp);
  }
  for (size_t k = 0; k < q.n_acts; k++) {
    const struct act *r = &q.acts[root(&q, (int)k)];
    q.acts[k].scale = r->scale;
    q.acts[k].zp = r->zp;
    q.acts[k].wide = r->wide;
  }
  /* 3. Q/DQ pairs. A shared tensor names its provider's scale and zero point
   * (ORT _quantize_sharing_param_tensors), so "same parameters" is visible
   * in the graph itself. */
  for (size_t k = 0; k < q.n_acts && !st; k++) {
    struct act *a = &q.acts[k];
    const char *owner = q.acts[root(&q, (int)k)].name;
    char *sn = cat(owner, "_scale"), *zn = cat(owner, "_zero_point"), *qn = cat(a->name, "_QuantizeLinear_Output");
    const char *q_in = a->name;
    if (!sn || !zn || !qn) st = oom(&q);
    if (!st && !(a->dq_out = cat(a->name, "_DequantizeLinear_Output"))) st = oom(&q);
    if (!st && a->provider < 0) {
      if (!(st = add_init(&q, scalar_tensor(sn, QL_FLOAT, a->scale))))
        st = add_init(&q, scalar_tensor(zn, a->wide ? QL_INT16 : o->activation_type, (double)a->zp));
    }
    /* int16 Q/DQ are ai.onnx from opset 21 only */
    int ms = a->wide && ql_model_opset(m, "") < 21;
    if (!st) st = add_qdq_node(&q, "QuantizeLinear", q_in, sn, zn, qn, -1, ms);
    if (!st) st = add_qdq_node(&q, "DequantizeLinear", qn, sn, zn, a->dq_out, -1, ms);
    if (!st) st = annotate(&q, qn, sn, zn);
    ql_free(sn);
    ql_free(zn);
    ql_free(qn);
  }
  /* 4. rewire the quantized nodes; weights, constants and biases */
  for (size_t i = 0; i < n0 && !st; i++) {
    if (!sel[i]) continue;
    ql_node *n = g->nodes[i];
    const uint8_t *r = role[i];
    int kind = op_kind(n->op_type);
    float x_scale = 0;
    int xa = n->n_inputs && r[0] == R_ACT ? ql_strmap_get(&q.act, n->inputs[0]) : -1;
    if (xa >= 0 && !q.acts[xa].wide) x_scale = q.acts[xa].scale; /* int16 input: the bias stays float */
    const ql_tensor *w_scale = NULL;
    for (size_t k = 0; k < n->n_inputs && !st; k++) {
      const char *in = n->inputs[k];
      char *dq = NULL;
      ql_tensor *sc = NULL;
      if (r[k] == R_ACT) {
        int a = ql_strmap_get(&q.act, in);
        if (a >= 0 && set_input(n, k, q.acts[a].dq_out)) st = oom(&q);
        continue;
      }
      ql_tensor *init = r[k] == R_WEIGHT || r[k] == R_CONST ? ql_graph_find_init_mut(g, in) : NULL;
      if (!init) continue;
      int wide = 0; /* a weight kept in float (or int16) leaves the bias float too */
      if (kept_float(o, in)) {
        if (!o->keep_int16 || r[k] != R_WEIGHT) continue;
        wide = 1;
      }
      const ql_range *fr = r[k] == R_WEIGHT && !o->per_channel ? ql_ranges_find(ranges, in) : NULL;
      if (fr && fr->folded_const) {
        /* a weight the float graph computes is an activation to ORT (it does
         * not fold): per tensor, the activation type's scheme */
        st = quantize_weight(&q, init, o->activation_type, o->symmetric_activations, 0, -1, NULL, &dq, &sc);
        if (k == 1) w_scale = sc;
      } else if (wide) {
        int axis = o->per_channel ? weight_axis(n, init->rank) : -1;
        st = quantize_weight(&q, init, QL_INT16, 1, 0, axis, NULL, &dq, &sc);
      } else if (r[k] == R_WEIGHT) {
        int axis = o->per_channel ? weight_axis(n, init->rank) : -1;
        /* ORT quantizes per-channel weights symmetrically whatever the type */
        const ql_tensor *b = k == 1 && kind != K_MATMUL && n->n_inputs > 2 && r[2] == R_BIAS ? ql_graph_find_init(g, n->inputs[2])
                                                                                             : NULL;
        bias_ctx bc = {b, x_scale};
        st = quantize_weight(&q, init, o->weight_type, axis >= 0 ? 1 : sym_w, o->reduce_range, axis,
                             b && x_scale > 0 ? &bc : NULL, &dq, &sc);
        if (k == 1) w_scale = sc;
      } else {
        /* a constant operand of an element-wise op: activation type, its own range */
        st = quantize_weight(&q, init, o->activation_type, o->symmetric_activations, o->reduce_range, -1, NULL, &dq, &sc);
      }
      if (!st && dq && set_input(n, k, dq)) st = oom(&q);
      ql_free(dq);
    }
    if (!st && n->n_inputs > 2 && r[2] == R_BIAS && w_scale && x_scale > 0) {
      ql_tensor *b = ql_graph_find_init_mut(g, n->inputs[2]);
      char *dq = NULL;
      if (b) st = quantize_bias(&q, b, x_scale, w_scale, &dq);
      if (!st && dq && set_input(n, 2, dq)) st = oom(&q);
      ql_free(dq);
    }
  }
  /* 5. every other reader of a quantized tensor reads its DQ too (ORT
   * replace_input_of_all_nodes): the tensor has one value for everyone, as
   * it will after QOperator conversion. The graph's outputs keep the float
   * value. */
  for (size_t i = 0; i < n0 && !st; i++) {
    ql_node *n = g->nodes[i];
    if (sel[i]) continue;
    for (size_t k = 0; k < n->n_inputs && !st; k++) {
      int a = *n->inputs[k] ? ql_strmap_get(&q.act, n->inputs[k]) : -1;
      if (a >= 0 && set_input(n, k, q.acts[a].dq_out)) st = oom(&q);
    }
  }
  for (size_t i = 0; i < n0 && !st; i++) {
    ql_node *n = g->nodes[i];
    if (!sel[i]) continue;
    for (size_t k = 0; k < n->n_inputs && !st; k++) {
      int a = role[i][k] == R_NONE && *n->inputs[k] ? ql_strmap_get(&q.act, n->inputs[k]) : -1;
      if (a >= 0 && set_input(n, k, q.acts[a].dq_out)) st = oom(&q);
    }
  }
  if (!st) st = ql_graph_toposort(g, err);
  if (!st) ql_graph_drop_unused_inits(g);
done:
  for (size_t k = 0; k < q.n_acts; k++) {
    ql_free(q.acts[k].name);
    ql_free(q.acts[k].dq_out);
  }
  for (size_t i = 0; i < n0; i++) ql_free(role[i]);
  ql_free(role);
  ql_free(q.acts);
  ql_strmap_free(&q.act);
  ql_strmap_free(&q.want);
  ql_free(sel);
  return st;
}

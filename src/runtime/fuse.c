/* QDQ fusion: see fuse.h. Works on names only (values are not computed
 * here): parameters must be initializers or Constant nodes so their values
 * can be checked now; the weights and the bias may also be QuantizeLinear
 * outputs of constants, which the session folds before the fused node's
 * prepare() packs them. */
#include "fuse.h"
#include "fuse-util.h"

#include "../common/scratch.h"
#include "../common/strmap.h"
#include "../ops/op.h"
#include "../common/util.h"
#include <math.h>
#include <string.h>

typedef struct fuser {
  ql_graph *g;
  ql_strmap prod;    /* value -> index of the node making it */
  ql_strmap readers; /* value -> number of readers (graph outputs count) */
  int64_t opset;
  int nested;        /* some node has a subgraph: no renaming of readers */
  unsigned seq;      /* for fresh value names */
  /* names and nodes replaced while the maps still borrow them: freed last */
  char **grave;
  size_t n_grave, cap_grave;
  ql_node **olds;
  size_t n_olds, cap_olds;
} fuser;

static int bury(fuser *f, char *s) {
  if (ql_grow((void **)&f->grave, &f->cap_grave, f->n_grave + 1, sizeof *f->grave)) return -1;
  f->grave[f->n_grave++] = s;
  return 0;
}

static int retire(fuser *f, ql_node *n) {
  if (ql_grow((void **)&f->olds, &f->cap_olds, f->n_olds + 1, sizeof *f->olds)) return -1;
  f->olds[f->n_olds++] = n;
  return 0;
}

/* *slot = copy of name; the old string is kept until the maps go. */
static int rename_slot(fuser *f, char **slot, const char *name) {
  char *c = ql_strdup(name);
  if (!c || bury(f, *slot)) {
    ql_free(c);
    return -1;
  }
  *slot = c;
  return 0;
}

static int readers(const fuser *f, const char *name) { return ql_fuse_readers(&f->readers, name); }
static ql_node *producer(const fuser *f, const char *name) { return ql_fuse_producer(f->g, &f->prod, name); }
static const ql_tensor *const_value(const fuser *f, const char *name) {
  return ql_fuse_const_value(f->g, &f->prod, name);
}
static ql_status build_maps(fuser *f) { return ql_fuse_build_maps(f->g, &f->prod, &f->readers, &f->nested); }

static int is_8bit(ql_dtype t) {
  return t == QL_UINT8 || t == QL_INT8;
}

/* Only attributes whose defaults keep a Q/DQ node a plain per-tensor or
 * per-axis affine map (opset 21+ adds block_size, output_dtype, ...). */
static int plain_qdq_attrs(const ql_node *n) {
  for (size_t a = 0; a < n->n_attrs; a++) {
    const ql_attr *at = &n->attrs[a];
    if (!strcmp(at->name, "axis")) continue;
    if (!strcmp(at->name, "saturate")) continue; /* float8 only */
    if (!strcmp(at->name, "block_size") && at->type == QL_ATTR_INT && at->i == 0) continue;
    return 0;
  }
  return 1;
}

/* DQ(v) with constant scale/zero point: its quantized input's element type
 * (from the zero point, which must be given), scale and zero point. */
typedef struct dq_info {
  const ql_node *node;
  const char *q, *scale, *zp; /* input names */
  const ql_tensor *s, *z;
  ql_dtype type;
} dq_info;

/* The inputs of a Q or DQ node n and its constant parameters: 0 unless the
 * scale is float32 and both are constants. */
static int read_qdq(const fuser *f, const ql_node *n, dq_info *d) {
  d->node = n;
  d->q = ql_fuse_in_name(n, 0);
  d->scale = ql_fuse_in_name(n, 1);
  d->zp = ql_fuse_in_name(n, 2);
  d->s = const_value(f, d->scale);
  d->z = const_value(f, d->zp);
  if (!d->s || d->s->dtype != QL_FLOAT || !d->z) return 0;
  d->type = d->z->dtype;
  return 1;
}

static int get_dq(const fuser *f, const char *value, dq_info *d) {
  memset(d, 0, sizeof *d);
  const ql_node *n = producer(f, value);
  if (!ql_fuse_is_op(n, "DequantizeLinear") || f->opset < 10 || !plain_qdq_attrs(n)) return 0;
  return read_qdq(f, n, d) && d->z->numel == d->s->numel;
}

/* A per-tensor 8-bit activation DQ. */
static int act_dq(const dq_info *d) {
  return is_8bit(d->type) && d->s->numel == 1;
}

/* Element type and dims of a constant weight: a constant, or the output of
 * QuantizeLinear(constant, constant scale, constant zero point). */
static int weight_info(const fuser *f, const char *name, ql_dtype *type, int *rank, int64_t *dims) {
  const ql_tensor *t = const_value(f, name);
  if (!t) {
    const ql_node *q = producer(f, name);
    if (!ql_fuse_is_op(q, "QuantizeLinear") || !plain_qdq_attrs(q)) return 0;
    const ql_tensor *x = const_value(f, ql_fuse_in_name(q, 0)), *s = const_value(f, ql_fuse_in_name(q, 1));
    const ql_tensor *z = const_value(f, ql_fuse_in_name(q, 2));
    if (!x || !s || !z) return 0;
    *type = z->dtype;
    *rank = x->rank;
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    return 1;
  }
  *type = t->dtype;
  *rank = t->rank;
  memcpy(dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
  return 1;
}

/* A weight DQ: 8-bit, per tensor or per `axis` (n_axis values on it). */
static int weight_dq(const fuser *f, const dq_info *d, int want_axis, ql_dtype *wt, int *rank, int64_t *dims) {
  if (!is_8bit(d->type) || !weight_info(f, d->q, wt, rank, dims) || *wt != d->type) return 0;
  if (d->s->numel == 1) return 1;
  int64_t axis = ql_attr_int(d->node, "axis", 1);
  if (axis < 0) axis += *rank;
  return axis == want_axis && d->s->rank == 1 && want_axis < *rank && d->s->numel == dims[want_axis];
}

/* All-zero zero point, any integer type. */
static int zero_zp(const ql_tensor *z) {
  for (int64_t i = 0; z && i < z->numel; i++)
    if (ql_load_i64(z->dtype, z->data, i)) return 0;
  return 1;
}

/* Bias DQ: int32, zero point 0 (or none), scale x_scale * w_scale[m] as
 * float32 (1e-6 relative slack: quantizers compute it in float64). */
static int bias_ok(const fuser *f, const char *name, float xs, const ql_tensor *ws, int64_t M) {
  const ql_node *n = producer(f, name);
  if (!ql_fuse_is_op(n, "DequantizeLinear") || !plain_qdq_attrs(n)) return 0;
  const ql_tensor *s = const_value(f, ql_fuse_in_name(n, 1)), *z = const_value(f, ql_fuse_in_name(n, 2));
  if (ql_fuse_in_name(n, 2)[0] && !z) return 0;
  ql_dtype bt;
  int rank;
  int64_t dims[QL_MAX_RANK];
  if (!s || s->dtype != QL_FLOAT || !zero_zp(z) || !weight_info(f, ql_fuse_in_name(n, 0), &bt, &rank, dims)) return 0;
  if (bt != QL_INT32 || rank != 1 || dims[0] != M || (z && z->dtype != QL_INT32)) return 0;
  if (s->numel != 1 && s->numel != M) return 0;
  for (int64_t m = 0; m < M; m++) {
    const float want = xs * ((const float *)ws->data)[ws->numel == 1 ? 0 : m];
    const float got = ((const float *)s->data)[s->numel == 1 ? 0 : m];
    if (!(fabsf(got - want) <= 1e-6f * fabsf(want))) return 0;
  }
  return 1;
}

/* Q(v): per-tensor 8-bit with constant params. */
static int get_q(const fuser *f, const ql_node *q, dq_info *d) {
  memset(d, 0, sizeof *d);
  if (!plain_qdq_attrs(q)) return 0;
  return read_qdq(f, q, d) && d->s->numel == 1 && d->z->numel == 1 && is_8bit(d->z->dtype);
}

static float scalar_f(const ql_tensor *t) {
  return ((const float *)t->data)[0];
}

/* Two per-tensor parameter pairs that give the same affine map, with a
 * scale for which Q(DQ(x)) == x: (x - zp) * s / s is within 255 * 2^-23 of
 * x - zp unless s is subnormal or not finite. */
static int same_params(const dq_info *a, const dq_info *b) {
  const float sa = scalar_f(a->s), sb = scalar_f(b->s);
  return a->type == b->type && sa == sb && isnormal(sa) && sa > 0 && fabsf(sa) < 1e30f &&
         ql_load_i64(a->z->dtype, a->z->data, 0) == ql_load_i64(b->z->dtype, b->z->data, 0);
}

static int add_inputs(ql_node *n, const char *const *names, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (ql_node_add_input(n, names[i])) return -1;
  return 0;
}

static int is_graph_output(const fuser *f, const char *name) {
  for (size_t i = 0; i < f->g->n_outputs; i++)
    if (!strcmp(f->g->outputs[i].name, name)) return 1;
  return 0;
}

static int name_taken(const fuser *f, const char *name) {
  if (ql_strmap_get(&f->readers, name) >= 0 || ql_strmap_get(&f->prod, name) >= 0 || ql_graph_find_init(f->g, name))
    return 1;
  for (size_t i = 0; i < f->g->n_inputs; i++)
    if (!strcmp(f->g->inputs[i].name, name)) return 1;
  return 0;
}

/* A new value name: base + "_ql" + a number no other value uses (numbers
 * are never reused, so names made in one round cannot collide). */
static char *fresh_name(fuser *f, const char *base) {
  const size_t len = strlen(base) + 32;
  char *s = ql_malloc(len);
  if (!s) return NULL;
  do snprintf(s, len, "%s_ql%u", base, f->seq++);
  while (name_taken(f, s));
  return s;
}

/* ---- the float bias as the float graph sees it ---- */

/* QuantizeLinear of a float32 constant, element i: saturate(RNE(x / s) + zp),
 * the divide in float32 (as the op); per tensor or per `axis`. */
static int q_const_elem(const ql_node *q, const ql_tensor *x, const ql_tensor *s, const ql_tensor *z, int64_t i,
                        int64_t *out) {
  int64_t ch = 0;
  if (s->numel != 1) { /* per axis: the index along it */
    int64_t axis = ql_attr_int(q, "axis", 1);
    if (axis < 0) axis += x->rank;
    if (axis < 0 || axis >= x->rank || s->numel != x->dims[axis]) return 0;
    int64_t inner = 1;
    for (int k = (int)axis + 1; k < x->rank; k++) inner *= x->dims[k];
    ch = i / inner % x->dims[axis];
  }
  int64_t lo, hi;
  ql_dtype_int_range(z->dtype, &lo, &hi);
  const float v = nearbyintf(((const float *)x->data)[i] / ((const float *)s->data)[ch]);
  const double r = (double)v + (double)ql_load_i64(z->dtype, z->data, z->numel == 1 ? 0 : ch);
  *out = r != r ? lo : r < (double)lo ? lo : r > (double)hi ? hi : (int64_t)r;
  return 1;
}

/* The M float32 bias values of a Conv, as DequantizeLinear computes them:
 * (q - zp) * scale in float32, q an integer constant or a QuantizeLinear of
 * a float32 constant; or a float32 constant itself. */
static int bias_values(const fuser *f, const char *name, int64_t M, float *out) {
  const ql_tensor *c = const_value(f, name);
  if (c) {
    if (c->dtype != QL_FLOAT || c->rank != 1 || c->numel != M) return 0;
    memcpy(out, c->data, (size_t)M * sizeof *out);
    return 1;
  }
  const ql_node *dq = producer(f, name);
  if (!ql_fuse_is_op(dq, "DequantizeLinear") || !plain_qdq_attrs(dq) || dq->n_outputs != 1) return 0;
  const ql_tensor *s = const_value(f, ql_fuse_in_name(dq, 1)), *z = const_value(f, ql_fuse_in_name(dq, 2));
  if (!s || s->dtype != QL_FLOAT || (ql_fuse_in_name(dq, 2)[0] && !z) || (s->numel != 1 && s->numel != M)) return 0;
  if (z && (z->numel != s->numel || !ql_dtype_is_int(z->dtype))) return 0;
  const ql_tensor *x = const_value(f, ql_fuse_in_name(dq, 0)), *qx = NULL, *qs = NULL, *qz = NULL;
  const ql_node *q = NULL;
  if (!x) {
    q = producer(f, ql_fuse_in_name(dq, 0));
    if (!ql_fuse_is_op(q, "QuantizeLinear") || !plain_qdq_attrs(q)) return 0;
    qx = const_value(f, ql_fuse_in_name(q, 0));
    qs = const_value(f, ql_fuse_in_name(q, 1));
    qz = const_value(f, ql_fuse_in_name(q, 2));
    if (!qx || !qs || !qz || qx->dtype != QL_FLOAT || qs->dtype != QL_FLOAT || !ql_dtype_is_int(qz->dtype) ||
        qz->numel != qs->numel || qx->rank != 1 || qx->numel != M || (z && z->dtype != qz->dtype))
      return 0;
  } else if (!ql_dtype_is_int(x->dtype) || x->rank != 1 || x->numel != M || (z && z->dtype != x->dtype)) {
    return 0;
  }
  if (s->numel != 1 && ql_attr_int(dq, "axis", 1) != 0 && ql_attr_int(dq, "axis", 1) != -1) return 0;
  for (int64_t m = 0; m < M; m++) {
    int64_t v;
    if (q) {
      if (!q_const_elem(q, qx, qs, qz, m, &v)) return 0;
    } else {
      v = ql_load_i64(x->dtype, x->data, m);
    }
    const int64_t k = s->numel == 1 ? 0 : m;
    const int64_t zp = z ? ql_load_i64(z->dtype, z->data, k) : 0;
    out[m] = (float)(v - zp) * ((const float *)s->data)[k];
  }
  return 1;
}

/* Name of an int32 bias at scale x_scale * w_scale[m] for the fused conv:
 * the bias DQ's own input when it already is one (no rounding), else a new
 * initializer of RNE(b[m] / (x_scale * w_scale[m])) (NULL: not possible;
 * *oom set on allocation failure). */
static const char *conv_bias(fuser *f, const char *name, float xs, const ql_tensor *ws, int64_t M, int *oom) {
  if (bias_ok(f, name, xs, ws, M)) return ql_fuse_in_name(producer(f, name), 0);
  float *b = ql_malloc((size_t)M * sizeof *b + 1);
  if (!b) {
    *oom = 1;
    return NULL;
  }
  const char *res = NULL;
  ql_tensor *t = NULL;
  if (!bias_values(f, name, M, b)) goto out;
  const int64_t dims[1] = {M};
  if (!(t = ql_tensor_new(QL_INT32, 1, dims, NULL))) goto oom;
  for (int64_t m = 0; m < M; m++) {
    const double unit = (double)xs * (double)((const float *)ws->data)[ws->numel == 1 ? 0 : m];
    const double v = nearbyint((double)b[m] / unit);
    /* well inside int32: the accumulator adds up to 2^31 more on top */
    if (!(unit > 0) || !isfinite(unit) || !(fabs(v) <= (double)(1 << 30))) goto out;
    ((int32_t *)t->data)[m] = (int32_t)v;
  }
  if (!(t->name = fresh_name(f, name)) || ql_graph_add_init(f->g, t)) goto oom;
  res = t->name;
  t = NULL;
  goto out;
oom:
  *oom = 1;
out:
  ql_tensor_free(t);
  ql_free(b);
  return res;
}

static ql_node *copy_window_attrs(const ql_node *op, ql_node *nn, int *oom) {
  for (size_t a = 0; a < op->n_attrs; a++) { /* Conv's and the pools' window attributes mean the same here */
    const ql_attr *src = &op->attrs[a];
    if (src->t || src->g || src->floats || src->strings || src->tensors || src->graphs || src->ref_attr_name)
      return NULL; /* not a Conv attribute we know */
    ql_attr *dst = ql_node_add_attr(nn, src->name, src->type);
    if (!dst) goto oom;
    dst->i = src->i;
    dst->f = src->f;
    if (src->s && !(dst->s = ql_strdup(src->s))) goto oom;
    dst->slen = src->slen;
    if (src->ints) {
      if (!(dst->ints = ql_malloc(src->n * sizeof *dst->ints + 1))) goto oom;
      memcpy(dst->ints, src->ints, src->n * sizeof *dst->ints);
      dst->n = src->n;
    }
  }
  return nn;
oom:
  *oom = 1;
  return NULL;
}

/* Q( Add/Mul( DQ(a), DQ(b) ) ) -> com.microsoft QLinearAdd/QLinearMul (the
 * ops ORT's QDQ transformer makes, with ORT's arithmetic): broadcasting as
 * the float op, per-tensor 8-bit of one type. */
static ql_node *fuse_binary(fuser *f, const ql_node *add, const dq_info *yq, int *oom) {
  dq_info da, db;
  if (!get_dq(f, ql_fuse_in_name(add, 0), &da) || !act_dq(&da) || !get_dq(f, ql_fuse_in_name(add, 1), &db) ||
      !act_dq(&db))
    return NULL;
  if (da.type != yq->type || db.type != yq->type || add->n_inputs != 2) return NULL;
  ql_node *nn = ql_node_new(ql_fuse_is_op(add, "Add") ? "QLinearAdd" : "QLinearMul", "com.microsoft", add->name);
  const char *ins[8] = {da.q, da.scale, da.zp, db.q, db.scale, db.zp, yq->scale, yq->zp};
  if (!nn || add_inputs(nn, ins, 8)) {
    ql_node_free(nn);
    *oom = 1;
    return NULL;
  }
  return nn;
}

/* Q( AveragePool/GlobalAveragePool( DQ(x) ) ) -> com.microsoft
 * QLinearAveragePool/QLinearGlobalAveragePool, as ORT's QDQ transformer
 * does (ORT's integer sums and rounding): per-tensor 8-bit of one type,
 * the pool's window attributes copied (no dilations). */
static ql_node *fuse_pool(fuser *f, const ql_node *op, const dq_info *yq, int *oom) {
  dq_info dx;
  if (!get_dq(f, ql_fuse_in_name(op, 0), &dx) || !act_dq(&dx) || dx.type != yq->type) return NULL;
  const int global = ql_fuse_is_op(op, "GlobalAveragePool");
  static const char *const window[] = {"kernel_shape", "strides", "pads", "ceil_mode", "count_include_pad",
                                       "auto_pad"};
  for (size_t a = 0; a < op->n_attrs; a++) {
    int known = 0;
    for (size_t k = 0; k < sizeof window / sizeof *window && !global; k++) known |= !strcmp(op->attrs[a].name, window[k]);
    if (!known) return NULL; /* dilations, or an attribute this fusion does not know */
  }
  ql_node *nn = ql_node_new(global ? "QLinearGlobalAveragePool" : "QLinearAveragePool", "com.microsoft", op->name);
  const char *ins[5] = {dx.q, dx.scale, dx.zp, yq->scale, yq->zp};
  if (!nn || add_inputs(nn, ins, 5) || !copy_window_attrs(op, nn, oom)) {
    ql_node_free(nn);
    *oom = 1;
    return NULL;
  }
  return nn;
}

/* Q( Gemm( DQ(a), DQ(w), DQ(bias) ) ) -> com.microsoft QGemm, as ORT's QDQ
 * transformer does: A per-tensor 8-bit, W a constant 8-bit matrix per
 * tensor or per output column, transA 0, C absent or an [N] bias (int32 at
 * a_scale * w_scale, or requantized to it as for Conv) with alpha and beta
 * 1 (QGemm scales C by alpha too). */
static ql_node *fuse_gemm(fuser *f, const ql_node *op, const dq_info *yq, int *oom) {
  dq_info dx, dw;
  ql_dtype wt;
  int wrank;
  int64_t wd[QL_MAX_RANK];
  const int tb = ql_attr_int(op, "transB", 0) != 0;
  if (ql_attr_int(op, "transA", 0) != 0 || !get_dq(f, ql_fuse_in_name(op, 0), &dx) || !act_dq(&dx) ||
      dx.type != yq->type || !get_dq(f, ql_fuse_in_name(op, 1), &dw) || !weight_dq(f, &dw, tb ? 0 : 1, &wt, &wrank, wd) ||
      wrank != 2)
    return NULL;
  const char *bias = ql_fuse_in_name(op, 2), *b32 = NULL;
  if (bias[0]) {
    if (ql_attr_float(op, "alpha", 1.0f) != 1.0f || ql_attr_float(op, "beta", 1.0f) != 1.0f) return NULL;
    if (!(b32 = conv_bias(f, bias, scalar_f(dx.s), dw.s, tb ? wd[0] : wd[1], oom))) return NULL;
  }
  ql_node *nn = ql_node_new("QGemm", "com.microsoft", op->name);
  const char *ins[9] = {dx.q, dx.scale, dx.zp, dw.q, dw.scale, dw.zp, b32 ? b32 : "", yq->scale, yq->zp};
  ql_attr *a;
  if (!nn || add_inputs(nn, ins, 9)) goto oom;
  if (tb) {
    if (!(a = ql_node_add_attr(nn, "transB", QL_ATTR_INT))) goto oom;
    a->i = 1;
  }
  if (ql_attr_float(op, "alpha", 1.0f) != 1.0f) {
    if (!(a = ql_node_add_attr(nn, "alpha", QL_ATTR_FLOAT))) goto oom;
    a->f = ql_attr_float(op, "alpha", 1.0f);
  }
  return nn;
oom:
  ql_node_free(nn);
  *oom = 1;
  return NULL;
}

/* Q( LeakyRelu( DQ(x) ) ) -> com.microsoft QLinearLeakyRelu, Relu as alpha
 * 0. Its 256-entry table maps every byte through exactly the float graph's
 * steps (DQ in float32, x >= 0 ? x : alpha * x, Q's divide and RNE), so the
 * bits are the float graph's (-0.0 from alpha 0 quantizes like 0). */
static ql_node *fuse_leaky(fuser *f, const ql_node *op, const dq_info *yq, int *oom) {
  dq_info dx;
  if (!get_dq(f, ql_fuse_in_name(op, 0), &dx) || !act_dq(&dx) || dx.type != yq->type) return NULL;
  ql_node *nn = ql_node_new("QLinearLeakyRelu", "com.microsoft", op->name);
  const char *ins[5] = {dx.q, dx.scale, dx.zp, yq->scale, yq->zp};
  ql_attr *a = NULL;
  if (!nn || add_inputs(nn, ins, 5) || !(a = ql_node_add_attr(nn, "alpha", QL_ATTR_FLOAT))) {
    ql_node_free(nn);
    *oom = 1;
    return NULL;
  }
  a->f = ql_fuse_is_op(op, "Relu") ? 0.0f : ql_attr_float(op, "alpha", 0.01f);
  return nn;
}

/* Q( DQ(x) ) with other parameters of the same 8-bit type: a requantize,
 * as QLinearLeakyRelu with alpha 1, whose table is DQ in float32, then Q's
 * divide, RNE and saturation (alpha * v is v). What DQ -> MaxPool -> Q
 * becomes once Q has moved above the MaxPool (NanoDet-Plus-int8). */
static ql_node *fuse_requant(fuser *f, const ql_node *q, const dq_info *yq, int *oom) {
  dq_info dx;
  if (!get_dq(f, ql_fuse_in_name(q, 0), &dx) || !act_dq(&dx) || dx.type != yq->type) return NULL;
  const float xs = scalar_f(dx.s), ys = scalar_f(yq->s);
  if (!isnormal(xs) || !(xs > 0) || !isnormal(ys) || !(ys > 0)) return NULL;
  /* a Concat reading it becomes a QLinearConcat, which requantizes its
   * inputs itself (fuse_concat) */
  for (size_t i = 0; i < f->g->n_nodes; i++)
    for (size_t k = 0; k < f->g->nodes[i]->n_inputs; k++)
      if (ql_fuse_is_op(f->g->nodes[i], "Concat") && !strcmp(f->g->nodes[i]->inputs[k], q->outputs[0])) return NULL;
  ql_node *nn = ql_node_new("QLinearLeakyRelu", "com.microsoft", dx.node->name);
  const char *ins[5] = {dx.q, dx.scale, dx.zp, yq->scale, yq->zp};
  ql_attr *a = NULL;
  if (!nn || add_inputs(nn, ins, 5) || !(a = ql_node_add_attr(nn, "alpha", QL_ATTR_FLOAT))) {
    ql_node_free(nn);
    *oom = 1;
    return NULL;
  }
  a->f = 1.0f;
  return nn;
}

/* Elementwise float ops whose every output element depends on the same
 * input element alone (the other inputs, if any, constants): Q(U(DQ(x)))
 * is then a function of one byte. */
static int lookup_op(const ql_node *op) {
  static const char *const ops[] = {"Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu",
                                    "Softplus", "Softsign", "Mish", "Gelu", "Erf", "Exp", "Abs", "Neg",
                                    "ThresholdedRelu"};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
    if (ql_fuse_is_op(op, ops[i])) return 1;
  return 0;
}

/* Q( U( DQ(x) ) ) -> QLinearLookup(x, table). The table comes from running
 * U's own implementation on the 256 dequantized values (DQ's float32
 * formula), then Q's (divide, clamp, RNE, zero point), so every byte is
 * the float graph's by construction. NULL (no fusion) when U does not run
 * on them as a plain float32 op. */
static ql_node *fuse_lookup(fuser *f, const ql_node *op, const dq_info *yq, int *oom) {
  dq_info dx;
  if (!get_dq(f, ql_fuse_in_name(op, 0), &dx) || !act_dq(&dx) || op->n_inputs > 8) return NULL;
  const ql_tensor *in[8] = {NULL};
  for (size_t k = 1; k < op->n_inputs; k++) /* Clip's min and max */
    if (ql_fuse_in_name(op, k)[0] && !(in[k] = const_value(f, ql_fuse_in_name(op, k)))) return NULL;
  ql_op_resolution res;
  ql_error e = {0};
  if (ql_op_resolve(op->domain, op->op_type, f->opset, &res, &e)) return NULL;
  const int64_t n256 = 256;
  ql_tensor *x = ql_tensor_new(QL_FLOAT, 1, &n256, NULL), *y = NULL, *t = NULL;
  ql_node *nn = NULL;
  ql_scratch scratch;
  int have_scratch = 0;
  if (!x || !(t = ql_tensor_new(yq->type, 1, &n256, NULL)) || ql_scratch_init(&scratch, 1)) goto oom;
  have_scratch = 1;
  const float xs = scalar_f(dx.s), ys = scalar_f(yq->s);
  const int32_t xz = (int32_t)ql_load_i64(dx.z->dtype, dx.z->data, 0), yz = (int32_t)ql_load_i64(yq->z->dtype, yq->z->data, 0);
  for (int i = 0; i < 256; i++) {
    const int32_t q = dx.type == QL_INT8 ? (int8_t)(uint8_t)i : i;
    ((float *)x->data)[i] = (float)(q - xz) * xs;
  }
  in[0] = x;
  ql_op_ctx c = {.node = op, .version = res.version, .n_in = op->n_inputs, .in = in, .n_out = 1, .out = &y,
                 .err = &e, .threads = 1, .max_tensor_bytes = 1 << 20, .scratch_ = &scratch};
  if (res.def->run(&c) || !y || y->dtype != QL_FLOAT || y->numel != 256) goto out;
  int64_t lo, hi;
  ql_dtype_int_range(yq->type, &lo, &hi);
  const float vlo = (float)(lo - yz), vhi = (float)(hi - yz);
  for (int i = 0; i < 256; i++) { /* QuantizeLinear's float32 path: NaN gives lo */
    float v = ((const float *)y->data)[i] / ys;
    v = v >= vlo ? v : vlo;
    v = v <= vhi ? v : vhi;
    const int32_t q = (int32_t)nearbyintf(v) + yz;
    if (yq->type == QL_UINT8) ((uint8_t *)t->data)[i] = (uint8_t)q;
    else ((int8_t *)t->data)[i] = (int8_t)q;
  }
  nn = ql_node_new("QLinearLookup", QL_INTERNAL_DOMAIN, op->name);
  if (!nn || !(t->name = fresh_name(f, yq->node->outputs[0])) || ql_node_add_input(nn, dx.q) ||
      ql_node_add_input(nn, t->name) || ql_graph_add_init(f->g, t))
    goto oom;
  t = NULL; /* the graph's now */
  goto out;
oom:
  *oom = 1;
  ql_node_free(nn);
  nn = NULL;
out:
  if (have_scratch) ql_scratch_free(&scratch);
  ql_tensor_free(x);
  ql_tensor_free(y);
  ql_tensor_free(t);
  return nn;
}

/* Tries to fuse around the QuantizeLinear at index qi; returns 1 when the
 * graph changed (nodes in `dead` marked), 0 when not, -1 out of memory. */
static int fuse_at(fuser *f, size_t qi, unsigned char *dead) {
  ql_node *q = f->g->nodes[qi];
  dq_info yq;
  if (!get_q(f, q, &yq)) return 0;
  ql_node *op = producer(f, ql_fuse_in_name(q, 0)), *act = NULL;
  int oom = 0;
  if ((ql_fuse_is_op(op, "Relu") || ql_fuse_is_op(op, "LeakyRelu")) && op->n_outputs == 1 &&
      readers(f, op->outputs[0]) == 1 && ql_fuse_is_op(producer(f, ql_fuse_in_name(op, 0)), "Conv")) {
    act = op;
    op = producer(f, ql_fuse_in_name(act, 0));
  }
  const int conv = ql_fuse_is_op(op, "Conv");
  if (!op || op->n_outputs != 1 || readers(f, op->outputs[0]) != 1 || f->opset < 10) return 0;
  ql_node *nn = NULL;
  if (ql_fuse_is_op(op, "Add") || ql_fuse_is_op(op, "Mul")) {
    if (!(nn = fuse_binary(f, op, &yq, &oom))) return oom ? -1 : 0;
  } else if (ql_fuse_is_op(op, "AveragePool") || ql_fuse_is_op(op, "GlobalAveragePool")) {
    if (!(nn = fuse_pool(f, op, &yq, &oom))) return oom ? -1 : 0;
  } else if (ql_fuse_is_op(op, "Relu") || ql_fuse_is_op(op, "LeakyRelu")) {
    if (!(nn = fuse_leaky(f, op, &yq, &oom))) return oom ? -1 : 0;
  } else if (ql_fuse_is_op(op, "DequantizeLinear")) {
    if (!(nn = fuse_requant(f, q, &yq, &oom))) return oom ? -1 : 0;
  } else if (lookup_op(op)) {
    if (!(nn = fuse_lookup(f, op, &yq, &oom))) return oom ? -1 : 0;
  } else if (ql_fuse_is_op(op, "Gemm")) {
    if (!(nn = fuse_gemm(f, op, &yq, &oom))) return oom ? -1 : 0;
  } else {
    if (!conv && !ql_fuse_is_op(op, "MatMul")) return 0;
    dq_info dx, dw;
    ql_dtype wt;
    int wrank;
    int64_t wd[QL_MAX_RANK];
    if (!get_dq(f, ql_fuse_in_name(op, 0), &dx) || !act_dq(&dx) || !get_dq(f, ql_fuse_in_name(op, 1), &dw)) return 0;
    if (!weight_dq(f, &dw, conv ? 0 : 1, &wt, &wrank, wd)) return 0;
    if (conv) {
      if (wrank < 3) return 0;
      const char *bias = ql_fuse_in_name(op, 2), *b32 = NULL;
      if (bias[0] && !(b32 = conv_bias(f, bias, scalar_f(dx.s), dw.s, wd[0], &oom))) return oom ? -1 : 0;
      nn = ql_node_new("QLinearConv", "", op->name);
      if (!nn) return -1;
      const char *ins[8] = {dx.q, dx.scale, dx.zp, dw.q, dw.scale, dw.zp, yq.scale, yq.zp};
      if (add_inputs(nn, ins, 8) || (b32 && ql_node_add_input(nn, b32))) goto oom;
      if (!copy_window_attrs(op, nn, &oom)) {
        ql_node_free(nn);
        return oom ? -1 : 0;
      }
      if (ql_fuse_is_op(act, "Relu")) {
        ql_attr *r = ql_node_add_attr(nn, QL_FUSED_RELU_ATTR, QL_ATTR_INT);
        if (!r) goto oom;
        r->i = 1;
      } else if (act) {
        ql_attr *r = ql_node_add_attr(nn, QL_FUSED_LEAKY_ATTR, QL_ATTR_FLOAT);
        if (!r) goto oom;
        r->f = ql_attr_float(act, "alpha", 0.01f);
      }
    } else {
      if (wrank != 2) return 0;
      nn = ql_node_new("QLinearMatMul", "", op->name);
      if (!nn) return -1;
      const char *ins[8] = {dx.q, dx.scale, dx.zp, dw.q, dw.scale, dw.zp, yq.scale, yq.zp};
      if (add_inputs(nn, ins, 8)) goto oom;
    }
  }
  if (ql_node_add_output(nn, q->outputs[0])) goto oom;
  /* the fused node takes the Q's place; the op (and its activation) go */
  dead[ql_strmap_get(&f->prod, op->outputs[0])] = 1;
  if (act) dead[ql_strmap_get(&f->prod, act->outputs[0])] = 1;
  if (retire(f, q)) goto oom; /* freed at the end: the maps borrow its names */
  f->g->nodes[qi] = nn;
  return 1;
oom:
  ql_node_free(nn);
  return -1;
}

/* ---- moving Q towards the producers (exact rewrites) ---- */

/* Every window of the MaxPool holds an input element: pads below the
 * kernel size and no ceil mode (SAME/VALID auto pads are below it too). An
 * all-padding window gives 0, which is not Q of the float graph's 0. */
static int max_pool_windows_hit(const ql_node *p) {
  size_t nk = 0, np = 0;
  const int64_t *k = ql_attr_ints(p, "kernel_shape", &nk), *pads = ql_attr_ints(p, "pads", &np);
  if (!k || !nk || ql_attr_int(p, "ceil_mode", 0) != 0) return 0;
  if (pads && np != 2 * nk) return 0;
  for (size_t i = 0; pads && i < np; i++)
    if (pads[i] < 0 || pads[i] >= k[i % nk]) return 0;
  return 1;
}

/* Ops whose every output element is a copy of one input element (of the
 * data inputs: all of Concat's, input 0 of the others), so a per-tensor Q
 * gives the same bits before or after them. */
static int copy_op(const ql_node *p, size_t *n_data) {
  *n_data = 1;
  if (ql_fuse_is_op(p, "Concat")) {
    *n_data = p->n_inputs;
    return p->n_inputs > 0;
  }
  if (ql_fuse_is_op(p, "Resize") || ql_fuse_is_op(p, "Upsample")) {
    const char *ctm = ql_attr_string(p, "coordinate_transformation_mode", "half_pixel");
    return !strcmp(ql_attr_string(p, "mode", "nearest"), "nearest") && strcmp(ctm, "tf_crop_and_resize");
  }
  if (ql_fuse_is_op(p, "MaxPool")) /* Q is monotone: the max of Q is Q of the max */
    return p->n_outputs == 1 && ql_attr_int(p, "storage_order", 0) == 0 && max_pool_windows_hit(p);
  return ql_fuse_is_op(p, "Transpose") || ql_fuse_is_op(p, "Reshape") || ql_fuse_is_op(p, "Flatten") ||
         ql_fuse_is_op(p, "Squeeze") || ql_fuse_is_op(p, "Unsqueeze") || ql_fuse_is_op(p, "Identity");
}

/* A copy of q (same params and attributes) reading `in`, writing `out`. */
static ql_node *clone_q(const ql_node *q, const char *in, const char *out) {
  ql_node *n = ql_node_clone(q);
  if (!n) return NULL;
  char *a = ql_strdup(in), *b = ql_strdup(out);
  if (!a || !b) {
    ql_free(a);
    ql_free(b);
    ql_node_free(n);
    return NULL;
  }
  ql_free(n->inputs[0]);
  n->inputs[0] = a;
  ql_free(n->outputs[0]);
  n->outputs[0] = b;
  return n;
}

/* One round over the Q nodes (the maps are valid for the round; a node
 * changed in it is not looked at again until the next). Returns -1 on OOM,
 * else whether something changed. New nodes are appended (the session
 * orders the graph itself). */
static int push_round(fuser *f) {
  ql_graph *g = f->g;
  const size_t n0 = g->n_nodes;
  unsigned char *touched = ql_calloc(n0 + 1, 1), *dead = ql_calloc(n0 + 1, 1);
  ql_node **added = NULL;
  size_t n_added = 0, cap_added = 0;
  int changed = 0, fail = 0;
  if (!touched || !dead) fail = 1;
  /* Shape(DQ(x)) reads the shape of x */
  for (size_t i = 0; !fail && i < n0; i++) {
    ql_node *n = g->nodes[i];
    const ql_node *dq = n->n_inputs ? producer(f, n->inputs[0]) : NULL;
    if (!ql_fuse_is_op(n, "Shape") || !ql_fuse_is_op(dq, "DequantizeLinear") || !plain_qdq_attrs(dq) ||
        !ql_fuse_in_name(dq, 0)[0])
      continue;
    if (rename_slot(f, &n->inputs[0], ql_fuse_in_name(dq, 0))) fail = 1;
    touched[i] = 1;
    changed = 1;
  }
  for (size_t i = 0; !fail && i < n0; i++) {
    ql_node *q = g->nodes[i];
    dq_info yq, dx;
    if (touched[i] || !ql_fuse_is_op(q, "QuantizeLinear") || q->n_outputs != 1 || !get_q(f, q, &yq)) continue;
    const char *v = ql_fuse_in_name(q, 0);
    const int pi = v[0] ? ql_strmap_get(&f->prod, v) : -1;
    if (pi < 0 || touched[pi]) continue;
    ql_node *p = g->nodes[pi];
    if (get_dq(f, v, &dx)) { /* Q(DQ(x)) == x: its readers read x */
      if (!act_dq(&dx) || !same_params(&dx, &yq) || f->nested || is_graph_output(f, q->outputs[0])) continue;
      int busy = 0;
      for (size_t j = 0; j < n0 && !busy; j++)
        for (size_t k = 0; k < g->nodes[j]->n_inputs; k++)
          busy |= touched[j] && !strcmp(g->nodes[j]->inputs[k], q->outputs[0]);
      if (busy) continue;
      for (size_t j = 0; j < n0 && !fail; j++)
        for (size_t k = 0; k < g->nodes[j]->n_inputs && !fail; k++)
          if (!strcmp(g->nodes[j]->inputs[k], q->outputs[0])) {
            fail = rename_slot(f, &g->nodes[j]->inputs[k], dx.q);
            touched[j] = 1;
          }
      touched[i] = dead[i] = 1;
      changed = 1;
      continue;
    }
    size_t nd;
    if (!copy_op(p, &nd) || p->n_outputs != 1 || is_graph_output(f, v) || f->nested) continue;
    /* MaxPool on 8-bit types comes with opset 12; the fused graph only
     * runs here, and qlinear's MaxPool takes them at every version */
    /* v may also be read by Shape nodes (its shape does not change) */
    int others = 0, shapes = 0;
    for (size_t j = 0; j < n0; j++)
      for (size_t k = 0; k < g->nodes[j]->n_inputs; k++)
        if (!strcmp(g->nodes[j]->inputs[k], v)) {
          if (j == i && k == 0) continue;
          if (ql_fuse_is_op(g->nodes[j], "Shape") && !touched[j] && k == 0) shapes++;
          else others++;
        }
    if (others || readers(f, v) != 1 + shapes) continue;
    for (size_t k = 0; k < nd && !fail; k++) {
      if (!p->inputs[k][0]) continue;
      char *nm = fresh_name(f, p->inputs[k]);
      ql_node *nq = nm ? clone_q(q, p->inputs[k], nm) : NULL;
      if (!nq || ql_grow((void **)&added, &cap_added, n_added + 1, sizeof *added) || rename_slot(f, &p->inputs[k], nm)) {
        ql_node_free(nq);
        fail = 1;
      } else {
        added[n_added++] = nq;
      }
      ql_free(nm);
    }
    for (size_t j = 0; j < n0 && !fail; j++)
      if (ql_fuse_is_op(g->nodes[j], "Shape") && g->nodes[j]->n_inputs && !strcmp(g->nodes[j]->inputs[0], v)) {
        fail = rename_slot(f, &g->nodes[j]->inputs[0], q->outputs[0]);
        touched[j] = 1;
      }
    if (!fail) fail = rename_slot(f, &p->outputs[0], q->outputs[0]);
    touched[i] = touched[pi] = dead[i] = 1;
    changed = 1;
  }
  /* compact: dead Q nodes go (freed later), new ones are appended */
  size_t w = 0;
  for (size_t i = 0; touched && dead && i < n0; i++) {
    if (dead[i] && !fail) fail = retire(f, g->nodes[i]);
    if (!dead[i]) g->nodes[w++] = g->nodes[i];
    else if (fail) g->nodes[w++] = g->nodes[i]; /* keep ownership consistent */
  }
  if (touched && dead) g->n_nodes = w;
  for (size_t i = 0; i < n_added; i++) {
    if (fail || ql_graph_add_node(g, added[i])) {
      ql_node_free(added[i]);
      fail = 1;
    }
  }
  ql_free(added);
  ql_free(touched);
  ql_free(dead);
  return fail ? -1 : changed;
}

/* ---- Concat of int8 inputs, some of them requantized ---- */

/* The per-tensor parameters (scale, zero point names) an 8-bit value is
 * quantized with, when its producer says so. */
static int value_params(const fuser *f, const char *v, dq_info *d) {
  const ql_node *p = producer(f, v);
  memset(d, 0, sizeof *d);
  if (!p || p->n_outputs != 1) return 0;
  if (ql_fuse_is_op(p, "QuantizeLinear")) return get_q(f, p, d);
  const char *dom = ql_domain_canon(p->domain);
  size_t si;
  if ((!strcmp(p->op_type, "QLinearConv") || !strcmp(p->op_type, "QLinearMatMul")) && !strcmp(dom, ""))
    si = 6;
  else if (!strcmp(p->op_type, "QLinearAdd") && !strcmp(dom, "com.microsoft"))
    si = 6;
  else if (!strcmp(p->op_type, "QLinearLeakyRelu") && !strcmp(dom, "com.microsoft"))
    si = 3;
  else
    return 0;
  d->scale = ql_fuse_in_name(p, si);
  d->zp = ql_fuse_in_name(p, si + 1);
  d->s = const_value(f, d->scale);
  d->z = const_value(f, d->zp);
  if (!d->s || d->s->dtype != QL_FLOAT || d->s->numel != 1 || !d->z || d->z->numel != 1 || !is_8bit(d->z->dtype))
    return 0;
  d->type = d->z->dtype;
  return 1;
}

/* Concat(Q(DQ(a)), b, ...) where every input is an 8-bit value at the same
 * parameters P and some are requantizations Q(DQ(a)) with other ones (what
 * moving a Q ahead of a Concat leaves) -> com.microsoft QLinearConcat: it
 * copies the inputs at P and maps the others' bytes through a table of
 * exactly DQ's and Q's float steps, so the bits do not change. */
static int fuse_concat(fuser *f, size_t ci, unsigned char *dead) {
  ql_node *c = f->g->nodes[ci];
  if (!ql_fuse_is_op(c, "Concat") || c->n_outputs != 1 || !c->n_inputs || !ql_node_attr(c, "axis")) return 0;
  dq_info p0, pi, dx;
  int requant = 0;
  for (size_t i = 0; i < c->n_inputs; i++) {
    if (!value_params(f, c->inputs[i], &pi)) return 0;
    if (i == 0) p0 = pi;
    else if (!same_params(&pi, &p0)) return 0;
    if (pi.node && get_dq(f, pi.q, &dx) && act_dq(&dx) && dx.type == p0.type && readers(f, c->inputs[i]) == 1)
      requant = 1;
  }
  if (!requant) return 0;
  ql_node *nn = ql_node_new("QLinearConcat", "com.microsoft", c->name);
  if (!nn || ql_node_add_input(nn, p0.scale) || ql_node_add_input(nn, p0.zp)) goto oom;
  for (size_t i = 0; i < c->n_inputs; i++) {
    value_params(f, c->inputs[i], &pi);
    const char *ins[3] = {c->inputs[i], p0.scale, p0.zp};
    if (pi.node && get_dq(f, pi.q, &dx) && act_dq(&dx) && dx.type == p0.type && readers(f, c->inputs[i]) == 1) {
      ins[0] = dx.q;
      ins[1] = dx.scale;
      ins[2] = dx.zp;
      dead[ql_strmap_get(&f->prod, c->inputs[i])] = 1; /* the Q: only the Concat read it */
    }
    if (add_inputs(nn, ins, 3)) goto oom;
  }
  ql_attr *ax = ql_node_add_attr(nn, "axis", QL_ATTR_INT);
  if (!ax || ql_node_add_output(nn, c->outputs[0])) goto oom;
  ax->i = ql_attr_int(c, "axis", 0);
  if (retire(f, c)) goto oom;
  f->g->nodes[ci] = nn;
  return 1;
oom:
  ql_node_free(nn);
  return -1;
}

/* Drops the marked nodes, then DequantizeLinear/QuantizeLinear nodes
 * nothing reads any more (they only fed what was fused), and compacts the
 * node list. */
static ql_status sweep(fuser *f, unsigned char *dead) {
  ql_graph *g = f->g;
  size_t w = 0;
  for (size_t i = 0; i < g->n_nodes; i++) {
    if (dead[i]) {
      if (retire(f, g->nodes[i])) return QL_ERR_OUT_OF_MEMORY; /* the maps still borrow its names */
    } else {
      g->nodes[w++] = g->nodes[i];
    }
  }
  g->n_nodes = w;
  for (;;) { /* DQ readers are gone now: recount */
    ql_status st = build_maps(f);
    if (st) return st;
    /* decide first, retire after: the maps' keys point into the nodes */
    int removed = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
      ql_node *n = g->nodes[i];
      dead[i] = (ql_fuse_is_op(n, "DequantizeLinear") || ql_fuse_is_op(n, "QuantizeLinear")) && n->n_outputs == 1 &&
                !readers(f, n->outputs[0]);
      removed |= dead[i];
    }
    if (!removed) return QL_OK;
    w = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
      if (dead[i]) {
        if (retire(f, g->nodes[i])) return QL_ERR_OUT_OF_MEMORY;
      } else {
        g->nodes[w++] = g->nodes[i];
      }
    }
    g->n_nodes = w;
  }
}

ql_status ql_fuse_qdq(const ql_model *m, ql_graph *g, ql_error *err) {
  fuser f = {.g = g, .opset = ql_model_opset(m, "")};
  ql_status st = QL_OK;
  unsigned char *dead = NULL;
  if (f.opset < 10 || !g->n_nodes) return QL_OK;
  int changed = 0;
  for (int round = 0; round < 64; round++) {
    if ((st = build_maps(&f))) goto out;
    const int r = push_round(&f);
    if (r < 0) {
      st = QL_ERR_OUT_OF_MEMORY;
      goto out;
    }
    changed |= r;
    if (!r) break;
  }
  if ((st = build_maps(&f))) goto out;
  if (!(dead = ql_calloc(g->n_nodes + 1, 1))) {
    st = QL_ERR_OUT_OF_MEMORY;
    goto out;
  }
  for (size_t i = 0; i < g->n_nodes; i++) {
    if (dead[i] || !ql_fuse_is_op(g->nodes[i], "QuantizeLinear")) continue;
    const int r = fuse_at(&f, i, dead);
    if (r < 0) {
      st = QL_ERR_OUT_OF_MEMORY;
      goto out;
    }
    changed |= r;
  }
  if (changed && (st = sweep(&f, dead))) goto out;
  /* the maps are current after sweep (or were never changed) */
  int cat = 0;
  memset(dead, 0, g->n_nodes + 1);
  for (size_t i = 0; i < g->n_nodes; i++) {
    const int r = dead[i] ? 0 : fuse_concat(&f, i, dead);
    if (r < 0) {
      st = QL_ERR_OUT_OF_MEMORY;
      goto out;
    }
    cat |= r;
  }
  if (cat) st = sweep(&f, dead);
out:
  ql_strmap_free(&f.prod);
  ql_strmap_free(&f.readers);
  for (size_t i = 0; i < f.n_olds; i++) ql_node_free(f.olds[i]);
  for (size_t i = 0; i < f.n_grave; i++) ql_free(f.grave[i]);
  ql_free(f.olds);
  ql_free(f.grave);
  ql_free(dead);
  if (st) return ql_errf(err, st, "QDQ fusion: out of memory");
  return QL_OK;
}

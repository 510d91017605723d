/* Declarations: for each quantization-aware node, which tensor it reads or
 * writes with which (scale, zero point) operands. Checked here because the
 * rules depend on the op and its schema version: param-type (types the
 * version allows; zero point type == tensor type) and param-shape (shapes
 * that fit axis, block_size and each other). */
#include "verify.h"

typedef uint64_t tmask;
#define TM(t) ((tmask)1 << (t))
#define I8U8 (TM(QL_INT8) | TM(QL_UINT8))
#define F8 (TM(QL_FLOAT8E4M3FN) | TM(QL_FLOAT8E4M3FNUZ) | TM(QL_FLOAT8E5M2) | TM(QL_FLOAT8E5M2FNUZ))
#define FLT (TM(QL_FLOAT) | TM(QL_FLOAT16) | TM(QL_BFLOAT16))
#define I16_4 (TM(QL_INT16) | TM(QL_UINT16) | TM(QL_INT4) | TM(QL_UINT4))
#define I2 (TM(QL_INT2) | TM(QL_UINT2))

static int is_op(const ql_node *n, const char *op) { return !strcmp(n->op_type, op); }
static int is_ms(const ql_node *n) { return !strcmp(n->domain, "com.microsoft"); }
static int is_onnx(const ql_node *n) { return !*ql_domain_canon(n->domain); }

static const char *in_name(const ql_node *n, size_t i) { return i < n->n_inputs ? n->inputs[i] : ""; }
static int in_val(vctx *c, const ql_node *n, size_t i) { return vctx_find(c, in_name(n, i)); }
static int out_val(vctx *c, const ql_node *n, size_t i) {
  return i < n->n_outputs ? vctx_find(c, n->outputs[i]) : -1;
}

static const char *mask_str(tmask m, char *buf, size_t n) {
  size_t w = 0;
  buf[0] = 0;
  for (int t = 1; t < QL_DTYPE_COUNT && w < n; t++)
    if (m & TM(t)) w += (size_t)snprintf(buf + w, n - w, "%s%s", w ? ", " : "", ql_dtype_name((ql_dtype)t));
  return buf;
}

static const char *op_label(const ql_node *n, int ver, char *buf, size_t sz) {
  if (is_ms(n)) snprintf(buf, sz, "com.microsoft %s", n->op_type);
  else snprintf(buf, sz, "%s-%d", n->op_type, ver);
  return buf;
}

/* v's type, when known, must be in `allowed`. Returns 0 when it is not. */
static int type_in(vctx *c, int ni, int v, tmask allowed, const char *operand) {
  if (v < 0 || !c->vals[v].dtype) return 1;
  ql_dtype t = c->vals[v].dtype;
  if ((unsigned)t < 64 && (allowed & TM(t))) return 1;
  char set[256], op[96];
  const ql_node *n = c->g->nodes[ni];
  vreport(c, "param-type", QL_VERROR, ni, c->vals[v].name, "%s has type %s; %s allows {%s}", operand,
          ql_dtype_name(t), op_label(n, c->version[ni], op, sizeof op), mask_str(allowed, set, sizeof set));
  return 0;
}

/* The zero point's type must be the quantized tensor's type. */
static void zp_matches(vctx *c, int ni, int zp, int t, const char *zp_name, const char *t_name) {
  if (zp < 0 || t < 0 || !c->vals[zp].dtype || !c->vals[t].dtype || c->vals[zp].dtype == c->vals[t].dtype) return;
  vreport(c, "param-type", QL_VERROR, ni, c->vals[t].name,
          "%s has type %s but the quantized tensor %s is %s: a zero point has the type of its tensor", zp_name,
          ql_dtype_name(c->vals[zp].dtype), t_name, ql_dtype_name(c->vals[t].dtype));
}

static void fmt_shape(const vctx *c, int v, char *buf, size_t n) {
  int r = vrank(c, v);
  if (r < 0) {
    snprintf(buf, n, "?");
    return;
  }
  size_t w = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < r && w < n; i++) {
    int64_t d = vdim(c, v, i);
    if (d >= 0) w += (size_t)snprintf(buf + w, n - w, "%s%lld", i ? "," : "", (long long)d);
    else w += (size_t)snprintf(buf + w, n - w, "%s?", i ? "," : "");
  }
  if (w < n) snprintf(buf + w, n - w, "]");
}

/* zero point shape must equal scale shape (both of one element counts as equal) */
static int same_shape(vctx *c, int ni, int s, int z, const char *sname, const char *zname, const char *tensor) {
  if (s < 0 || z < 0) return 1;
  int rs = vrank(c, s), rz = vrank(c, z);
  if (rs < 0 || rz < 0) return 1;
  int64_t ns = vnumel(c, s), nz = vnumel(c, z);
  if (ns == 1 && nz == 1) return 1;
  int same = rs == rz;
  for (int i = 0; same && i < rs; i++) {
    int64_t a = vdim(c, s, i), b = vdim(c, z, i);
    if (a >= 0 && b >= 0 && a != b) same = 0;
  }
  if (same) return 1;
  char a[96], b[96];
  fmt_shape(c, s, a, sizeof a);
  fmt_shape(c, z, b, sizeof b);
  vreport(c, "param-shape", QL_VERROR, ni, tensor, "%s has shape %s but %s has shape %s: they must be equal", zname,
          b, sname, a);
  return 0;
}

/* ---------------------------------------------------------------- Q / DQ */
static void check_qdq_shape(vctx *c, int ni, int ver, int x, int s, int z, int has_axis, int64_t axis, int64_t block,
                            const char *sname, const char *zname, const char *tname) {
  const ql_node *n = c->g->nodes[ni];
  char op[96], a[96], b[96];
  op_label(n, ver, op, sizeof op);
  same_shape(c, ni, s, z, sname, zname, tname);
  int rs = vrank(c, s), rx = vrank(c, x);
  int64_t ns = vnumel(c, s);
  if (block < 0) {
    vreport(c, "param-shape", QL_VERROR, ni, tname, "block_size is %lld; it must be >= 0", (long long)block);
    return;
  }
  if (block > 0) {
    if (rs < 0 || rx < 0) return;
    if (rs != rx) {
      fmt_shape(c, s, a, sizeof a);
      fmt_shape(c, x, b, sizeof b);
      vreport(c, "param-shape", QL_VERROR, ni, tname,
              "blocked quantization (block_size %lld) needs %s of the rank of %s, got %s for %s", (long long)block,
              sname, tname, a, b);
      return;
    }
    if (axis < -rx || axis >= rx) {
      vreport(c, "param-shape", QL_VERROR, ni, tname, "axis %lld is out of range for rank %d", (long long)axis, rx);
      return;
    }
    int ax = (int)(axis < 0 ? axis + rx : axis);
    for (int i = 0; i < rx; i++) {
      int64_t d = vdim(c, x, i), sd = vdim(c, s, i);
      if (d < 0 || sd < 0) continue;
      int64_t want = i == ax ? (d + block - 1) / block : d;
      if (sd != want) {
        fmt_shape(c, s, a, sizeof a);
        fmt_shape(c, x, b, sizeof b);
        vreport(c, "param-shape", QL_VERROR, ni, tname,
                "%s has shape %s; for %s of shape %s with axis %d and block_size %lld dim %d must be %lld", sname, a,
                tname, b, ax, (long long)block, i, (long long)want);
        return;
      }
    }
    return;
  }
  if (ns == 1 || (ns < 0 && rs == 0)) return; /* per-tensor */
  if (ns < 0 && rs < 0) return;
  fmt_shape(c, s, a, sizeof a);
  if (is_onnx(n) && ver < 13) {
    vreport(c, "param-shape", QL_VERROR, ni, tname, "%s has shape %s; %s takes a scalar %s (per-axis needs opset 13)",
            sname, a, op, sname);
    return;
  }
  if (!has_axis) {
    vreport(c, "param-shape", QL_VERROR, ni, tname,
            "%s has shape %s but the node has no axis attribute, which makes it per-tensor (scalar)", sname, a);
    return;
  }
  if (rs != 1) {
    vreport(c, "param-shape", QL_VERROR, ni, tname, "%s has shape %s; without block_size it must be a scalar or 1-D",
            sname, a);
    return;
  }
  if (rx < 0) return;
  if (axis < -rx || axis >= rx) {
    fmt_shape(c, x, b, sizeof b);
    vreport(c, "param-shape", QL_VERROR, ni, tname, "axis %lld is out of range for %s of shape %s", (long long)axis,
            tname, b);
    return;
  }
  int64_t d = vdim(c, x, (int)axis);
  if (d >= 0 && ns >= 0 && d != ns) {
    fmt_shape(c, x, b, sizeof b);
    vreport(c, "param-shape", QL_VERROR, ni, tname,
            "%s has %lld elements but %s has %lld along axis %lld (shape %s): per-axis needs one per slice", sname,
            (long long)ns, tname, (long long)d, (long long)axis, b);
  }
}

static void collect_q(vctx *c, int ni) {
  const ql_node *n = c->g->nodes[ni];
  int ver = c->version[ni], ms = is_ms(n);
  int x = in_val(c, n, 0), s = in_val(c, n, 1), z = in_val(c, n, 2), y = out_val(c, n, 0);
  const ql_attr *ax = ql_node_attr(n, "axis");
  int has_axis = ms ? ax != NULL : ver >= 13;
  int64_t axis = ql_attr_int(n, "axis", 1);
  int64_t block = !ms && ver >= 21 ? ql_attr_int(n, "block_size", 0) : 0;
  const char *tname = y >= 0 ? c->vals[y].name : "";
  if (ms) {
    type_in(c, ni, x, TM(QL_FLOAT) | TM(QL_FLOAT16), "x");
    if (type_in(c, ni, s, TM(QL_FLOAT) | TM(QL_FLOAT16), "y_scale") && x >= 0 && s >= 0 && c->vals[x].dtype &&
        c->vals[s].dtype && c->vals[x].dtype != c->vals[s].dtype)
      vreport(c, "param-type", QL_VERROR, ni, tname, "y_scale has type %s but x has type %s: they share type T1",
              ql_dtype_name(c->vals[s].dtype), ql_dtype_name(c->vals[x].dtype));
    type_in(c, ni, z, I8U8 | I16_4, "y_zero_point");
  } else if (ver > 0) {
    tmask xs = ver >= 19 ? FLT | TM(QL_INT32) : TM(QL_FLOAT) | TM(QL_INT32);
    tmask zs = I8U8;
    if (ver >= 19) zs |= F8;
    if (ver >= 21) zs |= I16_4;
    if (ver >= 23) zs |= TM(QL_FLOAT4E2M1);
    if (ver >= 25) zs |= I2;
    type_in(c, ni, x, xs, "x");
    if (ver < 19) type_in(c, ni, s, TM(QL_FLOAT), "y_scale");
    else if (ver < 23) {
      if (type_in(c, ni, s, FLT | TM(QL_INT32), "y_scale") && x >= 0 && s >= 0 && c->vals[x].dtype &&
          c->vals[s].dtype && c->vals[x].dtype != c->vals[s].dtype)
        vreport(c, "param-type", QL_VERROR, ni, tname,
                "y_scale has type %s but x has type %s: QuantizeLinear-%d gives both type T1 (separate from opset 23)",
                ql_dtype_name(c->vals[s].dtype), ql_dtype_name(c->vals[x].dtype), ver);
    } else
      type_in(c, ni, s, FLT | TM(QL_INT32) | (ver >= 24 ? TM(QL_FLOAT8E8M0) : 0), "y_scale");
    type_in(c, ni, z, zs, "y_zero_point");
    int64_t od = ver >= 21 ? ql_attr_int(n, "output_dtype", 0) : 0;
    if (od) {
      char set[256];
      if (od < 0 || od >= QL_DTYPE_COUNT || !(zs & TM(od)))
        vreport(c, "param-type", QL_VERROR, ni, tname, "output_dtype %lld is not one of {%s}", (long long)od,
                mask_str(zs, set, sizeof set));
      else if (z >= 0 && c->vals[z].dtype && c->vals[z].dtype != (ql_dtype)od)
        vreport(c, "param-type", QL_VERROR, ni, tname, "output_dtype is %s but y_zero_point has type %s",
                ql_dtype_name((ql_dtype)od), ql_dtype_name(c->vals[z].dtype));
    }
  }
  /* the output's declared type must be the zero point's */
  zp_matches(c, ni, z, y, "y_zero_point", "y");
  check_qdq_shape(c, ni, ver, x, s, z, has_axis, axis, block, "y_scale", "y_zero_point", tname);
  vdecl d = {.node = ni, .operand = "y", .tensor = y, .scale = s, .zp = z, .has_scale = 1, .is_output = 1,
             .per_axis_ok = has_axis, .axis = axis, .block = block, .zp_from_input = z >= 0};
  vdecl_add(c, &d);
}

static void collect_dq(vctx *c, int ni) {
  const ql_node *n = c->g->nodes[ni];
  int ver = c->version[ni], ms = is_ms(n);
  int x = in_val(c, n, 0), s = in_val(c, n, 1), z = in_val(c, n, 2);
  const ql_attr *ax = ql_node_attr(n, "axis");
  int has_axis = ms ? ax != NULL : ver >= 13;
  int64_t axis = ql_attr_int(n, "axis", 1);
  int64_t block = !ms && ver >= 21 ? ql_attr_int(n, "block_size", 0) : 0;
  const char *tname = x >= 0 ? c->vals[x].name : "";
  if (ms) {
    type_in(c, ni, x, I8U8 | I16_4 | TM(QL_INT32), "x");
    type_in(c, ni, s, TM(QL_FLOAT) | TM(QL_FLOAT16), "x_scale");
    type_in(c, ni, z, I8U8 | I16_4 | TM(QL_INT32), "x_zero_point");
  } else if (ver > 0) {
    tmask xs = I8U8 | TM(QL_INT32);
    if (ver >= 19) xs |= F8;
    if (ver >= 21) xs |= I16_4;
    if (ver >= 23) xs |= TM(QL_FLOAT4E2M1);
    if (ver >= 25) xs |= I2;
    type_in(c, ni, x, xs, "x");
    type_in(c, ni, s, ver < 19 ? TM(QL_FLOAT) : FLT | (ver >= 24 ? TM(QL_FLOAT8E8M0) : 0), "x_scale");
    type_in(c, ni, z, xs, "x_zero_point");
    int64_t od = ver >= 23 ? ql_attr_int(n, "output_dtype", 0) : 0;
    if (od && (od < 0 || od >= QL_DTYPE_COUNT || !(FLT & TM(od))))
      vreport(c, "param-type", QL_VERROR, ni, tname, "output_dtype %lld is not one of {float32, float16, bfloat16}",
              (long long)od);
  }
  zp_matches(c, ni, z, x, "x_zero_point", "x");
  check_qdq_shape(c, ni, ver, x, s, z, has_axis, axis, block, "x_scale", "x_zero_point", tname);
  vdecl d = {.node = ni, .operand = "x", .tensor = x, .scale = s, .zp = z, .has_scale = 1,
             .per_axis_ok = has_axis, .axis = axis, .block = block, .zp_from_input = z >= 0};
  vdecl_add(c, &d);
}

/* ---------------------------------------------------------------- QOperator ops */
typedef struct {
  int t_in;        /* input index of the tensor, or -1-k for output k */
  int s_in, z_in;  /* input indices, -1 when the op has none */
  const char *name, *sname, *zname;
  tmask types, stypes;
  int64_t alt;     /* a second allowed element count besides 1 (0: scalar only) */
  int64_t axis;    /* per-axis axis (relative to the tensor's rank) */
  int zp_indep;    /* zero point may be per-tensor while the scale is per-axis */
  int weight;
} qoperand;

static void qoperand_check(vctx *c, int ni, const qoperand *o) {
  const ql_node *n = c->g->nodes[ni];
  int t = o->t_in >= 0 ? in_val(c, n, (size_t)o->t_in) : out_val(c, n, (size_t)(-1 - o->t_in));
  int s = o->s_in >= 0 ? in_val(c, n, (size_t)o->s_in) : -1;
  int z = o->z_in >= 0 ? in_val(c, n, (size_t)o->z_in) : -1;
  const char *tname = t >= 0 ? c->vals[t].name : "";
  type_in(c, ni, t, o->types, o->name);
  if (o->s_in >= 0) type_in(c, ni, s, o->stypes, o->sname);
  if (z >= 0) {
    if (type_in(c, ni, z, o->types, o->zname)) zp_matches(c, ni, z, t, o->zname, o->name);
  }
  int64_t ns = vnumel(c, s), nz = vnumel(c, z);
  char a[96];
  if (s >= 0 && ns > 1 && o->alt >= 0 && ns != o->alt) {
    fmt_shape(c, s, a, sizeof a);
    if (o->alt > 0)
      vreport(c, "param-shape", QL_VERROR, ni, tname, "%s has shape %s; it must have 1 or %lld elements", o->sname, a,
              (long long)o->alt);
    else if (o->alt == 0)
      vreport(c, "param-shape", QL_VERROR, ni, tname, "%s has shape %s; it must be a scalar", o->sname, a);
  } else if (z >= 0 && nz > 1 && o->alt >= 0 && nz != o->alt) {
    fmt_shape(c, z, a, sizeof a);
    if (o->alt > 0)
      vreport(c, "param-shape", QL_VERROR, ni, tname, "%s has shape %s; it must have 1 or %lld elements", o->zname, a,
              (long long)o->alt);
    else if (o->alt == 0)
      vreport(c, "param-shape", QL_VERROR, ni, tname, "%s has shape %s; it must be a scalar", o->zname, a);
  } else if (s >= 0 && z >= 0 && ns > 0 && nz > 0 && ns != nz && !(o->zp_indep && nz == 1)) {
    char b[96];
    fmt_shape(c, s, a, sizeof a);
    fmt_shape(c, z, b, sizeof b);
    vreport(c, "param-shape", QL_VERROR, ni, tname, "%s has shape %s but %s has shape %s: they must match", o->zname,
            b, o->sname, a);
  }
  if (o->s_in < 0 && o->z_in < 0) return;
  vdecl d = {.node = ni, .operand = o->name, .tensor = t, .scale = s, .zp = z, .has_scale = o->s_in >= 0,
             .is_output = o->t_in < 0, .per_axis_ok = o->alt != 0, .axis = o->axis, .zp_from_input = z >= 0};
  d.block = 0;
  (void)o->weight;
  vdecl_add(c, &d);
}

/* int32 bias of a QOperator node: its scale is x_scale * w_scale, zero point 0 */
static void implicit_bias(vctx *c, int ni, size_t idx, int64_t m, const char *name) {
  const ql_node *n = c->g->nodes[ni];
  int b = in_val(c, n, idx);
  if (b < 0) return;
  type_in(c, ni, b, TM(QL_INT32), name);
  int r = vrank(c, b);
  int64_t nb = vnumel(c, b);
  if (r >= 0 && m > 0 && nb >= 0 && (r != 1 || nb != m) && !(nb == 1 && !strcmp(n->op_type, "QGemm"))) {
    char a[96];
    fmt_shape(c, b, a, sizeof a);
    vreport(c, "param-shape", QL_VERROR, ni, c->vals[b].name, "bias %s has shape %s; it must be 1-D [%lld]", name, a,
            (long long)m);
  }
  vdecl d = {.node = ni, .operand = name, .tensor = b, .scale = -1, .zp = -1, .implicit = 1};
  vdecl_add(c, &d);
}

static void collect_qlinearconv(vctx *c, int ni) {
  const ql_node *n = c->g->nodes[ni];
  int w = in_val(c, n, 3);
  int64_t m = vdim(c, w, 0);
  qoperand ops[3] = {
      {0, 1, 2, "x", "x_scale", "x_zero_point", I8U8, TM(QL_FLOAT), 0, 0, 0, 0},
      {3, 4, 5, "w", "w_scale", "w_zero_point", I8U8, TM(QL_FLOAT), m > 0 ? m : -1, 0, 1, 1},
      {-1, 6, 7, "y", "y_scale", "y_zero_point", I8U8, TM(QL_FLOAT), 0, 1, 0, 0},
  };
  for (int i = 0; i < 3; i++) qoperand_check(c, ni, &ops[i]);
  implicit_bias(c, ni, 8, m, "B");
}

static void collect_qlinearmatmul(vctx *c, int ni) {
  const ql_node *n = c->g->nodes[ni];
  int ver = c->version[ni];
  int a = in_val(c, n, 0), b = in_val(c, n, 3);
  int64_t M = vrank(c, a) >= 2 ? vdim(c, a, -2) : -1, N = vrank(c, b) >= 2 ? vdim(c, b, -1) : -1;
  tmask T = ver >= 21 ? I8U8 | F8 : I8U8, S = ver >= 21 ? FLT : TM(QL_FLOAT);
  qoperand ops[3] = {
      {0, 1, 2, "a", "a_scale", "a_zero_point", T, S, M > 0 ? M : -1, -2, 0, 0},
      {3, 4, 5, "b", "b_scale", "b_zero_point", T, S, N > 0 ? N : -1, -1, 0, 1},
      {-1, 6, 7, "y", "y_scale", "y_zero_point", T, S, -1, -1, 0, 0},
  };
  for (int i = 0; i < 3; i++) qoperand_check(c, ni, &ops[i]);
  if (ver >= 21) {
    /* the three scales share type TS */
    int s0 = in_val(c, n, 1);
    for (int i = 4; i <= 6; i += 2) {
      int si = in_val(c, n, (size_t)i);
      if (s0 >= 0 && si >= 0 && c->vals[s0].dtype && c->vals[si].dtype && c->vals[s0].dtype != c->vals[si].dtype)
        vreport(c, "param-type", QL_VERROR, ni, c->vals[si].name,
                "%s has type %s but a_scale has type %s: all scales share type TS", i == 4 ? "b_scale" : "y_scale",
                ql_dtype_name(c->vals[si].dtype), ql_dtype_name(c->vals[s0].dtype));
    }
  }
}

static void collect_ms(vctx *c, int ni) {
  const ql_node *n = c->g->nodes[ni];
  const tmask F = TM(QL_FLOAT);
  if (is_op(n, "QLinearAdd") || is_op(n, "QLinearMul")) {
    qoperand ops[3] = {{0, 1, 2, "A", "A_scale", "A_zero_point", I8U8, F, 0, 0, 0, 0},
                       {3, 4, 5, "B", "B_scale", "B_zero_point", I8U8, F, 0, 0, 0, 0},
                       {-1, 6, 7, "C", "C_scale", "C_zero_point", I8U8, F, 0, 0, 0, 0}};
    for (int i = 0; i < 3; i++) qoperand_check(c, ni, &ops[i]);
  } else if (is_op(n, "QLinearSigmoid") || is_op(n, "QLinearLeakyRelu") || is_op(n, "QLinearSoftmax") ||
             is_op(n, "QLinearAveragePool") || is_op(n, "QLinearGlobalAveragePool") || is_op(n, "QLinearReduceMean")) {
    qoperand ops[2] = {{0, 1, 2, "X", "X_scale", "X_zero_point", I8U8, F, 0, 0, 0, 0},
                       {-1, 3, 4, "Y", "Y_scale", "Y_zero_point", I8U8, F, 0, 0, 0, 0}};
    for (int i = 0; i < 2; i++) qoperand_check(c, ni, &ops[i]);
  } else if (is_op(n, "QLinearConcat")) {
    qoperand y = {-1, 0, 1, "Y", "Y_scale", "Y_zero_point", I8U8, F, 0, 0, 0, 0};
    qoperand_check(c, ni, &y);
    for (size_t k = 2; k + 2 < n->n_inputs; k += 3) {
      qoperand x = {(int)k, (int)k + 1, (int)k + 2, "input", "input scale", "input zero point", I8U8, F, 0, 0, 0, 0};
      qoperand_check(c, ni, &x);
    }
  } else if (is_op(n, "QLinearWhere")) {
    qoperand ops[3] = {{1, 2, 3, "X", "x_scale", "x_zero_point", I8U8, F, 0, 0, 0, 0},
                       {4, 5, 6, "Y", "y_scale", "y_zero_point", I8U8, F, 0, 0, 0, 0},
                       {-1, 7, 8, "Z", "z_scale", "z_zero_point", I8U8, F, 0, 0, 0, 0}};
    for (int i = 0; i < 3; i++) qoperand_check(c, ni, &ops[i]);
  } else if (is_op(n, "QLinearConv")) {
    collect_qlinearconv(c, ni);
  } else if (is_op(n, "QGemm")) {
    int b = in_val(c, n, 3);
    int64_t N = vdim(c, b, ql_attr_int(n, "transB", 0) ? 0 : 1);
    qoperand ops[3] = {{0, 1, 2, "A", "a_scale", "a_zero_point", I8U8, F, 0, 0, 0, 0},
                       {3, 4, 5, "B", "b_scale", "b_zero_point", I8U8, F, N > 0 ? N : -1, -1, 0, 1},
                       {-1, 7, 8, "Y", "y_scale", "y_zero_point", I8U8, F, 0, 0, 0, 0}};
    int nops = n->n_inputs > 7 && *n->inputs[7] ? 3 : 2;
    for (int i = 0; i < nops; i++) qoperand_check(c, ni, &ops[i]);
    implicit_bias(c, ni, 6, N, "C");
  } else if (is_op(n, "QAttention")) {
    int w = in_val(c, n, 1);
    int64_t N = vdim(c, w, 1);
    qoperand ops[2] = {{0, 3, 6, "input", "input_scale", "input_zero_point", I8U8, FLT, 0, 0, 0, 0},
                       {1, 4, 7, "weight", "weight_scale", "weight_zero_point", I8U8, FLT, N > 0 ? N : -1, -1, 0, 1}};
    for (int i = 0; i < 2; i++) qoperand_check(c, ni, &ops[i]);
  } else if (is_op(n, "MatMulIntegerToFloat")) {
    int b = in_val(c, n, 1);
    int64_t N = vdim(c, b, -1);
    const tmask S = TM(QL_FLOAT) | TM(QL_FLOAT16);
    qoperand ops[2] = {{0, 2, 4, "A", "a_scale", "a_zero_point", I8U8, S, 0, 0, 0, 0},
                       {1, 3, 5, "B", "b_scale", "b_zero_point", I8U8, S, N > 0 ? N : -1, -1, 0, 1}};
    for (int i = 0; i < 2; i++) qoperand_check(c, ni, &ops[i]);
  } else if (is_op(n, "DynamicQuantizeMatMul")) {
    int b = in_val(c, n, 1);
    int64_t N = vdim(c, b, -1);
    qoperand o = {1, 2, 3, "B", "b_scale", "b_zero_point", I8U8, F, N > 0 ? N : -1, -1, 0, 1};
    qoperand_check(c, ni, &o);
  } else if (is_op(n, "QuantizeLinear")) {
    collect_q(c, ni);
  } else if (is_op(n, "DequantizeLinear")) {
    collect_dq(c, ni);
  }
}

static void collect_integer(vctx *c, int ni) {
  const ql_node *n = c->g->nodes[ni];
  if (is_op(n, "ConvInteger")) {
    int w = in_val(c, n, 1);
    int64_t m = vdim(c, w, 0);
    qoperand ops[2] = {{0, -1, 2, "x", "", "x_zero_point", I8U8, 0, 0, 0, 0, 0},
                       {1, -1, 3, "w", "", "w_zero_point", I8U8, 0, m > 0 ? m : -1, 0, 0, 1}};
    for (int i = 0; i < 2; i++) qoperand_check(c, ni, &ops[i]);
  } else {
    int a = in_val(c, n, 0), b = in_val(c, n, 1);
    int64_t M = vrank(c, a) >= 2 ? vdim(c, a, -2) : -1, N = vrank(c, b) >= 2 ? vdim(c, b, -1) : -1;
    qoperand ops[2] = {{0, -1, 2, "A", "", "a_zero_point", I8U8, 0, M > 0 ? M : -1, -2, 0, 0},
                       {1, -1, 3, "B", "", "b_zero_point", I8U8, 0, N > 0 ? N : -1, -1, 0, 1}};
    for (int i = 0; i < 2; i++) qoperand_check(c, ni, &ops[i]);
  }
}

static void collect_dynamic_q(vctx *c, int ni) {
  const ql_node *n = c->g->nodes[ni];
  type_in(c, ni, in_val(c, n, 0), TM(QL_FLOAT), "x");
  vdecl d = {.node = ni, .operand = "y", .tensor = out_val(c, n, 0), .scale = out_val(c, n, 1),
             .zp = out_val(c, n, 2), .has_scale = 1, .is_output = 1, .zp_from_input = 1};
  vdecl_add(c, &d);
}

void vcollect(vctx *c) {
  const ql_graph *g = c->g;
  for (size_t i = 0; i < g->n_nodes && !c->oom; i++) {
    const ql_node *n = g->nodes[i];
    int ni = (int)i;
    if (!vis_quant_node(n)) continue;
    c->rep->quant_nodes++;
    if (is_ms(n)) collect_ms(c, ni);
    else if (is_op(n, "QuantizeLinear")) collect_q(c, ni);
    else if (is_op(n, "DequantizeLinear")) collect_dq(c, ni);
    else if (is_op(n, "QLinearConv")) collect_qlinearconv(c, ni);
    else if (is_op(n, "QLinearMatMul")) collect_qlinearmatmul(c, ni);
    else if (is_op(n, "ConvInteger") || is_op(n, "MatMulInteger")) collect_integer(c, ni);
    else if (is_op(n, "DynamicQuantizeLinear")) collect_dynamic_q(c, ni);
  }
}

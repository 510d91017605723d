/* Cast (schema versions 1, 6, 9, 13, 19, 21, 23, 24, 25) and CastLike (15,
 * 19, 21, 23, 24, 25).
 *
 * Conversions follow the Cast description and, where it is silent, the ONNX
 * reference (numpy / ml_dtypes):
 *  - float -> float rounds to nearest even; float64 -> float16 rounds once,
 *    float64 -> bfloat16/float8 goes through float32 (as ml_dtypes does);
 *  - float8 targets honour `saturate` (tables in src/common/dtype.c), float4
 *    always clamps to +-6, float8e8m0 honours `saturate` and `round_mode`;
 *  - float -> int8..int64/uint*: truncation toward zero; out of range is
 *    undefined by the spec, we wrap (NaN and Inf give 0);
 *  - float -> int4/uint4/int2/uint2: round to nearest even, then keep the low
 *    bits (the int4/int2 technical notes); ml_dtypes truncates instead, which
 *    only differs for non-integral inputs;
 *  - int -> int keeps the low bits; bool is x != 0 (NaN is true);
 *  - strings: numbers are parsed with strtod/strtoll ("INF", "-INF", "NaN"
 *    in any case), and printed as the shortest decimal that reads back to the
 *    same value ("INF", "-INF", "NaN" for specials, "True"/"False" for bool).
 */
#include "op.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

/* Types each schema version lists (T1 and T2 are the same set). */
static int type_allowed(int v, ql_dtype t) {
  switch (t) {
  case QL_FLOAT16: case QL_FLOAT: case QL_DOUBLE: case QL_INT8: case QL_INT16: case QL_INT32:
  case QL_INT64: case QL_UINT8: case QL_UINT16: case QL_UINT32: case QL_UINT64: case QL_BOOL:
    return 1;
  case QL_STRING: return v >= 9;
  case QL_BFLOAT16: return v >= 13;
  case QL_FLOAT8E4M3FN: case QL_FLOAT8E4M3FNUZ: case QL_FLOAT8E5M2: case QL_FLOAT8E5M2FNUZ: return v >= 19;
  case QL_UINT4: case QL_INT4: return v >= 21;
  case QL_FLOAT4E2M1: return v >= 23;
  case QL_FLOAT8E8M0: return v >= 24;
  case QL_UINT2: case QL_INT2: return v >= 25;
  default: return 0;
  }
}

static int is_subbyte_int(ql_dtype t) { return t == QL_INT4 || t == QL_UINT4 || t == QL_INT2 || t == QL_UINT2; }
static int is_intlike(ql_dtype t) { return ql_dtype_is_int(t) || t == QL_BOOL; }

/* Stores a float value (exact in double) of a floating-point source. */
static void store_from_float(ql_dtype dt, void *dst, int64_t i, double d, int saturate, int rmode) {
  switch (dt) {
  case QL_DOUBLE: ((double *)dst)[i] = d; break;
  case QL_FLOAT: ((float *)dst)[i] = (float)d; break;
  case QL_FLOAT16: ql_store_f64(QL_FLOAT16, dst, i, d); break;
  case QL_BFLOAT16: ((uint16_t *)dst)[i] = ql_f32_to_bf16((float)d); break;
  case QL_FLOAT8E4M3FN: case QL_FLOAT8E4M3FNUZ: case QL_FLOAT8E5M2: case QL_FLOAT8E5M2FNUZ:
    ((uint8_t *)dst)[i] = ql_f32_to_f8(dt, (float)d, saturate);
    break;
  case QL_FLOAT4E2M1: ((uint8_t *)dst)[i] = ql_f32_to_f8(dt, (float)d, 1); break;
  case QL_FLOAT8E8M0: ((uint8_t *)dst)[i] = ql_f32_to_e8m0((float)d, saturate, rmode); break;
  case QL_BOOL: ((uint8_t *)dst)[i] = d != 0; break; /* "+/- 0.0 to False; all else to True" */
  default:
    if (is_subbyte_int(dt)) {
      double r = nearbyint(d);
      ql_store_i64(dt, dst, i, isfinite(r) ? (int64_t)fmod(r, 256.0) : 0);
    } else {
      ql_store_f64(dt, dst, i, d); /* truncates toward zero */
    }
    break;
  }
}

/* An integer source value (uint64 passed separately so it keeps its magnitude). */
static void store_from_int(ql_dtype dt, void *dst, int64_t i, int64_t v, int is_u64, int saturate, int rmode) {
  if (is_intlike(dt)) {
    ql_store_i64(dt, dst, i, v);
    return;
  }
  uint64_t u = (uint64_t)v;
  float f = is_u64 ? (float)u : (float)v; /* one rounding, like numpy */
  switch (dt) {
  case QL_DOUBLE: ((double *)dst)[i] = is_u64 ? (double)u : (double)v; break;
  case QL_FLOAT: ((float *)dst)[i] = f; break;
  default: store_from_float(dt, dst, i, f, saturate, rmode); break;
  }
}

/* ---- strings ---- */
static int parse_number(const char *s, double *d, int64_t *iv, int *is_int) {
  while (*s == ' ' || *s == '\t') s++;
  if (!*s) return -1;
  if (!strcasecmp(s, "true")) { *is_int = 1; *iv = 1; return 0; }
  if (!strcasecmp(s, "false")) { *is_int = 1; *iv = 0; return 0; }
  char *end;
  errno = 0;
  long long ll = strtoll(s, &end, 10);
  if (end != s && errno == 0) {
    while (*end == ' ' || *end == '\t') end++;
    if (!*end) { *is_int = 1; *iv = ll; return 0; }
  }
  /* strtod accepts "inf", "+INF", "infinity" and "nan" in any case */
  double x = strtod(s, &end);
  if (end == s) return -1;
  while (*end == ' ' || *end == '\t') end++;
  if (*end) return -1;
  *is_int = 0;
  *d = x;
  return 0;
}

/* Shortest "%.*g" that converts back to the same value of type t. */
static void format_float(char *buf, size_t n, ql_dtype t, double d) {
  if (isnan(d)) { snprintf(buf, n, "NaN"); return; }
  if (isinf(d)) { snprintf(buf, n, d < 0 ? "-INF" : "INF"); return; }
  for (int p = 1; p <= 17; p++) {
    snprintf(buf, n, "%.*g", p, d);
    double back = strtod(buf, NULL);
    if (t != QL_DOUBLE) {
      uint8_t tmp[8] = {0};
      ql_store_f64(t, tmp, 0, back);
      if (ql_load_f64(t, tmp, 0) == d) return;
    } else if (back == d) {
      return;
    }
  }
}

static ql_status cast_from_string(ql_op_ctx *c, const ql_tensor *x, ql_tensor *y, int saturate, int rmode) {
  for (int64_t i = 0; i < x->numel; i++) {
    const char *s = ((char **)x->data)[i];
    double d = 0;
    int64_t iv = 0;
    int is_int = 0;
    if (!s || parse_number(s, &d, &iv, &is_int))
      return ql_op_fail(c, QL_ERR_INVALID_ARGUMENT, "cannot cast string \"%.64s\" (element %lld) to %s", s ? s : "",
                        (long long)i, ql_dtype_name(y->dtype));
    if (is_int) store_from_int(y->dtype, y->data, i, iv, 0, saturate, rmode);
    else store_from_float(y->dtype, y->data, i, d, saturate, rmode);
  }
  return QL_OK;
}

static ql_status cast_to_string(ql_op_ctx *c, const ql_tensor *x, ql_tensor *y) {
  char buf[64];
  for (int64_t i = 0; i < x->numel; i++) {
    ql_dtype t = x->dtype;
    if (t == QL_BOOL) snprintf(buf, sizeof buf, "%s", ((const uint8_t *)x->data)[i] ? "True" : "False");
    else if (t == QL_UINT64) snprintf(buf, sizeof buf, "%llu", (unsigned long long)((const uint64_t *)x->data)[i]);
    else if (ql_dtype_is_int(t)) snprintf(buf, sizeof buf, "%lld", (long long)ql_load_i64(t, x->data, i));
    else format_float(buf, sizeof buf, t, ql_load_f64(t, x->data, i));
    if (!(((char **)y->data)[i] = ql_strdup(buf))) return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  return QL_OK;
}

/* ---- the op ---- */
/* y[i] = (TY)x[i]. Blocks of 16 with restrict pointers: GCC's -O2 cost
 * model vectorizes a fixed-count inner loop but not one needing a scalar
 * epilogue or an overlap check. Output buffers are always fresh. */
#define CAST_LOOP(TX, TY, src, dst, count)                                        \
  do {                                                                            \
    const TX *restrict xs_ = (const TX *)(src);                                   \
    TY *restrict ys_ = (TY *)(dst);                                               \
    int64_t n_ = (count), i_ = 0;                                                 \
    for (; i_ + 16 <= n_; i_ += 16)                                               \
      for (int l_ = 0; l_ < 16; l_++) ys_[i_ + l_] = (TY)xs_[i_ + l_];            \
    for (; i_ < n_; i_++) ys_[i_] = (TY)xs_[i_];                                  \
  } while (0)

static ql_status cast_common(ql_op_ctx *c, const ql_tensor *x, ql_dtype to) {
  int v = c->version;
  if (!type_allowed(v, x->dtype))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input type %s is not accepted by %s-%d", ql_dtype_name(x->dtype),
                      c->node->op_type, v);
  if (!type_allowed(v, to))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "target type %s is not accepted by %s-%d", ql_dtype_name(to),
                      c->node->op_type, v);
  int saturate = v >= 19 ? ql_attr_int(c->node, "saturate", 1) != 0 : 1;
  int rmode = 0;
  if (v >= 24) {
    const char *rm = ql_attr_string(c->node, "round_mode", "up");
    if (!strcmp(rm, "up")) rmode = 0;
    else if (!strcmp(rm, "down")) rmode = 1;
    else if (!strcmp(rm, "nearest")) rmode = 2;
    else return ql_op_fail(c, QL_ERR_INVALID_MODEL, "round_mode \"%s\" must be \"up\", \"down\" or \"nearest\"", rm);
  }

  ql_tensor *y = ql_op_output(c, 0, to, x->rank, x->dims);
  if (!y) return c->err->code;
  if (!x->numel) return QL_OK;
  /* A float8 cast to its own type still saturates: E5M2 +-Inf becomes +-max
   * (the Cast table applies to every conversion, as in the reference). */
  int self_convert = saturate && to == QL_FLOAT8E5M2;
  if (x->dtype == to && !self_convert) {
    if (to != QL_STRING) {
      memcpy(y->data, x->data, ql_tensor_nbytes(x));
      return QL_OK;
    }
    for (int64_t i = 0; i < x->numel; i++) {
      const char *s = ((char **)x->data)[i];
      if (!(((char **)y->data)[i] = ql_strdup(s ? s : ""))) return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return QL_OK;
  }
  if (x->dtype == QL_STRING) return cast_from_string(c, x, y, saturate, rmode);
  if (to == QL_STRING) return cast_to_string(c, x, y);

  /* Hot conversions (dequantizing MatMulInteger output) get plain loops the
   * compiler vectorizes; each matches the generic path bit for bit. */
  if (x->dtype == QL_INT32 && to == QL_FLOAT) {
    CAST_LOOP(int32_t, float, x->data, y->data, x->numel);
  } else if (x->dtype == QL_UINT8 && to == QL_FLOAT) {
    CAST_LOOP(uint8_t, float, x->data, y->data, x->numel);
  } else if (x->dtype == QL_INT8 && to == QL_FLOAT) {
    CAST_LOOP(int8_t, float, x->data, y->data, x->numel);
  } else if (x->dtype == QL_FLOAT && to == QL_DOUBLE) {
    CAST_LOOP(float, double, x->data, y->data, x->numel);
  } else if (x->dtype == QL_DOUBLE && to == QL_FLOAT) {
    CAST_LOOP(double, float, x->data, y->data, x->numel);
  } else if (is_intlike(x->dtype)) {
    int u64 = x->dtype == QL_UINT64;
    for (int64_t i = 0; i < x->numel; i++)
      store_from_int(to, y->data, i, ql_load_i64(x->dtype, x->data, i), u64, saturate, rmode);
  } else if (x->dtype == QL_FLOAT && to == QL_FLOAT16) {
    const float *xf = x->data;
    uint16_t *yh = y->data;
    for (int64_t i = 0; i < x->numel; i++) yh[i] = ql_f32_to_f16(xf[i]);
  } else {
    for (int64_t i = 0; i < x->numel; i++)
      store_from_float(to, y->data, i, ql_load_f64(x->dtype, x->data, i), saturate, rmode);
  }
  return QL_OK;
}

/* Cast-1 names the target type with a string ("FLOAT", "INT8", ...). */
static int dtype_from_name(const char *s, ql_dtype *out) {
  static const struct { const char *name; ql_dtype t; } names[] = {
      {"FLOAT", QL_FLOAT},   {"UINT8", QL_UINT8},   {"INT8", QL_INT8},     {"UINT16", QL_UINT16},
      {"INT16", QL_INT16},   {"INT32", QL_INT32},   {"INT64", QL_INT64},   {"STRING", QL_STRING},
      {"BOOL", QL_BOOL},     {"FLOAT16", QL_FLOAT16}, {"DOUBLE", QL_DOUBLE}, {"UINT32", QL_UINT32},
      {"UINT64", QL_UINT64},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcasecmp(s, names[i].name)) {
      *out = names[i].t;
      return 0;
    }
  return -1;
}

static ql_status cast(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input is required");
  const ql_attr *a = ql_node_attr(c->node, "to");
  ql_dtype to;
  if (!a) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute 'to' is required");
  if (a->type == QL_ATTR_STRING && c->version < 6) {
    if (dtype_from_name(a->s, &to))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute 'to' names an unknown type \"%s\"", a->s);
  } else if (a->type == QL_ATTR_INT) {
    if (a->i <= 0 || a->i >= QL_DTYPE_COUNT)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute 'to' = %lld is not a data type", (long long)a->i);
    to = (ql_dtype)a->i;
  } else {
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute 'to' has the wrong attribute type");
  }
  return cast_common(c, x, to);
}

static ql_status cast_like(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *like = ql_op_in(c, 1);
  if (!x || !like) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs input and target_type are required");
  return cast_common(c, x, like->dtype);
}

const ql_op_def ql_ops_cast[] = {
    {"", "Cast", 1, 25, cast},
    {"", "CastLike", 15, 25, cast_like},
    {0},
};

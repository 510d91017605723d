/* Element types: names, sizes, ranges, and conversions between float formats.
 * Float narrowing always rounds to nearest even, as ONNX Cast requires. */
#include "util.h"
#include <math.h>

static const struct {
  const char *name;
  unsigned char size, bits, is_float, is_int, is_signed;
} k_types[QL_DTYPE_COUNT] = {
  [QL_UNDEFINED] = {"undefined", 0, 0, 0, 0, 0},
  [QL_FLOAT] = {"float32", 4, 32, 1, 0, 1},
  [QL_UINT8] = {"uint8", 1, 8, 0, 1, 0},
  [QL_INT8] = {"int8", 1, 8, 0, 1, 1},
  [QL_UINT16] = {"uint16", 2, 16, 0, 1, 0},
  [QL_INT16] = {"int16", 2, 16, 0, 1, 1},
  [QL_INT32] = {"int32", 4, 32, 0, 1, 1},
  [QL_INT64] = {"int64", 8, 64, 0, 1, 1},
  [QL_STRING] = {"string", sizeof(char *), 0, 0, 0, 0},
  [QL_BOOL] = {"bool", 1, 8, 0, 0, 0},
  [QL_FLOAT16] = {"float16", 2, 16, 1, 0, 1},
  [QL_DOUBLE] = {"float64", 8, 64, 1, 0, 1},
  [QL_UINT32] = {"uint32", 4, 32, 0, 1, 0},
  [QL_UINT64] = {"uint64", 8, 64, 0, 1, 0},
  [QL_COMPLEX64] = {"complex64", 8, 64, 0, 0, 0},
  [QL_COMPLEX128] = {"complex128", 16, 128, 0, 0, 0},
  [QL_BFLOAT16] = {"bfloat16", 2, 16, 1, 0, 1},
  [QL_FLOAT8E4M3FN] = {"float8e4m3fn", 1, 8, 1, 0, 1},
  [QL_FLOAT8E4M3FNUZ] = {"float8e4m3fnuz", 1, 8, 1, 0, 1},
  [QL_FLOAT8E5M2] = {"float8e5m2", 1, 8, 1, 0, 1},
  [QL_FLOAT8E5M2FNUZ] = {"float8e5m2fnuz", 1, 8, 1, 0, 1},
  [QL_UINT4] = {"uint4", 1, 4, 0, 1, 0},
  [QL_INT4] = {"int4", 1, 4, 0, 1, 1},
  [QL_FLOAT4E2M1] = {"float4e2m1", 1, 4, 1, 0, 1},
  [QL_FLOAT8E8M0] = {"float8e8m0", 1, 8, 1, 0, 0},
  [QL_UINT2] = {"uint2", 1, 2, 0, 1, 0},
  [QL_INT2] = {"int2", 1, 2, 0, 1, 1},
};

static int valid(ql_dtype t) { return (unsigned)t < QL_DTYPE_COUNT; }
const char *ql_dtype_name(ql_dtype t) { return valid(t) ? k_types[t].name : "invalid"; }
size_t ql_dtype_size(ql_dtype t) { return valid(t) ? k_types[t].size : 0; }
int ql_dtype_bits(ql_dtype t) { return valid(t) ? k_types[t].bits : 0; }
int ql_dtype_is_float(ql_dtype t) { return valid(t) && k_types[t].is_float; }
int ql_dtype_is_int(ql_dtype t) { return valid(t) && k_types[t].is_int; }
int ql_dtype_is_signed(ql_dtype t) { return valid(t) && k_types[t].is_signed; }

void ql_dtype_int_range(ql_dtype t, int64_t *lo, int64_t *hi) {
  switch (t) {
  case QL_UINT8: *lo = 0; *hi = 255; break;
  case QL_INT8: *lo = -128; *hi = 127; break;
  case QL_UINT16: *lo = 0; *hi = 65535; break;
  case QL_INT16: *lo = -32768; *hi = 32767; break;
  case QL_INT32: *lo = INT32_MIN; *hi = INT32_MAX; break;
  case QL_UINT32: *lo = 0; *hi = UINT32_MAX; break;
  case QL_INT64: case QL_UINT64: *lo = INT64_MIN; *hi = INT64_MAX; break;
  case QL_UINT4: *lo = 0; *hi = 15; break;
  case QL_INT4: *lo = -8; *hi = 7; break;
  case QL_UINT2: *lo = 0; *hi = 3; break;
  case QL_INT2: *lo = -2; *hi = 1; break;
  case QL_BOOL: *lo = 0; *hi = 1; break;
  default: *lo = 0; *hi = 0; break;
  }
}

/* ---- small IEEE-like formats ------------------------------------------- */
typedef struct {
  int ebits, mbits, bias;
  int has_inf;   /* top exponent is inf/nan (IEEE, E5M2) */
  int fn;        /* E4M3FN: only S.1111.111 is NaN, no inf */
  int uz;        /* FNUZ: 0x80 is NaN, no -0, no inf */
  int no_nan;    /* float4: no inf, no NaN */
  double max;
} fmt_t;

static const fmt_t F16 = {5, 10, 15, 1, 0, 0, 0, 65504.0};
static const fmt_t E4M3FN = {4, 3, 7, 0, 1, 0, 0, 448.0};
static const fmt_t E4M3FNUZ = {4, 3, 8, 0, 0, 1, 0, 240.0};
static const fmt_t E5M2 = {5, 2, 15, 1, 0, 0, 0, 57344.0};
static const fmt_t E5M2FNUZ = {5, 2, 16, 0, 0, 1, 0, 57344.0};
static const fmt_t E2M1 = {2, 1, 1, 0, 0, 0, 1, 6.0};

static const fmt_t *fmt_of(ql_dtype t) {
  switch (t) {
  case QL_FLOAT8E4M3FN: return &E4M3FN;
  case QL_FLOAT8E4M3FNUZ: return &E4M3FNUZ;
  case QL_FLOAT8E5M2: return &E5M2;
  case QL_FLOAT8E5M2FNUZ: return &E5M2FNUZ;
  case QL_FLOAT4E2M1: return &E2M1;
  default: return NULL;
  }
}

static double fmt_decode(const fmt_t *f, uint32_t v) {
  int nb = 1 + f->ebits + f->mbits;
  uint32_t sign = (v >> (nb - 1)) & 1;
  uint32_t e = (v >> f->mbits) & ((1u << f->ebits) - 1);
  uint32_t m = v & ((1u << f->mbits) - 1);
  uint32_t emax = (1u << f->ebits) - 1;
  double nan = sign ? -NAN : NAN; /* as ml_dtypes: FNUZ's 0x80 decodes to -NaN */
  if (f->uz && sign && e == 0 && m == 0) return nan;
  if (f->has_inf && e == emax) return m ? nan : (sign ? -INFINITY : INFINITY);
  if (f->fn && e == emax && m == (1u << f->mbits) - 1) return nan;
  double r;
  if (e == 0) r = ldexp((double)m, 1 - f->bias - f->mbits);
  else r = ldexp((double)(m | (1u << f->mbits)), (int)e - f->bias - f->mbits);
  return sign ? -r : r;
}

/* NaN codes as ONNX's reference (ml_dtypes) produces them; only their
 * NaN-ness is specified, but matching the bits keeps outputs reproducible. */
static uint32_t fmt_nan(const fmt_t *f, int sign) {
  int nb = 1 + f->ebits + f->mbits;
  uint32_t sbit = sign ? 1u << (nb - 1) : 0;
  if (f->uz) return 1u << (nb - 1);          /* the single NaN, 0x80 */
  if (f->no_nan) return sign ? 0x0 : 0x8;    /* float4: ml_dtypes gives -0 for +NaN (and +0 for -NaN) */
  if (f->fn) return sbit | ((1u << (nb - 1)) - 1); /* S.1111.111 */
  /* IEEE-like (E5M2): the quiet NaN S.11111.10 */
  return sbit | (((1u << f->ebits) - 1) << f->mbits) | (1u << (f->mbits - 1));
}

/* Rounds x to the format with ties to even. Saturation follows the ONNX Cast
 * tables (opset 25): saturate=1 maps +-Inf and out-of-range values to +-max
 * for all four float8 types; saturate=0 maps them to +-Inf (E5M2) or NaN.
 * float4 has neither Inf nor NaN and always clamps to +-6. */
static uint32_t fmt_encode(const fmt_t *f, double x, int saturate) {
  int nb = 1 + f->ebits + f->mbits;
  uint32_t sbit = 1u << (nb - 1);
  int sign = signbit(x) ? 1 : 0;
  uint32_t emax = (1u << f->ebits) - 1;
  uint32_t maxcode = 0;
  /* code of the largest finite value */
  if (f->has_inf) maxcode = ((emax - 1) << f->mbits) | ((1u << f->mbits) - 1);
  else if (f->fn) maxcode = (emax << f->mbits) | ((1u << f->mbits) - 2);
  else maxcode = (emax << f->mbits) | ((1u << f->mbits) - 1);
  uint32_t infcode = f->has_inf ? (emax << f->mbits) : 0;
  if (isnan(x)) return fmt_nan(f, sign);
  if (isinf(x)) {
    if (saturate || f->no_nan) return maxcode | (sign ? sbit : 0);
    return f->has_inf ? (infcode | (sign ? sbit : 0)) : fmt_nan(f, sign);
  }
  double a = fabs(x);
  int emin = 1 - f->bias; /* exponent of the smallest normal */
  int e;
  frexp(a, &e);
  e -= 1; /* a in [2^e, 2^(e+1)) */
  if (e < emin) e = emin;
  double q = ldexp(1.0, e - f->mbits);
  double r = nearbyint(a / q) * q; /* a/q is exact: scaling by a power of two */
  if (r > f->max) {
    if (saturate || f->no_nan) return maxcode | (sign ? sbit : 0);
    return f->has_inf ? (infcode | (sign ? sbit : 0)) : fmt_nan(f, sign);
  }
  if (r == 0) return (sign && !f->uz) ? sbit : 0;
  uint32_t code;
  if (r < ldexp(1.0, emin)) {
    code = (uint32_t)(r / ldexp(1.0, emin - f->mbits));
  } else {
    frexp(r, &e);
    e -= 1;
    uint32_t m = (uint32_t)(r / ldexp(1.0, e - f->mbits)) - (1u << f->mbits);
    code = ((uint32_t)(e + f->bias) << f->mbits) | m;
  }
  return code | (sign ? sbit : 0);
}

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

float ql_f16_to_f32(uint16_t h) { return (float)fmt_decode(&F16, h); }

/* NaN keeps its sign and the top payload bits, as numpy's conversion does. */
uint16_t ql_f32_to_f16(float f) {
  if (isnan(f)) {
    uint32_t u = f32_bits(f);
    uint16_t h = (uint16_t)(((u >> 16) & 0x8000u) | 0x7c00u | ((u >> 13) & 0x3ffu));
    return (h & 0x3ffu) ? h : (uint16_t)(h | 1u);
  }
  return (uint16_t)fmt_encode(&F16, f, 0);
}

/* numpy converts float64 straight to float16 (one rounding, not two). */
static uint16_t f64_to_f16(double d) {
  if (isnan(d)) {
    uint64_t u;
    memcpy(&u, &d, 8);
    uint16_t h = (uint16_t)(((u >> 48) & 0x8000u) | 0x7c00u | ((u >> 42) & 0x3ffu));
    return (h & 0x3ffu) ? h : (uint16_t)(h | 1u);
  }
  return (uint16_t)fmt_encode(&F16, d, 0);
}

float ql_bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
uint16_t ql_f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(((u >> 16) & 0x8000u) | 0x7fc0u); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1); /* ties to even; a carry into the exponent is right, up to Inf */
  return (uint16_t)(u >> 16);
}

float ql_f8_to_f32(ql_dtype t, uint8_t v) {
  if (t == QL_FLOAT8E8M0) return v == 0xff ? NAN : (float)ldexp(1.0, (int)v - 127);
  const fmt_t *f = fmt_of(t);
  if (f == &E2M1) v &= 0x0f;
  return f ? (float)fmt_decode(f, v) : NAN;
}
uint8_t ql_f32_to_f8(ql_dtype t, float x, int saturate) {
  if (t == QL_FLOAT8E8M0) return ql_f32_to_e8m0(x, saturate, 0);
  const fmt_t *f = fmt_of(t);
  return f ? (uint8_t)fmt_encode(f, x, saturate) : 0;
}

/*
 * float8e8m0 holds 2^(code-127), code 0xFF is NaN, there is no zero and no
 * sign. Rounding works on the float32 fields like the ONNX reference
 * (to_float8e8m0): the exponent field is the code, the mantissa decides the
 * rounding (up: any fraction; nearest: fraction >= 1/2, ties up; down: none).
 * Where the reference and the Cast spec table (opset 24/25) disagree we follow
 * the table: +-Inf saturates to E8M0_MAX (0xFE) when saturate=1, and values
 * below E8M0_MIN (2^-127, zero included) give E8M0_MIN when saturating and
 * NaN otherwise (the reference returns code 0 for both, and 0xFF for Inf).
 * The sign is ignored (negative inputs are unspecified).
 */
uint8_t ql_f32_to_e8m0(float x, int saturate, int round_mode) {
  uint32_t u = f32_bits(x) & 0x7fffffffu;
  if (u > 0x7f800000u) return 0xff;
  if (u == 0x7f800000u) return saturate ? 0xfe : 0xff;
  uint32_t code = u >> 23, frac = u & 0x7fffffu;
  if (code == 0) {
    /* float32 subnormal m*2^-149: 2^-127 is m = 2^22 */
    if (frac < (1u << 22)) return saturate ? 0 : 0xff;
    frac = (frac - (1u << 22)) << 1; /* fraction of 2^-127, in 23 bits */
  }
  if (round_mode == 0 && frac) code++;
  else if (round_mode == 2 && frac >= (1u << 22)) code++;
  if (code > 254) return saturate ? 0xfe : 0xff;
  return (uint8_t)code;
}

/* ---- generic element access -------------------------------------------- */
double ql_load_f64(ql_dtype t, const void *p, int64_t i) {
  switch (t) {
  case QL_FLOAT: return ((const float *)p)[i];
  case QL_DOUBLE: return ((const double *)p)[i];
  case QL_FLOAT16: return ql_f16_to_f32(((const uint16_t *)p)[i]);
  case QL_BFLOAT16: return ql_bf16_to_f32(((const uint16_t *)p)[i]);
  case QL_FLOAT8E4M3FN: case QL_FLOAT8E4M3FNUZ: case QL_FLOAT8E5M2:
  case QL_FLOAT8E5M2FNUZ: case QL_FLOAT4E2M1: case QL_FLOAT8E8M0:
    return ql_f8_to_f32(t, ((const uint8_t *)p)[i]);
  case QL_UINT64: return (double)((const uint64_t *)p)[i];
  default: return (double)ql_load_i64(t, p, i);
  }
}

int64_t ql_load_i64(ql_dtype t, const void *p, int64_t i) {
  switch (t) {
  case QL_UINT8: case QL_UINT4: case QL_UINT2: case QL_BOOL: return ((const uint8_t *)p)[i];
  case QL_INT8: case QL_INT4: case QL_INT2: return ((const int8_t *)p)[i];
  case QL_UINT16: return ((const uint16_t *)p)[i];
  case QL_INT16: return ((const int16_t *)p)[i];
  case QL_INT32: return ((const int32_t *)p)[i];
  case QL_UINT32: return ((const uint32_t *)p)[i];
  case QL_INT64: return ((const int64_t *)p)[i];
  case QL_UINT64: return (int64_t)((const uint64_t *)p)[i];
  default: {
    double d = ql_load_f64(t, p, i);
    if (!(d == d)) return 0;
    if (d >= 9.2e18) return INT64_MAX;
    if (d <= -9.2e18) return INT64_MIN;
    return (int64_t)d;
  }
  }
}

void ql_store_i64(ql_dtype t, void *p, int64_t i, int64_t v) {
  switch (t) {
  case QL_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
  /* sub-byte types keep only their own bits, as a C cast to that width would */
  case QL_UINT4: ((uint8_t *)p)[i] = (uint8_t)(v & 0xf); break;
  case QL_UINT2: ((uint8_t *)p)[i] = (uint8_t)(v & 0x3); break;
  case QL_INT4: ((int8_t *)p)[i] = (int8_t)((int)((v & 0xf) ^ 0x8) - 0x8); break;
  case QL_INT2: ((int8_t *)p)[i] = (int8_t)((int)((v & 0x3) ^ 0x2) - 0x2); break;
  case QL_BOOL: ((uint8_t *)p)[i] = v != 0; break;
  case QL_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
  case QL_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
  case QL_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
  case QL_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
  case QL_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
  case QL_INT64: ((int64_t *)p)[i] = v; break;
  case QL_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
  default: ql_store_f64(t, p, i, (double)v); break;
  }
}

/* Float -> integer conversion as C/numpy casts do for in-range values;
 * out-of-range and NaN give a defined (wrapped) value instead of UB. */
static int64_t f64_to_i64_wrap(double v) {
  if (!(v == v) || isinf(v)) return 0;
  v = trunc(v);
  if (v >= -9.2e18 && v <= 9.2e18) return (int64_t)v;
  double m = fmod(v, 18446744073709551616.0);
  if (m < 0) m += 18446744073709551616.0;
  return m >= 9223372036854775808.0 ? (int64_t)(m - 18446744073709551616.0) : (int64_t)m;
}

void ql_store_f64(ql_dtype t, void *p, int64_t i, double v) {
  switch (t) {
  case QL_FLOAT: ((float *)p)[i] = (float)v; break;
  case QL_DOUBLE: ((double *)p)[i] = v; break;
  case QL_FLOAT16: ((uint16_t *)p)[i] = f64_to_f16(v); break;
  /* ml_dtypes narrows float64 to bfloat16/float8 through float32 */
  case QL_BFLOAT16: ((uint16_t *)p)[i] = ql_f32_to_bf16((float)v); break;
  case QL_FLOAT8E4M3FN: case QL_FLOAT8E4M3FNUZ: case QL_FLOAT8E5M2:
  case QL_FLOAT8E5M2FNUZ: case QL_FLOAT4E2M1: case QL_FLOAT8E8M0:
    ((uint8_t *)p)[i] = ql_f32_to_f8(t, (float)v, 1); break;
  case QL_BOOL: ((uint8_t *)p)[i] = v != 0; break;
  case QL_UINT64: ((uint64_t *)p)[i] = (v >= 0 && v < 18446744073709551616.0) ? (uint64_t)v : (uint64_t)f64_to_i64_wrap(v); break;
  default: ql_store_i64(t, p, i, f64_to_i64_wrap(v)); break;
  }
}

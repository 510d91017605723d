/* Elementwise ops: unary math, binary arithmetic / comparison / logic with
 * numpy broadcasting, variadic Min/Max/Sum/Mean, Where, Clip and PRelu.
 *
 * Three compute domains, chosen by the input element type: floats are
 * computed in double (for + - * / sqrt the double result rounded once to
 * float equals the float result, and the transcendental ones get closer to
 * the true value), signed integers in int64 with wrap-around, unsigned
 * integers in uint64. float32 has specialised loops; the other types go
 * through the generic load/store helpers. */
#include "op.h"
#include <float.h>
#include <math.h>

/* ================================================================ broadcasting */

/* Broadcasting can make an output far larger than any input ([N,1] + [1,N]);
 * such outputs are capped like the loader caps tensors, so that a small
 * hostile model cannot ask for terabytes. */
#define QL_BCAST_MAX_BYTES ((int64_t)1 << 31)

/* Output shape of inputs broadcast together (numpy rules). */
static ql_status bc_shape(ql_op_ctx *c, size_t n, const ql_tensor *const *in, ql_dtype out_type, int *rank,
                          int64_t *dims) {
  *rank = in[0]->rank;
  for (int i = 0; i < in[0]->rank; i++) dims[i] = in[0]->dims[i];
  for (size_t k = 1; k < n; k++) {
    int64_t tmp[QL_MAX_RANK];
    int r;
    if (ql_broadcast_shape(*rank, dims, in[k]->rank, in[k]->dims, &r, tmp) < 0)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input %zu (rank %d) cannot be broadcast with the other inputs", k,
                        in[k]->rank);
    *rank = r;
    memcpy(dims, tmp, sizeof(int64_t) * (size_t)r);
  }
  int64_t numel = ql_dims_numel(*rank, dims), bytes;
  if (numel < 0 || ql_mul_overflow_i64(numel, (int64_t)ql_dtype_size(out_type), &bytes) || bytes > QL_BCAST_MAX_BYTES)
    return ql_op_fail(c, QL_ERR_LIMIT, "broadcast output exceeds the %lld-byte limit", (long long)QL_BCAST_MAX_BYTES);
  return QL_OK;
}

/* ================================================================ scalar semantics */

typedef enum {
  B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MOD, B_FMOD, B_MIN, B_MAX, B_PRELU,
  B_EQ, B_LT, B_LE, B_GT, B_GE, B_AND, B_OR, B_XOR, B_COPY
} bin_op;

static int bin_is_cmp(bin_op op) { return op >= B_EQ && op <= B_XOR; }

static inline double bin_f64(bin_op op, double a, double b) {
  switch (op) {
  case B_ADD: return a + b;
  case B_SUB: return a - b;
  case B_MUL: return a * b;
  case B_DIV: return a / b;
  case B_POW: return pow(a, b);
  case B_FMOD: return fmod(a, b);
  case B_MOD: { /* numpy mod: the result takes the divisor's sign */
    double r = fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  }
  /* numpy minimum/maximum propagate NaN */
  case B_MIN: return a != a || b != b ? a + b : a < b ? a : b;
  case B_MAX: return a != a || b != b ? a + b : a > b ? a : b;
  case B_PRELU: return a < 0 ? a * b : a;
  case B_EQ: return a == b;
  case B_LT: return a < b;
  case B_LE: return a <= b;
  case B_GT: return a > b;
  case B_GE: return a >= b;
  case B_AND: return (a != 0) & (b != 0);
  case B_OR: return (a != 0) | (b != 0);
  case B_XOR: return (a != 0) ^ (b != 0);
  case B_COPY: return a;
  }
  return 0;
}

static inline float bin_f32(bin_op op, float a, float b) {
  switch (op) {
  case B_ADD: return a + b;
  case B_SUB: return a - b;
  case B_MUL: return a * b;
  case B_DIV: return a / b;
  case B_MIN: return a != a || b != b ? a + b : a < b ? a : b;
  case B_MAX: return a != a || b != b ? a + b : a > b ? a : b;
  case B_PRELU: return a < 0 ? a * b : a;
  case B_COPY: return a;
  default: return (float)bin_f64(op, a, b);
  }
}

/* x^n by squaring, wrapping like fixed-width integer multiplication. */
static uint64_t ipow_u64(uint64_t x, uint64_t n) {
  uint64_t r = 1;
  while (n) {
    if (n & 1) r *= x;
    x *= x;
    n >>= 1;
  }
  return r;
}

/* Signed integer ops, wrapping; *bad set on division by zero. */
static inline int64_t bin_i64(bin_op op, int64_t a, int64_t b, int *bad) {
  switch (op) {
  case B_ADD: return (int64_t)((uint64_t)a + (uint64_t)b);
  case B_SUB: return (int64_t)((uint64_t)a - (uint64_t)b);
  case B_MUL: return (int64_t)((uint64_t)a * (uint64_t)b);
  case B_DIV:
  case B_MOD:
  case B_FMOD:
    if (b == 0) {
      *bad = 1;
      return 0;
    }
    if (b == -1) return op == B_DIV ? (int64_t)(0 - (uint64_t)a) : 0;
    if (op == B_DIV) return a / b; /* C truncation, as the reference's astype does */
    {
      int64_t r = a % b;
      if (op == B_MOD && r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    }
  case B_POW:
    if (b >= 0) return (int64_t)ipow_u64((uint64_t)a, (uint64_t)b);
    /* negative exponent: the real result truncated toward zero */
    if (a == 1) return 1;
    if (a == -1) return (b & 1) ? -1 : 1;
    if (a == 0) *bad = 1;
    return 0;
  case B_MIN: return a < b ? a : b;
  case B_MAX: return a > b ? a : b;
  case B_PRELU: return a < 0 ? (int64_t)((uint64_t)a * (uint64_t)b) : a;
  case B_EQ: return a == b;
  case B_LT: return a < b;
  case B_LE: return a <= b;
  case B_GT: return a > b;
  case B_GE: return a >= b;
  case B_AND: return (a != 0) & (b != 0);
  case B_OR: return (a != 0) | (b != 0);
  case B_XOR: return (a != 0) ^ (b != 0);
  case B_COPY: return a;
  }
  return 0;
}

static inline uint64_t bin_u64(bin_op op, uint64_t a, uint64_t b, int *bad) {
  switch (op) {
  case B_ADD: return a + b;
  case B_SUB: return a - b;
  case B_MUL: return a * b;
  case B_DIV:
  case B_MOD:
  case B_FMOD:
    if (b == 0) {
      *bad = 1;
      return 0;
    }
    return op == B_DIV ? a / b : a % b;
  case B_POW: return ipow_u64(a, b);
  case B_MIN: return a < b ? a : b;
  case B_MAX: return a > b ? a : b;
  case B_PRELU: return a;
  case B_EQ: return a == b;
  case B_LT: return a < b;
  case B_LE: return a <= b;
  case B_GT: return a > b;
  case B_GE: return a >= b;
  case B_AND: return (a != 0) & (b != 0);
  case B_OR: return (a != 0) | (b != 0);
  case B_XOR: return (a != 0) ^ (b != 0);
  case B_COPY: return a;
  }
  return 0;
}

/* ================================================================ binary kernels */

typedef struct {
  bin_op op;
  ql_dtype ta, tb, ty;
  const void *a, *b;
  void *y;
  int bad;
} bin_ctx;

#define F32_CASE(OP)                                                                                     \
  case OP:                                                                                               \
    if (sa && sb)                                                                                        \
      for (int64_t i = 0; i < n; i++) y[i] = bin_f32(OP, a[i], b[i]);                                    \
    else if (sa)                                                                                         \
      for (int64_t i = 0; i < n; i++) y[i] = bin_f32(OP, a[i], b0);                                      \
    else if (sb)                                                                                         \
      for (int64_t i = 0; i < n; i++) y[i] = bin_f32(OP, a0, b[i]);                                      \
    else                                                                                                 \
      for (int64_t i = 0; i < n; i++) y[i] = bin_f32(OP, a0, b0);                                        \
    break;

static void bin_row_f32(void *vc, int64_t yo, const int64_t *xo, int64_t n, const int64_t *xs) {
  bin_ctx *c = vc;
  float *y = (float *)c->y + yo;
  const float *a = (const float *)c->a + xo[0], *b = (const float *)c->b + xo[1];
  float a0 = a[0], b0 = b[0];
  int sa = xs[0] != 0, sb = xs[1] != 0;
  switch (c->op) {
    F32_CASE(B_ADD)
    F32_CASE(B_SUB)
    F32_CASE(B_MUL)
    F32_CASE(B_DIV)
    F32_CASE(B_MIN)
    F32_CASE(B_MAX)
    F32_CASE(B_PRELU)
    F32_CASE(B_COPY)
  default:
    for (int64_t i = 0; i < n; i++) y[i] = bin_f32(c->op, sa ? a[i] : a0, sb ? b[i] : b0);
    break;
  }
}

/* Add/Sub/Mul/Div on float32 when the output shares no memory with an
 * input: restrict pointers and blocks of 16 let GCC's -O2 cost model
 * vectorize (it will not add an overlap check or a scalar epilogue itself).
 * Same float32 operations as bin_row_f32, so the results are identical. */
#define F32_BLK(NAME, EXPR)                                                                              \
  static void NAME(float *restrict y, const float *restrict a, const float *restrict b, int64_t n) {    \
    float a0 = a[0], b0 = b[0];                                                                          \
    (void)a0;                                                                                            \
    (void)b0;                                                                                            \
    int64_t i = 0;                                                                                       \
    for (; i + 16 <= n; i += 16)                                                                         \
      for (int l = 0; l < 16; l++) {                                                                     \
        int64_t j = i + l;                                                                               \
        y[j] = EXPR;                                                                                     \
      }                                                                                                  \
    for (int64_t j = i; j < n; j++) y[j] = EXPR;                                                         \
  }
#define F32_BLK_OP(OP, SYM)                                                                              \
  F32_BLK(f32_##OP##_vv, a[j] SYM b[j])                                                                  \
  F32_BLK(f32_##OP##_vs, a[j] SYM b0)                                                                    \
  F32_BLK(f32_##OP##_sv, a0 SYM b[j])
F32_BLK_OP(add, +)
F32_BLK_OP(sub, -)
F32_BLK_OP(mul, *)
F32_BLK_OP(div, /)

#define F32_FAST_CASE(OP, NAME)                                                                          \
  case OP:                                                                                               \
    if (sa && sb) f32_##NAME##_vv(y, a, b, n);                                                           \
    else if (sa) f32_##NAME##_vs(y, a, b, n);                                                            \
    else if (sb) f32_##NAME##_sv(y, a, b, n);                                                            \
    else bin_row_f32(vc, yo, xo, n, xs);                                                                 \
    break;

static void bin_row_f32_noalias(void *vc, int64_t yo, const int64_t *xo, int64_t n, const int64_t *xs) {
  bin_ctx *c = vc;
  float *y = (float *)c->y + yo;
  const float *a = (const float *)c->a + xo[0], *b = (const float *)c->b + xo[1];
  int sa = xs[0] != 0, sb = xs[1] != 0;
  switch (c->op) {
    F32_FAST_CASE(B_ADD, add)
    F32_FAST_CASE(B_SUB, sub)
    F32_FAST_CASE(B_MUL, mul)
    F32_FAST_CASE(B_DIV, div)
  default: bin_row_f32(vc, yo, xo, n, xs); break;
  }
}

/* Any other type combination, one element at a time. */
static void bin_row_generic(void *vc, int64_t yo, const int64_t *xo, int64_t n, const int64_t *xs) {
  bin_ctx *c = vc;
  ql_dtype ta = c->ta, tb = c->tb, ty = c->ty;
  int cmp = bin_is_cmp(c->op);
  if (ta == QL_STRING) { /* Equal only */
    char *const *a = c->a, *const *b = c->b;
    for (int64_t i = 0; i < n; i++) {
      const char *p = a[xo[0] + i * xs[0]], *q = b[xo[1] + i * xs[1]];
      ((uint8_t *)c->y)[yo + i] = !strcmp(p ? p : "", q ? q : "");
    }
    return;
  }
  if (ql_dtype_is_float(ta)) {
    for (int64_t i = 0; i < n; i++) {
      double r = bin_f64(c->op, ql_load_f64(ta, c->a, xo[0] + i * xs[0]), ql_load_f64(tb, c->b, xo[1] + i * xs[1]));
      if (cmp) ((uint8_t *)c->y)[yo + i] = r != 0;
      else ql_store_f64(ty, c->y, yo + i, r);
    }
  } else if (c->op == B_POW && ql_dtype_is_float(tb)) {
    /* integer base, float exponent: computed in double, truncated (astype) */
    for (int64_t i = 0; i < n; i++)
      ql_store_f64(ty, c->y, yo + i,
                   pow(ql_load_f64(ta, c->a, xo[0] + i * xs[0]), ql_load_f64(tb, c->b, xo[1] + i * xs[1])));
  } else if (ql_dtype_is_signed(ta) || ta == QL_BOOL) {
    for (int64_t i = 0; i < n; i++) {
      int64_t r = bin_i64(c->op, ql_load_i64(ta, c->a, xo[0] + i * xs[0]), ql_load_i64(tb, c->b, xo[1] + i * xs[1]),
                          &c->bad);
      if (cmp) ((uint8_t *)c->y)[yo + i] = r != 0;
      else ql_store_i64(ty, c->y, yo + i, r);
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      uint64_t bv = (uint64_t)ql_load_i64(tb, c->b, xo[1] + i * xs[1]);
      if (c->op == B_POW && ql_dtype_is_signed(tb) && (int64_t)bv < 0) {
        /* unsigned base, negative exponent */
        uint64_t av = (uint64_t)ql_load_i64(ta, c->a, xo[0] + i * xs[0]);
        ql_store_i64(ty, c->y, yo + i, av == 1);
        if (av == 0) c->bad = 1;
        continue;
      }
      uint64_t r = bin_u64(c->op, (uint64_t)ql_load_i64(ta, c->a, xo[0] + i * xs[0]), bv, &c->bad);
      if (cmp) ((uint8_t *)c->y)[yo + i] = r != 0;
      else ql_store_i64(ty, c->y, yo + i, (int64_t)r);
    }
  }
}

static int numeric_type(ql_dtype t) {
  return ql_dtype_is_float(t) || (ql_dtype_is_int(t) && t != QL_BOOL);
}

/* Checks the operand types of op (loosely: any type the op can compute). */
static ql_status check_bin_types(ql_op_ctx *c, bin_op op, ql_dtype ta, ql_dtype tb) {
  if (op == B_AND || op == B_OR || op == B_XOR) {
    if (ta != QL_BOOL || tb != QL_BOOL) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs must be bool");
    return QL_OK;
  }
  if (op != B_POW && ta != tb)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input types differ (%s and %s)", ql_dtype_name(ta), ql_dtype_name(tb));
  if (op == B_EQ && (ta == QL_STRING || ta == QL_BOOL)) return QL_OK;
  if (!numeric_type(ta) || !numeric_type(tb))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported",
                      ql_dtype_name(numeric_type(ta) ? tb : ta));
  if (op == B_MOD && ql_dtype_is_float(ta))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "Mod of floating-point inputs requires fmod=1");
  return QL_OK;
}

/* y = op(a, b) with b pre-broadcast to rank/dims; y allocated by caller. */
static ql_status bin_apply(ql_op_ctx *c, bin_op op, const ql_tensor *a, const ql_tensor *b, ql_tensor *y) {
  const ql_tensor *in[2] = {a, b};
  ql_bc_iter it;
  ql_bc_init(&it, 2, in, y->rank, y->dims);
  bin_ctx bc = {.op = op, .ta = a->dtype, .tb = b->dtype, .ty = y->dtype, .a = a->data, .b = b->data, .y = y->data};
  if (a->dtype == QL_FLOAT && b->dtype == QL_FLOAT && y->dtype == QL_FLOAT) {
    /* Sum/Min/Max/Mean accumulate into y (a == y): keep the plain loops. */
    int noalias = y->data != a->data && y->data != b->data;
    ql_bc_run(&it, noalias ? bin_row_f32_noalias : bin_row_f32, &bc);
  }
  else ql_bc_run(&it, bin_row_generic, &bc);
  if (bc.bad) return ql_op_fail(c, QL_ERR_INVALID_ARGUMENT, "integer division by zero");
  return QL_OK;
}

/* Opset < 7 binary ops: without broadcast=1 the shapes must match; with it,
 * B's shape must match a contiguous run of A's dims starting at `axis`
 * (default: trailing), or B holds a single element. Returns B's shape as a
 * rank(A) shape with 1s for numpy broadcasting. */
static ql_status legacy_bcast(ql_op_ctx *c, const ql_tensor *a, const ql_tensor *b, ql_tensor *bv) {
  *bv = *b;
  if (!ql_attr_int(c->node, "broadcast", 0)) {
    int same = a->rank == b->rank;
    for (int i = 0; same && i < a->rank; i++) same = a->dims[i] == b->dims[i];
    if (!same) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input shapes differ and broadcast is not set");
    return QL_OK;
  }
  if (b->numel == 1) {
    bv->rank = 0;
    return QL_OK;
  }
  int64_t axis = ql_attr_int(c->node, "axis", a->rank - b->rank);
  if (axis < 0) axis += a->rank;
  if (axis < 0 || axis + b->rank > a->rank)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "legacy broadcast: axis %lld does not fit B (rank %d) into A (rank %d)",
                      (long long)axis, b->rank, a->rank);
  bv->rank = a->rank;
  for (int i = 0; i < a->rank; i++) {
    int j = i - (int)axis;
    bv->dims[i] = j >= 0 && j < b->rank ? b->dims[j] : 1;
    if (j >= 0 && j < b->rank && b->dims[j] != a->dims[i])
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "legacy broadcast: B dim %d is %lld, A dim %d is %lld", j,
                        (long long)b->dims[j], i, (long long)a->dims[i]);
  }
  return QL_OK;
}

static ql_status run_binary(ql_op_ctx *c, bin_op op, int legacy_below) {
  const ql_tensor *a = ql_op_in(c, 0), *b = ql_op_in(c, 1);
  if (!a || !b) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "two inputs are required");
  ql_status st = check_bin_types(c, op, a->dtype, b->dtype);
  if (st) return st;
  ql_tensor bl;
  if (c->version < legacy_below) {
    if ((st = legacy_bcast(c, a, b, &bl))) return st;
    b = &bl;
  }
  const ql_tensor *in[2] = {a, b};
  int rank;
  int64_t dims[QL_MAX_RANK];
  ql_dtype ty = bin_is_cmp(op) ? QL_BOOL : a->dtype;
  if ((st = bc_shape(c, 2, in, ty, &rank, dims))) return st;
  ql_tensor *y = ql_op_output(c, 0, ty, rank, dims);
  if (!y) return c->err->code;
  return bin_apply(c, op, a, b, y);
}

static ql_status op_add(ql_op_ctx *c) { return run_binary(c, B_ADD, 7); }
static ql_status op_sub(ql_op_ctx *c) { return run_binary(c, B_SUB, 7); }
static ql_status op_mul(ql_op_ctx *c) { return run_binary(c, B_MUL, 7); }
static ql_status op_div(ql_op_ctx *c) { return run_binary(c, B_DIV, 7); }
static ql_status op_pow(ql_op_ctx *c) { return run_binary(c, B_POW, 7); }
static ql_status op_mod(ql_op_ctx *c) { return run_binary(c, ql_attr_int(c->node, "fmod", 0) ? B_FMOD : B_MOD, 0); }
static ql_status op_equal(ql_op_ctx *c) { return run_binary(c, B_EQ, 7); }
static ql_status op_less(ql_op_ctx *c) { return run_binary(c, B_LT, 7); }
static ql_status op_less_equal(ql_op_ctx *c) { return run_binary(c, B_LE, 0); }
static ql_status op_greater(ql_op_ctx *c) { return run_binary(c, B_GT, 7); }
static ql_status op_greater_equal(ql_op_ctx *c) { return run_binary(c, B_GE, 0); }
static ql_status op_and(ql_op_ctx *c) { return run_binary(c, B_AND, 7); }
static ql_status op_or(ql_op_ctx *c) { return run_binary(c, B_OR, 7); }
static ql_status op_xor(ql_op_ctx *c) { return run_binary(c, B_XOR, 7); }

/* PRelu: slope broadcasts to X (unidirectionally); the output has X's shape. */
static ql_status op_prelu(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *s = ql_op_in(c, 1);
  if (!x || !s) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X and slope are required");
  ql_status st = check_bin_types(c, B_PRELU, x->dtype, s->dtype);
  if (st) return st;
  int rank;
  int64_t dims[QL_MAX_RANK];
  if (ql_broadcast_shape(x->rank, x->dims, s->rank, s->dims, &rank, dims) < 0 || rank != x->rank ||
      memcmp(dims, x->dims, sizeof(int64_t) * (size_t)rank))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "slope (rank %d) does not broadcast to X (rank %d)", s->rank, x->rank);
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  return bin_apply(c, B_PRELU, x, s, y);
}

/* Min, Max, Sum, Mean: folded pairwise into the output. */
static ql_status run_variadic(ql_op_ctx *c, bin_op op, int mean) {
  if (c->n_in == 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "at least one input is required");
  for (size_t k = 0; k < c->n_in; k++) {
    if (!c->in[k]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input %zu is missing", k);
    ql_status st = check_bin_types(c, op, c->in[0]->dtype, c->in[k]->dtype);
    if (st) return st;
  }
  int rank;
  int64_t dims[QL_MAX_RANK];
  ql_status st = bc_shape(c, c->n_in, c->in, c->in[0]->dtype, &rank, dims);
  if (st) return st;
  if (c->version < 8)
    for (size_t k = 0; k < c->n_in; k++)
      if (c->in[k]->rank != rank || memcmp(c->in[k]->dims, dims, sizeof(int64_t) * (size_t)rank))
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs must have the same shape before opset 8");
  ql_tensor *y = ql_op_output(c, 0, c->in[0]->dtype, rank, dims);
  if (!y) return c->err->code;
  if ((st = bin_apply(c, B_COPY, c->in[0], c->in[0], y))) return st;
  for (size_t k = 1; k < c->n_in; k++)
    if ((st = bin_apply(c, op, y, c->in[k], y))) return st;
  if (mean && c->n_in > 1)
    for (int64_t i = 0; i < y->numel; i++)
      ql_store_f64(y->dtype, y->data, i, ql_load_f64(y->dtype, y->data, i) / (double)c->n_in);
  return QL_OK;
}

static ql_status op_min(ql_op_ctx *c) { return run_variadic(c, B_MIN, 0); }
static ql_status op_max(ql_op_ctx *c) { return run_variadic(c, B_MAX, 0); }
static ql_status op_sum(ql_op_ctx *c) { return run_variadic(c, B_ADD, 0); }
static ql_status op_mean(ql_op_ctx *c) { return run_variadic(c, B_ADD, 1); }

/* ================================================================ Where */

typedef struct {
  const uint8_t *cond;
  const char *x, *yv;
  char *out;
  size_t es;
  int strings, oom;
} where_ctx;

static void where_row(void *vc, int64_t yo, const int64_t *xo, int64_t n, const int64_t *xs) {
  where_ctx *w = vc;
  for (int64_t i = 0; i < n; i++) {
    int take_x = w->cond[xo[0] + i * xs[0]] != 0;
    int64_t src = take_x ? xo[1] + i * xs[1] : xo[2] + i * xs[2];
    const char *base = take_x ? w->x : w->yv;
    if (w->strings) {
      const char *s = ((char *const *)base)[src];
      if (!(((char **)w->out)[yo + i] = ql_strdup(s ? s : ""))) w->oom = 1;
    } else {
      memcpy(w->out + (size_t)(yo + i) * w->es, base + (size_t)src * w->es, w->es);
    }
  }
}

static ql_status op_where(ql_op_ctx *c) {
  const ql_tensor *in[3] = {ql_op_in(c, 0), ql_op_in(c, 1), ql_op_in(c, 2)};
  if (!in[0] || !in[1] || !in[2]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "three inputs are required");
  if (in[0]->dtype != QL_BOOL) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "condition must be bool");
  if (in[1]->dtype != in[2]->dtype) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X and Y types differ");
  int rank;
  int64_t dims[QL_MAX_RANK];
  ql_status st = bc_shape(c, 3, in, in[1]->dtype, &rank, dims);
  if (st) return st;
  ql_tensor *y = ql_op_output(c, 0, in[1]->dtype, rank, dims);
  if (!y) return c->err->code;
  ql_bc_iter it;
  ql_bc_init(&it, 3, in, rank, dims);
  where_ctx w = {in[0]->data, in[1]->data, in[2]->data, y->data, ql_dtype_size(y->dtype), y->dtype == QL_STRING, 0};
  ql_bc_run(&it, where_row, &w);
  if (w.oom) return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  return QL_OK;
}

/* ================================================================ unary */

typedef enum {
  U_ABS, U_NEG, U_RELU, U_SIGMOID, U_HSIGMOID, U_HSWISH, U_TANH, U_ERF, U_GELU, U_GELU_TANH, U_EXP, U_LOG,
  U_SQRT, U_RECIP, U_LEAKY, U_SIGN, U_SOFTPLUS, U_ELU, U_SELU, U_MISH, U_ROUND, U_FLOOR, U_CEIL, U_SOFTSIGN,
  U_THRELU, U_CELU, U_SIN, U_COS, U_TAN, U_ASIN, U_ACOS, U_ATAN, U_SINH, U_COSH, U_ASINH, U_ACOSH, U_ATANH,
  U_SHRINK, U_SWISH, U_NOT
} un_op;

typedef struct {
  double alpha, beta, gamma;
} un_params;

static inline double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static inline double un_f64(un_op op, double x, const un_params *p) {
  switch (op) {
  case U_ABS: return fabs(x);
  case U_NEG: return -x;
  case U_RELU: return x < 0 ? 0 : x;
  case U_SIGMOID: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
  case U_HSIGMOID: return fmax(0, fmin(1, p->alpha * x + p->beta));
  case U_HSWISH: return x * fmax(0, fmin(1, x / 6 + 0.5));
  case U_TANH: return tanh(x);
  case U_ERF: return erf(x);
  case U_GELU: return 0.5 * x * (1 + erf(x * 0.70710678118654752440));
  case U_GELU_TANH: return 0.5 * x * (1 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
  case U_EXP: return exp(x);
  case U_LOG: return log(x);
  case U_SQRT: return sqrt(x);
  case U_RECIP: return 1 / x;
  case U_LEAKY: return x < 0 ? p->alpha * x : x;
  case U_SIGN: return x > 0 ? 1 : x < 0 ? -1 : x; /* keeps 0 and NaN */
  case U_SOFTPLUS: return softplus(x);
  case U_ELU: return x < 0 ? p->alpha * (exp(x) - 1) : x;
  case U_SELU: return x <= 0 ? p->gamma * (p->alpha * exp(x) - p->alpha) : p->gamma * x;
  case U_MISH: return x * tanh(softplus(x));
  case U_ROUND: return nearbyint(x); /* ties to even in the default rounding mode */
  case U_FLOOR: return floor(x);
  case U_CEIL: return ceil(x);
  case U_SOFTSIGN: return x / (1 + fabs(x));
  case U_THRELU: return x > p->alpha ? x : 0;
  case U_CELU: return fmax(0, x) + fmin(0, p->alpha * (exp(x / p->alpha) - 1));
  case U_SIN: return sin(x);
  case U_COS: return cos(x);
  case U_TAN: return tan(x);
  case U_ASIN: return asin(x);
  case U_ACOS: return acos(x);
  case U_ATAN: return atan(x);
  case U_SINH: return sinh(x);
  case U_COSH: return cosh(x);
  case U_ASINH: return asinh(x);
  case U_ACOSH: return acosh(x);
  case U_ATANH: return atanh(x);
  case U_SHRINK: return x < -p->alpha ? x + p->beta : x > p->alpha ? x - p->beta : 0;
  case U_SWISH: return x / (1 + exp(-p->alpha * x));
  case U_NOT: return x == 0;
  }
  return 0;
}

/* Integer forms (the ops whose schemas allow integer types). */
static inline int64_t un_i64(un_op op, int64_t x) {
  switch (op) {
  case U_ABS: return x < 0 ? (int64_t)(0 - (uint64_t)x) : x;
  case U_NEG: return (int64_t)(0 - (uint64_t)x);
  case U_RELU: return x < 0 ? 0 : x;
  case U_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
  case U_NOT: return x == 0;
  default: return x;
  }
}

/* float32 forms of the common ops: float libm calls are about three times
 * faster than double ones and stay within an ulp or two; the rest (and
 * every op whose float form would round differently, none here: + - * /
 * sqrt floor ceil rint are exact either way) go through un_f64. */
static inline float un_f32(un_op op, float x, const un_params *p) {
  switch (op) {
  case U_ABS: return fabsf(x);
  case U_NEG: return -x;
  case U_RELU: return x < 0 ? 0 : x;
  case U_SIGMOID: {
    float e = expf(-fabsf(x));
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
  }
  case U_HSIGMOID: return fmaxf(0, fminf(1, (float)p->alpha * x + (float)p->beta));
  case U_HSWISH: return x * fmaxf(0, fminf(1, x / 6 + 0.5f));
  case U_TANH: return tanhf(x);
  case U_ERF: return erff(x);
  case U_GELU: return 0.5f * x * (1 + erff(x * 0.70710678118654752440f));
  case U_EXP: return expf(x);
  case U_LOG: return logf(x);
  case U_SQRT: return sqrtf(x);
  case U_RECIP: return 1 / x;
  case U_LEAKY: return x < 0 ? (float)p->alpha * x : x;
  case U_ROUND: return nearbyintf(x);
  case U_FLOOR: return floorf(x);
  case U_CEIL: return ceilf(x);
  default: return (float)un_f64(op, x, p);
  }
}

#define UN_F32_CASE(OP)                                                                                  \
  case OP:                                                                                               \
    for (int64_t i = 0; i < n; i++) y[i] = un_f32(OP, x[i], p);                                          \
    break;

static void un_f32_loop(un_op op, const float *x, float *y, int64_t n, const un_params *p) {
  switch (op) {
    UN_F32_CASE(U_ABS)
    UN_F32_CASE(U_NEG)
    UN_F32_CASE(U_RELU)
    UN_F32_CASE(U_SIGMOID)
    UN_F32_CASE(U_HSIGMOID)
    UN_F32_CASE(U_HSWISH)
    UN_F32_CASE(U_TANH)
    UN_F32_CASE(U_ERF)
    UN_F32_CASE(U_GELU)
    UN_F32_CASE(U_EXP)
    UN_F32_CASE(U_LOG)
    UN_F32_CASE(U_SQRT)
    UN_F32_CASE(U_RECIP)
    UN_F32_CASE(U_LEAKY)
    UN_F32_CASE(U_ROUND)
    UN_F32_CASE(U_FLOOR)
    UN_F32_CASE(U_CEIL)
  default:
    for (int64_t i = 0; i < n; i++) y[i] = (float)un_f64(op, x[i], p);
    break;
  }
}

/* Bit flags: which element kinds an op accepts. */
#define T_FLOAT 1
#define T_SINT 2
#define T_UINT 4
#define T_BOOL 8

static ql_status run_unary(ql_op_ctx *c, un_op op, const un_params *p, int types) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  ql_dtype t = x->dtype;
  int kind = t == QL_BOOL ? T_BOOL
             : ql_dtype_is_float(t) ? T_FLOAT
             : ql_dtype_is_int(t) ? (ql_dtype_is_signed(t) ? T_SINT : T_UINT)
                                  : 0;
  if (!(kind & types)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported", ql_dtype_name(t));
  ql_tensor *y = ql_op_output(c, 0, t, x->rank, x->dims);
  if (!y) return c->err->code;
  if (t == QL_FLOAT) {
    un_f32_loop(op, x->data, y->data, x->numel, p);
  } else if (kind == T_FLOAT || !(op == U_ABS || op == U_NEG || op == U_RELU || op == U_SIGN || op == U_NOT)) {
    /* integer Erf and friends: the real result converted back (truncated) */
    for (int64_t i = 0; i < x->numel; i++) ql_store_f64(t, y->data, i, un_f64(op, ql_load_f64(t, x->data, i), p));
  } else if (t == QL_UINT64) {
    for (int64_t i = 0; i < x->numel; i++) {
      uint64_t v = ((const uint64_t *)x->data)[i];
      ((uint64_t *)y->data)[i] = op == U_SIGN ? v != 0 : op == U_NEG ? 0 - v : v;
    }
  } else {
    for (int64_t i = 0; i < x->numel; i++) ql_store_i64(t, y->data, i, un_i64(op, ql_load_i64(t, x->data, i)));
  }
  return QL_OK;
}

#define T_NUM (T_FLOAT | T_SINT | T_UINT)
#define UNARY(fn, OP, TYPES)                                                                             \
  static ql_status fn(ql_op_ctx *c) {                                                                    \
    un_params p = {0, 0, 0};                                                                             \
    return run_unary(c, OP, &p, TYPES);                                                                  \
  }
UNARY(op_abs, U_ABS, T_NUM)
UNARY(op_neg, U_NEG, T_FLOAT | T_SINT)
UNARY(op_sigmoid, U_SIGMOID, T_FLOAT)
UNARY(op_hardswish, U_HSWISH, T_FLOAT)
UNARY(op_tanh, U_TANH, T_FLOAT)
UNARY(op_erf, U_ERF, T_NUM)
UNARY(op_exp, U_EXP, T_FLOAT)
UNARY(op_log, U_LOG, T_FLOAT)
UNARY(op_sqrt, U_SQRT, T_FLOAT)
UNARY(op_reciprocal, U_RECIP, T_FLOAT)
UNARY(op_sign, U_SIGN, T_NUM)
UNARY(op_softplus, U_SOFTPLUS, T_FLOAT)
UNARY(op_mish, U_MISH, T_FLOAT)
UNARY(op_round, U_ROUND, T_FLOAT)
UNARY(op_floor, U_FLOOR, T_FLOAT)
UNARY(op_ceil, U_CEIL, T_FLOAT)
UNARY(op_softsign, U_SOFTSIGN, T_FLOAT)
UNARY(op_sin, U_SIN, T_FLOAT)
UNARY(op_cos, U_COS, T_FLOAT)
UNARY(op_tan, U_TAN, T_FLOAT)
UNARY(op_asin, U_ASIN, T_FLOAT)
UNARY(op_acos, U_ACOS, T_FLOAT)
UNARY(op_atan, U_ATAN, T_FLOAT)
UNARY(op_sinh, U_SINH, T_FLOAT)
UNARY(op_cosh, U_COSH, T_FLOAT)
UNARY(op_asinh, U_ASINH, T_FLOAT)
UNARY(op_acosh, U_ACOSH, T_FLOAT)
UNARY(op_atanh, U_ATANH, T_FLOAT)
UNARY(op_not, U_NOT, T_BOOL)

static ql_status op_relu(ql_op_ctx *c) {
  un_params p = {0, 0, 0};
  return run_unary(c, U_RELU, &p, c->version >= 14 ? T_FLOAT | T_SINT : T_FLOAT);
}

/* Attribute defaults are float32 constants in the schemas; they are read as
 * float and widened, exactly as a float32 runtime would see them. */
static ql_status op_leaky_relu(ql_op_ctx *c) {
  un_params p = {ql_attr_float(c->node, "alpha", 0.01f), 0, 0};
  return run_unary(c, U_LEAKY, &p, T_FLOAT);
}
static ql_status op_hard_sigmoid(ql_op_ctx *c) {
  un_params p = {ql_attr_float(c->node, "alpha", 0.2f), ql_attr_float(c->node, "beta", 0.5f), 0};
  return run_unary(c, U_HSIGMOID, &p, T_FLOAT);
}
static ql_status op_elu(ql_op_ctx *c) {
  un_params p = {ql_attr_float(c->node, "alpha", 1.0f), 0, 0};
  return run_unary(c, U_ELU, &p, T_FLOAT);
}
static ql_status op_selu(ql_op_ctx *c) {
  /* Selu-1 had rounder defaults than Selu-6 */
  float da = c->version < 6 ? 1.6732f : 1.67326319217681884765625f;
  float dg = c->version < 6 ? 1.0507f : 1.05070102214813232421875f;
  un_params p = {ql_attr_float(c->node, "alpha", da), 0, ql_attr_float(c->node, "gamma", dg)};
  return run_unary(c, U_SELU, &p, T_FLOAT);
}
static ql_status op_gelu(ql_op_ctx *c) {
  un_params p = {0, 0, 0};
  const char *ap = ql_attr_string(c->node, "approximate", "none");
  if (!strcmp(ap, "none")) return run_unary(c, U_GELU, &p, T_FLOAT);
  if (!strcmp(ap, "tanh")) return run_unary(c, U_GELU_TANH, &p, T_FLOAT);
  return ql_op_fail(c, QL_ERR_INVALID_MODEL, "approximate must be \"none\" or \"tanh\", not \"%s\"", ap);
}
static ql_status op_thresholded_relu(ql_op_ctx *c) {
  un_params p = {ql_attr_float(c->node, "alpha", 1.0f), 0, 0};
  return run_unary(c, U_THRELU, &p, T_FLOAT);
}
static ql_status op_celu(ql_op_ctx *c) {
  un_params p = {ql_attr_float(c->node, "alpha", 1.0f), 0, 0};
  if (p.alpha == 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "alpha must not be 0");
  return run_unary(c, U_CELU, &p, T_FLOAT);
}
static ql_status op_shrink(ql_op_ctx *c) {
  un_params p = {ql_attr_float(c->node, "lambd", 0.5f), ql_attr_float(c->node, "bias", 0.0f), 0};
  return run_unary(c, U_SHRINK, &p, T_NUM);
}
static ql_status op_swish(ql_op_ctx *c) {
  un_params p = {ql_attr_float(c->node, "alpha", 1.0f), 0, 0};
  return run_unary(c, U_SWISH, &p, T_FLOAT);
}

static ql_status op_isnan_isinf(ql_op_ctx *c, int inf) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  if (!ql_dtype_is_float(x->dtype))
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported", ql_dtype_name(x->dtype));
  int pos = (int)ql_attr_int(c->node, "detect_positive", 1), neg = (int)ql_attr_int(c->node, "detect_negative", 1);
  ql_tensor *y = ql_op_output(c, 0, QL_BOOL, x->rank, x->dims);
  if (!y) return c->err->code;
  uint8_t *o = y->data;
  for (int64_t i = 0; i < x->numel; i++) {
    double v = ql_load_f64(x->dtype, x->data, i);
    o[i] = inf ? (isinf(v) && ((v > 0 && pos) || (v < 0 && neg))) : isnan(v);
  }
  return QL_OK;
}
static ql_status op_isnan(ql_op_ctx *c) { return op_isnan_isinf(c, 0); }
static ql_status op_isinf(ql_op_ctx *c) { return op_isnan_isinf(c, 1); }

/* ================================================================ Clip */

static ql_status op_clip(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input is required");
  ql_dtype t = x->dtype;
  if (!numeric_type(t)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "element type %s is not supported", ql_dtype_name(t));
  int fl = ql_dtype_is_float(t);
  if (c->version < 11 && !fl) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "Clip-%d takes float inputs", c->version);
  /* bounds: attributes before opset 11, optional scalar inputs after */
  double lo = -INFINITY, hi = INFINITY;
  int64_t ilo, ihi;
  ql_dtype_int_range(t, &ilo, &ihi);
  uint64_t ulo = 0, uhi = UINT64_MAX;
  if (t != QL_UINT64) uhi = (uint64_t)ihi;
  if (c->version < 11) {
    /* Clip-6 defaults are float32 lowest/max; Clip-1 had no defaults (no bound) */
    const ql_attr *a;
    if ((a = ql_node_attr(c->node, "min"))) lo = a->f;
    else if (c->version >= 6) lo = -FLT_MAX;
    if ((a = ql_node_attr(c->node, "max"))) hi = a->f;
    else if (c->version >= 6) hi = FLT_MAX;
  } else {
    for (int k = 1; k <= 2; k++) {
      const ql_tensor *b = ql_op_in(c, (size_t)k);
      if (!b) continue;
      if (b->dtype != t)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has type %s, input has %s", k == 1 ? "min" : "max",
                          ql_dtype_name(b->dtype), ql_dtype_name(t));
      if (b->numel != 1)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s must be a scalar, it has %lld elements", k == 1 ? "min" : "max",
                          (long long)b->numel);
      if (fl) *(k == 1 ? &lo : &hi) = ql_load_f64(t, b->data, 0);
      else if (t == QL_UINT64) *(k == 1 ? &ulo : &uhi) = ((const uint64_t *)b->data)[0];
      else *(k == 1 ? &ilo : &ihi) = ql_load_i64(t, b->data, 0);
    }
  }
  ql_tensor *y = ql_op_output(c, 0, t, x->rank, x->dims);
  if (!y) return c->err->code;
  /* min(max(x, lo), hi): when lo > hi everything becomes hi; NaN stays NaN */
  if (t == QL_FLOAT) {
    const float *xp = x->data;
    float *yp = y->data, flo = (float)lo, fhi = (float)hi;
    for (int64_t i = 0; i < x->numel; i++) {
      float v = xp[i];
      v = v < flo ? flo : v;
      yp[i] = v > fhi ? fhi : v;
    }
  } else if (fl) {
    for (int64_t i = 0; i < x->numel; i++) {
      double v = ql_load_f64(t, x->data, i);
      v = v < lo ? lo : v;
      ql_store_f64(t, y->data, i, v > hi ? hi : v);
    }
  } else if (t == QL_UINT64) {
    const uint64_t *xp = x->data;
    uint64_t *yp = y->data;
    for (int64_t i = 0; i < x->numel; i++) {
      uint64_t v = xp[i] < ulo ? ulo : xp[i];
      yp[i] = v > uhi ? uhi : v;
    }
  } else {
    for (int64_t i = 0; i < x->numel; i++) {
      int64_t v = ql_load_i64(t, x->data, i);
      v = v < ilo ? ilo : v;
      ql_store_i64(t, y->data, i, v > ihi ? ihi : v);
    }
  }
  return QL_OK;
}

const ql_op_def ql_ops_elementwise[] = {
    {"", "Abs", 1, 13, op_abs},
    {"", "Neg", 1, 13, op_neg},
    {"", "Relu", 1, 14, op_relu},
    {"", "Sigmoid", 1, 13, op_sigmoid},
    {"", "HardSigmoid", 1, 22, op_hard_sigmoid},
    {"", "HardSwish", 14, 22, op_hardswish},
    {"", "Tanh", 1, 13, op_tanh},
    {"", "Erf", 9, 13, op_erf},
    {"", "Gelu", 20, 20, op_gelu},
    {"", "Exp", 1, 13, op_exp},
    {"", "Log", 1, 13, op_log},
    {"", "Sqrt", 1, 13, op_sqrt},
    {"", "Reciprocal", 1, 13, op_reciprocal},
    {"", "LeakyRelu", 1, 16, op_leaky_relu},
    {"", "Not", 1, 1, op_not},
    {"", "Sign", 9, 13, op_sign},
    {"", "Softplus", 1, 22, op_softplus},
    {"", "Softsign", 1, 22, op_softsign},
    {"", "Elu", 1, 22, op_elu},
    {"", "Selu", 1, 22, op_selu},
    {"", "Celu", 12, 12, op_celu},
    {"", "ThresholdedRelu", 10, 22, op_thresholded_relu},
    {"", "Shrink", 9, 9, op_shrink},
    {"", "Swish", 24, 24, op_swish},
    {"", "Mish", 18, 22, op_mish},
    {"", "Round", 11, 22, op_round},
    {"", "Floor", 1, 13, op_floor},
    {"", "Ceil", 1, 13, op_ceil},
    {"", "Sin", 7, 22, op_sin},
    {"", "Cos", 7, 22, op_cos},
    {"", "Tan", 7, 22, op_tan},
    {"", "Asin", 7, 22, op_asin},
    {"", "Acos", 7, 22, op_acos},
    {"", "Atan", 7, 22, op_atan},
    {"", "Sinh", 9, 22, op_sinh},
    {"", "Cosh", 9, 22, op_cosh},
    {"", "Asinh", 9, 22, op_asinh},
    {"", "Acosh", 9, 22, op_acosh},
    {"", "Atanh", 9, 22, op_atanh},
    {"", "IsNaN", 9, 20, op_isnan},
    {"", "IsInf", 10, 20, op_isinf},
    {"", "Add", 1, 14, op_add},
    {"", "Sub", 1, 14, op_sub},
    {"", "Mul", 1, 14, op_mul},
    {"", "Div", 1, 14, op_div},
    {"", "Pow", 1, 15, op_pow},
    {"", "Mod", 10, 13, op_mod},
    {"", "Min", 1, 13, op_min},
    {"", "Max", 1, 13, op_max},
    {"", "Sum", 1, 13, op_sum},
    {"", "Mean", 1, 13, op_mean},
    {"", "Equal", 1, 19, op_equal},
    {"", "Less", 1, 13, op_less},
    {"", "LessOrEqual", 12, 16, op_less_equal},
    {"", "Greater", 1, 13, op_greater},
    {"", "GreaterOrEqual", 12, 16, op_greater_equal},
    {"", "And", 1, 7, op_and},
    {"", "Or", 1, 7, op_or},
    {"", "Xor", 1, 7, op_xor},
    {"", "Where", 9, 16, op_where},
    {"", "PRelu", 1, 16, op_prelu},
    {"", "Clip", 1, 13, op_clip},
    {0},
};

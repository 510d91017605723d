/* Bit-level ops: BitShift, BitwiseAnd/Or/Xor/Not, BitCast. All work on the
 * raw two's-complement bits; values are widened to 64 bits and truncated
 * back, which is exact for every integer width. */
#include "xops-util.h"

#define END QL_UNDEFINED

static const ql_dtype k_bitwise_types[] = {QL_UINT8, QL_UINT16, QL_UINT32, QL_UINT64,
                                           QL_INT8,  QL_INT16,  QL_INT32,  QL_INT64, END};
static const ql_dtype k_shift_types[] = {QL_UINT8, QL_UINT16, QL_UINT32, QL_UINT64, END};

enum { BIT_AND, BIT_OR, BIT_XOR, BIT_SHL, BIT_SHR };

static uint64_t apply(int op, uint64_t a, uint64_t b, int bits) {
  switch (op) {
  case BIT_AND: return a & b;
  case BIT_OR: return a | b;
  case BIT_XOR: return a ^ b;
  /* shifts by the full width or more give 0 (the reference does the same;
   * in C they would be undefined) */
  case BIT_SHL: return b >= (uint64_t)bits ? 0 : a << b;
  default: return b >= (uint64_t)bits ? 0 : a >> b;
  }
}

static ql_status binary(ql_op_ctx *c, int op) {
  const ql_tensor *a = ql_op_in(c, 0), *b = ql_op_in(c, 1);
  if (!a) return xo_missing(c, 0);
  if (!b) return xo_missing(c, 1);
  const ql_dtype *allowed = op >= BIT_SHL ? k_shift_types : k_bitwise_types;
  if (!xo_type_in(a->dtype, allowed))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "type %s is not allowed", ql_dtype_name(a->dtype));
  if (b->dtype != a->dtype)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs differ in type (%s and %s)", ql_dtype_name(a->dtype),
                      ql_dtype_name(b->dtype));
  int rank;
  int64_t dims[QL_MAX_RANK];
  if (ql_broadcast_shape(a->rank, a->dims, b->rank, b->dims, &rank, dims))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input shapes cannot be broadcast together");
  if (xo_check_out(c, a->dtype, rank, dims)) return c->err->code;
  ql_tensor *y = ql_op_output(c, 0, a->dtype, rank, dims);
  if (!y) return c->err->code;
  int bits = ql_dtype_bits(a->dtype);
  int same_a = a->numel == y->numel, same_b = b->numel == y->numel;
  for (int64_t i = 0; i < y->numel; i++) {
    int64_t ia = same_a ? i : a->numel == 1 ? 0 : ql_broadcast_index(i, rank, dims, a->rank, a->dims);
    int64_t ib = same_b ? i : b->numel == 1 ? 0 : ql_broadcast_index(i, rank, dims, b->rank, b->dims);
    uint64_t va = (uint64_t)ql_load_i64(a->dtype, a->data, ia), vb = (uint64_t)ql_load_i64(b->dtype, b->data, ib);
    /* unsigned shift operands are zero-extended, so a >> b needs no masking */
    ql_store_i64(y->dtype, y->data, i, (int64_t)apply(op, va, vb, bits));
  }
  return QL_OK;
}

static ql_status bitwise_and(ql_op_ctx *c) { return binary(c, BIT_AND); }
static ql_status bitwise_or(ql_op_ctx *c) { return binary(c, BIT_OR); }
static ql_status bitwise_xor(ql_op_ctx *c) { return binary(c, BIT_XOR); }

static ql_status bit_shift(ql_op_ctx *c) {
  const char *dir = ql_attr_string(c->node, "direction", NULL);
  if (!dir) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute direction is required");
  if (!strcmp(dir, "LEFT")) return binary(c, BIT_SHL);
  if (!strcmp(dir, "RIGHT")) return binary(c, BIT_SHR);
  return ql_op_fail(c, QL_ERR_INVALID_MODEL, "direction must be LEFT or RIGHT, not '%s'", dir);
}

static ql_status bitwise_not(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return xo_missing(c, 0);
  if (!xo_type_in(x->dtype, k_bitwise_types))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "type %s is not allowed", ql_dtype_name(x->dtype));
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  for (int64_t i = 0; i < x->numel; i++) ql_store_i64(y->dtype, y->data, i, ~ql_load_i64(x->dtype, x->data, i));
  return QL_OK;
}

/* ================================================================ BitCast */

static ql_status bit_cast(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return xo_missing(c, 0);
  const ql_attr *a = ql_node_attr(c->node, "to");
  if (!a) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute to is required");
  int64_t to = a->i;
  if (to <= 0 || to >= QL_DTYPE_COUNT || to == QL_STRING || x->dtype == QL_STRING || ql_dtype_size((ql_dtype)to) == 0)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "cannot bit-cast %s to type %lld", ql_dtype_name(x->dtype),
                      (long long)to);
  ql_dtype t = (ql_dtype)to;
  int bits = ql_dtype_bits(x->dtype);
  if (bits != ql_dtype_bits(t))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s (%d bits) and %s (%d bits) differ in bit-width",
                      ql_dtype_name(x->dtype), bits, ql_dtype_name(t), ql_dtype_bits(t));
  ql_tensor *y = ql_op_output(c, 0, t, x->rank, x->dims);
  if (!y) return c->err->code;
  if (bits >= 8 && t != QL_BOOL) {
    /* same element size: the bytes are the bits (the host is little-endian,
     * as the spec asks implementations to treat them) */
    if (x->numel) memcpy(y->data, x->data, ql_tensor_nbytes(x));
    return QL_OK;
  }
  const uint8_t *xv = x->data;
  uint8_t *yv = y->data;
  for (int64_t i = 0; i < x->numel; i++) {
    if (t == QL_BOOL) {
      /* internal bools are 0/1; any nonzero byte is true */
      yv[i] = xv[i] != 0;
      continue;
    }
    /* sub-byte types are held one per byte (signed ones sign-extended):
     * keep the low `bits` bits and re-extend for the target */
    unsigned mask = (1u << bits) - 1, v = xv[i] & mask;
    if (ql_dtype_is_signed(t) && ql_dtype_is_int(t) && (v >> (bits - 1))) v |= ~mask;
    yv[i] = (uint8_t)v;
  }
  return QL_OK;
}

const ql_op_def ql_ops_bit_ops[] = {
    {"", "BitShift", 11, 11, bit_shift},
    {"", "BitwiseAnd", 18, 18, bitwise_and},
    {"", "BitwiseOr", 18, 18, bitwise_or},
    {"", "BitwiseXor", 18, 18, bitwise_xor},
    {"", "BitwiseNot", 18, 18, bitwise_not},
    {"", "BitCast", 26, 26, bit_cast},
    {0},
};

/* Integer matrix products: QLinearMatMul (10, 21) and MatMulInteger (10),
 * reference implementations with numpy.matmul semantics (matmul-shape.h).
 *
 *   acc[.., i, j] = sum_k (a[.., i, k] - a_zp) * (b[.., k, j] - b_zp)
 *   MatMulInteger: y = acc (int32, sums modulo 2^32)
 *   QLinearMatMul: y = saturate(RNE(acc * a_scale * b_scale / y_scale) + y_zp)
 *                  with ql_requant_f32 (requant.h)
 *
 * Quantization parameters ("params") may be per tensor (one element), per
 * row of a (a_*, and y_* as the spec allows: 1-D [M] or N-D [.., M, 1]) or
 * per column of b (b_*: 1-D [N] or N-D [.., 1, N]). A 1-D param of length
 * M (a side) / N (b side) is read as [M, 1] / [1, N]; an N-D one must
 * broadcast into the operand it belongs to (zero points) or the output
 * (scales) and be constant along K. ORT accepts fewer forms (a and y
 * scalar); everything it accepts means the same here.
 *
 * Float8 operands (QLinearMatMul 21): there is no integer accumulator, so
 * the float8 path dequantizes the centered values exactly to float, sums the
 * products in double, and applies the same multiplier in float32 before
 * rounding (saturating cast for float8 outputs, as QuantizeLinear's default
 * saturate=1). Neither the ONNX reference (which casts float8 to int32) nor
 * ORT's CPU provider defines this case, and no node test covers it. */
#include "matmul-shape.h"
#include "requant.h"
#include "../kernels/qgemm.h"
#include "../runtime/threadpool.h"

enum { SIDE_A, SIDE_B, SIDE_Y };

/* A param's shape, normalized (see above) and checked against `target`. */
typedef struct param {
  const ql_tensor *t;
  int rank;
  int64_t dims[QL_MAX_RANK];
} param;

static ql_status param_init(ql_op_ctx *c, const ql_tensor *t, const char *name, int side, const ql_matmul_shape *s,
                            int target_rank, const int64_t *target, param *p) {
  p->t = t;
  p->rank = 0;
  if (!t || t->numel == 1) return QL_OK; /* per tensor (also any 1-element shape) */
  const int64_t len = side == SIDE_B ? s->N : s->M;
  if (t->rank == 1 && t->dims[0] == len) {
    p->rank = 2;
    p->dims[0] = side == SIDE_B ? 1 : len;
    p->dims[1] = side == SIDE_B ? len : 1;
  } else if (t->rank >= 2) {
    p->rank = t->rank;
    memcpy(p->dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
  } else {
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has %lld elements, expected 1 or %lld", name,
                      (long long)t->numel, (long long)len);
  }
  /* constant along K: a side [.., M, 1], b side [.., 1, N] */
  if ((side == SIDE_A && p->dims[p->rank - 1] != 1) || (side == SIDE_B && p->dims[p->rank - 2] != 1))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s must be per tensor or per %s (shape [.., %s])", name,
                      side == SIDE_B ? "column of b" : "row of a", side == SIDE_B ? "1, N" : "M, 1");
  int r;
  int64_t bc[QL_MAX_RANK];
  if (ql_broadcast_shape(target_rank, target, p->rank, p->dims, &r, bc) || r != target_rank ||
      memcmp(bc, target, sizeof(int64_t) * (size_t)r))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s does not broadcast to its operand's shape", name);
  return QL_OK;
}

/* Flat index into the param for element `i` of a tensor of shape (rank, dims). */
static int64_t param_index(const param *p, int64_t i, int rank, const int64_t *dims) {
  return p->rank ? ql_broadcast_index(i, rank, dims, p->rank, p->dims) : 0;
}

static int is_8bit_int(ql_dtype t) {
  return t == QL_UINT8 || t == QL_INT8;
}
static int is_float8(ql_dtype t) {
  return t == QL_FLOAT8E4M3FN || t == QL_FLOAT8E4M3FNUZ || t == QL_FLOAT8E5M2 || t == QL_FLOAT8E5M2FNUZ;
}

static ql_status check_zp_type(ql_op_ctx *c, const ql_tensor *zp, const ql_tensor *x, const char *name) {
  if (zp && zp->dtype != x->dtype)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has type %s, expected %s", name, ql_dtype_name(zp->dtype),
                      ql_dtype_name(x->dtype));
  return QL_OK;
}

/* x - zp as int16 (integer operands) in the op's scratch; NULL with c->err
 * set when out of memory. x has the promoted shape (rank, dims). */
static int16_t *center_int(ql_op_ctx *c, const ql_tensor *x, const param *zp, int rank, const int64_t *dims) {
  int16_t *out = ql_op_scratch(c, (size_t)x->numel * sizeof *out);
  if (!out) return NULL;
  for (int64_t i = 0; i < x->numel; i++) {
    const int64_t z = zp->t ? ql_load_i64(zp->t->dtype, zp->t->data, param_index(zp, i, rank, dims)) : 0;
    out[i] = (int16_t)(ql_load_i64(x->dtype, x->data, i) - z);
  }
  return out;
}

/* x - zp as float (float8 or mixed operands; every value is exact), as
 * center_int. */
static float *center_float(ql_op_ctx *c, const ql_tensor *x, const param *zp, int rank, const int64_t *dims) {
  float *out = ql_op_scratch(c, (size_t)x->numel * sizeof *out);
  if (!out) return NULL;
  for (int64_t i = 0; i < x->numel; i++) {
    const double z = zp->t ? ql_load_f64(zp->t->dtype, zp->t->data, param_index(zp, i, rank, dims)) : 0.0;
    out[i] = (float)(ql_load_f64(x->dtype, x->data, i) - z);
  }
  return out;
}

/* acc[M, N] = a[M, K] @ b[K, N], sums modulo 2^32. i-k-j order: the inner
 * loop is contiguous in b and acc. */
static void gemm_int(int64_t M, int64_t K, int64_t N, const int16_t *a, const int16_t *b, uint32_t *acc) {
  for (int64_t i = 0; i < M; i++) {
    uint32_t *row = acc + i * N;
    for (int64_t j = 0; j < N; j++) row[j] = 0;
    for (int64_t k = 0; k < K; k++) {
      const int32_t av = a[i * K + k];
      const int16_t *brow = b + k * N;
      for (int64_t j = 0; j < N; j++) row[j] += (uint32_t)(av * brow[j]);
    }
  }
}

static void gemm_float(int64_t M, int64_t K, int64_t N, const float *a, const float *b, double *acc) {
  for (int64_t i = 0; i < M; i++) {
    double *row = acc + i * N;
    for (int64_t j = 0; j < N; j++) row[j] = 0;
    for (int64_t k = 0; k < K; k++) {
      const double av = a[i * K + k];
      const float *brow = b + k * N;
      for (int64_t j = 0; j < N; j++) row[j] += av * brow[j];
    }
  }
}

/* ---- fast path: B packed once at session creation (ql_op_def.prepare) ----
 * Taken when B, its zero point and (QLinearMatMul) every scale are
 * constants, B has no batch of its own (2-D, or leading dims of 1, so the
 * batches of A stack into one tall matrix), a_zero_point/y_zero_point are
 * per tensor and a_scale/y_scale per tensor. The kernel computes the same
 * exact integer sums and applies ql_requant_fp32, which is the reference
 * ql_requant_f32 to the bit, with multipliers computed here exactly as the
 * reference computes them; anything else runs the reference loop. */
typedef struct mm_state {
  ql_qgemm_packed_b *pb;
  int64_t k, n;
  float *mult; /* QLinearMatMul: [n] when per_col, else [1] */
  int mult_per_col;
} mm_state;

static void mm_release(void *state) {
  mm_state *ms = state;
  if (!ms) return;
  ql_qgemm_packed_b_free(ms->pb);
  ql_free(ms->mult);
  ql_free(ms);
}

static int input_omitted(const ql_op_prep *p, size_t i) {
  return i >= p->node->n_inputs || !p->node->inputs[i][0];
}

/* The constant input i, or NULL (also when it is not given). */
static const ql_tensor *prep_in(const ql_op_prep *p, size_t i) {
  return i < p->n_in ? p->in[i] : NULL;
}

/* A per-column param of B's side: numel 1 (-> 0) or N values laid along the
 * last axis (-> 1); -1 for any other form (left to the reference). */
static int col_param_kind(const ql_tensor *t, int64_t n) {
  if (t->numel == 1) return 0;
  if (t->rank >= 1 && t->numel == n && t->dims[t->rank - 1] == n) return 1;
  return -1;
}

/* Packs B for ops whose B is input bi and b_zero_point input zi. *out
 * stays NULL when the fast path does not apply. */
static ql_status mm_prepare_b(const ql_op_prep *p, size_t bi, size_t zi, mm_state **out) {
  *out = NULL;
  const ql_tensor *b = prep_in(p, bi), *bzp = prep_in(p, zi);
  if (p->reference_only || !b || (!bzp && !input_omitted(p, zi))) return QL_OK;
  if (!is_8bit_int(b->dtype) || b->rank < 1 || (bzp && bzp->dtype != b->dtype)) return QL_OK;
  for (int i = 0; i + 2 < b->rank; i++)
    if (b->dims[i] != 1) return QL_OK;
  const int64_t k = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
  const int64_t n = b->rank == 1 ? 1 : b->dims[b->rank - 1];
  if (k < 1 || n < 1 || k > ((int64_t)1 << 30) || n > ((int64_t)1 << 30)) return QL_OK;
  int zkind = 0;
  int32_t *zp = NULL;
  if (bzp) {
    if ((zkind = col_param_kind(bzp, n)) < 0) return QL_OK;
    zp = ql_malloc((size_t)bzp->numel * sizeof *zp);
    if (!zp) return ql_errf(p->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t j = 0; j < bzp->numel; j++) zp[j] = (int32_t)ql_load_i64(bzp->dtype, bzp->data, j);
  }
  mm_state *ms = ql_calloc(1, sizeof *ms);
  if (!ms) {
    ql_free(zp);
    return ql_errf(p->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  ms->k = k;
  ms->n = n;
  ql_status st = ql_qgemm_pack_b(b->data, b->dtype == QL_INT8, k, n, n, 1, zp, zkind, (ql_isa)p->isa, &ms->pb,
                                 p->err);
  ql_free(zp);
  if (st) {
    mm_release(ms);
    /* only running out of memory is an error; anything else falls back */
    return st == QL_ERR_OUT_OF_MEMORY ? st : QL_OK;
  }
  *out = ms;
  return QL_OK;
}

static ql_status matmul_integer_prepare(const ql_op_prep *p, void **state) {
  mm_state *ms;
  ql_status st = mm_prepare_b(p, 1, 3, &ms);
  *state = ms;
  return st;
}

static ql_status qlinear_matmul_prepare(const ql_op_prep *p, void **state) {
  *state = NULL;
  const ql_tensor *as = prep_in(p, 1), *bs = prep_in(p, 4), *ys = prep_in(p, 6);
  if (p->reference_only || !as || !bs || !ys || as->numel != 1 || ys->numel != 1) return QL_OK;
  if (as->dtype != bs->dtype || as->dtype != ys->dtype ||
      !(as->dtype == QL_FLOAT || as->dtype == QL_FLOAT16 || as->dtype == QL_BFLOAT16))
    return QL_OK;
  mm_state *ms;
  ql_status st = mm_prepare_b(p, 3, 5, &ms);
  if (st || !ms) return st;
  const int kind = col_param_kind(bs, ms->n);
  if (kind < 0) {
    mm_release(ms);
    return QL_OK;
  }
  ms->mult_per_col = kind;
  ms->mult = ql_malloc((size_t)bs->numel * sizeof *ms->mult);
  if (!ms->mult) {
    mm_release(ms);
    return ql_errf(p->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  /* as the reference: each scale read as float, then ql_requant_multiplier */
  const float a_s = (float)ql_load_f64(as->dtype, as->data, 0), y_s = (float)ql_load_f64(ys->dtype, ys->data, 0);
  for (int64_t j = 0; j < bs->numel; j++)
    ms->mult[j] = ql_requant_multiplier(a_s, (float)ql_load_f64(bs->dtype, bs->data, j), y_s);
  *state = ms;
  return QL_OK;
}

/* Runs the prepared GEMM over all of A (its batches stacked) into y.
 * Returns 0 when not applicable (the caller runs the reference). */
/* Whether the packed GEMM can run this call (else the reference loops do). */
static int mm_fast_ok(const mm_state *ms, const ql_matmul_shape *s, const ql_tensor *a, const ql_tensor *azp,
                      const ql_tensor *yzp) {
  if (!ms || !is_8bit_int(a->dtype) || (azp && azp->numel != 1) || (yzp && yzp->numel != 1)) return 0;
  return s->K == ms->k && s->N == ms->n;
}

/* The GEMM writes every element of y, which therefore need not be zeroed. */
static ql_status mm_fast(ql_op_ctx *c, const mm_state *ms, const ql_matmul_shape *s, const ql_tensor *a,
                         const ql_tensor *azp, ql_dtype yt, const ql_tensor *yzp, ql_tensor *y) {
  ql_qgemm_args g = {.pb = ms->pb, .a = a->data, .lda = s->K, .m = s->batch_count * s->M,
                     .a_signed = a->dtype == QL_INT8, .c = y->data, .ldc = s->N};
  g.a_zp = azp ? (int32_t)ql_load_i64(azp->dtype, azp->data, 0) : 0;
  if (yt == QL_INT32) {
    g.out_type = QL_QGEMM_OUT_I32;
  } else {
    int64_t lo, hi;
    ql_dtype_int_range(yt, &lo, &hi);
    g.out_type = yt == QL_UINT8 ? QL_QGEMM_OUT_U8 : QL_QGEMM_OUT_S8;
    g.mult = ms->mult;
    g.mult_per_col = ms->mult_per_col;
    g.out_zp = yzp ? (int32_t)ql_load_i64(yzp->dtype, yzp->data, 0) : 0;
    g.out_min = (int32_t)lo;
    g.out_max = (int32_t)hi;
  }
  if (y->numel == 0) return QL_OK;
  if (!(g.workspace = ql_op_scratch(c, ql_qgemm_workspace_size(g.pb, g.m)))) return c->err->code;
  return ql_qgemm_run(&g, c->pool, c->err); /* the runtime prefixes the node */
}

static ql_status matmul_integer(ql_op_ctx *c) {
  const ql_tensor *a = ql_op_in(c, 0), *b = ql_op_in(c, 1), *azp = ql_op_in(c, 2), *bzp = ql_op_in(c, 3);
  if (!a || !b) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs A and B are required");
  if (!is_8bit_int(a->dtype) || !is_8bit_int(b->dtype))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "A and B must be uint8 or int8, got %s and %s",
                      ql_dtype_name(a->dtype), ql_dtype_name(b->dtype));
  ql_matmul_shape s;
  param pa, pb;
  ql_status st;
  if ((st = ql_matmul_shape_init(c, a, b, &s)) || (st = check_zp_type(c, azp, a, "a_zero_point")) ||
      (st = check_zp_type(c, bzp, b, "b_zero_point")) ||
      (st = param_init(c, azp, "a_zero_point", SIDE_A, &s, s.a_rank, s.a_dims, &pa)) ||
      (st = param_init(c, bzp, "b_zero_point", SIDE_B, &s, s.b_rank, s.b_dims, &pb)))
    return st;
  const int fast = mm_fast_ok(c->state, &s, a, azp, NULL);
  ql_tensor *y = (fast ? ql_op_output_nofill : ql_op_output)(c, 0, QL_INT32, s.out_rank, s.out);
  if (!y) return c->err->code;
  if (fast) return mm_fast(c, c->state, &s, a, azp, QL_INT32, NULL, y);
  int16_t *ac, *bc;
  if (!(ac = center_int(c, a, &pa, s.a_rank, s.a_dims)) || !(bc = center_int(c, b, &pb, s.b_rank, s.b_dims)))
    return c->err->code;
  /* int32 and uint32 may alias: accumulate straight into the output */
  for (int64_t bi = 0; bi < s.batch_count; bi++) {
    int64_t ao, bo;
    ql_matmul_batch_offsets(&s, bi, &ao, &bo);
    gemm_int(s.M, s.K, s.N, ac + ao, bc + bo, (uint32_t *)y->data + bi * s.M * s.N);
  }
  return QL_OK;
}

static ql_status check_scale(ql_op_ctx *c, const ql_tensor *t, const char *name, ql_dtype want) {
  if (!t) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s is required", name);
  if (t->dtype != want)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has type %s, expected %s", name, ql_dtype_name(t->dtype),
                      ql_dtype_name(want));
  return QL_OK;
}

static ql_status qlinear_matmul(ql_op_ctx *c) {
  const ql_tensor *a = ql_op_in(c, 0), *as = ql_op_in(c, 1), *azp = ql_op_in(c, 2);
  const ql_tensor *b = ql_op_in(c, 3), *bs = ql_op_in(c, 4), *bzp = ql_op_in(c, 5);
  const ql_tensor *ys = ql_op_in(c, 6), *yzp = ql_op_in(c, 7);
  if (!a || !b) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs a and b are required");
  /* output type from y_zero_point; the ONNX reference falls back to a's type */
  const ql_dtype yt = yzp ? yzp->dtype : a->dtype;
  const int v21 = c->version >= 21;
  const ql_dtype types[3] = {a->dtype, b->dtype, yt};
  static const char *const names[3] = {"a", "b", "y"};
  for (int i = 0; i < 3; i++)
    if (!is_8bit_int(types[i]) && !(v21 && is_float8(types[i])))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has type %s, expected uint8 or int8%s", names[i],
                        ql_dtype_name(types[i]), v21 ? " or a float8 type" : "");
  /* v10: float scales; v21: float, float16 or bfloat16, all the same */
  const ql_dtype st_want = as ? as->dtype : QL_FLOAT;
  if (!(st_want == QL_FLOAT || (v21 && (st_want == QL_FLOAT16 || st_want == QL_BFLOAT16))))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "a_scale has type %s", ql_dtype_name(st_want));
  ql_matmul_shape s;
  param pa, pb, pas, pbs, pys, pyz;
  ql_status st;
  if ((st = check_scale(c, as, "a_scale", st_want)) || (st = check_scale(c, bs, "b_scale", st_want)) ||
      (st = check_scale(c, ys, "y_scale", st_want)) || (st = ql_matmul_shape_init(c, a, b, &s)) ||
      (st = check_zp_type(c, azp, a, "a_zero_point")) || (st = check_zp_type(c, bzp, b, "b_zero_point")) ||
      (st = param_init(c, azp, "a_zero_point", SIDE_A, &s, s.a_rank, s.a_dims, &pa)) ||
      (st = param_init(c, bzp, "b_zero_point", SIDE_B, &s, s.b_rank, s.b_dims, &pb)) ||
      (st = param_init(c, as, "a_scale", SIDE_A, &s, s.full_rank, s.full, &pas)) ||
      (st = param_init(c, bs, "b_scale", SIDE_B, &s, s.full_rank, s.full, &pbs)) ||
      (st = param_init(c, ys, "y_scale", SIDE_Y, &s, s.full_rank, s.full, &pys)) ||
      (st = param_init(c, yzp, "y_zero_point", SIDE_Y, &s, s.full_rank, s.full, &pyz)))
    return st;

  const int fast = is_8bit_int(yt) && mm_fast_ok(c->state, &s, a, azp, yzp);
  ql_tensor *y = (fast ? ql_op_output_nofill : ql_op_output)(c, 0, yt, s.out_rank, s.out);
  if (!y) return c->err->code;
  if (fast) return mm_fast(c, c->state, &s, a, azp, yt, yzp, y);
  const int fpath = is_float8(a->dtype) || is_float8(b->dtype);
  void *ac, *bc, *acc;
  size_t acc_bytes; /* M * N <= 2^62 (checked by ql_matmul_shape_init) */
  if (ql_mul_overflow_size((size_t)(s.M * s.N), fpath ? sizeof(double) : sizeof(uint32_t), &acc_bytes))
    return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  if (fpath) {
    if (!(ac = center_float(c, a, &pa, s.a_rank, s.a_dims)) || !(bc = center_float(c, b, &pb, s.b_rank, s.b_dims)))
      return c->err->code;
  } else {
    if (!(ac = center_int(c, a, &pa, s.a_rank, s.a_dims)) || !(bc = center_int(c, b, &pb, s.b_rank, s.b_dims)))
      return c->err->code;
  }
  if (!(acc = ql_op_scratch(c, acc_bytes))) return c->err->code;
  int64_t lo = 0, hi = 0;
  if (!is_float8(yt)) ql_dtype_int_range(yt, &lo, &hi);
  for (int64_t bi = 0; bi < s.batch_count; bi++) {
    int64_t ao, bo;
    ql_matmul_batch_offsets(&s, bi, &ao, &bo);
    if (fpath) gemm_float(s.M, s.K, s.N, (const float *)ac + ao, (const float *)bc + bo, acc);
    else gemm_int(s.M, s.K, s.N, (const int16_t *)ac + ao, (const int16_t *)bc + bo, acc);
    for (int64_t e = 0; e < s.M * s.N; e++) {
      const int64_t o = bi * s.M * s.N + e; /* index in the full output shape */
      const float mult = ql_requant_multiplier(
          (float)ql_load_f64(as->dtype, as->data, param_index(&pas, o, s.full_rank, s.full)),
          (float)ql_load_f64(bs->dtype, bs->data, param_index(&pbs, o, s.full_rank, s.full)),
          (float)ql_load_f64(ys->dtype, ys->data, param_index(&pys, o, s.full_rank, s.full)));
      const int64_t zi = param_index(&pyz, o, s.full_rank, s.full);
      if (is_float8(yt)) {
        const float v = fpath ? (float)((double *)acc)[e] * mult : (float)(int32_t)((uint32_t *)acc)[e] * mult;
        const float z = yzp ? (float)ql_load_f64(yt, yzp->data, zi) : 0.0f;
        ((uint8_t *)y->data)[o] = ql_f32_to_f8(yt, v + z, 1);
      } else {
        const int32_t z = yzp ? (int32_t)ql_load_i64(yt, yzp->data, zi) : 0;
        const int32_t q = fpath ? ql_requant_value_f32((float)((double *)acc)[e] * mult, z, (int32_t)lo, (int32_t)hi)
                                : ql_requant_f32((int32_t)((uint32_t *)acc)[e], mult, z, (int32_t)lo, (int32_t)hi);
        ql_store_i64(yt, y->data, o, q);
      }
    }
  }
  return QL_OK;
}

const ql_op_def ql_ops_qlinear_matmul[] = {
    {"", "QLinearMatMul", 10, 21, qlinear_matmul, qlinear_matmul_prepare, mm_release},
    {"", "MatMulInteger", 10, 10, matmul_integer, matmul_integer_prepare, mm_release},
    {0},
};

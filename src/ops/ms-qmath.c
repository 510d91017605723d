/* ONNX Runtime com.microsoft quantized matrix ops: QGemm,
 * MatMulIntegerToFloat, DynamicQuantizeMatMul and QLinearConv (MatMulNBits: ms-nbits.c).
 *
 * Integer products are exact (int32 accumulation, as in MLAS); the float
 * epilogues follow ORT's order of operations (see docs/ms-ops.md). QGemm
 * with constant weights, MatMulIntegerToFloat and DynamicQuantizeMatMul run
 * on the packed qgemm kernels; the reference loops give the same bits. */
#include "conv-geom.h"
#include "../kernels/dynq.h"
#include "../runtime/threadpool.h"
#include <math.h>

static int is_q8(ql_dtype t) { return t == QL_UINT8 || t == QL_INT8; }

static int32_t ld8(ql_dtype t, const void *p, int64_t i) {
  return t == QL_UINT8 ? ((const uint8_t *)p)[i] : ((const int8_t *)p)[i];
}

static float ldf(ql_dtype t, const void *p, int64_t i) {
  return t == QL_FLOAT16 ? ql_f16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static void stf(ql_dtype t, void *p, int64_t i, float v) {
  if (t == QL_FLOAT16) ((uint16_t *)p)[i] = ql_f32_to_f16(v);
  else ((float *)p)[i] = v;
}

/* Per-tensor (1 element) or per-column (N elements) parameter. */
static ql_status per_col(ql_op_ctx *c, const ql_tensor *t, const char *name, int64_t n, int *percol) {
  *percol = 0;
  if (!t || t->numel == 1) return QL_OK;
  if (t->numel == n && t->rank >= 1 && t->dims[t->rank - 1] == n) {
    *percol = 1;
    return QL_OK;
  }
  return ql_op_fail(c, QL_ERR_UNSUPPORTED, "%s must have 1 or N=%lld elements, has %lld", name, (long long)n, (long long)t->numel);
}

/* numpy matmul shapes for A [.., M, K] x B [.., K, N]. */
typedef struct {
  int rank;                  /* output rank */
  int64_t dims[QL_MAX_RANK]; /* output dims */
  int64_t M, K, N, batch;
  int a1, b1;                /* A / B were 1-D */
  int ar, br, orank;         /* batch ranks of A, B and the output */
  int64_t ad[QL_MAX_RANK], bd[QL_MAX_RANK], od[QL_MAX_RANK];
} mm_shape;

static ql_status mm_shapes(ql_op_ctx *c, const int64_t *adims, int ar, const int64_t *bdims, int br, mm_shape *s) {
  if (ar < 1 || br < 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "matmul inputs must have rank >= 1");
  memset(s, 0, sizeof *s);
  s->a1 = ar == 1, s->b1 = br == 1;
  s->M = s->a1 ? 1 : adims[ar - 2];
  s->K = adims[ar - 1];
  int64_t kb = s->b1 ? bdims[0] : bdims[br - 2];
  s->N = s->b1 ? 1 : bdims[br - 1];
  if (kb != s->K) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inner dimensions differ: A has K=%lld, B has %lld", (long long)s->K, (long long)kb);
  s->ar = s->a1 ? 0 : ar - 2, s->br = s->b1 ? 0 : br - 2;
  for (int i = 0; i < s->ar; i++) s->ad[i] = adims[i];
  for (int i = 0; i < s->br; i++) s->bd[i] = bdims[i];
  int orank;
  if (s->ar > QL_MAX_RANK - 2 || s->br > QL_MAX_RANK - 2 ||
      ql_broadcast_shape(s->ar, s->ad, s->br, s->bd, &orank, s->od)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "batch dimensions cannot be broadcast");
  s->batch = 1;
  for (int i = 0; i < orank; i++) s->batch *= s->od[i];
  s->rank = 0;
  for (int i = 0; i < orank; i++) s->dims[s->rank++] = s->od[i];
  if (!s->a1) s->dims[s->rank++] = s->M;
  if (!s->b1) s->dims[s->rank++] = s->N;
  if (s->rank > QL_MAX_RANK) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "output rank too large");
  s->orank = orank;
  return QL_OK;
}

static int64_t mm_a_off(const mm_shape *s, int64_t b) {
  return ql_broadcast_index(b, s->orank, s->od, s->ar, s->ad) * s->M * s->K;
}
static int64_t mm_b_off(const mm_shape *s, int64_t b) {
  return ql_broadcast_index(b, s->orank, s->od, s->br, s->bd) * s->K * s->N;
}

/* acc[m*N+n] = sum_k (A[m,k] - az) * (B[k,n] - bz[n]) for one batch. */
static void int_gemm(ql_dtype at, const void *a, int64_t aoff, int32_t az, ql_dtype bt, const void *b, int64_t boff,
                     const ql_tensor *bzt, int bz_percol, int64_t M, int64_t K, int64_t N, int32_t *acc) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      int32_t bz = bzt ? ld8(bzt->dtype, bzt->data, bz_percol ? n : 0) : 0;
      int64_t sum = 0;
      for (int64_t k = 0; k < K; k++)
        sum += (int64_t)(ld8(at, a, aoff + m * K + k) - az) * (ld8(bt, b, boff + k * N + n) - bz);
      /* MLAS accumulates in int32 and wraps; int64 then truncation agrees */
      acc[m * N + n] = (int32_t)(uint32_t)(uint64_t)sum;
    }
}

/* ------------------------------------------------------------------ QGemm */

/* The packed form when B, the scales, y's zero point, C (none, a scalar or
 * [N]) and transA = 0 are fixed at session creation: the qgemm kernels
 * with the reference's multiplier alpha * a_scale * b_scale[n] / y_scale
 * (the same float operations in the same order) and C as their bias, so
 * the bits are the reference's. What QDQ fusion makes of DQ -> Gemm -> Q. */
typedef struct qgemm_state {
  ql_qgemm_packed_b *pb;
  int64_t k, n;
  float *mult;    /* [n] */
  int32_t *bias;  /* [n] or NULL */
} qgemm_state;

static void qgemm_release(void *state) {
  qgemm_state *qs = state;
  if (!qs) return;
  ql_qgemm_packed_b_free(qs->pb);
  ql_free(qs->mult);
  ql_free(qs->bias);
  ql_free(qs);
}

static ql_status qgemm_prepare(const ql_op_prep *p, void **state) {
  *state = NULL;
  const ql_tensor *const *in = p->in;
  const ql_tensor *as = p->n_in > 1 ? in[1] : NULL, *b = p->n_in > 3 ? in[3] : NULL, *bs = p->n_in > 4 ? in[4] : NULL;
  const ql_tensor *bz = p->n_in > 5 ? in[5] : NULL, *cc = p->n_in > 6 ? in[6] : NULL, *ys = p->n_in > 7 ? in[7] : NULL;
  const ql_tensor *yz = p->n_in > 8 ? in[8] : NULL;
  const int c_given = p->n_in > 6 && p->node->n_inputs > 6 && p->node->inputs[6][0];
  if (p->reference_only || !as || !b || !bs || !bz || !ys || !yz || (c_given && !cc)) return QL_OK;
  if (ql_attr_int(p->node, "transA", 0) != 0 || b->rank != 2 || !is_q8(b->dtype) || bz->dtype != b->dtype ||
      as->dtype != QL_FLOAT || bs->dtype != QL_FLOAT || ys->dtype != QL_FLOAT || as->numel != 1 || ys->numel != 1 ||
      !is_q8(yz->dtype) || yz->numel != 1)
    return QL_OK;
  const int tb = ql_attr_int(p->node, "transB", 0) != 0;
  const int64_t k = tb ? b->dims[1] : b->dims[0], n = tb ? b->dims[0] : b->dims[1];
  if (k < 1 || n < 1 || k > ((int64_t)1 << 30) || n > ((int64_t)1 << 30)) return QL_OK;
  if ((bs->numel != 1 && bs->numel != n) || bz->numel != bs->numel) return QL_OK;
  if (cc && (cc->dtype != QL_INT32 || (cc->numel != 1 && !(cc->numel == n && cc->dims[cc->rank - 1] == n))))
    return QL_OK;
  qgemm_state *qs = ql_calloc(1, sizeof *qs);
  int32_t *zp = ql_malloc((size_t)bz->numel * sizeof *zp);
  if (!qs || !zp || !(qs->mult = ql_malloc((size_t)n * sizeof *qs->mult)) ||
      (cc && !(qs->bias = ql_malloc((size_t)n * sizeof *qs->bias)))) {
    ql_free(zp);
    qgemm_release(qs);
    return ql_errf(p->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (int64_t j = 0; j < bz->numel; j++) zp[j] = ld8(b->dtype, bz->data, j);
  const float alpha = ql_attr_float(p->node, "alpha", 1.0f), sa = ((const float *)as->data)[0];
  for (int64_t j = 0; j < n; j++) {
    float scale = alpha * sa * ((const float *)bs->data)[bs->numel == 1 ? 0 : j];
    qs->mult[j] = scale / ((const float *)ys->data)[0];
    if (cc) qs->bias[j] = ((const int32_t *)cc->data)[cc->numel == 1 ? 0 : j];
  }
  qs->k = k;
  qs->n = n;
  ql_status st = ql_qgemm_pack_b(b->data, b->dtype == QL_INT8, k, n, tb ? 1 : n, tb ? k : 1, zp, bz->numel != 1,
                                 (ql_isa)p->isa, &qs->pb, p->err);
  ql_free(zp);
  if (st) {
    qgemm_release(qs);
    return st == QL_ERR_OUT_OF_MEMORY ? st : QL_OK;
  }
  *state = qs;
  return QL_OK;
}

static ql_status qgemm(ql_op_ctx *c) {
  const ql_tensor *a = ql_op_in(c, 0), *as = ql_op_in(c, 1), *az = ql_op_in(c, 2), *b = ql_op_in(c, 3), *bs = ql_op_in(c, 4),
                  *bz = ql_op_in(c, 5), *cc = ql_op_in(c, 6), *ys = ql_op_in(c, 7), *yz = ql_op_in(c, 8);
  if (!a || !as || !az || !b || !bs || !bz) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "A, a_scale, a_zero_point, B, b_scale, b_zero_point are required");
  if (!is_q8(a->dtype) || !is_q8(b->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "A and B must be uint8 or int8");
  if (az->dtype != a->dtype || bz->dtype != b->dtype) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "zero point types must match A and B");
  if (as->dtype != QL_FLOAT || bs->dtype != QL_FLOAT || (ys && ys->dtype != QL_FLOAT)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "scales must be float32");
  if (a->rank != 2 || b->rank != 2) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "A and B must be 2-D");
  if (as->numel != 1 || az->numel != 1) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "a_scale and a_zero_point must be scalars");
  if ((ys == NULL) != (yz == NULL)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "y_scale and y_zero_point must be given together");
  if (ys && (ys->numel != 1 || yz->numel != 1)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "y_scale and y_zero_point must be scalars");
  if (yz && !is_q8(yz->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "y_zero_point must be uint8 or int8");
  int ta = ql_attr_int(c->node, "transA", 0) != 0, tb = ql_attr_int(c->node, "transB", 0) != 0;
  float alpha = ql_attr_float(c->node, "alpha", 1.0f);
  int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
  int64_t kb = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
  if (K != kb) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "A has K=%lld, B has %lld", (long long)K, (long long)kb);
  int bpc, bzpc;
  ql_status st;
  if ((st = per_col(c, bs, "b_scale", N, &bpc)) || (st = per_col(c, bz, "b_zero_point", N, &bzpc))) return st;
  if (bs->numel != bz->numel) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "b_scale and b_zero_point must have the same shape");
  /* C: int32 scalar, [N], [1,N], [M,1] or [M,N] */
  int cmode = 0; /* 0 none, 1 scalar, 2 row (N), 3 col (M), 4 full */
  if (cc) {
    if (cc->dtype != QL_INT32) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "C must be int32");
    if (cc->numel == 1) cmode = 1;
    else if ((cc->rank == 1 && cc->dims[0] == N) || (cc->rank == 2 && cc->dims[0] == 1 && cc->dims[1] == N)) cmode = 2;
    else if (cc->rank == 2 && cc->dims[0] == M && cc->dims[1] == 1) cmode = 3;
    else if (cc->rank == 2 && cc->dims[0] == M && cc->dims[1] == N) cmode = 4;
    else return ql_op_fail(c, QL_ERR_INVALID_MODEL, "C cannot be broadcast to [%lld, %lld]", (long long)M, (long long)N);
  }
  int64_t od[2] = {M, N};
  const qgemm_state *qs = c->state;
  if (qs && !ta && ys && qs->k == K && qs->n == N) { /* the packed GEMM writes every element */
    ql_tensor *y = ql_op_output_nofill(c, 0, yz->dtype, 2, od);
    if (!y) return c->err->code;
    if (y->numel == 0) return QL_OK;
    int64_t lo, hi;
    ql_dtype_int_range(yz->dtype, &lo, &hi);
    ql_qgemm_args g = {.pb = qs->pb, .a = a->data, .lda = K, .m = M, .a_signed = a->dtype == QL_INT8,
                       .a_zp = ld8(a->dtype, az->data, 0), .bias = qs->bias,
                       .out_type = yz->dtype == QL_UINT8 ? QL_QGEMM_OUT_U8 : QL_QGEMM_OUT_S8, .mult = qs->mult,
                       .mult_per_col = 1, .out_zp = ld8(yz->dtype, yz->data, 0), .out_min = (int32_t)lo,
                       .out_max = (int32_t)hi, .c = y->data, .ldc = N};
    if (!(g.workspace = ql_op_scratch(c, ql_qgemm_workspace_size(g.pb, g.m)))) return c->err->code;
    return ql_qgemm_run(&g, c->pool, c->err);
  }
  ql_tensor *y = ql_op_output(c, 0, ys ? yz->dtype : QL_FLOAT, 2, od);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  int32_t za = ld8(a->dtype, az->data, 0);
  float sa = ((const float *)as->data)[0];
  int64_t lo = 0, hi = 0;
  int32_t zy = 0;
  if (yz) {
    ql_dtype_int_range(yz->dtype, &lo, &hi);
    zy = ld8(yz->dtype, yz->data, 0);
  }
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      int32_t zb = ld8(b->dtype, bz->data, bzpc ? n : 0);
      int64_t sum = 0;
      for (int64_t k = 0; k < K; k++) {
        int32_t av = ld8(a->dtype, a->data, ta ? k * M + m : m * K + k);
        int32_t bv = ld8(b->dtype, b->data, tb ? n * K + k : k * N + n);
        sum += (int64_t)(av - za) * (bv - zb);
      }
      if (cmode) {
        const int32_t *cd = cc->data;
        sum += cd[cmode == 1 ? 0 : cmode == 2 ? n : cmode == 3 ? m : m * N + n];
      }
      int32_t acc = (int32_t)(uint32_t)(uint64_t)sum;
      /* ORT: scale = alpha * a_scale * b_scale[n] (then / y_scale), one
       * float multiply of the int32 accumulator, round half to even */
      float scale = alpha * sa * ((const float *)bs->data)[bpc ? n : 0];
      if (ys) {
        scale /= ((const float *)ys->data)[0];
        float v = (float)acc * scale;
        float flo = (float)(lo - zy), fhi = (float)(hi - zy);
        v = v > flo ? v : flo;
        v = v < fhi ? v : fhi;
        int32_t q = (int32_t)nearbyintf(v) + zy;
        if (yz->dtype == QL_UINT8) ((uint8_t *)y->data)[m * N + n] = (uint8_t)q;
        else ((int8_t *)y->data)[m * N + n] = (int8_t)q;
      } else {
        ((float *)y->data)[m * N + n] = (float)acc * scale;
      }
    }
  return QL_OK;
}

/* ------------------------------- MatMulIntegerToFloat / DynamicQuantizeMatMul */

/* Checks shared by both ops (and both paths): shapes, per-column forms,
 * bias; allocates Y. *y stays NULL on error. */
static ql_status int_to_float_check(ql_op_ctx *c, const int64_t *adims, int arank, const ql_tensor *b,
                                    const ql_tensor *bs, const ql_tensor *bz, const ql_tensor *bias, ql_dtype yt,
                                    mm_shape *s, int *bspc, int *bzpc, ql_tensor **y) {
  *y = NULL;
  ql_status st = mm_shapes(c, adims, arank, b->dims, b->rank, s);
  if (st) return st;
  if ((st = per_col(c, bs, "b_scale", s->N, bspc)) || (st = per_col(c, bz, "b_zero_point", s->N, bzpc))) return st;
  if (bz && bz->dtype != b->dtype) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "b_zero_point type must match B");
  if (bias && (bias->dtype != yt || bias->numel != s->N))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "bias must be a %s tensor of N=%lld elements", ql_dtype_name(yt), (long long)s->N);
  *y = ql_op_output_nofill(c, 0, yt, s->rank, s->dims); /* both paths write every element */
  return *y ? QL_OK : c->err->code;
}

/* Y = acc * (a_scale * b_scale[n]) + bias[n], numpy matmul shapes (Y checked
 * and allocated by int_to_float_check). */
static ql_status int_matmul_to_float(ql_op_ctx *c, ql_dtype at, const void *adata, int32_t za, float sa,
                                     const ql_tensor *b, const ql_tensor *bs, const ql_tensor *bz,
                                     const ql_tensor *bias, ql_dtype yt, const mm_shape *sp, int bspc, int bzpc,
                                     ql_tensor *y) {
  const mm_shape s = *sp;
  if (y->numel == 0) return QL_OK;
  size_t nacc;
  if (ql_mul_overflow_size((size_t)s.M, (size_t)s.N, &nacc) || ql_mul_overflow_size(nacc, sizeof(int32_t), &nacc))
    return ql_op_fail(c, QL_ERR_LIMIT, "matmul too large");
  int32_t *acc = ql_op_scratch(c, nacc);
  if (!acc) return c->err->code;
  for (int64_t bt = 0; bt < s.batch; bt++) {
    int_gemm(at, adata, mm_a_off(&s, bt), za, b->dtype, b->data, mm_b_off(&s, bt), bz, bzpc, s.M, s.K, s.N, acc);
    for (int64_t m = 0; m < s.M; m++)
      for (int64_t n = 0; n < s.N; n++) {
        float scale = sa * ldf(bs->dtype, bs->data, bspc ? n : 0);
        float v = (float)acc[m * s.N + n] * scale;
        if (bias) v += ldf(bias->dtype, bias->data, n);
        stf(yt, y->data, (bt * s.M + m) * s.N + n, v);
      }
  }
  return QL_OK;
}

/* ---- fast path: B packed once at session creation ----
 * Taken when B is a constant 2-D int8/uint8 matrix and its zero point (if
 * given) a constant of B's type, per tensor or per column; everything else
 * runs the reference loops above. The run then checks the inputs exactly as
 * the reference does (int_to_float_check), and computes the same bits:
 * the qgemm F32 epilogue is (float)acc * mult[n] + bias[n], one float32
 * multiply then one add, with mult[n] = a_scale * b_scale[n] computed here
 * as the reference computes its `scale`. DynamicQuantizeMatMul quantizes A
 * with the dynq kernels (the reference's arithmetic, see dynq.h) into a
 * buffer the GEMM reads, in parallel on the pool. The session's dynamic-
 * quantization fusion (src/runtime/fuse-dynamic.c) turns ONNX
 * DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul chains into
 * DynamicQuantizeMatMul, so they take this path too. */
typedef struct dq_state {
  ql_qgemm_packed_b *pb;
  int64_t k, n;
} dq_state;

static void dq_release(void *state) {
  dq_state *ds = state;
  if (!ds) return;
  ql_qgemm_packed_b_free(ds->pb);
  ql_free(ds);
}

static ql_status dq_prepare_b(const ql_op_prep *p, size_t bi, size_t zi, void **state) {
  *state = NULL;
  const ql_tensor *b = bi < p->n_in ? p->in[bi] : NULL, *bz = zi < p->n_in ? p->in[zi] : NULL;
  const int bz_given = zi < p->node->n_inputs && p->node->inputs[zi][0];
  if (p->reference_only || !b || (bz_given && !bz) || !is_q8(b->dtype) || b->rank != 2) return QL_OK;
  const int64_t k = b->dims[0], n = b->dims[1];
  if (k < 1 || n < 1 || k > ((int64_t)1 << 30) || n > ((int64_t)1 << 30)) return QL_OK;
  int32_t zp1 = 0, *zp = &zp1;
  int percol = 0;
  if (bz) {
    if (bz->dtype != b->dtype) return QL_OK;
    if (bz->numel != 1) {
      if (bz->numel != n || bz->rank < 1 || bz->dims[bz->rank - 1] != n) return QL_OK;
      percol = 1;
      if (!(zp = ql_malloc((size_t)n * sizeof *zp))) return ql_errf(p->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int64_t j = 0; j < bz->numel; j++) zp[j] = ld8(bz->dtype, bz->data, j);
  }
  dq_state *ds = ql_calloc(1, sizeof *ds);
  ql_status st = QL_ERR_OUT_OF_MEMORY;
  if (ds) {
    ds->k = k;
    ds->n = n;
    st = ql_qgemm_pack_b(b->data, b->dtype == QL_INT8, k, n, n, 1, bz ? zp : NULL, percol, (ql_isa)p->isa, &ds->pb,
                         p->err);
  }
  if (zp != &zp1) ql_free(zp);
  if (st) {
    dq_release(ds);
    /* only running out of memory is an error; anything else falls back */
    return st == QL_ERR_OUT_OF_MEMORY ? ql_errf(p->err, st, "out of memory") : QL_OK;
  }
  *state = ds;
  return QL_OK;
}

static ql_status dqmm_prepare(const ql_op_prep *p, void **state) { return dq_prepare_b(p, 1, 3, state); }
static ql_status mitf_prepare(const ql_op_prep *p, void **state) { return dq_prepare_b(p, 1, 5, state); }

static int64_t align64(int64_t x) { return (x + 63) / 64 * 64; }

/* Dynamic quantization of A on the pool: min/max over chunks, then the
 * quantization of row ranges (dynq.h: the split never changes the bits). */
/* below DQ_SERIAL elements both passes take less than waking the pool */
enum { DQ_CHUNKS = 64, DQ_SERIAL = 1 << 18 };
typedef struct dq_job {
  ql_isa isa;
  const float *x;
  int64_t n, chunk;
  float mn[DQ_CHUNKS], mx[DQ_CHUNKS];
  float scale, zp;
  uint8_t *y;
} dq_job;

static void dq_task_minmax(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)thread;
  (void)j0, (void)nj;
  dq_job *j = ctx;
  for (size_t i = i0; i < i0 + ni; i++) {
    const int64_t b = (int64_t)i * j->chunk, e = b + j->chunk < j->n ? b + j->chunk : j->n;
    j->mn[i] = j->mx[i] = 0.0f;
    ql_dynq_minmax(j->isa, j->x + b, e - b, &j->mn[i], &j->mx[i]);
  }
}

static void dq_task_quantize(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)thread;
  (void)j0, (void)nj;
  dq_job *j = ctx;
  const int64_t b = (int64_t)i0 * j->chunk, e = (int64_t)(i0 + ni) * j->chunk;
  ql_dynq_quantize(j->isa, j->x + b, (e < j->n ? e : j->n) - b, j->scale, j->zp, j->y + b);
}

static void dq_quantize_a(dq_job *j, struct ql_threadpool *pool) {
  const int nt = ql_threadpool_size(pool);
  size_t chunks = 1;
  if (nt > 1 && j->n > DQ_SERIAL) {
    chunks = (size_t)nt * 4 < DQ_CHUNKS ? (size_t)nt * 4 : DQ_CHUNKS;
    if ((int64_t)chunks * DQ_SERIAL / 4 > j->n) chunks = (size_t)(j->n / (DQ_SERIAL / 4));
    if (chunks < 1) chunks = 1;
  }
  /* chunk boundaries on 64 elements keep the vector loops whole */
  j->chunk = align64((j->n + (int64_t)chunks - 1) / (int64_t)chunks);
  chunks = (size_t)((j->n + j->chunk - 1) / j->chunk);
  if (chunks <= 1) {
    j->mn[0] = j->mx[0] = 0.0f;
    ql_dynq_minmax(j->isa, j->x, j->n, &j->mn[0], &j->mx[0]);
  } else {
    ql_threadpool_parallel_for_2d(pool, dq_task_minmax, j, chunks, 1, 1, 1);
  }
  float mn = 0.0f, mx = 0.0f;
  for (size_t i = 0; i < chunks; i++) {
    mn = j->mn[i] < mn ? j->mn[i] : mn;
    mx = j->mx[i] > mx ? j->mx[i] : mx;
  }
  ql_dynq_params(mn, mx, &j->scale, &j->zp);
  if (chunks <= 1) ql_dynq_quantize(j->isa, j->x, j->n, j->scale, j->zp, j->y);
  else ql_threadpool_parallel_for_2d(pool, dq_task_quantize, j, chunks, 1, (chunks + (size_t)nt - 1) / (size_t)nt, 1);
}

/* The GEMM of a prepared op: A (uint8/int8, `rows` x K, contiguous) ->
 * Y float32. a_float: DynamicQuantizeMatMul's float A, quantized first
 * (then at, a, za and sa are ignored). */
static ql_status dq_fast(ql_op_ctx *c, const dq_state *ds, const mm_shape *s, const ql_tensor *a_float, ql_dtype at,
                         const void *a, int32_t za, float sa, const ql_tensor *bs, int bspc, const ql_tensor *bias,
                         ql_tensor *y) {
  const int64_t rows = s->batch * s->M, N = ds->n;
  size_t ws = ql_qgemm_workspace_size(ds->pb, rows), aq_bytes = 0, total;
  if (a_float) aq_bytes = (size_t)align64(rows * s->K); /* <= numel of A */
  const size_t mult_bytes = (size_t)align64(N * (int64_t)sizeof(float));
  if (__builtin_add_overflow(ws, aq_bytes, &total) || __builtin_add_overflow(total, mult_bytes, &total))
    return ql_op_fail(c, QL_ERR_LIMIT, "matmul too large");
  char *buf = ql_op_scratch(c, total);
  if (!buf) return c->err->code;
  float *mult = (float *)buf;
  uint8_t *aq = (uint8_t *)buf + mult_bytes;
  if (a_float) {
    dq_job j = {.isa = ds->pb->isa, .x = a_float->data, .n = rows * s->K, .y = aq};
    dq_quantize_a(&j, c->pool);
    at = QL_UINT8, a = aq, za = (int32_t)j.zp, sa = j.scale;
  }
  const float *bsd = bs->data; /* float32: checked by the callers */
  for (int64_t n = 0; n < (bspc ? N : 1); n++) mult[n] = sa * bsd[n];
  ql_qgemm_args g = {.pb = ds->pb, .a = a, .lda = s->K, .m = rows, .a_signed = at == QL_INT8, .a_zp = za,
                     .out_type = QL_QGEMM_OUT_F32, .mult = mult, .mult_per_col = bspc,
                     .fbias = bias ? bias->data : NULL, .c = y->data, .ldc = N,
                     .workspace = (char *)buf + mult_bytes + aq_bytes};
  return ql_qgemm_run(&g, c->pool, c->err);
}

/* Whether the prepared fast path applies to this run (after the checks). */
static int dq_applies(const ql_op_ctx *c, const mm_shape *s, const ql_tensor *b, const ql_tensor *bias) {
  const dq_state *ds = c->state;
  return ds && b->rank == 2 && s->K == ds->k && s->N == ds->n && (!bias || bias->dtype == QL_FLOAT);
}

static ql_status matmul_integer_to_float(ql_op_ctx *c) {
  const ql_tensor *a = ql_op_in(c, 0), *b = ql_op_in(c, 1), *as = ql_op_in(c, 2), *bs = ql_op_in(c, 3),
                  *az = ql_op_in(c, 4), *bz = ql_op_in(c, 5), *bias = ql_op_in(c, 6);
  if (!a || !b || !as || !bs) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "A, B, a_scale and b_scale are required");
  if (!is_q8(a->dtype) || !is_q8(b->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "A and B must be uint8 or int8");
  if ((as->dtype != QL_FLOAT && as->dtype != QL_FLOAT16) || bs->dtype != as->dtype)
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "a_scale and b_scale must both be float32 or float16");
  if (as->numel != 1) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "a_scale must be a scalar");
  if (az && (az->dtype != a->dtype || az->numel != 1)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "a_zero_point must be a scalar of A's type");
  int32_t za = az ? ld8(az->dtype, az->data, 0) : 0;
  const float sa = ldf(as->dtype, as->data, 0);
  mm_shape s;
  int bspc, bzpc;
  ql_tensor *y;
  ql_status st = int_to_float_check(c, a->dims, a->rank, b, bs, bz, bias, as->dtype, &s, &bspc, &bzpc, &y);
  if (st || y->numel == 0) return st;
  if (as->dtype == QL_FLOAT && dq_applies(c, &s, b, bias))
    return dq_fast(c, c->state, &s, NULL, a->dtype, a->data, za, sa, bs, bspc, bias, y);
  return int_matmul_to_float(c, a->dtype, a->data, za, sa, b, bs, bz, bias, as->dtype, &s, bspc, bzpc, y);
}

/* ORT's dynamic quantization of A (GetQuantizationParameter): range
 * widened to include 0, scale (max - min) / 255 or 1 when the range is
 * empty, zero point clamped then rounded half to even, values quantized by
 * float division (MlasQuantizeLinear). */
static ql_status dynamic_quantize_matmul(ql_op_ctx *c) {
  const ql_tensor *a = ql_op_in(c, 0), *b = ql_op_in(c, 1), *bs = ql_op_in(c, 2), *bz = ql_op_in(c, 3), *bias = ql_op_in(c, 4);
  if (!a || !b || !bs) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "A, B and b_scale are required");
  if (a->dtype != QL_FLOAT) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "A must be float32");
  if (!is_q8(b->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "B must be uint8 or int8");
  if (bs->dtype != QL_FLOAT) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "b_scale must be float32");
  mm_shape s;
  int bspc, bzpc;
  ql_tensor *y;
  ql_status st = int_to_float_check(c, a->dims, a->rank, b, bs, bz, bias, QL_FLOAT, &s, &bspc, &bzpc, &y);
  if (st) return st;
  /* an empty Y (N = 0 or no rows) needs no quantized A */
  if (y->numel == 0) return QL_OK;
  if (dq_applies(c, &s, b, bias)) return dq_fast(c, c->state, &s, a, QL_UINT8, NULL, 0, 0.0f, bs, bspc, bias, y);
  const float *ad = a->data;
  float mn = 0.0f, mx = 0.0f;
  for (int64_t i = 0; i < a->numel; i++) {
    mn = ad[i] < mn ? ad[i] : mn;
    mx = ad[i] > mx ? ad[i] : mx;
  }
  float scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
  float zpf = 0.0f - mn / scale;
  zpf = !(zpf >= 0.0f) ? 0.0f : zpf > 255.0f ? 255.0f : zpf; /* NaN (non-finite A) -> 0 */
  int32_t zp = (int32_t)nearbyintf(zpf);
  uint8_t *aq = ql_op_scratch(c, (size_t)a->numel);
  if (!aq) return c->err->code;
  for (int64_t i = 0; i < a->numel; i++) {
    float q = ad[i] / scale, flo = (float)(0 - zp), fhi = (float)(255 - zp);
    q = q > flo ? q : flo;
    q = q < fhi ? q : fhi;
    aq[i] = (uint8_t)((int32_t)nearbyintf(q) + zp);
  }
  return int_matmul_to_float(c, QL_UINT8, aq, zp, scale, b, bs, bz, bias, QL_FLOAT, &s, bspc, bzpc, y);
}

/* ------------------------------------------------- QLinearConv (com.microsoft) */

/* As ONNX QLinearConv, plus channels_last (x is N x spatial... x C and y
 * likewise). ORT requantizes each output channel with the float multiplier
 * x_scale * w_scale[m] / y_scale (in that order) applied once to the int32
 * accumulator, rounding half to even. Weights are always OIHW. */
static ql_status ms_qlinear_conv(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *xs = ql_op_in(c, 1), *xz = ql_op_in(c, 2), *w = ql_op_in(c, 3), *ws = ql_op_in(c, 4),
                  *wz = ql_op_in(c, 5), *ys = ql_op_in(c, 6), *yz = ql_op_in(c, 7), *bias = ql_op_in(c, 8);
  if (!x || !xs || !xz || !w || !ws || !wz || !ys || !yz) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "the first 8 inputs are required");
  if (!is_q8(x->dtype) || !is_q8(w->dtype) || !is_q8(yz->dtype)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "x, w and y must be uint8 or int8");
  if (xz->dtype != x->dtype || wz->dtype != w->dtype) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "zero point types must match x and w");
  if (xs->dtype != QL_FLOAT || ws->dtype != QL_FLOAT || ys->dtype != QL_FLOAT) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "scales must be float32");
  if (xs->numel != 1 || xz->numel != 1 || ys->numel != 1 || yz->numel != 1)
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "x and y scales and zero points must be scalars");
  if (x->rank < 3 || w->rank != x->rank) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "x and w must have the same rank >= 3");
  int cl = ql_attr_int(c->node, "channels_last", 0) != 0, nsp = x->rank - 2;
  int64_t xin[QL_CONV_MAX_SPATIAL], N = x->dims[0], C = cl ? x->dims[x->rank - 1] : x->dims[1], M;
  for (int i = 0; i < nsp; i++) xin[i] = x->dims[cl ? 1 + i : 2 + i];
  ql_conv_attrs a;
  ql_conv_geom g;
  ql_status st;
  if ((st = ql_conv_attrs_read(c, nsp, &a)) || (st = ql_conv_geom_forward(c, &a, xin, w->dims + 2, &g)) ||
      (st = ql_conv_check_channels(c, 0, a.group, C, w->dims[0], w->dims[1], &M)))
    return st;
  int wspc, wzpc;
  if ((st = per_col(c, ws, "w_scale", M, &wspc)) || (st = per_col(c, wz, "w_zero_point", M, &wzpc))) return st;
  if (bias && (bias->dtype != QL_INT32 || bias->numel != M)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "B must be int32 with M=%lld elements", (long long)M);
  int64_t yd[QL_MAX_RANK];
  yd[0] = N;
  for (int i = 0; i < nsp; i++) yd[cl ? 1 + i : 2 + i] = g.out[i];
  yd[cl ? x->rank - 1 : 1] = M;
  ql_tensor *y = ql_op_output(c, 0, yz->dtype, x->rank, yd);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  int64_t cg = w->dims[1], mg = M / a.group, lo, hi;
  ql_dtype_int_range(yz->dtype, &lo, &hi);
  int32_t zx = ld8(x->dtype, xz->data, 0), zy = ld8(yz->dtype, yz->data, 0);
  float sx = ((const float *)xs->data)[0], sy = ((const float *)ys->data)[0];
  for (int64_t n = 0; n < N; n++)
    for (int64_t m = 0; m < M; m++) {
      int64_t grp = m / mg;
      int32_t zw = ld8(w->dtype, wz->data, wzpc ? m : 0);
      float scale = sx * ((const float *)ws->data)[wspc ? m : 0] / sy;
      float flo = (float)(lo - zy), fhi = (float)(hi - zy);
      for (int64_t o = 0; o < g.out_size; o++) {
        int64_t op[QL_CONV_MAX_SPATIAL], t = o;
        for (int i = nsp - 1; i >= 0; i--) op[i] = t % g.out[i], t /= g.out[i];
        int64_t sum = bias ? ((const int32_t *)bias->data)[m] : 0;
        for (int64_t k = 0; k < g.kernel_size; k++) {
          int64_t kp[QL_CONV_MAX_SPATIAL], ip = 0, inside = 1;
          t = k;
          for (int i = nsp - 1; i >= 0; i--) kp[i] = t % g.kernel[i], t /= g.kernel[i];
          for (int i = 0; i < nsp; i++) {
            int64_t q = op[i] * g.stride[i] + kp[i] * g.dilation[i] - g.pad_begin[i];
            if (q < 0 || q >= g.in[i]) inside = 0;
            ip = ip * g.in[i] + q;
          }
          if (!inside) continue; /* padding holds x_zero_point: contributes 0 */
          for (int64_t ci = 0; ci < cg; ci++) {
            int64_t ch = grp * cg + ci;
            int64_t xi = cl ? (n * g.in_size + ip) * C + ch : (n * C + ch) * g.in_size + ip;
            int32_t wv = ld8(w->dtype, w->data, (m * cg + ci) * g.kernel_size + k);
            sum += (int64_t)(ld8(x->dtype, x->data, xi) - zx) * (wv - zw);
          }
        }
        float v = (float)(int32_t)(uint32_t)(uint64_t)sum * scale;
        v = v > flo ? v : flo;
        v = v < fhi ? v : fhi;
        int32_t q = (int32_t)nearbyintf(v) + zy;
        int64_t yi = cl ? (n * g.out_size + o) * M + m : (n * M + m) * g.out_size + o;
        if (yz->dtype == QL_UINT8) ((uint8_t *)y->data)[yi] = (uint8_t)q;
        else ((int8_t *)y->data)[yi] = (int8_t)q;
      }
    }
  return QL_OK;
}

const ql_op_def ql_ops_ms_qmath[] = {
    {"com.microsoft", "QGemm", 1, 1, qgemm, qgemm_prepare, qgemm_release},
    {"com.microsoft", "MatMulIntegerToFloat", 1, 1, matmul_integer_to_float, mitf_prepare, dq_release},
    {"com.microsoft", "DynamicQuantizeMatMul", 1, 1, dynamic_quantize_matmul, dqmm_prepare, dq_release},
    {"com.microsoft", "QLinearConv", 1, 1, ms_qlinear_conv},
    {0},
};

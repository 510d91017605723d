/* Float matrix products: MatMul (1, 9, 13; numpy.matmul semantics, see
 * matmul-shape.h) and Gemm (1..13), reference implementations for float,
 * float16 and bfloat16 (arithmetic as float-io.h describes).
 *
 *   Gemm: Y = alpha * A' @ B' + beta * C,  A' = transA ? A^T : A (M x K),
 *         B' = transB ? B^T : B (K x N), C unidirectionally broadcast to
 *         [M, N] (optional from v11; absent = 0). */
#include "float-io.h"
#include "matmul-shape.h"

/* acc[M, N] = a[M, K] @ b[K, N] in double, i-k-j order so the inner loop is
 * contiguous in b and acc. */
static void gemm_ref(int64_t M, int64_t K, int64_t N, const float *a, const float *b, double *acc) {
  for (int64_t i = 0; i < M; i++) {
    double *row = acc + i * N;
    for (int64_t j = 0; j < N; j++) row[j] = 0.0;
    for (int64_t k = 0; k < K; k++) {
      const double av = a[i * K + k];
      const float *brow = b + k * N;
      for (int64_t j = 0; j < N; j++) row[j] += av * brow[j];
    }
  }
}

static ql_status alloc_acc(ql_op_ctx *c, int64_t M, int64_t N, double **acc) {
  size_t bytes; /* M * N <= 2^62 for shapes that passed ql_dims_numel */
  if (ql_mul_overflow_size((size_t)M * (size_t)N, sizeof(double), &bytes))
    return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  return (*acc = ql_op_scratch(c, bytes)) ? QL_OK : c->err->code;
}

static ql_status matmul(ql_op_ctx *c) {
  const ql_tensor *a = ql_op_in(c, 0), *b = ql_op_in(c, 1);
  if (!a || !b) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs A and B are required");
  if (!ql_float_io_type(a->dtype) || b->dtype != a->dtype)
    return ql_op_fail(c, ql_float_io_type(a->dtype) ? QL_ERR_INVALID_MODEL : QL_ERR_UNSUPPORTED,
                      "A and B must share one of float, float16, bfloat16 (got %s and %s)",
                      ql_dtype_name(a->dtype), ql_dtype_name(b->dtype));
  ql_matmul_shape s;
  ql_status st = ql_matmul_shape_init(c, a, b, &s);
  if (st) return st;
  ql_tensor *y = ql_op_output(c, 0, a->dtype, s.out_rank, s.out);
  if (!y) return c->err->code;
  float *af, *bf;
  double *acc;
  if (!(af = ql_float_scratch(c, a)) || !(bf = ql_float_scratch(c, b))) return c->err->code;
  if ((st = alloc_acc(c, s.M, s.N, &acc))) return st;
  for (int64_t bi = 0; bi < s.batch_count; bi++) {
    int64_t ao, bo;
    ql_matmul_batch_offsets(&s, bi, &ao, &bo);
    gemm_ref(s.M, s.K, s.N, af + ao, bf + bo, acc);
    for (int64_t e = 0; e < s.M * s.N; e++) ql_store_f64(y->dtype, y->data, bi * s.M * s.N + e, acc[e]);
  }
  return QL_OK;
}

/* A float copy of the 2-D tensor t in the scratch, transposed when `trans`;
 * NULL with c->err set when out of memory. */
static float *matrix_copy(ql_op_ctx *c, const ql_tensor *t, int trans) {
  if (!trans) return ql_float_scratch(c, t);
  float *g = ql_op_scratch(c, (size_t)t->numel * sizeof *g);
  if (!g) return NULL;
  const int64_t R = t->dims[0], C = t->dims[1];
  for (int64_t r = 0; r < R; r++)
    for (int64_t col = 0; col < C; col++) g[col * R + r] = ql_float_at(t, r * C + col);
  return g;
}

static ql_status gemm(ql_op_ctx *c) {
  const ql_tensor *a = ql_op_in(c, 0), *b = ql_op_in(c, 1), *ct = ql_op_in(c, 2);
  if (!a || !b) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs A and B are required");
  if (!ql_float_io_type(a->dtype) || b->dtype != a->dtype || (ct && ct->dtype != a->dtype))
    return ql_op_fail(c, ql_float_io_type(a->dtype) ? QL_ERR_INVALID_MODEL : QL_ERR_UNSUPPORTED,
                      "A, B and C must share one of float, float16, bfloat16 (got %s, %s, %s)",
                      ql_dtype_name(a->dtype), ql_dtype_name(b->dtype), ct ? ql_dtype_name(ct->dtype) : "-");
  if (a->rank != 2 || b->rank != 2)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "A and B must be 2-D (got ranks %d and %d)", a->rank, b->rank);
  const int ta = ql_attr_int(c->node, "transA", 0) != 0, tb = ql_attr_int(c->node, "transB", 0) != 0;
  const double alpha = ql_attr_float(c->node, "alpha", 1.0f), beta = ql_attr_float(c->node, "beta", 1.0f);
  const int64_t M = a->dims[ta ? 1 : 0], K = a->dims[ta ? 0 : 1];
  const int64_t N = b->dims[tb ? 0 : 1], Kb = b->dims[tb ? 1 : 0];
  if (K != Kb)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inner dimensions differ: A' is %lld x %lld, B' is %lld x %lld",
                      (long long)M, (long long)K, (long long)Kb, (long long)N);
  const int64_t ydims[2] = {M, N};
  if (ct) {
    /* C broadcasts to [M, N] in one direction only (older versions'
     * `broadcast` attribute is subsumed: a same-shape C always works) */
    int r;
    int64_t bc[QL_MAX_RANK];
    if (ct->rank > 2 || ql_broadcast_shape(2, ydims, ct->rank, ct->dims, &r, bc) || bc[0] != M || bc[1] != N)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "C does not broadcast to [%lld, %lld]", (long long)M,
                        (long long)N);
  }
  ql_tensor *y = ql_op_output(c, 0, a->dtype, 2, ydims);
  if (!y) return c->err->code;
  float *af, *bf;
  double *acc;
  if (!(af = matrix_copy(c, a, ta)) || !(bf = matrix_copy(c, b, tb))) return c->err->code;
  ql_status st = alloc_acc(c, M, N, &acc);
  if (st) return st;
  gemm_ref(M, K, N, af, bf, acc);
  for (int64_t e = 0; e < M * N; e++) {
    double v = alpha * acc[e];
    if (ct) v += beta * ql_load_f64(ct->dtype, ct->data, ql_broadcast_index(e, 2, ydims, ct->rank, ct->dims));
    ql_store_f64(y->dtype, y->data, e, v);
  }
  return QL_OK;
}

const ql_op_def ql_ops_matmul[] = {
    {"", "MatMul", 1, 13, matmul},
    {"", "Gemm", 1, 13, gemm},
    {0},
};

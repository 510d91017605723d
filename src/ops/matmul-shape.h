/* numpy.matmul shape rules, shared by MatMul, MatMulInteger and
 * QLinearMatMul:
 *  - a 1-D `a` [K] is treated as [1, K] and a 1-D `b` [K] as [K, 1]; the
 *    added axis is removed from the result;
 *  - the leading ("batch") dims of a and b broadcast against each other;
 *  - the result is [batch..., M, N].
 * The "full" output shape always keeps M and N (rank = batch rank + 2);
 * per-row / per-column parameters are broadcast against it. */
#ifndef QL_MATMUL_SHAPE_H
#define QL_MATMUL_SHAPE_H

#include "op.h"

typedef struct ql_matmul_shape {
  int64_t M, K, N;
  int a_rank, b_rank;                      /* a and b with the 1-D promotion applied */
  int64_t a_dims[QL_MAX_RANK], b_dims[QL_MAX_RANK];
  int batch_rank;                          /* broadcast batch dims */
  int64_t batch[QL_MAX_RANK];
  int64_t batch_count;                     /* product of batch */
  int full_rank;                           /* batch_rank + 2 */
  int64_t full[QL_MAX_RANK];               /* [batch..., M, N] */
  int out_rank;                            /* the real output (1-D promotions removed) */
  int64_t out[QL_MAX_RANK];
} ql_matmul_shape;

/* Fills s from the shapes of a and b; on mismatch returns an error through
 * ql_op_fail. Ranks must be >= 1 (numpy rejects 0-D operands). */
static inline ql_status ql_matmul_shape_init(ql_op_ctx *c, const ql_tensor *a, const ql_tensor *b,
                                             ql_matmul_shape *s) {
  memset(s, 0, sizeof *s);
  if (a->rank < 1 || b->rank < 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "matmul operands must have rank >= 1 (got %d and %d)", a->rank,
                      b->rank);
  s->a_rank = a->rank < 2 ? 2 : a->rank;
  s->b_rank = b->rank < 2 ? 2 : b->rank;
  if (a->rank == 1) {
    s->a_dims[0] = 1;
    s->a_dims[1] = a->dims[0];
  } else {
    memcpy(s->a_dims, a->dims, sizeof(int64_t) * (size_t)a->rank);
  }
  if (b->rank == 1) {
    s->b_dims[0] = b->dims[0];
    s->b_dims[1] = 1;
  } else {
    memcpy(s->b_dims, b->dims, sizeof(int64_t) * (size_t)b->rank);
  }
  s->M = s->a_dims[s->a_rank - 2];
  s->K = s->a_dims[s->a_rank - 1];
  s->N = s->b_dims[s->b_rank - 1];
  if (s->b_dims[s->b_rank - 2] != s->K)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "matmul inner dimensions differ: a has K = %lld, b has %lld",
                      (long long)s->K, (long long)s->b_dims[s->b_rank - 2]);
  if (ql_broadcast_shape(s->a_rank - 2, s->a_dims, s->b_rank - 2, s->b_dims, &s->batch_rank, s->batch) ||
      s->batch_rank + 2 > QL_MAX_RANK)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "matmul batch dimensions do not broadcast");
  s->batch_count = ql_dims_numel(s->batch_rank, s->batch);
  s->full_rank = s->batch_rank + 2;
  memcpy(s->full, s->batch, sizeof(int64_t) * (size_t)s->batch_rank);
  s->full[s->batch_rank] = s->M;
  s->full[s->batch_rank + 1] = s->N;
  if (s->batch_count < 0 || ql_dims_numel(s->full_rank, s->full) < 0)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "matmul output size overflows");
  s->out_rank = s->batch_rank;
  memcpy(s->out, s->batch, sizeof(int64_t) * (size_t)s->batch_rank);
  if (a->rank >= 2) s->out[s->out_rank++] = s->M;
  if (b->rank >= 2) s->out[s->out_rank++] = s->N;
  return QL_OK;
}

/* Element offsets of the [M, K] slice of a and the [K, N] slice of b that
 * batch entry `bi` (of batch_count) multiplies. */
static inline void ql_matmul_batch_offsets(const ql_matmul_shape *s, int64_t bi, int64_t *a_off, int64_t *b_off) {
  *a_off = ql_broadcast_index(bi, s->batch_rank, s->batch, s->a_rank - 2, s->a_dims) * s->M * s->K;
  *b_off = ql_broadcast_index(bi, s->batch_rank, s->batch, s->b_rank - 2, s->b_dims) * s->K * s->N;
}

#endif

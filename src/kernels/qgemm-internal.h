/* Shared by the qgemm ISA files: the prepared-A view and the per-ISA entry
 * points. Not part of the kernel API (qgemm.h is). */
#ifndef QL_KERNELS_QGEMM_INTERNAL_H
#define QL_KERNELS_QGEMM_INTERNAL_H

#include "qgemm.h"
#include <string.h>

/* Where phase 1 left A for phase 2 (derived from args alone, so both phases
 * agree without shared state). Kernels read A in blocks of up to 32 rows
 * through ql_qgemm_a_block(). When A can be used as it is (no transform,
 * K already a multiple of the kernel's k step), only the last rows are
 * copied, into a zero-padded tail buffer, so that blocks running past row M
 * stay in bounds; otherwise all of A is copied there. */
typedef struct ql_qgemm_prep {
  ql_isa path;          /* kernel family used for this run */
  int xor_a;            /* A stored as a ^ 0x80 (int8 A on a u8 x s8 kernel) */
  int direct;           /* rows [0, m) read in place from args->a */
  const uint8_t *a;     /* args->a when direct */
  int64_t lda;
  uint8_t *tail;        /* rows [tail_start, m) + 32 zero rows, stride ts */
  int64_t tail_start;
  int32_t *rowsum;      /* [m], sum of the stored A bytes; NULL if not needed */
  int32_t a_zp;         /* zero point of the stored A */
  int64_t kp, ts, m;
} ql_qgemm_prep;

/* The block of rows [m, m + rows) (rows <= 32, m < M): its first row and
 * the stride between rows. */
static inline const uint8_t *ql_qgemm_a_block(const ql_qgemm_prep *p, int64_t m, int64_t rows, int64_t *stride) {
  if (p->direct && m + rows <= p->m) {
    *stride = p->lda;
    return p->a + m * p->lda;
  }
  *stride = p->ts;
  return p->tail + (m - p->tail_start) * p->ts;
}

void ql_qgemm_get_prep(const ql_qgemm_args *args, ql_qgemm_prep *p);

/* Scalar epilogue for one element: dot is the raw sum of stored A x stored B. */
static inline void ql_qgemm_store1(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m,
                                   int64_t n, int32_t dot) {
  const ql_qgemm_packed_b *pb = args->pb;
  uint32_t acc = (uint32_t)dot + (uint32_t)(args->bias ? args->bias[n] : 0) +
                 (uint32_t)p->a_zp * (uint32_t)pb->colk[n];
  if (p->rowsum) acc -= (uint32_t)pb->bzp[n] * (uint32_t)p->rowsum[m];
  int32_t v = (int32_t)acc;
  float mult = args->mult ? args->mult[args->mult_per_col ? n : 0] : 1.0f;
  switch (args->out_type) {
  case QL_QGEMM_OUT_I32: ((int32_t *)args->c)[m * args->ldc + n] = v; break;
  case QL_QGEMM_OUT_U8:
    ((uint8_t *)args->c)[m * args->ldc + n] =
        (uint8_t)ql_requant_fp32(v, mult, args->out_zp, args->out_min, args->out_max);
    break;
  case QL_QGEMM_OUT_S8:
    ((int8_t *)args->c)[m * args->ldc + n] =
        (int8_t)ql_requant_fp32(v, mult, args->out_zp, args->out_min, args->out_max);
    break;
  case QL_QGEMM_OUT_F32: {
    float y = (float)v * mult;
    if (args->fbias) y = y + args->fbias[n];
    ((float *)args->c)[m * args->ldc + n] = y;
    break;
  }
  }
}

/* Phase 1, portable (used by every path). */
void ql_qgemm_prepare_a__scalar(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1);

/* Phase 2 per family. */
void ql_qgemm_compute__scalar(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1,
                              int64_t n0, int64_t n1);
void ql_qgemm_compute__avx2(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1,
                            int64_t n0, int64_t n1);
void ql_qgemm_compute__avxvnni(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1,
                               int64_t n0, int64_t n1);
void ql_qgemm_compute__avx512vnni(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0,
                                  int64_t m1, int64_t n0, int64_t n1);
void ql_qgemm_compute__amx(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1,
                           int64_t n0, int64_t n1);

#endif

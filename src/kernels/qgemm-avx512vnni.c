/* AVX-512 VNNI qgemm: vpdpbusd (u8 A x s8 B, 4 products per int32 lane).
 * Main kernel 8 rows x 32 columns: 16 accumulators cover the 5-cycle
 * latency at 2 vpdpbusd per cycle; per 4 k it loads 2 B vectors and
 * broadcasts 8 A words. M == 1 (GEMV) runs 64 columns with two accumulator
 * sets over alternate k groups, so B streams at memory bandwidth. */
#include "qgemm-epilogue-avx512.h"

static inline int32_t load4(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

static inline __attribute__((always_inline)) void kernel_mxn(const ql_qgemm_args *args, const ql_qgemm_prep *p,
                                                             const int MR, const int NP, int64_t m, int64_t m_end,
                                                             int64_t pn, int64_t nb, int64_t ne) {
  const int64_t kp = p->kp, kq = (args->pb->k + 3) / 4;
  int64_t lda;
  const uint8_t *a = ql_qgemm_a_block(p, m, MR, &lda);
  const int8_t *b = args->pb->data + pn * kp;
  const size_t pstride = (size_t)(QL_QGEMM_NR * kp);
  __m512i acc[8][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
    for (int j = 0; j < NP; j++) acc[r][j] = _mm512_setzero_si512();
  for (int64_t g = 0; g < kq; g++) {
    __m512i bv[2];
#pragma GCC unroll 2
    for (int j = 0; j < NP; j++) bv[j] = _mm512_load_si512((const void *)(b + j * pstride + g * 64));
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
      __m512i av = _mm512_set1_epi32(load4(a + r * lda + g * 4));
#pragma GCC unroll 2
      for (int j = 0; j < NP; j++) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], av, bv[j]);
    }
  }
#pragma GCC unroll 2
  for (int j = 0; j < NP; j++) {
    ql_epi512 e;
    ql_epi512_init(&e, args, p, pn + 16 * j, nb, ne);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
      if (m + r < m_end) ql_epi512_store(&e, args, p, args->out_type, 1, m + r, acc[r][j]);
  }
}

/* One row, NP panels, k groups split over two accumulator sets. */
static inline __attribute__((always_inline)) void kernel_gemv(const ql_qgemm_args *args, const ql_qgemm_prep *p,
                                                              const int NP, int64_t m, int64_t pn, int64_t nb,
                                                              int64_t ne) {
  const int64_t kp = p->kp, kq = (args->pb->k + 3) / 4;
  int64_t lda;
  const uint8_t *a = ql_qgemm_a_block(p, m, 1, &lda);
  (void)lda;
  const int8_t *b = args->pb->data + pn * kp;
  const size_t pstride = (size_t)(QL_QGEMM_NR * kp);
  __m512i acc0[4], acc1[4];
#pragma GCC unroll 4
  for (int j = 0; j < NP; j++) acc0[j] = acc1[j] = _mm512_setzero_si512();
  int64_t g = 0;
  for (; g + 2 <= kq; g += 2) {
    __m512i a0 = _mm512_set1_epi32(load4(a + g * 4)), a1 = _mm512_set1_epi32(load4(a + g * 4 + 4));
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++) {
      acc0[j] = _mm512_dpbusd_epi32(acc0[j], a0, _mm512_load_si512((const void *)(b + j * pstride + g * 64)));
      acc1[j] = _mm512_dpbusd_epi32(acc1[j], a1, _mm512_load_si512((const void *)(b + j * pstride + g * 64 + 64)));
    }
  }
  if (g < kq) {
    __m512i a0 = _mm512_set1_epi32(load4(a + g * 4));
#pragma GCC unroll 4
    for (int j = 0; j < NP; j++)
      acc0[j] = _mm512_dpbusd_epi32(acc0[j], a0, _mm512_load_si512((const void *)(b + j * pstride + g * 64)));
  }
#pragma GCC unroll 4
  for (int j = 0; j < NP; j++) {
    ql_epi512 e;
    ql_epi512_init(&e, args, p, pn + 16 * j, nb, ne);
    ql_epi512_store(&e, args, p, args->out_type, 1, m, _mm512_add_epi32(acc0[j], acc1[j]));
  }
}

void ql_qgemm_compute__avx512vnni(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1,
                                  int64_t n0, int64_t n1) {
  const int64_t pfirst = n0 / 16 * 16;
  if (m1 - m0 == 1) {
    int64_t pn = pfirst;
    for (; pn + 48 < n1; pn += 64) kernel_gemv(args, p, 4, m0, pn, n0, n1);
    for (; pn < n1; pn += 16) kernel_gemv(args, p, 1, m0, pn, n0, n1);
    return;
  }
  for (int64_t pn = pfirst; pn < n1; pn += 32) {
    const int two = pn + 16 < n1;
    int64_t m = m0;
    for (; m + 4 < m1; m += 8) {
      if (two)
        kernel_mxn(args, p, 8, 2, m, m1, pn, n0, n1);
      else
        kernel_mxn(args, p, 8, 1, m, m1, pn, n0, n1);
    }
    for (; m < m1; m += 4) {
      if (two)
        kernel_mxn(args, p, 4, 2, m, m1, pn, n0, n1);
      else
        kernel_mxn(args, p, 4, 1, m, m1, pn, n0, n1);
    }
  }
}

/* AVX-VNNI qgemm (256-bit vpdpbusd, u8 A x s8 B): 4 rows x 16 columns,
 * 8 accumulators; one packed panel row (64 bytes) is two ymm loads. */
#include "qgemm-epilogue-avx2.h"

static inline __attribute__((always_inline)) void kernel(const ql_qgemm_args *args, const ql_qgemm_prep *p,
                                                         const int MR, int64_t m, int64_t m_end, int64_t pn,
                                                         int64_t nb, int64_t ne) {
  const int64_t kp = p->kp, kq = (args->pb->k + 3) / 4;
  int64_t lda;
  const uint8_t *a = ql_qgemm_a_block(p, m, MR, &lda);
  const int8_t *b = args->pb->data + pn * kp;
  __m256i acc[4][2];
#pragma GCC unroll 4
  for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  for (int64_t g = 0; g < kq; g++) {
    __m256i b0 = _mm256_load_si256((const __m256i *)(b + g * 64));
    __m256i b1 = _mm256_load_si256((const __m256i *)(b + g * 64 + 32));
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++) {
      __m256i av = _mm256_set1_epi32(ql_load4(a + r * lda + g * 4));
      acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], av, b0);
      acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], av, b1);
    }
  }
  for (int h = 0; h < 2; h++) {
    ql_epi256 e;
    ql_epi256_init(&e, args, p, pn + 8 * h, nb, ne);
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
      if (m + r < m_end) ql_epi256_store(&e, args, p, m + r, acc[r][h]);
  }
}

void ql_qgemm_compute__avxvnni(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1,
                               int64_t n0, int64_t n1) {
  for (int64_t pn = n0 / 16 * 16; pn < n1; pn += 16) {
    int64_t m = m0;
    for (; m + 1 < m1; m += 4) kernel(args, p, 4, m, m1, pn, n0, n1);
    if (m < m1) kernel(args, p, 1, m, m1, pn, n0, n1);
  }
}

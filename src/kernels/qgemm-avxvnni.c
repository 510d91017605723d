/* AVX-VNNI qgemm (256-bit vpdpbusd, u8 A x s8 B): 4 rows x 16 columns,
 * 8 accumulators; one packed panel row (64 bytes) is two ymm loads. The
 * accumulators are named variables: GCC 12 keeps an array of them in
 * registers badly (copies and spills in the loop). */
#include "qgemm-epilogue-avx2.h"

#define DP(c, a, b) c = _mm256_dpbusd_avx_epi32(c, a, b)

static void store_rows(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m, int64_t m_end, int rows,
                       int64_t pn, int64_t nb, int64_t ne, __m256i acc[][2]) {
  for (int h = 0; h < 2; h++) {
    ql_epi256 e;
    ql_epi256_init(&e, args, p, pn + 8 * h, nb, ne);
    for (int r = 0; r < rows; r++)
      if (m + r < m_end) ql_epi256_store(&e, args, p, m + r, acc[r][h]);
  }
}

static void kernel4(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m, int64_t m_end, int64_t pn,
                    int64_t nb, int64_t ne) {
  const int64_t kq = (args->pb->k + 3) / 4;
  int64_t lda;
  const uint8_t *a = ql_qgemm_a_block(p, m, 4, &lda);
  const int8_t *b = args->pb->data + pn * p->kp;
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int64_t g = 0; g < kq; g++) {
    const __m256i b0 = _mm256_load_si256((const __m256i *)(b + g * 64));
    const __m256i b1 = _mm256_load_si256((const __m256i *)(b + g * 64 + 32));
    __m256i av = _mm256_set1_epi32(ql_load4(a + g * 4));
    DP(c00, av, b0);
    DP(c01, av, b1);
    av = _mm256_set1_epi32(ql_load4(a + lda + g * 4));
    DP(c10, av, b0);
    DP(c11, av, b1);
    av = _mm256_set1_epi32(ql_load4(a + 2 * lda + g * 4));
    DP(c20, av, b0);
    DP(c21, av, b1);
    av = _mm256_set1_epi32(ql_load4(a + 3 * lda + g * 4));
    DP(c30, av, b0);
    DP(c31, av, b1);
  }
  __m256i acc[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
  store_rows(args, p, m, m_end, 4, pn, nb, ne, acc);
}

/* One row: two accumulator pairs over alternate k groups hide the latency. */
static void kernel1(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m, int64_t m_end, int64_t pn,
                    int64_t nb, int64_t ne) {
  const int64_t kq = (args->pb->k + 3) / 4;
  int64_t lda;
  const uint8_t *a = ql_qgemm_a_block(p, m, 1, &lda);
  const int8_t *b = args->pb->data + pn * p->kp;
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, d0 = c0, d1 = c0;
  int64_t g = 0;
  for (; g + 2 <= kq; g += 2) {
    const __m256i a0 = _mm256_set1_epi32(ql_load4(a + g * 4)), a1 = _mm256_set1_epi32(ql_load4(a + g * 4 + 4));
    DP(c0, a0, _mm256_load_si256((const __m256i *)(b + g * 64)));
    DP(c1, a0, _mm256_load_si256((const __m256i *)(b + g * 64 + 32)));
    DP(d0, a1, _mm256_load_si256((const __m256i *)(b + g * 64 + 64)));
    DP(d1, a1, _mm256_load_si256((const __m256i *)(b + g * 64 + 96)));
  }
  if (g < kq) {
    const __m256i a0 = _mm256_set1_epi32(ql_load4(a + g * 4));
    DP(c0, a0, _mm256_load_si256((const __m256i *)(b + g * 64)));
    DP(c1, a0, _mm256_load_si256((const __m256i *)(b + g * 64 + 32)));
  }
  __m256i acc[1][2] = {{_mm256_add_epi32(c0, d0), _mm256_add_epi32(c1, d1)}};
  store_rows(args, p, m, m_end, 1, pn, nb, ne, acc);
}

void ql_qgemm_compute__avxvnni(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1,
                               int64_t n0, int64_t n1) {
  for (int64_t pn = n0 / 16 * 16; pn < n1; pn += 16) {
    int64_t m = m0;
    for (; m + 1 < m1; m += 4) kernel4(args, p, m, m1, pn, n0, n1);
    if (m < m1) kernel1(args, p, m, m1, pn, n0, n1);
  }
}

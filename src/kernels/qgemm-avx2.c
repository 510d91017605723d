/* AVX2 qgemm without VNNI. vpmaddubsw would saturate (2 x 255 x 128 does
 * not fit int16), so B is widened to int16 and vpmaddwd sums exact pairs;
 * the pair sums of each column are added at the end (vphaddd). 2 rows x 16
 * columns. */
#include "qgemm-epilogue-avx2.h"

static inline __attribute__((always_inline)) void kernel(const ql_qgemm_args *args, const ql_qgemm_prep *p,
                                                         const int MR, int64_t m, int64_t m_end, int64_t pn,
                                                         int64_t nb, int64_t ne) {
  const int64_t kp = p->kp, kq = (args->pb->k + 3) / 4;
  int64_t lda;
  const uint8_t *a = ql_qgemm_a_block(p, m, MR, &lda);
  const int8_t *b = args->pb->data + pn * kp;
  /* acc[r][c]: columns 4c..4c+3, two pair sums each */
  __m256i acc[2][4];
#pragma GCC unroll 2
  for (int r = 0; r < MR; r++)
    for (int c = 0; c < 4; c++) acc[r][c] = _mm256_setzero_si256();
  for (int64_t g = 0; g < kq; g++) {
    __m256i av[2];
#pragma GCC unroll 2
    for (int r = 0; r < MR; r++)
      av[r] = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(ql_load4(a + r * lda + g * 4))));
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
      __m256i bw = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(b + g * 64 + c * 16)));
#pragma GCC unroll 2
      for (int r = 0; r < MR; r++) acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(av[r], bw));
    }
  }
  for (int h = 0; h < 2; h++) {
    ql_epi256 e;
    ql_epi256_init(&e, args, p, pn + 8 * h, nb, ne);
#pragma GCC unroll 2
    for (int r = 0; r < MR; r++) {
      /* hadd gives [c0 c1 c4 c5 | c2 c3 c6 c7]; put the quads in order */
      __m256i s = _mm256_hadd_epi32(acc[r][2 * h], acc[r][2 * h + 1]);
      s = _mm256_permute4x64_epi64(s, 0xD8);
      if (m + r < m_end) ql_epi256_store(&e, args, p, m + r, s);
    }
  }
}

void ql_qgemm_compute__avx2(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1,
                            int64_t n0, int64_t n1) {
  for (int64_t pn = n0 / 16 * 16; pn < n1; pn += 16) {
    int64_t m = m0;
    for (; m + 1 < m1; m += 2) kernel(args, p, 2, m, m1, pn, n0, n1);
    if (m < m1) kernel(args, p, 1, m, m1, pn, n0, n1);
  }
}

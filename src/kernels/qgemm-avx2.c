/* AVX2 qgemm without VNNI. vpmaddubsw would saturate (2 x 255 x 128 does
 * not fit int16), so B is widened to int16 and vpmaddwd sums exact pairs;
 * the pair sums of each column are added at the end (vphaddd). 2 rows x 16
 * columns, named accumulators (GCC 12 spills an array of them). */
#include "qgemm-epilogue-avx2.h"

/* acc[c]: columns 4c..4c+3, two pair sums each -> 8 column sums per half */
static inline __m256i pairs_to_cols(__m256i lo, __m256i hi) {
  /* hadd gives [c0 c1 c4 c5 | c2 c3 c6 c7]; put the quads in order */
  return _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi), 0xD8);
}

static inline __m256i bcast_a(const uint8_t *p) {
  return _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(ql_load4(p))));
}

#define MAC(c, a, b) c = _mm256_add_epi32(c, _mm256_madd_epi16(a, b))

static void kernel(const ql_qgemm_args *args, const ql_qgemm_prep *p, int two, int64_t m, int64_t m_end,
                   int64_t pn, int64_t nb, int64_t ne) {
  const int64_t kq = (args->pb->k + 3) / 4;
  int64_t lda;
  const uint8_t *a = ql_qgemm_a_block(p, m, 2, &lda);
  const int8_t *b = args->pb->data + pn * p->kp;
  if (!two) lda = 0; /* one row: read it twice, store it once */
  __m256i x0 = _mm256_setzero_si256(), x1 = x0, x2 = x0, x3 = x0, y0 = x0, y1 = x0, y2 = x0, y3 = x0;
  for (int64_t g = 0; g < kq; g++) {
    const __m256i a0 = bcast_a(a + g * 4), a1 = bcast_a(a + lda + g * 4);
    const __m128i *bp = (const __m128i *)(b + g * 64);
    __m256i bw = _mm256_cvtepi8_epi16(_mm_load_si128(bp));
    MAC(x0, a0, bw);
    MAC(y0, a1, bw);
    bw = _mm256_cvtepi8_epi16(_mm_load_si128(bp + 1));
    MAC(x1, a0, bw);
    MAC(y1, a1, bw);
    bw = _mm256_cvtepi8_epi16(_mm_load_si128(bp + 2));
    MAC(x2, a0, bw);
    MAC(y2, a1, bw);
    bw = _mm256_cvtepi8_epi16(_mm_load_si128(bp + 3));
    MAC(x3, a0, bw);
    MAC(y3, a1, bw);
  }
  __m256i rows[2][2] = {{pairs_to_cols(x0, x1), pairs_to_cols(x2, x3)},
                        {pairs_to_cols(y0, y1), pairs_to_cols(y2, y3)}};
  for (int h = 0; h < 2; h++) {
    ql_epi256 e;
    ql_epi256_init(&e, args, p, pn + 8 * h, nb, ne);
    for (int r = 0; r < 1 + two; r++)
      if (m + r < m_end) ql_epi256_store(&e, args, p, m + r, rows[r][h]);
  }
}

void ql_qgemm_compute__avx2(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1,
                            int64_t n0, int64_t n1) {
  for (int64_t pn = n0 / 16 * 16; pn < n1; pn += 16) {
    int64_t m = m0;
    for (; m + 1 < m1; m += 2) kernel(args, p, 1, m, m1, pn, n0, n1);
    if (m < m1) kernel(args, p, 0, m, m1, pn, n0, n1);
  }
}

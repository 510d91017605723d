/* Float32 GEMM, AVX2 + FMA: tiles of 4 rows x 16 columns (8 accumulators),
 * or 1 row x 64 columns for a single row. The tile and the depthwise row
 * are sgemm-body.h's. */
#include <immintrin.h>

static inline __m256i lanes(int64_t rem) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(rem > 8 ? 8 : rem < 0 ? 0 : rem)), idx);
}

#define SG_VEC __m256
#define SG_MASK __m256i
#define SG_W 8
#define SG_LANES(rem) lanes(rem)
#define SG_LOAD(mask, p) _mm256_maskload_ps((p), (mask))
#define SG_STORE(p, mask, v) _mm256_maskstore_ps((p), (mask), (v))
#define SG_SET1(f) _mm256_set1_ps(f)
#define SG_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define SG_SDW_NAME ql_sdw_row_f32__avx2
#include "sgemm-body.h"

void ql_sgemm_f32_4x16__avx2(const ql_sgemm_args *a, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (m1 - m0 == 1) {
    for (int64_t n = n0; n < n1; n += 64) tile(a, m0, n, n1 - n < 64 ? n1 - n : 64, 1, 8);
    return;
  }
  for (int64_t n = n0; n < n1; n += 16) {
    const int64_t cols = n1 - n < 16 ? n1 - n : 16;
    int64_t m = m0;
    for (; m + 4 <= m1; m += 4) tile(a, m, n, cols, 4, 2);
    switch (m1 - m) {
    case 3: tile(a, m, n, cols, 3, 2); break;
    case 2: tile(a, m, n, cols, 2, 2); break;
    case 1: tile(a, m, n, cols, 1, 2); break;
    default: break;
    }
  }
}

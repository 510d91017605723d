/* Float32 GEMM, AVX-512: tiles of 8 rows x 32 columns (16 accumulators), or
 * 1 row x 128 columns when there is a single row (depthwise), so that enough
 * independent FMA chains hide the latency. The tile and the depthwise row
 * are sgemm-body.h's. */
#include <immintrin.h>

static inline __mmask16 lanes(int64_t rem) {
  return rem >= 16 ? (__mmask16)0xFFFF : rem <= 0 ? (__mmask16)0 : (__mmask16)((1u << rem) - 1);
}

#define SG_VEC __m512
#define SG_MASK __mmask16
#define SG_W 16
#define SG_LANES(rem) lanes(rem)
#define SG_LOAD(mask, p) _mm512_maskz_loadu_ps((mask), (p))
#define SG_STORE(p, mask, v) _mm512_mask_storeu_ps((p), (mask), (v))
#define SG_SET1(f) _mm512_set1_ps(f)
#define SG_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define SG_SDW_NAME ql_sdw_row_f32__avx512
#include "sgemm-body.h"

void ql_sgemm_f32_8x32__avx512(const ql_sgemm_args *a, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (m1 - m0 == 1) {
    for (int64_t n = n0; n < n1; n += 128) tile(a, m0, n, n1 - n < 128 ? n1 - n : 128, 1, 8);
    return;
  }
  for (int64_t n = n0; n < n1; n += 32) {
    const int64_t cols = n1 - n < 32 ? n1 - n : 32;
    int64_t m = m0;
    for (; m + 8 <= m1; m += 8) tile(a, m, n, cols, 8, 2);
    switch (m1 - m) {
    case 7: tile(a, m, n, cols, 7, 2); break;
    case 6: tile(a, m, n, cols, 6, 2); break;
    case 5: tile(a, m, n, cols, 5, 2); break;
    case 4: tile(a, m, n, cols, 4, 2); break;
    case 3: tile(a, m, n, cols, 3, 2); break;
    case 2: tile(a, m, n, cols, 2, 2); break;
    case 1: tile(a, m, n, cols, 1, 2); break;
    default: break;
    }
  }
}

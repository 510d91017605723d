/* Float32 GEMM, AVX2 + FMA: tiles of 4 rows x 16 columns (8 accumulators),
 * or 1 row x 64 columns for a single row. Lane by lane the same fmaf chain
 * as the scalar twin (sgemm.h). */
#include <immintrin.h>
#include <math.h>

#include "sgemm.h"

static inline __m256i lanes(int64_t rem) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(rem > 8 ? 8 : rem < 0 ? 0 : rem)), idx);
}

static inline __attribute__((always_inline)) void tile(const ql_sgemm_args *a, int64_t m, int64_t n, int64_t cols,
                                                       const int MR, const int NV) {
  __m256 acc[4][8];
  __m256i mk[8];
  for (int v = 0; v < NV; v++) mk[v] = lanes(cols - 8 * v);
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) acc[i][v] = _mm256_set1_ps(a->bias ? a->bias[m + i] : 0.0f);
  const float *x = a->x + n, *w = a->w + m * a->ldw;
  for (int64_t k = 0; k < a->k; k++, x += a->ldx) {
    __m256 xv[8];
    for (int v = 0; v < NV; v++) xv[v] = _mm256_maskload_ps(x + 8 * v, mk[v]);
    for (int i = 0; i < MR; i++) {
      const __m256 wv = _mm256_set1_ps(w[i * a->ldw + k]);
      for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(wv, xv[v], acc[i][v]);
    }
  }
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) _mm256_maskstore_ps(a->y + (m + i) * a->ldy + n + 8 * v, mk[v], acc[i][v]);
}

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

void ql_sdw_row_f32__avx2(const ql_sdw_row *r, float *y, int64_t n) {
  if (r->stride != 1) { /* -mfma: one vfmadd per step */
    for (int64_t i = 0; i < n; i++) {
      float acc = r->bias;
      for (int64_t a = 0; a < r->kh; a++)
        for (int64_t q = 0; q < r->kw; q++) acc = fmaf(r->w[a * r->kw + q], r->x[a * r->rs + q * r->dq + i * r->stride], acc);
      y[i] = acc;
    }
    return;
  }
  /* four vectors at a time: four independent chains hide the FMA latency */
  for (int64_t i = 0; i < n; i += 4 * 8) {
    __m256i k[4];
    __m256 acc[4];
    for (int v = 0; v < 4; v++) {
      k[v] = lanes(n - i - 8 * v);
      acc[v] = _mm256_set1_ps(r->bias);
    }
    for (int64_t a = 0; a < r->kh; a++) {
      const float *xr = r->x + a * r->rs + i;
      for (int64_t q = 0; q < r->kw; q++) {
        const __m256 wv = _mm256_set1_ps(r->w[a * r->kw + q]);
        for (int v = 0; v < 4; v++) acc[v] = _mm256_fmadd_ps(wv, _mm256_maskload_ps(xr + q * r->dq + 8 * v, k[v]), acc[v]);
      }
    }
    for (int v = 0; v < 4; v++) _mm256_maskstore_ps(y + i + 8 * v, k[v], acc[v]);
  }
}

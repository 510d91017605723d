/* Float32 GEMM, AVX-512: tiles of 8 rows x 32 columns (16 accumulators), or
 * 1 row x 128 columns when there is a single row (depthwise), so that enough
 * independent FMA chains hide the latency. Lane by lane the same fmaf chain
 * as the scalar twin (sgemm.h). */
#include <immintrin.h>
#include <math.h>

#include "sgemm.h"

static inline __mmask16 lanes(int64_t rem) {
  return rem >= 16 ? (__mmask16)0xFFFF : rem <= 0 ? (__mmask16)0 : (__mmask16)((1u << rem) - 1);
}

/* MR rows x NV vectors of 16 columns starting at (m, n); cols = valid columns */
static inline __attribute__((always_inline)) void tile(const ql_sgemm_args *a, int64_t m, int64_t n, int64_t cols,
                                                       const int MR, const int NV) {
  __m512 acc[8][8];
  __mmask16 mk[8];
  for (int v = 0; v < NV; v++) mk[v] = lanes(cols - 16 * v);
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) acc[i][v] = _mm512_set1_ps(a->bias ? a->bias[m + i] : 0.0f);
  const float *x = a->x + n, *w = a->w + m * a->ldw;
  for (int64_t k = 0; k < a->k; k++, x += a->ldx) {
    __m512 xv[8];
    for (int v = 0; v < NV; v++) xv[v] = _mm512_maskz_loadu_ps(mk[v], x + 16 * v);
    for (int i = 0; i < MR; i++) {
      const __m512 wv = _mm512_set1_ps(w[i * a->ldw + k]);
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(wv, xv[v], acc[i][v]);
    }
  }
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(a->y + (m + i) * a->ldy + n + 16 * v, mk[v], acc[i][v]);
}

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

void ql_sdw_row_f32__avx512(const ql_sdw_row *r, float *y, int64_t n) {
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
  for (int64_t i = 0; i < n; i += 4 * 16) {
    __mmask16 k[4];
    __m512 acc[4];
    for (int v = 0; v < 4; v++) {
      k[v] = lanes(n - i - 16 * v);
      acc[v] = _mm512_set1_ps(r->bias);
    }
    for (int64_t a = 0; a < r->kh; a++) {
      const float *xr = r->x + a * r->rs + i;
      for (int64_t q = 0; q < r->kw; q++) {
        const __m512 wv = _mm512_set1_ps(r->w[a * r->kw + q]);
        for (int v = 0; v < 4; v++) acc[v] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(k[v], xr + q * r->dq + 16 * v), acc[v]);
      }
    }
    for (int v = 0; v < 4; v++) _mm512_mask_storeu_ps(y + i + 16 * v, k[v], acc[v]);
  }
}

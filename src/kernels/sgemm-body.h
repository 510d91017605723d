/* The vector float32 GEMM tile and depthwise row, included by sgemm-avx2.c
 * and sgemm-avx512.c, which define the vector width and its operations:
 *   SG_VEC, SG_MASK       vector and lane-mask types; SG_W lanes per vector
 *   SG_LANES(rem)         the mask of the first rem lanes (rem may be <= 0 or > SG_W)
 *   SG_LOAD(mask, p)      masked load, zeros elsewhere; SG_STORE(p, mask, v) masked store
 *   SG_SET1(f), SG_FMA(a, b, c)   broadcast; a * b + c fused
 *   SG_SDW_NAME           the name of the depthwise row function
 * Lane by lane the same fmaf chains as the scalar twins (sgemm.h). */
#include <immintrin.h>
#include <math.h>

#include "sgemm.h"

/* MR rows x NV vectors starting at (m, n); cols = valid columns */
static inline __attribute__((always_inline)) void tile(const ql_sgemm_args *a, int64_t m, int64_t n, int64_t cols,
                                                       const int MR, const int NV) {
  SG_VEC acc[8][8];
  SG_MASK mk[8];
  for (int v = 0; v < NV; v++) mk[v] = SG_LANES(cols - SG_W * v);
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) acc[i][v] = SG_SET1(a->bias ? a->bias[m + i] : 0.0f);
  const float *x = a->x + n, *w = a->w + m * a->ldw;
  for (int64_t k = 0; k < a->k; k++, x += a->ldx) {
    SG_VEC xv[8];
    for (int v = 0; v < NV; v++) xv[v] = SG_LOAD(mk[v], x + SG_W * v);
    for (int i = 0; i < MR; i++) {
      const SG_VEC wv = SG_SET1(w[i * a->ldw + k]);
      for (int v = 0; v < NV; v++) acc[i][v] = SG_FMA(wv, xv[v], acc[i][v]);
    }
  }
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) SG_STORE(a->y + (m + i) * a->ldy + n + SG_W * v, mk[v], acc[i][v]);
}

void SG_SDW_NAME(const ql_sdw_row *r, float *y, int64_t n) {
  if (r->stride != 1) { /* built with -mfma: one vfmadd per step */
    for (int64_t i = 0; i < n; i++) {
      float acc = r->bias;
      for (int64_t a = 0; a < r->kh; a++)
        for (int64_t q = 0; q < r->kw; q++) acc = fmaf(r->w[a * r->kw + q], r->x[a * r->rs + q * r->dq + i * r->stride], acc);
      y[i] = acc;
    }
    return;
  }
  /* four vectors at a time: four independent chains hide the FMA latency */
  for (int64_t i = 0; i < n; i += 4 * SG_W) {
    SG_MASK k[4];
    SG_VEC acc[4];
    for (int v = 0; v < 4; v++) {
      k[v] = SG_LANES(n - i - SG_W * v);
      acc[v] = SG_SET1(r->bias);
    }
    for (int64_t a = 0; a < r->kh; a++) {
      const float *xr = r->x + a * r->rs + i;
      for (int64_t q = 0; q < r->kw; q++) {
        const SG_VEC wv = SG_SET1(r->w[a * r->kw + q]);
        for (int v = 0; v < 4; v++) acc[v] = SG_FMA(wv, SG_LOAD(k[v], xr + q * r->dq + SG_W * v), acc[v]);
      }
    }
    for (int v = 0; v < 4; v++) SG_STORE(y + i + SG_W * v, k[v], acc[v]);
  }
}

/* Dynamic quantization, AVX2 (dynq.h): the scalar steps 8 lanes at a time.
 * minps/maxps return their second operand when either is NaN, so
 * min(v, m) is `v < m ? v : m` and max(q, lo) sends NaN to lo, exactly as
 * the scalar comparisons do. */
#include "dynq.h"
#include <immintrin.h>

void ql_dynq_minmax__avx2(const float *x, int64_t n, float *mn, float *mx) {
  __m256 lo0 = _mm256_setzero_ps(), lo1 = lo0, lo2 = lo0, lo3 = lo0;
  __m256 hi0 = lo0, hi1 = lo0, hi2 = lo0, hi3 = lo0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    const __m256 c = _mm256_loadu_ps(x + i + 16), d = _mm256_loadu_ps(x + i + 24);
    lo0 = _mm256_min_ps(a, lo0), hi0 = _mm256_max_ps(a, hi0);
    lo1 = _mm256_min_ps(b, lo1), hi1 = _mm256_max_ps(b, hi1);
    lo2 = _mm256_min_ps(c, lo2), hi2 = _mm256_max_ps(c, hi2);
    lo3 = _mm256_min_ps(d, lo3), hi3 = _mm256_max_ps(d, hi3);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(x + i);
    lo0 = _mm256_min_ps(a, lo0), hi0 = _mm256_max_ps(a, hi0);
  }
  /* the lanes hold no NaN: combine in any order */
  lo0 = _mm256_min_ps(_mm256_min_ps(lo0, lo1), _mm256_min_ps(lo2, lo3));
  hi0 = _mm256_max_ps(_mm256_max_ps(hi0, hi1), _mm256_max_ps(hi2, hi3));
  float l[8], h[8];
  _mm256_storeu_ps(l, lo0);
  _mm256_storeu_ps(h, hi0);
  float a = *mn, b = *mx;
  for (int k = 0; k < 8; k++) {
    a = l[k] < a ? l[k] : a;
    b = h[k] > b ? h[k] : b;
  }
  for (; i < n; i++) {
    a = x[i] < a ? x[i] : a;
    b = x[i] > b ? x[i] : b;
  }
  *mn = a;
  *mx = b;
}

static inline __m256i quant8(const float *x, __m256 vs, __m256 vzp) {
  const __m256 magic = _mm256_set1_ps(12582912.0f);
  __m256 q = _mm256_div_ps(_mm256_loadu_ps(x), vs);
  q = _mm256_min_ps(_mm256_max_ps(q, _mm256_set1_ps(-512.0f)), _mm256_set1_ps(512.0f));
  __m256 r = _mm256_add_ps(_mm256_sub_ps(_mm256_add_ps(q, magic), magic), vzp);
  r = _mm256_min_ps(_mm256_max_ps(r, _mm256_setzero_ps()), _mm256_set1_ps(255.0f));
  return _mm256_cvtps_epi32(r); /* integers: no rounding */
}

/* x * (1/scale) instead of the division, exact unless near a tie (dynq.h):
 * *redo gets the lanes to recompute. Rounding by vcvtps2dq (RNE in the
 * default mode); min(512, q) keeps NaN, which like -inf and anything below
 * -2^31 converts to INT_MIN, and the saturating packs then give 0 as
 * quant8 does; +inf and large values give 255. */
static inline __m256i quant8_mul(const float *x, __m256 vr, __m256i izp, __m256 *redo) {
  const __m256 q = _mm256_min_ps(_mm256_set1_ps(512.0f), _mm256_mul_ps(_mm256_loadu_ps(x), vr));
  const __m256 ri = _mm256_round_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 t = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(q, ri)); /* |q - RNE(q)|, exact */
  *redo = _mm256_or_ps(*redo, _mm256_cmp_ps(t, _mm256_set1_ps(0.5f - QL_DYNQ_TIE_EPS), _CMP_GE_OQ));
  return _mm256_add_epi32(_mm256_cvtps_epi32(q), izp); /* INT_MIN + zp cannot overflow */
}

void ql_dynq_quantize__avx2(const float *x, int64_t n, float scale, float zp, uint8_t *y) {
  const __m256 vs = _mm256_set1_ps(scale), vzp = _mm256_set1_ps(zp);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int64_t i = 0;
  if (ql_dynq_recip_ok(scale)) {
    const __m256 vr = _mm256_set1_ps(1.0f / scale);
    const __m256i izp = _mm256_set1_epi32((int32_t)zp);
    for (; i + 32 <= n; i += 32) {
      __m256 redo = _mm256_setzero_ps();
      __m256i w0 = quant8_mul(x + i, vr, izp, &redo), w1 = quant8_mul(x + i + 8, vr, izp, &redo);
      __m256i w2 = quant8_mul(x + i + 16, vr, izp, &redo), w3 = quant8_mul(x + i + 24, vr, izp, &redo);
      if (__builtin_expect(_mm256_movemask_ps(redo) != 0, 0)) {
        w0 = quant8(x + i, vs, vzp), w1 = quant8(x + i + 8, vs, vzp);
        w2 = quant8(x + i + 16, vs, vzp), w3 = quant8(x + i + 24, vs, vzp);
      }
      /* signed then unsigned saturation: below 0 -> 0, above 255 -> 255 */
      const __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(w0, w1), _mm256_packs_epi32(w2, w3));
      _mm256_storeu_si256((__m256i *)(y + i), _mm256_permutevar8x32_epi32(b, order));
    }
  }
  for (; i + 32 <= n; i += 32) {
    const __m256i w0 = quant8(x + i, vs, vzp), w1 = quant8(x + i + 8, vs, vzp);
    const __m256i w2 = quant8(x + i + 16, vs, vzp), w3 = quant8(x + i + 24, vs, vzp);
    /* packs work within 128-bit lanes: the permute puts the dwords back */
    const __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(w0, w1), _mm256_packs_epi32(w2, w3));
    _mm256_storeu_si256((__m256i *)(y + i), _mm256_permutevar8x32_epi32(b, order));
  }
  for (; i < n; i++) y[i] = ql_dynq_quant1(x[i] / scale, zp);
}

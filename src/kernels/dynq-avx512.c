/* Dynamic quantization, AVX-512 (dynq.h): the scalar steps 16 lanes at a
 * time, the tail under a mask. minps/maxps return their second operand when
 * either is NaN, so min(v, m) is `v < m ? v : m` and max(q, lo) sends NaN
 * to lo, exactly as the scalar comparisons do. */
#include "dynq.h"
#include <immintrin.h>

void ql_dynq_minmax__avx512(const float *x, int64_t n, float *mn, float *mx) {
  __m512 lo0 = _mm512_setzero_ps(), lo1 = lo0, lo2 = lo0, lo3 = lo0;
  __m512 hi0 = lo0, hi1 = lo0, hi2 = lo0, hi3 = lo0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    const __m512 c = _mm512_loadu_ps(x + i + 32), d = _mm512_loadu_ps(x + i + 48);
    lo0 = _mm512_min_ps(a, lo0), hi0 = _mm512_max_ps(a, hi0);
    lo1 = _mm512_min_ps(b, lo1), hi1 = _mm512_max_ps(b, hi1);
    lo2 = _mm512_min_ps(c, lo2), hi2 = _mm512_max_ps(c, hi2);
    lo3 = _mm512_min_ps(d, lo3), hi3 = _mm512_max_ps(d, hi3);
  }
  for (; i < n; i += 16) {
    /* masked-off lanes load 0, which leaves a range that holds 0 as it is */
    const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    const __m512 a = _mm512_maskz_loadu_ps(k, x + i);
    lo0 = _mm512_min_ps(a, lo0), hi0 = _mm512_max_ps(a, hi0);
  }
  /* the lanes hold no NaN: combine in any order */
  lo0 = _mm512_min_ps(_mm512_min_ps(lo0, lo1), _mm512_min_ps(lo2, lo3));
  hi0 = _mm512_max_ps(_mm512_max_ps(hi0, hi1), _mm512_max_ps(hi2, hi3));
  float l[16], h[16];
  _mm512_storeu_ps(l, lo0);
  _mm512_storeu_ps(h, hi0);
  float a = *mn, b = *mx;
  for (int k = 0; k < 16; k++) {
    a = l[k] < a ? l[k] : a;
    b = h[k] > b ? h[k] : b;
  }
  *mn = a;
  *mx = b;
}

static inline __m512i quant16(__m512 v, __m512 vs, __m512 vzp) {
  const __m512 magic = _mm512_set1_ps(12582912.0f);
  __m512 q = _mm512_div_ps(v, vs);
  q = _mm512_min_ps(_mm512_max_ps(q, _mm512_set1_ps(-512.0f)), _mm512_set1_ps(512.0f));
  __m512 r = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(q, magic), magic), vzp);
  r = _mm512_min_ps(_mm512_max_ps(r, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
  return _mm512_cvtps_epi32(r); /* integers: no rounding */
}

/* The same through fma(x, 1/scale, zp), which is not x / scale + zp but is
 * close enough to round to the same integer unless it lies near a tie
 * (dynq.h): *redo gets the lanes to recompute with quant16. The rounding is
 * vcvtps2dq's (RNE in the default mode), the clamping is left to the
 * saturating packs: min(1024, p) keeps NaN (minps returns its second
 * operand), which like -inf and anything below -2^31 converts to INT_MIN
 * and packs to 0, as quant16 gives; +inf and large values pack to 255.
 * t = |p - RNE(p)| is exact, and NaN (never flagged) for NaN and -inf. */
static inline __m512i quant16_fma(__m512 v, __m512 vr, __m512 vzp, __mmask16 *redo) {
  const __m512 p = _mm512_min_ps(_mm512_set1_ps(1024.0f), _mm512_fmadd_ps(v, vr, vzp));
  const __m512 t = _mm512_abs_ps(_mm512_sub_ps(p, _mm512_roundscale_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
  *redo = _mm512_kor(*redo, _mm512_cmp_ps_mask(t, _mm512_set1_ps(0.5f - QL_DYNQ_TIE_EPS), _CMP_GE_OQ));
  return _mm512_cvtps_epi32(p);
}

/* 64 int32 -> 64 bytes in order, saturating to [0, 255]: the packs work in
 * 128-bit lanes, so lane L holds elements 4L..4L+3 of w0, w1, w2, w3. */
static inline void store64(uint8_t *y, __m512i w0, __m512i w1, __m512i w2, __m512i w3) {
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m512i b = _mm512_packus_epi16(_mm512_packs_epi32(w0, w1), _mm512_packs_epi32(w2, w3));
  _mm512_storeu_si512(y, _mm512_permutexvar_epi32(order, b));
}

void ql_dynq_quantize__avx512(const float *x, int64_t n, float scale, float zp, uint8_t *y) {
  const __m512 vs = _mm512_set1_ps(scale), vzp = _mm512_set1_ps(zp);
  int64_t i = 0;
  if (ql_dynq_recip_ok(scale)) {
    const __m512 vr = _mm512_set1_ps(1.0f / scale);
    for (; i + 64 <= n; i += 64) {
      __mmask16 redo = 0;
      const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
      const __m512 c = _mm512_loadu_ps(x + i + 32), d = _mm512_loadu_ps(x + i + 48);
      __m512i w0 = quant16_fma(a, vr, vzp, &redo), w1 = quant16_fma(b, vr, vzp, &redo);
      __m512i w2 = quant16_fma(c, vr, vzp, &redo), w3 = quant16_fma(d, vr, vzp, &redo);
      if (__builtin_expect(redo != 0, 0)) {
        w0 = quant16(a, vs, vzp), w1 = quant16(b, vs, vzp);
        w2 = quant16(c, vs, vzp), w3 = quant16(d, vs, vzp);
      }
      store64(y + i, w0, w1, w2, w3);
    }
  }
  for (; i + 64 <= n; i += 64) {
    const __m512i w0 = quant16(_mm512_loadu_ps(x + i), vs, vzp);
    const __m512i w1 = quant16(_mm512_loadu_ps(x + i + 16), vs, vzp);
    const __m512i w2 = quant16(_mm512_loadu_ps(x + i + 32), vs, vzp);
    const __m512i w3 = quant16(_mm512_loadu_ps(x + i + 48), vs, vzp);
    store64(y + i, w0, w1, w2, w3);
  }
  for (; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    const __m512i w = quant16(_mm512_maskz_loadu_ps(k, x + i), vs, vzp);
    _mm512_mask_cvtepi32_storeu_epi8(y + i, k, w);
  }
}

/* AVX2 + FMA MatMulNBits kernels. INT8: the 4-bit weights are small enough
 * for vpmaddubsw (u8 x s8 pair sums <= 2 * 15 * 128, no saturation; the
 * low- and high-plane sums together <= 7680), then vpmaddwd widens to int32.
 * One row x 32 columns. F32: dequantized L1 tile, 2 rows x 32 columns. */
#include "nbits.h"

#include <immintrin.h>
#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

static inline __m256i bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

static inline __m256i tail_mask(int64_t cols) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int32_t c = cols > 8 ? 8 : cols < 0 ? 0 : (int32_t)cols;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), idx);
}

/* y[0..7] = v (+ bias), the first cols of them */
static inline void store8(float *y, const float *bias, int64_t cols, __m256 v) {
  if (cols <= 0) return;
  if (cols >= 8) {
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
    _mm256_storeu_ps(y, v);
    return;
  }
  const __m256i m = tail_mask(cols);
  if (bias) v = _mm256_add_ps(v, _mm256_maskload_ps(bias, m));
  _mm256_maskstore_ps(y, m, v);
}

static void i8_row(const ql_nbits_packed *pb, const ql_nbits_qa *qa, int64_t r, int64_t p, const float *bias,
                   float *y) {
  const int64_t kblocks = pb->kblocks, bs = pb->bs, kpad = kblocks * bs;
  const uint8_t *q = pb->q + p * kpad * 16;
  const float *sc = pb->scale + p * kblocks * QL_NBITS_NR;
  const int32_t *zi = pb->zi ? pb->zi + p * kblocks * QL_NBITS_NR : NULL;
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  __m256 f[4];
  for (int j = 0; j < 4; j++) f[j] = _mm256_setzero_ps();
  for (int64_t kb = 0; kb < kblocks; kb++) {
    __m256i d[4];
    for (int j = 0; j < 4; j++) d[j] = _mm256_setzero_si256();
    const int8_t *a = qa->aq + r * kpad + kb * bs;
    for (int64_t g = 0; g < bs; g += 8, q += 128) {
      const __m256i alo = bcast4(a + g), ahi = bcast4(a + g + 4);
      for (int j = 0; j < 4; j++) {
        const __m256i x = _mm256_load_si256((const __m256i *)(q + 32 * j));
        const __m256i lo = _mm256_and_si256(x, m4), hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
        const __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, alo), _mm256_maddubs_epi16(hi, ahi));
        d[j] = _mm256_add_epi32(d[j], _mm256_madd_epi16(s16, ones));
      }
    }
    const int64_t ri = r * kblocks + kb;
    const __m256 sa = _mm256_set1_ps(qa->as[ri]);
    const __m256i asum = _mm256_set1_epi32(qa->asum[ri]), corr = _mm256_set1_epi32(qa->corr[ri]);
    for (int j = 0; j < 4; j++) {
      const __m256i c =
          zi ? _mm256_mullo_epi32(_mm256_load_si256((const __m256i *)(zi + kb * QL_NBITS_NR + 8 * j)), asum) : corr;
      const __m256 s = _mm256_mul_ps(sa, _mm256_load_ps(sc + kb * QL_NBITS_NR + 8 * j));
      f[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(d[j], c)), s, f[j]);
    }
  }
  const int64_t col = p * QL_NBITS_NR;
  for (int j = 0; j < 4; j++)
    store8(y + r * pb->n + col + 8 * j, bias ? bias + col + 8 * j : NULL, pb->n - col - 8 * j, f[j]);
}

void ql_nbits_i8__avx2(const ql_nbits_packed *pb, const ql_nbits_qa *qa, int64_t r0, int64_t r1, int64_t p,
                       const float *bias, float *y) {
  for (int64_t r = r0; r < r1; r++) i8_row(pb, qa, r, p, bias, y);
}

/* ---- F32 ---- */
#define KC 256

static void dequant(const ql_nbits_packed *pb, int64_t p, int64_t k0, int64_t k1, float *tile) {
  const int64_t kblocks = pb->kblocks, bs = pb->bs;
  const uint8_t *q = pb->q + p * kblocks * bs * 16;
  const float *sc = pb->scale + p * kblocks * QL_NBITS_NR, *zf = pb->zf + p * kblocks * QL_NBITS_NR;
  const __m256i m4 = _mm256_set1_epi32(0x0F);
  for (int64_t k = k0; k < k1; k++) {
    const int64_t kb = k / bs;
    for (int h = 0; h < 2; h++) { /* bytes 8h..8h+7: columns 8h.. (low) and 16+8h.. (high) */
      int64_t v;
      memcpy(&v, q + k * 16 + 8 * h, 8);
      const __m256i x = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(v));
      const __m256 lo = _mm256_cvtepi32_ps(_mm256_and_si256(x, m4)), hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(x, 4));
      const float *s = sc + kb * QL_NBITS_NR, *z = zf + kb * QL_NBITS_NR;
      float *t = tile + (k - k0) * 32;
      _mm256_store_ps(t + 8 * h,
                      _mm256_mul_ps(_mm256_sub_ps(lo, _mm256_load_ps(z + 8 * h)), _mm256_load_ps(s + 8 * h)));
      _mm256_store_ps(t + 16 + 8 * h, _mm256_mul_ps(_mm256_sub_ps(hi, _mm256_load_ps(z + 16 + 8 * h)),
                                                    _mm256_load_ps(s + 16 + 8 * h)));
    }
  }
}

static inline __m256 load8(const float *y, int64_t cols) {
  if (cols >= 8) return _mm256_loadu_ps(y);
  if (cols <= 0) return _mm256_setzero_ps();
  return _mm256_maskload_ps(y, tail_mask(cols));
}

ALWAYS_INLINE void f32_rows(const ql_nbits_packed *pb, const float *a, int64_t r, const int R, int64_t p,
                            int64_t k0, int64_t k1, const float *tile, int first, int last, const float *bias,
                            float *y) {
  const int64_t K = pb->k, col = p * QL_NBITS_NR, cols = pb->n - col;
  __m256 f[2][4];
  for (int i = 0; i < R; i++)
    for (int j = 0; j < 4; j++)
      f[i][j] = first ? _mm256_setzero_ps() : load8(y + (r + i) * pb->n + col + 8 * j, cols - 8 * j);
  const float *ar = a + r * K;
  for (int64_t k = k0; k < k1; k++) {
    const float *w = tile + (k - k0) * 32;
    for (int i = 0; i < R; i++) {
      const __m256 av = _mm256_broadcast_ss(ar + i * K + k);
      for (int j = 0; j < 4; j++) f[i][j] = _mm256_fmadd_ps(av, _mm256_load_ps(w + 8 * j), f[i][j]);
    }
  }
  for (int i = 0; i < R; i++)
    for (int j = 0; j < 4; j++)
      store8(y + (r + i) * pb->n + col + 8 * j, last && bias ? bias + col + 8 * j : NULL, cols - 8 * j, f[i][j]);
}

void ql_nbits_f32__avx2(const ql_nbits_packed *pb, const float *a, int64_t r0, int64_t r1, int64_t p,
                        const float *bias, float *y) {
  float tile[KC * 32] __attribute__((aligned(64)));
  for (int64_t k0 = 0; k0 < pb->k; k0 += KC) {
    const int64_t k1 = k0 + KC < pb->k ? k0 + KC : pb->k;
    const int first = k0 == 0, last = k1 == pb->k;
    dequant(pb, p, k0, k1, tile);
    int64_t r = r0;
    for (; r + 2 <= r1; r += 2) f32_rows(pb, a, r, 2, p, k0, k1, tile, first, last, bias, y);
    if (r < r1) f32_rows(pb, a, r, 1, p, k0, k1, tile, first, last, bias, y);
  }
}

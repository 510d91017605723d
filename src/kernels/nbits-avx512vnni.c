/* AVX-512 MatMulNBits kernels. INT8: vpdpbusd of the 4-bit weights (u8
 * nibble planes) with broadcast int8 A, R rows x 32 columns, the float
 * accumulators in registers for all of K. F32: a panel chunk is dequantized
 * into an L1 tile, then R rows x 32 columns of FMAs. */
#include "nbits.h"

#include <immintrin.h>
#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

static inline __mmask16 tail_mask(int64_t cols) {
  return cols >= 16 ? 0xFFFF : cols <= 0 ? 0 : (__mmask16)((1u << cols) - 1);
}

/* acc += u8 plane b x the 4 int8 at p broadcast to every lane. Inline asm:
 * GCC 12 copies the accumulators of the intrinsic around (and spills), and
 * this way the broadcast folds into the instruction ({1to16}). */
#define DPB(acc, b, p) __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(b), "m"(*(const int32_t *)(p)))

/* One block's int32 sums of a row -> its float accumulators. */
#define EPI(f0, f1, d0, d1, ri)                                                                    \
  do {                                                                                             \
    __m512i c0_, c1_;                                                                              \
    if (zi) {                                                                                      \
      const __m512i as_ = _mm512_set1_epi32(qa->asum[ri]);                                         \
      c0_ = _mm512_mullo_epi32(_mm512_load_si512(zi + kb * QL_NBITS_NR), as_);                     \
      c1_ = _mm512_mullo_epi32(_mm512_load_si512(zi + kb * QL_NBITS_NR + 16), as_);                \
    } else {                                                                                       \
      c0_ = c1_ = _mm512_set1_epi32(qa->corr[ri]);                                                 \
    }                                                                                              \
    const __m512 sa_ = _mm512_set1_ps(qa->as[ri]);                                                 \
    f0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(d0, c0_)), _mm512_mul_ps(sa_, s0), f0); \
    f1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(d1, c1_)), _mm512_mul_ps(sa_, s1), f1); \
  } while (0)

static void store_row(const ql_nbits_packed *pb, int64_t r, int64_t p, const float *bias, float *y, __m512 v0,
                      __m512 v1) {
  const int64_t col = p * QL_NBITS_NR, cols = pb->n - col;
  const __mmask16 k0 = tail_mask(cols), k1 = tail_mask(cols - 16);
  float *yr = y + r * pb->n + col;
  if (bias) {
    v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(k0, bias + col));
    if (k1) v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(k1, bias + col + 16));
  }
  _mm512_mask_storeu_ps(yr, k0, v0);
  if (k1) _mm512_mask_storeu_ps(yr + 16, k1, v1);
}

/* Rows r..r+3 of panel p, of which the first nr (1..4) are real: the
 * others alias the last real row and are not stored. */
static void i8_rows4(const ql_nbits_packed *pb, const ql_nbits_qa *qa, int64_t r, int nr, int64_t p,
                     const float *bias, float *y) {
  const int64_t kblocks = pb->kblocks, bs = pb->bs, kpad = kblocks * bs;
  const uint8_t *q = pb->q + p * kpad * 16;
  const float *sc = pb->scale + p * kblocks * QL_NBITS_NR;
  const int32_t *zi = pb->zi ? pb->zi + p * kblocks * QL_NBITS_NR : NULL;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const int64_t rr[4] = {r, r + (nr > 1 ? 1 : 0), r + (nr > 2 ? 2 : nr - 1), r + nr - 1};
  __m512 f00 = _mm512_setzero_ps(), f01 = f00, f10 = f00, f11 = f00, f20 = f00, f21 = f00, f30 = f00, f31 = f00;
  for (int64_t kb = 0; kb < kblocks; kb++) {
    __m512i d00 = _mm512_setzero_si512(), d01 = d00, d10 = d00, d11 = d00, d20 = d00, d21 = d00, d30 = d00,
            d31 = d00;
    const int8_t *a0 = qa->aq + rr[0] * kpad + kb * bs, *a1 = qa->aq + rr[1] * kpad + kb * bs,
                 *a2 = qa->aq + rr[2] * kpad + kb * bs, *a3 = qa->aq + rr[3] * kpad + kb * bs;
    for (int64_t g = 0; g < bs; g += 8, q += 128) {
      const __m512i x0 = _mm512_load_si512(q), x1 = _mm512_load_si512(q + 64);
      const __m512i l0 = _mm512_and_si512(x0, m4), l1 = _mm512_and_si512(x1, m4);
      const __m512i h0 = _mm512_and_si512(_mm512_srli_epi16(x0, 4), m4);
      const __m512i h1 = _mm512_and_si512(_mm512_srli_epi16(x1, 4), m4);
      DPB(d00, l0, a0 + g); DPB(d01, l1, a0 + g); DPB(d10, l0, a1 + g); DPB(d11, l1, a1 + g);
      DPB(d20, l0, a2 + g); DPB(d21, l1, a2 + g); DPB(d30, l0, a3 + g); DPB(d31, l1, a3 + g);
      DPB(d00, h0, a0 + g + 4); DPB(d01, h1, a0 + g + 4); DPB(d10, h0, a1 + g + 4); DPB(d11, h1, a1 + g + 4);
      DPB(d20, h0, a2 + g + 4); DPB(d21, h1, a2 + g + 4); DPB(d30, h0, a3 + g + 4); DPB(d31, h1, a3 + g + 4);
    }
    const __m512 s0 = _mm512_load_ps(sc + kb * QL_NBITS_NR), s1 = _mm512_load_ps(sc + kb * QL_NBITS_NR + 16);
    EPI(f00, f01, d00, d01, rr[0] * kblocks + kb);
    EPI(f10, f11, d10, d11, rr[1] * kblocks + kb);
    EPI(f20, f21, d20, d21, rr[2] * kblocks + kb);
    EPI(f30, f31, d30, d31, rr[3] * kblocks + kb);
  }
  store_row(pb, r, p, bias, y, f00, f01);
  if (nr > 1) store_row(pb, r + 1, p, bias, y, f10, f11);
  if (nr > 2) store_row(pb, r + 2, p, bias, y, f20, f21);
  if (nr > 3) store_row(pb, r + 3, p, bias, y, f30, f31);
}

/* One row (GEMV): the low and high planes get their own accumulators, so
 * four vpdpbusd chains overlap. */
static void i8_row1(const ql_nbits_packed *pb, const ql_nbits_qa *qa, int64_t r, int64_t p, const float *bias,
                    float *y) {
  const int64_t kblocks = pb->kblocks, bs = pb->bs, kpad = kblocks * bs;
  const uint8_t *q = pb->q + p * kpad * 16;
  const float *sc = pb->scale + p * kblocks * QL_NBITS_NR;
  const int32_t *zi = pb->zi ? pb->zi + p * kblocks * QL_NBITS_NR : NULL;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512 f0 = _mm512_setzero_ps(), f1 = f0;
  for (int64_t kb = 0; kb < kblocks; kb++) {
    __m512i d0 = _mm512_setzero_si512(), d1 = d0, e0 = d0, e1 = d0;
    const int8_t *a = qa->aq + r * kpad + kb * bs;
    for (int64_t g = 0; g < bs; g += 8, q += 128) {
      _mm_prefetch((const char *)q + 4096, _MM_HINT_T0);
      _mm_prefetch((const char *)q + 4096 + 64, _MM_HINT_T0);
      const __m512i x0 = _mm512_load_si512(q), x1 = _mm512_load_si512(q + 64);
      const __m512i l0 = _mm512_and_si512(x0, m4), l1 = _mm512_and_si512(x1, m4);
      const __m512i h0 = _mm512_and_si512(_mm512_srli_epi16(x0, 4), m4);
      const __m512i h1 = _mm512_and_si512(_mm512_srli_epi16(x1, 4), m4);
      DPB(d0, l0, a + g); DPB(d1, l1, a + g); DPB(e0, h0, a + g + 4); DPB(e1, h1, a + g + 4);
    }
    const __m512 s0 = _mm512_load_ps(sc + kb * QL_NBITS_NR), s1 = _mm512_load_ps(sc + kb * QL_NBITS_NR + 16);
    EPI(f0, f1, _mm512_add_epi32(d0, e0), _mm512_add_epi32(d1, e1), r * kblocks + kb);
  }
  store_row(pb, r, p, bias, y, f0, f1);
}

void ql_nbits_i8__avx512vnni(const ql_nbits_packed *pb, const ql_nbits_qa *qa, int64_t r0, int64_t r1, int64_t p,
                             const float *bias, float *y) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) i8_rows4(pb, qa, r, 4, p, bias, y);
  if (r1 - r == 1) i8_row1(pb, qa, r, p, bias, y);
  else if (r < r1) i8_rows4(pb, qa, r, (int)(r1 - r), p, bias, y);
}

/* ---- F32 ---- */
#define KC 256

/* tile[k - k0][32] = dequantized W for k in [k0, k1) */
static void dequant(const ql_nbits_packed *pb, int64_t p, int64_t k0, int64_t k1, float *tile) {
  const int64_t kblocks = pb->kblocks, bs = pb->bs;
  const uint8_t *q = pb->q + p * kblocks * bs * 16;
  const float *sc = pb->scale + p * kblocks * QL_NBITS_NR, *zf = pb->zf + p * kblocks * QL_NBITS_NR;
  const __m512i m4 = _mm512_set1_epi32(0x0F);
  for (int64_t k = k0; k < k1;) {
    const int64_t kb = k / bs, end = (kb + 1) * bs < k1 ? (kb + 1) * bs : k1;
    const __m512 s0 = _mm512_load_ps(sc + kb * QL_NBITS_NR), s1 = _mm512_load_ps(sc + kb * QL_NBITS_NR + 16);
    const __m512 z0 = _mm512_load_ps(zf + kb * QL_NBITS_NR), z1 = _mm512_load_ps(zf + kb * QL_NBITS_NR + 16);
    for (; k < end; k++) {
      const __m512i x = _mm512_cvtepu8_epi32(_mm_load_si128((const __m128i *)(q + k * 16)));
      const __m512 w0 = _mm512_cvtepi32_ps(_mm512_and_si512(x, m4));
      const __m512 w1 = _mm512_cvtepi32_ps(_mm512_srli_epi32(x, 4));
      _mm512_store_ps(tile + (k - k0) * 32, _mm512_mul_ps(_mm512_sub_ps(w0, z0), s0));
      _mm512_store_ps(tile + (k - k0) * 32 + 16, _mm512_mul_ps(_mm512_sub_ps(w1, z1), s1));
    }
  }
}

/* acc (rows r..r+R-1, the panel's 32 columns of y) += a[:, k0:k1] @ tile;
 * first: start from +0 instead of y; last: add the bias and store. */
ALWAYS_INLINE void f32_rows(const ql_nbits_packed *pb, const float *a, int64_t r, const int R, int64_t p,
                            int64_t k0, int64_t k1, const float *tile, int first, int last, const float *bias,
                            float *y) {
  const int64_t K = pb->k, col = p * QL_NBITS_NR, cols = pb->n - col;
  const __mmask16 m0 = tail_mask(cols), m1 = tail_mask(cols - 16);
  __m512 f[8][2];
  for (int i = 0; i < R; i++) {
    float *yr = y + (r + i) * pb->n + col;
    f[i][0] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, yr);
    f[i][1] = first || !m1 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, yr + 16);
  }
  const float *ar = a + r * K;
  for (int64_t k = k0; k < k1; k++) {
    const __m512 w0 = _mm512_load_ps(tile + (k - k0) * 32), w1 = _mm512_load_ps(tile + (k - k0) * 32 + 16);
    for (int i = 0; i < R; i++) {
      const __m512 av = _mm512_set1_ps(ar[i * K + k]);
      f[i][0] = _mm512_fmadd_ps(av, w0, f[i][0]);
      f[i][1] = _mm512_fmadd_ps(av, w1, f[i][1]);
    }
  }
  for (int i = 0; i < R; i++) {
    float *yr = y + (r + i) * pb->n + col;
    __m512 v0 = f[i][0], v1 = f[i][1];
    if (last && bias) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, bias + col));
      if (m1) v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, bias + col + 16));
    }
    _mm512_mask_storeu_ps(yr, m0, v0);
    if (m1) _mm512_mask_storeu_ps(yr + 16, m1, v1);
  }
}

void ql_nbits_f32__avx512vnni(const ql_nbits_packed *pb, const float *a, int64_t r0, int64_t r1, int64_t p,
                              const float *bias, float *y) {
  float tile[KC * 32] __attribute__((aligned(64)));
  for (int64_t k0 = 0; k0 < pb->k; k0 += KC) {
    const int64_t k1 = k0 + KC < pb->k ? k0 + KC : pb->k;
    const int first = k0 == 0, last = k1 == pb->k;
    dequant(pb, p, k0, k1, tile);
    int64_t r = r0;
    for (; r + 8 <= r1; r += 8) f32_rows(pb, a, r, 8, p, k0, k1, tile, first, last, bias, y);
    switch (r1 - r) {
    case 7: f32_rows(pb, a, r, 7, p, k0, k1, tile, first, last, bias, y); break;
    case 6: f32_rows(pb, a, r, 6, p, k0, k1, tile, first, last, bias, y); break;
    case 5: f32_rows(pb, a, r, 5, p, k0, k1, tile, first, last, bias, y); break;
    case 4: f32_rows(pb, a, r, 4, p, k0, k1, tile, first, last, bias, y); break;
    case 3: f32_rows(pb, a, r, 3, p, k0, k1, tile, first, last, bias, y); break;
    case 2: f32_rows(pb, a, r, 2, p, k0, k1, tile, first, last, bias, y); break;
    case 1: f32_rows(pb, a, r, 1, p, k0, k1, tile, first, last, bias, y); break;
    default: break;
    }
  }
}

/* ---- INT8 mode: A quantized per block, the vector twin of quantize_a in
 * nbits.c (see nbits.h). vmaxps returns its second operand when either is
 * NaN, which with the running max second is fmaxf's "ignore NaN"; the clamp
 * is ordered so that NaN survives to vcvtps2dq (-> INT_MIN -> -128). ---- */
void ql_nbits_quant__avx512vnni(const ql_nbits_packed *pb, const float *a, int64_t r0, int64_t r1, int8_t *aq,
                                float *as, int32_t *asum, int32_t *corr) {
  const int64_t K = pb->k, bs = pb->bs, kblocks = pb->kblocks;
  const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-128.0f);
  for (int64_t r = r0; r < r1; r++)
    for (int64_t kb = 0; kb < kblocks; kb++) {
      const float *src = a + r * K + kb * bs;
      const int64_t len = K - kb * bs < bs ? K - kb * bs : bs;
      __m512 mx = _mm512_setzero_ps();
      for (int64_t j = 0; j < len; j += 16) {
        const __mmask16 m = len - j >= 16 ? 0xFFFF : (__mmask16)((1u << (len - j)) - 1);
        mx = _mm512_max_ps(_mm512_and_ps(_mm512_maskz_loadu_ps(m, src + j), absm), mx);
      }
      const float amax = _mm512_reduce_max_ps(mx);
      const float inv = amax != 0.0f ? 127.0f / amax : 0.0f;
      as[r * kblocks + kb] = amax / 127.0f;
      const __m512 vinv = _mm512_set1_ps(inv);
      int8_t *dst = aq + (r * kblocks + kb) * bs;
      __m512i s = _mm512_setzero_si512();
      for (int64_t j = 0; j < bs; j += 16) {
        const int64_t left = len - j;
        const __mmask16 m = left >= 16 ? 0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + j), vinv);
        v = _mm512_max_ps(lo, _mm512_min_ps(hi, v));
        const __m512i i32 = _mm512_maskz_mov_epi32(m, _mm512_cvtps_epi32(v));
        const __m128i q8 = _mm512_cvtsepi32_epi8(i32);
        _mm_storeu_si128((__m128i *)(dst + j), q8);
        s = _mm512_add_epi32(s, _mm512_cvtepi8_epi32(q8));
      }
      const uint32_t sum = (uint32_t)_mm512_reduce_add_epi32(s);
      asum[r * kblocks + kb] = (int32_t)sum;
      corr[r * kblocks + kb] = (int32_t)(sum * (uint32_t)pb->zdef);
    }
}

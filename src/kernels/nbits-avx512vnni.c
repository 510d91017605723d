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

static inline __m512i bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* Rows r..r+R-1 of panel p. With R <= 2 the low and high nibble planes get
 * separate integer accumulators, so that the vpdpbusd chains overlap. */
ALWAYS_INLINE void i8_rows(const ql_nbits_packed *pb, const ql_nbits_qa *qa, int64_t r, const int R, int64_t p,
                           const float *bias, float *y) {
  const int64_t kblocks = pb->kblocks, bs = pb->bs, kpad = kblocks * bs;
  const uint8_t *q = pb->q + p * kpad * 16;
  const float *sc = pb->scale + p * kblocks * QL_NBITS_NR;
  const int32_t *zi = pb->zi ? pb->zi + p * kblocks * QL_NBITS_NR : NULL;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512 f[4][2];
  for (int i = 0; i < R; i++) f[i][0] = f[i][1] = _mm512_setzero_ps();
  for (int64_t kb = 0; kb < kblocks; kb++) {
    __m512i d[4][2], e[4][2];
    for (int i = 0; i < R; i++) d[i][0] = d[i][1] = e[i][0] = e[i][1] = _mm512_setzero_si512();
    const int8_t *a = qa->aq + r * kpad + kb * bs;
    for (int64_t g = 0; g < bs; g += 8, q += 128) {
      const __m512i x0 = _mm512_load_si512(q), x1 = _mm512_load_si512(q + 64);
      const __m512i l0 = _mm512_and_si512(x0, m4), l1 = _mm512_and_si512(x1, m4);
      const __m512i h0 = _mm512_and_si512(_mm512_srli_epi16(x0, 4), m4);
      const __m512i h1 = _mm512_and_si512(_mm512_srli_epi16(x1, 4), m4);
      for (int i = 0; i < R; i++) {
        const __m512i alo = bcast4(a + i * kpad + g), ahi = bcast4(a + i * kpad + g + 4);
        d[i][0] = _mm512_dpbusd_epi32(d[i][0], l0, alo);
        d[i][1] = _mm512_dpbusd_epi32(d[i][1], l1, alo);
        if (R <= 2) {
          e[i][0] = _mm512_dpbusd_epi32(e[i][0], h0, ahi);
          e[i][1] = _mm512_dpbusd_epi32(e[i][1], h1, ahi);
        } else {
          d[i][0] = _mm512_dpbusd_epi32(d[i][0], h0, ahi);
          d[i][1] = _mm512_dpbusd_epi32(d[i][1], h1, ahi);
        }
      }
    }
    const __m512 s0 = _mm512_load_ps(sc + kb * QL_NBITS_NR), s1 = _mm512_load_ps(sc + kb * QL_NBITS_NR + 16);
    for (int i = 0; i < R; i++) {
      const int64_t ri = (r + i) * kblocks + kb;
      __m512i c0, c1;
      if (zi) {
        const __m512i as = _mm512_set1_epi32(qa->asum[ri]);
        c0 = _mm512_mullo_epi32(_mm512_load_si512(zi + kb * QL_NBITS_NR), as);
        c1 = _mm512_mullo_epi32(_mm512_load_si512(zi + kb * QL_NBITS_NR + 16), as);
      } else {
        c0 = c1 = _mm512_set1_epi32(qa->corr[ri]);
      }
      __m512i t0 = d[i][0], t1 = d[i][1];
      if (R <= 2) t0 = _mm512_add_epi32(t0, e[i][0]), t1 = _mm512_add_epi32(t1, e[i][1]);
      t0 = _mm512_sub_epi32(t0, c0);
      t1 = _mm512_sub_epi32(t1, c1);
      const __m512 sa = _mm512_set1_ps(qa->as[ri]);
      f[i][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t0), _mm512_mul_ps(sa, s0), f[i][0]);
      f[i][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t1), _mm512_mul_ps(sa, s1), f[i][1]);
    }
  }
  const int64_t col = p * QL_NBITS_NR, cols = pb->n - col;
  const __mmask16 k0 = tail_mask(cols), k1 = tail_mask(cols - 16);
  for (int i = 0; i < R; i++) {
    float *yr = y + (r + i) * pb->n + col;
    __m512 v0 = f[i][0], v1 = f[i][1];
    if (bias) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(k0, bias + col));
      if (k1) v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(k1, bias + col + 16));
    }
    _mm512_mask_storeu_ps(yr, k0, v0);
    if (k1) _mm512_mask_storeu_ps(yr + 16, k1, v1);
  }
}

void ql_nbits_i8__avx512vnni(const ql_nbits_packed *pb, const ql_nbits_qa *qa, int64_t r0, int64_t r1, int64_t p,
                             const float *bias, float *y) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) i8_rows(pb, qa, r, 4, p, bias, y);
  switch (r1 - r) {
  case 3: i8_rows(pb, qa, r, 3, p, bias, y); break;
  case 2: i8_rows(pb, qa, r, 2, p, bias, y); break;
  case 1: i8_rows(pb, qa, r, 1, p, bias, y); break;
  default: break;
  }
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

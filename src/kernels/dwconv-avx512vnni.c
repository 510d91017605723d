/* AVX-512 depthwise plane: blocks of 64 flattened outputs (even and odd
 * ones in separate accumulators, see dwconv.h), vpdpwssd per tap pair
 * (non-saturating: wraps like vpaddd). Masked byte loads and stores build
 * Q rows (strides 1 and 2; others by the portable loop) and copy the
 * outputs without touching anything outside them. */
#include "dwconv-internal.h"
#include <immintrin.h>

/* 32 input columns (stride sw = 1 or 2 apart) -> centered int16: at
 * stride 2, word i of the 64 bytes holds column i in its low byte. */
static inline __attribute__((always_inline)) __m512i cvt32(const uint8_t *src, __mmask64 k, const int sw,
                                                          const int sgn, __m512i vz) {
  if (sw == 1) {
    const __m256i b = k == ~(__mmask64)0 ? _mm256_loadu_si256((const __m256i *)src)
                                         : _mm256_maskz_loadu_epi8((__mmask32)k, src);
    return _mm512_sub_epi16(sgn ? _mm512_cvtepi8_epi16(b) : _mm512_cvtepu8_epi16(b), vz);
  }
  const __m512i b = k == ~(__mmask64)0 ? _mm512_loadu_si512(src) : _mm512_maskz_loadu_epi8(k, src);
  const __m512i v = sgn ? _mm512_srai_epi16(_mm512_slli_epi16(b, 8), 8) : _mm512_and_si512(b, _mm512_set1_epi16(0xff));
  return _mm512_sub_epi16(v, vz);
}

/* Q at stride 1 or 2 along rows (the usual cases): each phase's span
 * [clo, chi) is the same for every row, so it is resolved once per plane
 * (whole chunks read without masks while they stay inside the row). */
static inline __attribute__((always_inline)) void build_q_12(const ql_dwconv_plan *pl, const ql_dwconv_args *a,
                                                             int16_t *q, const int sw, const int sgn) {
  int64_t clo[2], n[2], unmasked[2], src_off[2];
  const int64_t sub = pl->qh * pl->wq;
  for (int phx = 0; phx < sw; phx++) {
    int64_t chi;
    ql_dwconv_span(pl, phx, &clo[phx], &chi);
    n[phx] = chi - clo[phx];
    src_off[phx] = clo[phx] * sw + phx - pl->pl; /* first input column read */
    /* chunks [0, unmasked) may load 32 * sw bytes whole */
    const int64_t avail = pl->iw - src_off[phx];
    unmasked[phx] = n[phx] / 32;
    if (sw == 2 && unmasked[phx] > avail / 64) unmasked[phx] = avail / 64;
  }
  const __m512i vz = _mm512_set1_epi16((short)a->x_zp);
  for (int64_t phy = 0; phy < pl->sh; phy++) {
    const int64_t b = pl->pt - phy;
    int64_t r = b <= 0 ? 0 : (b + pl->sh - 1) / pl->sh, rend = (pl->ih + b + pl->sh - 1) / pl->sh;
    if (rend > pl->qh) rend = pl->qh;
    for (; r < rend; r++) {
      const uint8_t *row = (const uint8_t *)a->x + (r * pl->sh - b) * pl->iw;
      for (int phx = 0; phx < sw; phx++) {
        const uint8_t *src = row + src_off[phx];
        int16_t *d = q + (phy * sw + phx) * sub + r * pl->wq + clo[phx];
        int64_t c = 0;
        for (int64_t i = 0; i < unmasked[phx]; i++, c += 32)
          _mm512_storeu_si512(d + c, cvt32(src + c * sw, ~(__mmask64)0, sw, sgn, vz));
        for (; c < n[phx]; c += 32) {
          const int64_t m = n[phx] - c < 32 ? n[phx] - c : 32;
          /* the last wanted byte is (m - 1) * sw */
          const __mmask64 kb = ((uint64_t)1 << ((m - 1) * sw + 1)) - 1;
          _mm512_mask_storeu_epi16(d + c, (__mmask32)(((uint64_t)1 << m) - 1), cvt32(src + c * sw, kb, sw, sgn, vz));
        }
      }
    }
  }
}

static inline __m512i rq_512(__m512i acc, __m512 vm, __m512 vlo, __m512 vhi) {
  /* ql_requant_fp32: max_ps returns its second operand for NaN */
  const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), vm);
  return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(f, vlo), vhi)); /* RNE */
}

/* even/odd requantized int32 -> 32 natural-order int16 + zp: the values lie
 * in [lo - zp, hi - zp], so the low halves are exact */
static inline __m512i join_512(__m512i e, __m512i o, __m512i vzp) {
  return _mm512_add_epi16(_mm512_mask_blend_epi16(0xAAAAAAAAu, e, _mm512_slli_epi32(o, 16)), vzp);
}

static inline __attribute__((always_inline)) void blocks_512(const ql_dwconv_plan *pl, const ql_dwconv_args *a,
                                                             const int16_t *q, void *stage, const int np) {
  const __m512i vb = _mm512_set1_epi32(a->bias);
  const __m512 vm = _mm512_set1_ps(a->mult), vlo = _mm512_set1_ps((float)(a->lo - a->y_zp)),
               vhi = _mm512_set1_ps((float)(a->hi - a->y_zp));
  const __m512i vzp = _mm512_set1_epi16((short)a->y_zp);
  /* int32 outputs: unpack lo/hi of (even, odd) give 128-bit blocks holding
   * outputs 0-3, 8-11, ... and 4-7, 12-15, ...; put the blocks in order */
  const __m512i ilo = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), ihi = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  /* the unrolled kernels keep the runs' bases and the weights in registers */
  const int16_t *qp[16];
  __m512i wv[16];
  for (int p = 0; p < np && np <= 16; p++) {
    qp[p] = q + pl->off[p];
    wv[p] = _mm512_set1_epi32((int)a->wpair[p]);
  }
  for (int64_t f0 = 0; f0 < pl->f; f0 += 64) {
    __m512i e0 = vb, o0 = vb, e1 = vb, o1 = vb;
#pragma GCC unroll 16
    for (int p = 0; p < np; p++) {
      const int16_t *s = (np <= 16 ? qp[p] : q + pl->off[p]) + f0;
      const __m512i w = np <= 16 ? wv[p] : _mm512_set1_epi32((int)a->wpair[p]);
      e0 = _mm512_dpwssd_epi32(e0, _mm512_loadu_si512(s), w);
      o0 = _mm512_dpwssd_epi32(o0, _mm512_loadu_si512(s + 1), w);
      e1 = _mm512_dpwssd_epi32(e1, _mm512_loadu_si512(s + 32), w);
      o1 = _mm512_dpwssd_epi32(o1, _mm512_loadu_si512(s + 33), w);
    }
    if (a->out_kind == 0) {
      int32_t *d = (int32_t *)stage + f0;
      __m512i l = _mm512_unpacklo_epi32(e0, o0), h = _mm512_unpackhi_epi32(e0, o0);
      _mm512_storeu_si512(d, _mm512_permutex2var_epi64(l, ilo, h));
      _mm512_storeu_si512(d + 16, _mm512_permutex2var_epi64(l, ihi, h));
      l = _mm512_unpacklo_epi32(e1, o1);
      h = _mm512_unpackhi_epi32(e1, o1);
      _mm512_storeu_si512(d + 32, _mm512_permutex2var_epi64(l, ilo, h));
      _mm512_storeu_si512(d + 48, _mm512_permutex2var_epi64(l, ihi, h));
      continue;
    }
    /* vpmovwb keeps the low bytes: the uint8/int8 results, in [-128, 255] */
    uint8_t *d = (uint8_t *)stage + f0;
    _mm256_storeu_si256((__m256i *)d,
                        _mm512_cvtepi16_epi8(join_512(rq_512(e0, vm, vlo, vhi), rq_512(o0, vm, vlo, vhi), vzp)));
    _mm256_storeu_si256((__m256i *)(d + 32),
                        _mm512_cvtepi16_epi8(join_512(rq_512(e1, vm, vlo, vhi), rq_512(o1, vm, vlo, vhi), vzp)));
  }
}

void ql_dwconv_plane__avx512vnni(const ql_dwconv_plan *pl, const ql_dwconv_args *a, void *scratch) {
  int16_t *q = scratch;
  void *stage = (uint8_t *)scratch + ql_dwconv_q_bytes(pl);
  if (pl->sw == 1) {
    if (a->x_signed) build_q_12(pl, a, q, 1, 1);
    else build_q_12(pl, a, q, 1, 0);
  } else if (pl->sw == 2) {
    if (a->x_signed) build_q_12(pl, a, q, 2, 1);
    else build_q_12(pl, a, q, 2, 0);
  } else {
    ql_dwconv_build_q(pl, a, q, ql_dwconv_row_tail);
  }
  switch (pl->npairs) { /* 3x3 (stride 1 or 2) and 5x5 unrolled */
  case 6: blocks_512(pl, a, q, stage, 6); break;
  case 15: blocks_512(pl, a, q, stage, 15); break;
  default: blocks_512(pl, a, q, stage, pl->npairs); break;
  }
  if (a->out_kind == 0 || pl->wq == pl->ow) {
    ql_dwconv_unstage(pl, a, stage);
    return;
  }
  /* byte rows of at most a few dozen bytes: masked moves, not memcpy calls */
  const uint8_t *s = stage;
  uint8_t *y = a->y;
  for (int64_t oy = 0; oy < pl->oh; oy++, s += pl->wq, y += pl->ow)
    for (int64_t c = 0; c < pl->ow; c += 64) {
      const int64_t n = pl->ow - c < 64 ? pl->ow - c : 64;
      const __mmask64 k = n == 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1;
      _mm512_mask_storeu_epi8(y + c, k, _mm512_maskz_loadu_epi8(k, s + c));
    }
}

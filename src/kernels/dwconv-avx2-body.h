/* The 256-bit depthwise plane, included by dwconv-avx2.c (vpmaddwd +
 * vpaddd) and dwconv-avxvnni.c (vpdpwssd), which define DW_MAC(acc, x, w)
 * and DW_NAME. Blocks of 32 flattened outputs, even and odd ones in
 * separate accumulators (see dwconv.h). */
#include "dwconv-internal.h"
#include <immintrin.h>

static void row_256(const ql_dwconv_plan *pl, const uint8_t *src, int sgn, int32_t xzp, int16_t *dst, int64_t phx,
                    int64_t clo, int64_t chi) {
  const __m256i vz = _mm256_set1_epi16((short)xzp);
  const int64_t o = phx - pl->pl; /* column c reads src[c * sw + o] */
  int64_t c = clo;
  if (pl->sw == 1) {
    for (; c + 16 <= chi; c += 16) {
      const __m128i b = _mm_loadu_si128((const __m128i *)(src + c + o));
      const __m256i v = sgn ? _mm256_cvtepi8_epi16(b) : _mm256_cvtepu8_epi16(b);
      _mm256_storeu_si256((__m256i *)(dst + c), _mm256_sub_epi16(v, vz));
    }
  } else if (pl->sw == 2) {
    /* 32 bytes hold the 16 wanted ones in their low halves */
    for (; c + 16 <= chi && 2 * c + o + 32 <= pl->iw; c += 16) {
      const __m256i b = _mm256_loadu_si256((const __m256i *)(src + 2 * c + o));
      const __m256i v = sgn ? _mm256_srai_epi16(_mm256_slli_epi16(b, 8), 8)
                            : _mm256_and_si256(b, _mm256_set1_epi16(0xff));
      _mm256_storeu_si256((__m256i *)(dst + c), _mm256_sub_epi16(v, vz));
    }
  }
  ql_dwconv_row_tail(pl, src, sgn, xzp, dst, phx, c, chi);
}

static inline __m256i rq_256(__m256i acc, __m256 vm, __m256 vlo, __m256 vhi) {
  /* ql_requant_fp32: max_ps returns its second operand for NaN */
  const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), vm);
  return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(f, vlo), vhi)); /* RNE */
}

/* even/odd requantized int32 -> 16 natural-order int16 + zp (the values
 * lie in [lo - zp, hi - zp], so the low halves are exact) */
static inline __m256i join_256(__m256i e, __m256i o, __m256i vzp) {
  return _mm256_add_epi16(_mm256_blend_epi16(e, _mm256_slli_epi32(o, 16), 0xAA), vzp);
}

static inline __attribute__((always_inline)) void blocks_256(const ql_dwconv_plan *pl, const ql_dwconv_args *a,
                                                             const int16_t *q, void *stage, const int np) {
  const __m256i vb = _mm256_set1_epi32(a->bias);
  const __m256 vm = _mm256_set1_ps(a->mult), vlo = _mm256_set1_ps((float)(a->lo - a->y_zp)),
               vhi = _mm256_set1_ps((float)(a->hi - a->y_zp));
  const __m256i vzp = _mm256_set1_epi16((short)a->y_zp);
  /* the unrolled kernels keep the runs' bases (and what fits of the
   * weights) in registers */
  const int16_t *qp[16];
  __m256i wv[16];
  for (int p = 0; p < np && np <= 16; p++) {
    qp[p] = q + pl->off[p];
    wv[p] = _mm256_set1_epi32((int)a->wpair[p]);
  }
  for (int64_t f0 = 0; f0 < pl->f; f0 += 32) {
    __m256i e0 = vb, o0 = vb, e1 = vb, o1 = vb;
#pragma GCC unroll 16
    for (int p = 0; p < np; p++) {
      const int16_t *s = (np <= 16 ? qp[p] : q + pl->off[p]) + f0;
      const __m256i w = np <= 16 ? wv[p] : _mm256_set1_epi32((int)a->wpair[p]);
      DW_MAC(e0, _mm256_loadu_si256((const __m256i *)s), w);
      DW_MAC(o0, _mm256_loadu_si256((const __m256i *)(s + 1)), w);
      DW_MAC(e1, _mm256_loadu_si256((const __m256i *)(s + 16)), w);
      DW_MAC(o1, _mm256_loadu_si256((const __m256i *)(s + 17)), w);
    }
    if (a->out_kind == 0) {
      /* unpack gives outputs 0-3 | 8-11 and 4-7 | 12-15 */
      int32_t *d = (int32_t *)stage + f0;
      __m256i l = _mm256_unpacklo_epi32(e0, o0), h = _mm256_unpackhi_epi32(e0, o0);
      _mm256_storeu_si256((__m256i *)d, _mm256_permute2x128_si256(l, h, 0x20));
      _mm256_storeu_si256((__m256i *)(d + 8), _mm256_permute2x128_si256(l, h, 0x31));
      l = _mm256_unpacklo_epi32(e1, o1);
      h = _mm256_unpackhi_epi32(e1, o1);
      _mm256_storeu_si256((__m256i *)(d + 16), _mm256_permute2x128_si256(l, h, 0x20));
      _mm256_storeu_si256((__m256i *)(d + 24), _mm256_permute2x128_si256(l, h, 0x31));
      continue;
    }
    const __m256i r0 = join_256(rq_256(e0, vm, vlo, vhi), rq_256(o0, vm, vlo, vhi), vzp);
    const __m256i r1 = join_256(rq_256(e1, vm, vlo, vhi), rq_256(o1, vm, vlo, vhi), vzp);
    /* in the output type's range, so the saturating pack is exact */
    const __m256i b = a->out_kind == 1 ? _mm256_packus_epi16(r0, r1) : _mm256_packs_epi16(r0, r1);
    _mm256_storeu_si256((__m256i *)((uint8_t *)stage + f0), _mm256_permute4x64_epi64(b, 0xD8));
  }
}

void DW_NAME(const ql_dwconv_plan *pl, const ql_dwconv_args *a, void *scratch) {
  int16_t *q = scratch;
  void *stage = (uint8_t *)scratch + ql_dwconv_q_bytes(pl);
  ql_dwconv_build_q(pl, a, q, row_256);
  switch (pl->npairs) { /* 3x3 (stride 1 or 2) and 5x5 unrolled */
  case 6: blocks_256(pl, a, q, stage, 6); break;
  case 15: blocks_256(pl, a, q, stage, 15); break;
  default: blocks_256(pl, a, q, stage, pl->npairs); break;
  }
  ql_dwconv_unstage(pl, a, stage);
}

/* AVX-512 epilogue shared by qgemm-avx512vnni.c and qgemm-amx.c (both built
 * with AVX-512 flags): zero-point folding and the output conversion of one
 * row of one 16-column panel, lane for lane the formula of
 * ql_qgemm_store1(). Include only from files compiled with -mavx512*. */
#ifndef QL_KERNELS_QGEMM_EPILOGUE_AVX512_H
#define QL_KERNELS_QGEMM_EPILOGUE_AVX512_H

#include "qgemm-internal.h"
#include <immintrin.h>

typedef struct ql_epi512 {
  __m512i colterm; /* bias + a_zp' * colk */
  __m512i bzp;
  __m512 mult, fbias, lo, hi;
  __m512i zp;
  __mmask16 mask; /* columns this call owns */
  int64_t n0;     /* first column of the panel */
} ql_epi512;

static inline __attribute__((always_inline)) void ql_epi512_init(ql_epi512 *e, const ql_qgemm_args *args,
                                                                 const ql_qgemm_prep *p, int64_t n0,
                                                                 int64_t nb, int64_t ne) {
  const ql_qgemm_packed_b *pb = args->pb;
  e->n0 = n0;
  int64_t lo_c = nb > n0 ? nb - n0 : 0, hi_c = ne - n0 < 16 ? ne - n0 : 16;
  e->mask = (__mmask16)(((1u << hi_c) - 1) & ~((1u << lo_c) - 1));
  __m512i colk = _mm512_load_si512((const void *)(pb->colk + n0));
  __m512i bias = args->bias ? _mm512_maskz_loadu_epi32(e->mask, args->bias + n0) : _mm512_setzero_si512();
  e->colterm = _mm512_add_epi32(bias, _mm512_mullo_epi32(colk, _mm512_set1_epi32(p->a_zp)));
  e->bzp = _mm512_load_si512((const void *)(pb->bzp + n0));
  if (!args->mult)
    e->mult = _mm512_set1_ps(1.0f);
  else if (args->mult_per_col)
    e->mult = _mm512_maskz_loadu_ps(e->mask, args->mult + n0);
  else
    e->mult = _mm512_set1_ps(args->mult[0]);
  e->fbias = args->fbias ? _mm512_maskz_loadu_ps(e->mask, args->fbias + n0) : _mm512_setzero_ps();
  e->lo = _mm512_set1_ps((float)(args->out_min - args->out_zp));
  e->hi = _mm512_set1_ps((float)(args->out_max - args->out_zp));
  e->zp = _mm512_set1_epi32(args->out_zp);
}

/* The output conversion alone: acc is the finished accumulator (bias and
 * zero points folded in) of the 16 columns at dst (row m, column e->n0 of C).
 * full: the call owns all 16 columns (e->mask == 0xFFFF), so plain stores
 * do. has_fbias: F32 with args->fbias. Compile-time constants at the call
 * sites that matter (the AMX drain). */
static inline __attribute__((always_inline)) void ql_epi512_put(const ql_epi512 *e, const ql_qgemm_out ot,
                                                                const int has_fbias, const int full, void *dst,
                                                                __m512i acc) {
  switch (ot) {
  case QL_QGEMM_OUT_I32:
    if (full)
      _mm512_storeu_si512(dst, acc);
    else
      _mm512_mask_storeu_epi32(dst, e->mask, acc);
    break;
  case QL_QGEMM_OUT_F32: {
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), e->mult);
    if (has_fbias) y = _mm512_add_ps(y, e->fbias);
    if (full)
      _mm512_storeu_ps(dst, y);
    else
      _mm512_mask_storeu_ps(dst, e->mask, y);
    break;
  }
  default: {
    __m512 x = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), e->mult);
    /* max(x, lo) returns lo for NaN x, as fmaxf does */
    x = _mm512_min_ps(_mm512_max_ps(x, e->lo), e->hi);
    __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(x), e->zp); /* RNE (MXCSR default) */
    /* q is within the output type: truncating to bytes is exact */
    __m128i b = _mm512_cvtepi32_epi8(q);
    if (full)
      _mm_storeu_si128((__m128i *)dst, b);
    else
      _mm_mask_storeu_epi8(dst, e->mask, b);
    break;
  }
  }
}

/* dot: the raw 16 sums of row m, or (add_colterm 0) sums that started from
 * e->colterm already. ot is args->out_type, passed separately so that
 * callers may make it a compile-time constant. */
static inline __attribute__((always_inline)) void ql_epi512_store(const ql_epi512 *e, const ql_qgemm_args *args,
                                                                  const ql_qgemm_prep *p, const ql_qgemm_out ot,
                                                                  const int add_colterm, int64_t m, __m512i dot) {
  __m512i acc = add_colterm ? _mm512_add_epi32(dot, e->colterm) : dot;
  if (p->rowsum) acc = _mm512_sub_epi32(acc, _mm512_mullo_epi32(e->bzp, _mm512_set1_epi32(p->rowsum[m])));
  const size_t es = ot == QL_QGEMM_OUT_U8 || ot == QL_QGEMM_OUT_S8 ? 1 : 4;
  ql_epi512_put(e, ot, args->fbias != NULL, 0, (char *)args->c + (size_t)(m * args->ldc + e->n0) * es, acc);
}

#endif

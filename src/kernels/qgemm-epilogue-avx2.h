/* 256-bit epilogue shared by qgemm-avx2.c and qgemm-avxvnni.c: zero-point
 * folding and output conversion of 8 columns of one row, lane for lane the
 * formula of ql_qgemm_store1(). Include only from files built with -mavx2. */
#ifndef QL_KERNELS_QGEMM_EPILOGUE_AVX2_H
#define QL_KERNELS_QGEMM_EPILOGUE_AVX2_H

#include "qgemm-internal.h"
#include <immintrin.h>

typedef struct ql_epi256 {
  __m256i colterm, bzp, zp;
  __m256 mult, fbias, lo, hi;
  int c_lo, c_hi; /* valid lanes [c_lo, c_hi) */
  int64_t n0;
} ql_epi256;

static inline __attribute__((always_inline)) void ql_epi256_init(ql_epi256 *e, const ql_qgemm_args *args,
                                                                 const ql_qgemm_prep *p, int64_t n0,
                                                                 int64_t nb, int64_t ne) {
  const ql_qgemm_packed_b *pb = args->pb;
  e->n0 = n0;
  e->c_lo = nb > n0 ? (int)(nb - n0) : 0;
  e->c_hi = ne - n0 < 8 ? (int)(ne - n0) : 8;
  if (e->c_hi < 0) e->c_hi = 0;
  _Alignas(32) int32_t bias[8] = {0};
  _Alignas(32) float mult[8] = {0}, fb[8] = {0};
  for (int i = e->c_lo; i < e->c_hi; i++) {
    if (args->bias) bias[i] = args->bias[n0 + i];
    if (args->mult) mult[i] = args->mult[args->mult_per_col ? n0 + i : 0];
    if (args->fbias) fb[i] = args->fbias[n0 + i];
  }
  __m256i colk = _mm256_load_si256((const __m256i *)(pb->colk + n0));
  e->colterm = _mm256_add_epi32(_mm256_load_si256((const __m256i *)bias),
                                _mm256_mullo_epi32(colk, _mm256_set1_epi32(p->a_zp)));
  e->bzp = _mm256_load_si256((const __m256i *)(pb->bzp + n0));
  e->mult = _mm256_load_ps(mult);
  e->fbias = _mm256_load_ps(fb);
  e->lo = _mm256_set1_ps((float)(args->out_min - args->out_zp));
  e->hi = _mm256_set1_ps((float)(args->out_max - args->out_zp));
  e->zp = _mm256_set1_epi32(args->out_zp);
}

static inline __attribute__((always_inline)) void ql_epi256_store(const ql_epi256 *e, const ql_qgemm_args *args,
                                                                  const ql_qgemm_prep *p, int64_t m,
                                                                  __m256i dot) {
  if (e->c_lo >= e->c_hi) return;
  __m256i acc = _mm256_add_epi32(dot, e->colterm);
  if (p->rowsum) acc = _mm256_sub_epi32(acc, _mm256_mullo_epi32(e->bzp, _mm256_set1_epi32(p->rowsum[m])));
  size_t off = (size_t)(m * args->ldc + e->n0);
  const int full = e->c_lo == 0 && e->c_hi == 8;
  _Alignas(32) int32_t tmp[8];
  switch (args->out_type) {
  case QL_QGEMM_OUT_I32:
    if (full) {
      _mm256_storeu_si256((__m256i *)((int32_t *)args->c + off), acc);
    } else {
      _mm256_store_si256((__m256i *)tmp, acc);
      memcpy((int32_t *)args->c + off + e->c_lo, tmp + e->c_lo, (size_t)(e->c_hi - e->c_lo) * 4);
    }
    break;
  case QL_QGEMM_OUT_F32: {
    __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), e->mult);
    if (args->fbias) y = _mm256_add_ps(y, e->fbias);
    if (full) {
      _mm256_storeu_ps((float *)args->c + off, y);
    } else {
      _mm256_store_si256((__m256i *)tmp, _mm256_castps_si256(y));
      memcpy((float *)args->c + off + e->c_lo, tmp + e->c_lo, (size_t)(e->c_hi - e->c_lo) * 4);
    }
    break;
  }
  default: {
    __m256 x = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), e->mult);
    x = _mm256_min_ps(_mm256_max_ps(x, e->lo), e->hi); /* NaN -> lo, as fmaxf */
    __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(x), e->zp);
    /* values are in range, so the saturating packs are exact */
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    __m128i bytes = args->out_type == QL_QGEMM_OUT_U8 ? _mm_packus_epi16(w, w) : _mm_packs_epi16(w, w);
    uint8_t *dst = (uint8_t *)args->c + off;
    if (full) {
      _mm_storel_epi64((__m128i *)dst, bytes);
    } else {
      uint8_t t8[16];
      _mm_storeu_si128((__m128i *)t8, bytes);
      memcpy(dst + e->c_lo, t8 + e->c_lo, (size_t)(e->c_hi - e->c_lo));
    }
    break;
  }
  }
}

static inline int32_t ql_load4(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

#endif

/* Float32 GEMM: the scalar twin (the definition) and the ISA choice. */
#include <math.h>

#include "sgemm.h"

void ql_sgemm_f32_1x1__scalar(const ql_sgemm_args *a, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  for (int64_t m = m0; m < m1; m++) {
    const float *w = a->w + m * a->ldw;
    float *y = a->y + m * a->ldy;
    const float b = a->bias ? a->bias[m] : 0.0f;
    for (int64_t n = n0; n < n1; n++) {
      float acc = b;
      for (int64_t k = 0; k < a->k; k++) acc = fmaf(w[k], a->x[k * a->ldx + n], acc);
      y[n] = acc;
    }
  }
}

void ql_sdw_row_f32__scalar(const ql_sdw_row *r, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float acc = r->bias;
    for (int64_t a = 0; a < r->kh; a++)
      for (int64_t q = 0; q < r->kw; q++) acc = fmaf(r->w[a * r->kw + q], r->x[a * r->rs + q * r->dq + i * r->stride], acc);
    y[i] = acc;
  }
}

ql_sdw_row_fn ql_sdw_row_for(ql_sgemm_fn f) {
#if defined(__x86_64__)
  if (f == ql_sgemm_f32_8x32__avx512) return ql_sdw_row_f32__avx512;
  if (f == ql_sgemm_f32_4x16__avx2) return ql_sdw_row_f32__avx2;
#endif
  (void)f;
  return ql_sdw_row_f32__scalar;
}

ql_sgemm_fn ql_sgemm_select(ql_isa isa) {
  ql_isa best = ql_isa_best();
  if (isa == QL_ISA_AUTO || isa > best) isa = best;
#if defined(__x86_64__)
  if (isa >= QL_ISA_AVX512VNNI && ql_isa_supported(QL_ISA_AVX512VNNI)) return ql_sgemm_f32_8x32__avx512;
  if (isa >= QL_ISA_AVX2 && ql_isa_supported(QL_ISA_AVX2)) return ql_sgemm_f32_4x16__avx2;
#endif
  return ql_sgemm_f32_1x1__scalar;
}

const char *ql_sgemm_name(ql_sgemm_fn f) {
#if defined(__x86_64__)
  if (f == ql_sgemm_f32_8x32__avx512) return "sgemm_f32_8x32__avx512";
  if (f == ql_sgemm_f32_4x16__avx2) return "sgemm_f32_4x16__avx2";
#endif
  return "sgemm_f32_1x1__scalar";
}

/* Dynamic quantization: the scalar twins and the ISA dispatch (dynq.h). */
#include "dynq.h"

static void minmax_scalar(const float *x, int64_t n, float *mn, float *mx) {
  float lo = *mn, hi = *mx;
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    lo = v < lo ? v : lo; /* NaN compares false: skipped */
    hi = v > hi ? v : hi;
  }
  *mn = lo;
  *mx = hi;
}

void ql_dynq_minmax(ql_isa isa, const float *x, int64_t n, float *mn, float *mx) {
  switch (isa) {
#if defined(__x86_64__)
  case QL_ISA_AMX:
  case QL_ISA_AVX512VNNI: ql_dynq_minmax__avx512(x, n, mn, mx); return;
  case QL_ISA_AVXVNNI:
  case QL_ISA_AVX2: ql_dynq_minmax__avx2(x, n, mn, mx); return;
#endif
  default: minmax_scalar(x, n, mn, mx); return;
  }
}

void ql_dynq_quantize(ql_isa isa, const float *x, int64_t n, float scale, float zp, uint8_t *y) {
  switch (isa) {
#if defined(__x86_64__)
  case QL_ISA_AMX:
  case QL_ISA_AVX512VNNI: ql_dynq_quantize__avx512(x, n, scale, zp, y); return;
  case QL_ISA_AVXVNNI:
  case QL_ISA_AVX2: ql_dynq_quantize__avx2(x, n, scale, zp, y); return;
#endif
  default:
    for (int64_t i = 0; i < n; i++) y[i] = ql_dynq_quant1(x[i] / scale, zp);
    return;
  }
}

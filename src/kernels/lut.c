#include "lut.h"

void ql_lut_u8__scalar(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = table[x[i]];
}

ql_lut_fn ql_lut_select(ql_isa isa) {
  if (isa == QL_ISA_AUTO) isa = ql_isa_best();
#if defined(__x86_64__)
  if (isa >= QL_ISA_AVX512VNNI && ql_isa_supported(QL_ISA_AVX512VNNI) && (ql_cpu_features() & QL_CPU_AVX512VBMI))
    return ql_lut_u8__avx512vbmi;
#endif
  return ql_lut_u8__scalar;
}

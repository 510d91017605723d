/* Peak probe: register-resident vpdpbusd on 20 independent zmm
 * accumulators (latency 5 x 2 per cycle needs >= 10). Inline asm, because
 * GCC 12 spills an array of 20+ accumulators to the stack. */
#include "probe.h"
#include <immintrin.h>

#define DP(r) "vpdpbusd %%zmm30, %%zmm31, %%zmm" #r "\n\t"

double ql_probe_avx512vnni_ops(long iters) {
  const long n = iters;
  if (n < 1) return 0;
  __asm__ volatile("vpxord %%zmm30, %%zmm30, %%zmm30\n\t"
                   "vpxord %%zmm31, %%zmm31, %%zmm31\n\t"
                   "1:\n\t" DP(0) DP(1) DP(2) DP(3) DP(4) DP(5) DP(6) DP(7) DP(8) DP(9) DP(10) DP(11) DP(12)
                       DP(13) DP(14) DP(15) DP(16) DP(17) DP(18) DP(19) "dec %0\n\t"
                   "jnz 1b\n\t"
                   : "+r"(iters)
                   :
                   : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                     "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm30",
                     "xmm31", "cc");
  return (double)n * 20 * 16 * 4 * 2;
}

/* Read-bandwidth probe: sums n bytes (n % 256 == 0) with four independent
 * 64-byte load streams, as the GEMV kernel reads its packed B. */
int64_t ql_probe_read(const void *p, size_t n) {
  const __m512i *v = p;
  __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i < n / 64; i += 4) {
    s0 = _mm512_add_epi64(s0, _mm512_load_si512(v + i));
    s1 = _mm512_add_epi64(s1, _mm512_load_si512(v + i + 1));
    s2 = _mm512_add_epi64(s2, _mm512_load_si512(v + i + 2));
    s3 = _mm512_add_epi64(s3, _mm512_load_si512(v + i + 3));
  }
  return _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
}

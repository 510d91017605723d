/* Portable qgemm: phase 1 for every path, and the scalar twin of the SIMD
 * kernels (same packed B, same epilogue formula, plain loops). */
#include "qgemm-internal.h"

void ql_qgemm_prepare_a__scalar(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1) {
  const int64_t k = args->pb->k, kp = p->kp;
  const uint8_t x = p->xor_a ? 0x80 : 0;
  for (int64_t m = m0; m < m1; m++) {
    const uint8_t *src = (const uint8_t *)args->a + m * args->lda;
    if (m >= p->tail_start) {
      uint8_t *dst = p->tail + (m - p->tail_start) * p->ts;
      if (x) {
        for (int64_t i = 0; i < k; i++) dst[i] = src[i] ^ x;
      } else {
        memcpy(dst, src, (size_t)k);
      }
      memset(dst + k, 0, (size_t)(kp - k));
    }
    if (p->rowsum) {
      /* of the stored bytes: unsigned on u8 kernels, A's type on AMX/scalar */
      int32_t s = 0;
      if (x)
        for (int64_t i = 0; i < k; i++) s += (uint8_t)(src[i] ^ x);
      else if (args->a_signed)
        for (int64_t i = 0; i < k; i++) s += (int8_t)src[i];
      else
        for (int64_t i = 0; i < k; i++) s += src[i];
      p->rowsum[m] = s;
    }
  }
  if (m1 == args->m) /* the spare rows, so kernels read zeros there */
    memset(p->tail + (m1 - p->tail_start) * p->ts, 0, (size_t)(32 * p->ts));
}

void ql_qgemm_compute__scalar(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1,
                              int64_t n0, int64_t n1) {
  const ql_qgemm_packed_b *pb = args->pb;
  const int64_t kp = p->kp;
  const int sa = args->a_signed && !p->xor_a;
  for (int64_t m = m0; m < m1; m++) {
    int64_t lda;
    const uint8_t *a = ql_qgemm_a_block(p, m, 1, &lda);
    (void)lda;
    for (int64_t n = n0; n < n1; n++) {
      const int8_t *b = pb->data + (n / QL_QGEMM_NR) * QL_QGEMM_NR * kp + (n % QL_QGEMM_NR) * 4;
      uint32_t dot = 0;
      for (int64_t k = 0; k < kp; k += 4) {
        for (int i = 0; i < 4; i++) {
          int32_t av = sa ? (int32_t)(int8_t)a[k + i] : (int32_t)a[k + i];
          dot += (uint32_t)(av * (int32_t)b[k * QL_QGEMM_NR + i]);
        }
      }
      ql_qgemm_store1(args, p, m, n, (int32_t)dot);
    }
  }
}

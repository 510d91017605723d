/* Portable MatMulNBits kernels: the scalar twins of the SIMD ones (same
 * packed layout, same order of float operations, plain loops). */
#include "nbits.h"

#include <math.h>

static inline int q_i8(const uint8_t *panel, int64_t k, int c) {
  const uint8_t v = panel[(k / 8) * 128 + (c / 16) * 64 + (c % 16) * 4 + (k % 4)];
  return (k & 4) ? v >> 4 : v & 0xF;
}

void ql_nbits_i8__scalar(const ql_nbits_packed *pb, const ql_nbits_qa *qa, int64_t r0, int64_t r1, int64_t p,
                         const float *bias, float *y) {
  const int64_t kblocks = pb->kblocks, bs = pb->bs, kpad = kblocks * bs;
  const uint8_t *panel = pb->q + p * kpad * 16;
  for (int64_t r = r0; r < r1; r++)
    for (int c = 0; c < QL_NBITS_NR && p * QL_NBITS_NR + c < pb->n; c++) {
      const int64_t col = p * QL_NBITS_NR + c;
      float acc = 0.0f;
      for (int64_t kb = 0; kb < kblocks; kb++) {
        const int8_t *a = qa->aq + r * kpad + kb * bs;
        uint32_t dot = 0;
        for (int64_t j = 0; j < bs; j++) dot += (uint32_t)(a[j] * q_i8(panel, kb * bs + j, c));
        const int64_t pi = (p * kblocks + kb) * QL_NBITS_NR + c;
        if (pb->zi) dot -= (uint32_t)pb->zi[pi] * (uint32_t)qa->asum[r * kblocks + kb];
        else dot -= (uint32_t)qa->corr[r * kblocks + kb];
        acc = fmaf((float)(int32_t)dot, qa->as[r * kblocks + kb] * pb->scale[pi], acc);
      }
      y[r * pb->n + col] = bias ? acc + bias[col] : acc;
    }
}

void ql_nbits_f32__scalar(const ql_nbits_packed *pb, const float *a, int64_t r0, int64_t r1, int64_t p,
                          const float *bias, float *y) {
  const int64_t K = pb->k, kblocks = pb->kblocks, bs = pb->bs;
  const uint8_t *panel = pb->q + p * kblocks * bs * 16;
  for (int64_t r = r0; r < r1; r++)
    for (int c = 0; c < QL_NBITS_NR && p * QL_NBITS_NR + c < pb->n; c++) {
      const int64_t col = p * QL_NBITS_NR + c;
      float acc = 0.0f;
      for (int64_t k = 0; k < K; k++) {
        const int64_t pi = (p * kblocks + k / bs) * QL_NBITS_NR + c;
        const uint8_t v = panel[k * 16 + c % 16];
        const float w = ((float)(c < 16 ? v & 0xF : v >> 4) - pb->zf[pi]) * pb->scale[pi];
        acc = fmaf(a[r * K + k], w, acc);
      }
      y[r * pb->n + col] = bias ? acc + bias[col] : acc;
    }
}

/* Float32 GEMM for the float Conv (and any op that wants it), with the
 * summation order fixed so that every ISA and thread count gives the same
 * bits, and that order is the definition (the reference path runs the scalar
 * twin):
 *
 *   y[m][n] = acc_K,  acc_0 = bias[m] (0 without bias),
 *   acc_{k+1} = fmaf(w[m][k], x[k][n], acc_k)       for k = 0 .. K-1
 *
 * One rounding per step (fmaf), k in order: vector kernels compute the same
 * chain per lane. Rows [m0, m1) and columns [n0, n1) of y; w is row-major
 * with row stride ldw, x with row stride ldx, y with ldy. */
#ifndef QL_SGEMM_H
#define QL_SGEMM_H

#include <stdint.h>

#include "qgemm.h"

typedef struct ql_sgemm_args {
  int64_t k;
  const float *w;
  int64_t ldw;
  const float *x;
  int64_t ldx;
  const float *bias; /* NULL: none */
  float *y;
  int64_t ldy;
} ql_sgemm_args;

typedef void (*ql_sgemm_fn)(const ql_sgemm_args *a, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

void ql_sgemm_f32_1x1__scalar(const ql_sgemm_args *a, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
#if defined(__x86_64__)
void ql_sgemm_f32_4x16__avx2(const ql_sgemm_args *a, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
void ql_sgemm_f32_8x32__avx512(const ql_sgemm_args *a, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
#endif

/* One output row of a depthwise channel: y[i] = acc_{kh*kw} with acc_0 = bias
 * and acc_{t+1} = fmaf(w[t], x[r * rs + q * dq + i * stride], acc_t), taps
 * t = r * kw + q in order, i < n; x is the zero-bordered plane at the row's
 * first input. The GEMM's chain over the im2col rows (padding reads zeros). */
typedef struct ql_sdw_row {
  const float *x;
  int64_t rs, dq, stride; /* row step (dilated), column step (dilated), output stride */
  int64_t kh, kw;
  const float *w;
  float bias;
} ql_sdw_row;
typedef void (*ql_sdw_row_fn)(const ql_sdw_row *r, float *y, int64_t n);
void ql_sdw_row_f32__scalar(const ql_sdw_row *r, float *y, int64_t n);
#if defined(__x86_64__)
void ql_sdw_row_f32__avx2(const ql_sdw_row *r, float *y, int64_t n);
void ql_sdw_row_f32__avx512(const ql_sdw_row *r, float *y, int64_t n);
#endif

/* The kernel for an ISA cap (QL_ISA_AUTO: the best this CPU has). */
ql_sgemm_fn ql_sgemm_select(ql_isa isa);
/* The depthwise row kernel of the same ISA as a GEMM kernel. */
ql_sdw_row_fn ql_sdw_row_for(ql_sgemm_fn f);
const char *ql_sgemm_name(ql_sgemm_fn f);
#endif

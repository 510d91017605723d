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

/* The kernel for an ISA cap (QL_ISA_AUTO: the best this CPU has). */
ql_sgemm_fn ql_sgemm_select(ql_isa isa);
const char *ql_sgemm_name(ql_sgemm_fn f);
#endif

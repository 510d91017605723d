/* 8-bit table lookups y[i] = table[x[i]]: what every quantized unary op
 * becomes once its 256 possible inputs have been run through the reference
 * formula (QLinearLeakyRelu, QLinearSigmoid, a fused DQ -> op -> Q). The
 * table carries the semantics, so every kernel gives the same bits. */
#ifndef QL_LUT_H
#define QL_LUT_H

#include "qgemm.h"
#include <stddef.h>
#include <stdint.h>

typedef void (*ql_lut_fn)(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n);

void ql_lut_u8__scalar(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n);
#if defined(__x86_64__)
void ql_lut_u8__avx512vbmi(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n);
#endif

/* The fastest kernel this CPU runs within the cap isa (QL_ISA_AUTO: none);
 * the AVX-512 one needs AVX-512 VBMI besides the AVX-512 level. */
ql_lut_fn ql_lut_select(ql_isa isa);

#endif

/*
 * Fast com.microsoft MatMulNBits (4-bit weights, float32 A): Y = A @ W + bias
 * with W[k][n] = (q[n][k] - zp[n][k/bs]) * scale[n][k/bs].
 *
 * Lifecycle: ql_nbits_pack() once at session creation (B, scales and zero
 * points are constants), ql_nbits_run() per call. Each output element is
 * computed by exactly one kernel call, in the fixed order below, so the
 * result never depends on the ISA, the tiling or the thread count.
 *
 * ---- Exact definitions (what every ISA reproduces bit for bit; the
 * reference op in src/ops/ms-nbits.c computes the same) ----
 * QL_NBITS_F32 (accuracy_level 0-3):
 *   w = ((float)q - z) * s                         float32, never fused
 *   acc = +0; for k = 0..K-1 in order: acc = fmaf(a[r][k], w[k][n], acc)
 *   y = bias ? acc + bias[n] : acc
 *   z is the zero point as float (2^(bits-1) when absent).
 * QL_NBITS_INT8 (accuracy_level 4, zero points packed uint8 or absent):
 *   each block kb of row r of A is quantized as ORT does: amax = fmaxf over
 *   |a| (NaN ignored), as = amax / 127, inv = amax != 0 ? 127 / amax : 0,
 *   aq = sat_i8(rint(a * inv)) (NaN -> -128, padding past K -> 0); then
 *   dot = wrap32(sum_j aq[j] * (q[j] - z))          exact integers
 *   acc = +0; for kb in order: acc = fmaf((float)dot, as * s, acc)
 *   y = bias ? acc + bias[n] : acc
 *
 * ---- Packed layouts (panels of QL_NBITS_NR = 32 columns, zero padded) ----
 * INT8: per panel, per block, per group of 8 k (bs/8 groups), per half h
 *   (columns 16h..16h+15): 64 bytes, byte 4c+i holds q[k0+i] of column c in
 *   its low nibble and q[k0+4+i] in its high nibble. Each nibble plane is
 *   exactly a vpdpbusd operand (16 columns x 4 consecutive k).
 * F32: per panel, per k: 16 bytes, byte c holds column c in its low nibble
 *   and column 16+c in its high nibble.
 * Both: scale (and zero point) [panel][kb][32].
 */
#ifndef QL_KERNELS_NBITS_H
#define QL_KERNELS_NBITS_H

#include "qgemm.h" /* ql_isa */
#include <stdint.h>

struct ql_threadpool;

#define QL_NBITS_NR 32

typedef enum ql_nbits_mode { QL_NBITS_F32 = 0, QL_NBITS_INT8 = 1 } ql_nbits_mode;

typedef struct ql_nbits_packed {
  ql_isa isa;          /* kernel family: SCALAR, AVX2 or AVX512VNNI */
  ql_nbits_mode mode;
  int64_t k, n, bs, kblocks;
  int64_t panels;      /* ceil(n / 32) */
  uint8_t *q;          /* panels x kblocks*bs*16 bytes */
  float *scale;        /* [panels][kblocks][32] */
  float *zf;           /* F32: [panels][kblocks][32] */
  int32_t *zi;         /* INT8: [panels][kblocks][32], NULL when absent (zdef) */
  int32_t zdef;        /* 8 */
} ql_nbits_packed;

/* The inputs of MatMulNBits as the op checked them (bits = 4): b is
 * [n][kblocks][bs/2], scales [n*kblocks] float32, zero points either
 * packed uint8 [n][ceil(kblocks/2)] (zp_u8), float32 [n*kblocks] (zp_f32,
 * F32 mode only) or neither. isa: QL_ISA_AUTO or a cap. */
ql_status ql_nbits_pack(const uint8_t *b, const float *scales, const uint8_t *zp_u8, const float *zp_f32,
                        int64_t k, int64_t n, int64_t bs, ql_nbits_mode mode, ql_isa isa,
                        ql_nbits_packed **out, ql_error *err);
void ql_nbits_packed_free(ql_nbits_packed *pb); /* NULL ok */

/* Bytes of the workspace ql_nbits_run needs for m rows; SIZE_MAX when
 * that overflows. */
size_t ql_nbits_workspace_size(const ql_nbits_packed *pb, int64_t m);
/* y[m][n] (row stride n) from a[m][k] (row stride k); bias [n] or NULL;
 * workspace: ql_nbits_workspace_size bytes, 64-byte aligned. */
ql_status ql_nbits_run(const ql_nbits_packed *pb, const float *a, int64_t m, const float *bias, float *y,
                       void *workspace, struct ql_threadpool *pool, ql_error *err);

/* ---- internal: shared by the ISA files ---- */
typedef struct ql_nbits_qa {   /* A quantized for INT8 mode */
  const int8_t *aq;            /* [m][kblocks*bs] */
  const float *as;             /* [m][kblocks] */
  const int32_t *asum;         /* [m][kblocks] sum of aq over the block */
  const int32_t *corr;         /* [m][kblocks] zdef * asum (wrapping) */
} ql_nbits_qa;

/* Rows [r0, r1) of panel p; y points at element (0, 0), row stride pb->n. */
#define QL_NBITS_KERNELS(isa)                                                                               \
  void ql_nbits_i8__##isa(const ql_nbits_packed *pb, const ql_nbits_qa *qa, int64_t r0, int64_t r1,      \
                          int64_t p, const float *bias, float *y);                                       \
  void ql_nbits_f32__##isa(const ql_nbits_packed *pb, const float *a, int64_t r0, int64_t r1, int64_t p, \
                           const float *bias, float *y);
/* quantize rows [r0, r1) of A (INT8 mode) */
void ql_nbits_quant__avx512vnni(const ql_nbits_packed *pb, const float *a, int64_t r0, int64_t r1, int8_t *aq,
                                float *as, int32_t *asum, int32_t *corr);
QL_NBITS_KERNELS(scalar)
QL_NBITS_KERNELS(avx2)
QL_NBITS_KERNELS(avx512vnni)

#endif

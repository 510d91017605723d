/*
 * Fast int8 GEMM: C[M x N] = op((A - a_zp) @ (B - b_zp) + bias), the engine
 * behind MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv.
 *
 * Lifecycle (as QNNPACK/XNNPACK): pack B once (weights), then per run:
 *   1. ql_qgemm_prepare_a  over row ranges   (copies/transforms A, row sums)
 *   2. ql_qgemm_compute    over 2-D tiles    (the GEMM and the epilogue)
 * or simply ql_qgemm_run(), which does both on a thread pool. Every output
 * element is computed by exactly one call, from exact integer sums, so the
 * result never depends on the ISA, the tiling or the thread count.
 *
 * ---- Exact definition (what every ISA must reproduce bit for bit) ----
 *   acc[m][n] = wrap32( sum_k (A[m][k] - a_zp) * (B[k][n] - b_zp[n]) + bias[n] )
 * computed over the integers and reduced modulo 2^32 to int32 (ONNX lets the
 * accumulation wrap in 32 bits; for real models it never does).
 *   QL_QGEMM_OUT_I32:  C = acc
 *   QL_QGEMM_OUT_U8/S8 (requantize), with lo = out_min, hi = out_max:
 *        x = (float)acc * mult[n]            float32 product, int->float RNE
 *        C = clamp(nearbyintf(x) + out_zp, lo, hi)
 *      evaluated exactly (no int overflow: clamping happens before the
 *      conversion to int). x = NaN gives lo, +-inf give hi/lo. This is
 *      ql_requant_fp32() below, the one formula the reference ops use too.
 *   QL_QGEMM_OUT_F32:  C = (float)acc * mult[n] (+ fbias[n] when given),
 *      a float32 multiply then a float32 add (never fused).
 * mult[n] is mult[0] for every n unless mult_per_col.
 *
 * ---- How the signs are handled (documented because it is not obvious) ----
 * Packing stores B as int8 always: a uint8 B is stored as b - 128 (b ^ 0x80)
 * with its zero points shifted the same way, which leaves every
 * (B - b_zp) difference unchanged. The VNNI kernels (vpdpbusd is u8 x s8)
 * likewise turn an int8 A into a + 128 (a ^ 0x80) with a_zp + 128. The
 * kernels then compute raw dot products and the epilogue folds the zero
 * points in:
 *   acc = dot + bias[n] + a_zp' * (K*b_zp'[n] - colsum'[n]) - b_zp'[n] * rowsum'[m]
 * (primes: the shifted values; colsum is precomputed at pack time, rowsum in
 * prepare_a only when some b_zp' != 0). The identity holds over the
 * integers, hence modulo 2^32. AMX uses tdpbusd (u8 A) or tdpbssd (s8 A)
 * on the int8 B, so A is never transformed there. The AVX2 fallback has no
 * exact 8-bit multiply-add (vpmaddubsw saturates), so it widens to 16 bits
 * and uses vpmaddwd.
 *
 * ---- Using it from the ops ----
 * MatMulInteger (2-D slice): pack_b(B, b_signed, K, N, N, 1, b_zp, per_col)
 *   once; run with out_type I32, a_zp = the scalar a_zero_point.
 * QLinearMatMul: the same with out_type U8/S8, mult[n] = a_scale * b_scale[n]
 *   / y_scale computed in float32 (as the reference op does), out_zp =
 *   y_zero_point, out_min/out_max = the type's range.
 * QLinearConv / ConvInteger, group g: A = im2col rows (one output pixel per
 *   row, K = C/group*kh*kw, padding filled with x_zero_point), B = the
 *   weights of the group, which are N x K (OIHW): pack_b(w + g*N*K, ..., K,
 *   N, 1, K, ...); bias goes in args.bias (int32, added before requant).
 * Per-row a_zero_point is not supported (ORT refuses it too).
 * A needs no alignment; 64-byte aligned rows with lda % 64 == 0 and K % 64
 * == 0 let the AMX path read A in place instead of copying it.
 */
#ifndef QL_KERNELS_QGEMM_H
#define QL_KERNELS_QGEMM_H

#include "qlinear.h"
#include <math.h>
#include <stddef.h>
#include <stdint.h>

struct ql_threadpool;

/* ---------------------------------------------------------------- CPU */
typedef enum ql_isa {
  QL_ISA_SCALAR = 0,
  QL_ISA_AVX2,        /* AVX2, 16-bit multiply-adds */
  QL_ISA_AVXVNNI,     /* AVX2 + AVX-VNNI (256-bit vpdpbusd) */
  QL_ISA_AVX512VNNI,  /* AVX-512 F/BW/VL/DQ + VNNI */
  QL_ISA_AMX,         /* AMX-TILE + AMX-INT8 (+ AVX-512 VNNI for epilogue/GEMV) */
  QL_ISA_COUNT,
  QL_ISA_AUTO = -1    /* the best available (see ql_isa_best) */
} ql_isa;

/* Feature bits found by CPUID, checked against XCR0 (the OS saves the
 * registers) and, for AMX, granted by arch_prctl(ARCH_REQ_XCOMP_PERM). */
#define QL_CPU_AVX2 (1u << 0)
#define QL_CPU_FMA (1u << 1)
#define QL_CPU_AVXVNNI (1u << 2)
#define QL_CPU_AVX512 (1u << 3)      /* F + BW + VL + DQ */
#define QL_CPU_AVX512VNNI (1u << 4)
#define QL_CPU_AMX_INT8 (1u << 5)    /* AMX-TILE + AMX-INT8, OS permission granted */
#define QL_CPU_AVX512VBMI (1u << 6)  /* byte permutes (vpermi2b): table lookups */

/* Detected once (pthread_once), thread-safe. */
unsigned ql_cpu_features(void);
/* Whether this CPU (and OS) can run kernels of `isa`. Ignores QL_ISA. */
int ql_isa_supported(ql_isa isa);
/* The best supported ISA, capped by the environment variable QL_ISA
 * (scalar|avx2|avxvnni|avx512vnni|amx) read once: QL_ISA=avx2 on an AMX
 * machine gives AVX2. An unknown value is ignored. */
ql_isa ql_isa_best(void);
const char *ql_isa_name(ql_isa isa);
/* Parses a name as accepted by QL_ISA; QL_ISA_AUTO when unknown. */
ql_isa ql_isa_from_name(const char *name);

/* ---------------------------------------------------------------- requant */
/* The documented requantization (see above), scalar. lo <= zp <= hi. */
static inline int32_t ql_requant_fp32(int32_t acc, float mult, int32_t zp, int32_t lo, int32_t hi) {
  float x = (float)acc * mult;
  /* clamp in float first: the bounds are integers, so clamp and RNE commute
   * and the int conversion cannot overflow; fmaxf(NaN, l) == l */
  x = fminf(fmaxf(x, (float)(lo - zp)), (float)(hi - zp));
  return (int32_t)nearbyintf(x) + zp;
}

/* ---------------------------------------------------------------- packing */
/* Column panels are QL_QGEMM_NR wide; every kernel shares this layout:
 * data[panel][Kp/4][16 columns][4 consecutive k] (int8), zero padded. */
#define QL_QGEMM_NR 16

typedef struct ql_qgemm_packed_b {
  ql_isa isa;          /* the kernel family this was packed for (never AUTO) */
  int b_signed;        /* original B type: 1 int8, 0 uint8 */
  int64_t k, n;        /* logical sizes */
  int64_t kp;          /* K padded (to 4, or to 64 for AMX) */
  int64_t np;          /* N padded to QL_QGEMM_NR */
  int8_t *data;        /* np/16 panels of kp*16 bytes */
  int32_t *bzp;        /* [np] b_zp' (after the uint8 shift), 0 in padding */
  int32_t *colk;       /* [np] K*b_zp'[n] - sum_k B'[k][n] (wrapping) */
  int need_rowsum;     /* some b_zp' != 0 */
} ql_qgemm_packed_b;

/*
 * Packs B (K x N): element (k, n) is at b[k*stride_k + n*stride_n] (bytes),
 * so a K x N matrix has (N, 1) and an N x K one (conv weights, transB) has
 * (1, K). b_zp: NULL (all 0), one value (b_zp_per_col 0) or N values; given
 * in B's own type range (0..255 for uint8, -128..127 for int8). isa:
 * QL_ISA_AUTO or a supported ISA. The result borrows nothing.
 */
ql_status ql_qgemm_pack_b(const void *b, int b_signed, int64_t k, int64_t n, int64_t stride_k,
                          int64_t stride_n, const int32_t *b_zp, int b_zp_per_col, ql_isa isa,
                          ql_qgemm_packed_b **out, ql_error *err);
void ql_qgemm_packed_b_free(ql_qgemm_packed_b *pb); /* NULL ok */

/* ---------------------------------------------------------------- run */
typedef enum ql_qgemm_out {
  QL_QGEMM_OUT_I32 = 0,
  QL_QGEMM_OUT_U8,
  QL_QGEMM_OUT_S8,
  QL_QGEMM_OUT_F32
} ql_qgemm_out;

typedef struct ql_qgemm_args {
  const ql_qgemm_packed_b *pb;
  const void *a;          /* M x K, row m at a + m*lda (bytes) */
  int64_t lda;
  int64_t m;
  int a_signed;           /* A type: 1 int8, 0 uint8 */
  int32_t a_zp;           /* in A's type range */
  const int32_t *bias;    /* [N] or NULL; added to acc before requant */
  ql_qgemm_out out_type;
  const float *mult;      /* U8/S8/F32: [N] if mult_per_col, else [1] */
  int mult_per_col;
  int32_t out_zp;         /* U8/S8 */
  int32_t out_min, out_max; /* U8/S8 clamp, within the type (e.g. 0..255) */
  const float *fbias;     /* F32: [N] or NULL */
  void *c;                /* output, row m at c + m*ldc ELEMENTS */
  int64_t ldc;
  void *workspace;        /* ql_qgemm_workspace_size bytes, 64-byte aligned */
  int stream;             /* I32: non-temporal stores of whole aligned rows (set by ql_qgemm_run) */
} ql_qgemm_args;

/* Scratch needed by a run of M rows on pb (packed A and row sums). */
size_t ql_qgemm_workspace_size(const ql_qgemm_packed_b *pb, int64_t m);

/* Phase 1 for rows [m_begin, m_end): any split works; all rows must be done
 * before phase 2 starts. */
void ql_qgemm_prepare_a(const ql_qgemm_args *args, int64_t m_begin, int64_t m_end);
/* Phase 2: outputs rows [m_begin, m_end) x columns [n_begin, n_end). Any
 * ranges work; m_begin a multiple of 32 and n_begin of 32 are fastest. */
void ql_qgemm_compute(const ql_qgemm_args *args, int64_t m_begin, int64_t m_end, int64_t n_begin,
                      int64_t n_end);

/* Both phases, on pool (NULL: the calling thread). Checks the arguments;
 * allocates the workspace itself when args->workspace is NULL. */
ql_status ql_qgemm_run(const ql_qgemm_args *args, struct ql_threadpool *pool, ql_error *err);

/* The kernel ql_qgemm_compute uses for pb at M rows (for benchmarks/logs). */
const char *ql_qgemm_kernel_name(const ql_qgemm_packed_b *pb, int64_t m);

#endif

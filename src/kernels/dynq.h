/*
 * Dynamic quantization of float32 to uint8, as ONNX DynamicQuantizeLinear
 * and ORT's DynamicQuantizeMatMul define it (both reference ops in
 * src/ops/quantize.c and src/ops/ms-qmath.c give the same bits):
 *   range [min(x), max(x)] widened to include 0 (NaNs left out),
 *   scale = (max - min) / 255, or 1 when max == min,
 *   zp    = RNE(clip(-min / scale, 0, 255)) (NaN, from min = -inf, -> 0),
 *   y     = clip(RNE(x / scale) + zp, 0, 255), NaN x -> 0,
 * all in float32, rounding half to even in the default rounding mode.
 *
 * The passes are split so a caller can run them on row ranges in parallel:
 * min/max over chunks (the result does not depend on the split: min and max
 * of a set do not depend on the order, and starting from +0 only values
 * strictly below/above replace the running value, so the sign of a zero
 * cannot differ either), then the quantization of any range. Each ISA
 * variant gives exactly the bits of the scalar one.
 */
#ifndef QL_KERNELS_DYNQ_H
#define QL_KERNELS_DYNQ_H

#include "qgemm.h"

/* *mn = min(*mn, min x[i]), *mx = max(*mx, max x[i]), NaNs skipped.
 * Start both at 0.0f. isa: a resolved ISA (never QL_ISA_AUTO). */
void ql_dynq_minmax(ql_isa isa, const float *x, int64_t n, float *mn, float *mx);

/* y[i] = clip(RNE(x[i] / scale) + zp, 0, 255); zp an integer in [0, 255]. */
void ql_dynq_quantize(ql_isa isa, const float *x, int64_t n, float scale, float zp, uint8_t *y);

/* The scale and zero point from the widened range (mn <= 0 <= mx). */
static inline void ql_dynq_params(float mn, float mx, float *scale, float *zp) {
  const float s = mx == mn ? 1.0f : (mx - mn) / 255.0f;
  float z = 0.0f - mn / s;
  z = z < 0.0f ? 0.0f : z > 255.0f ? 255.0f : z;
  if (z != z) z = 0.0f; /* mn = -inf */
  *scale = s;
  *zp = nearbyintf(z);
}

/*
 * The SIMD variants avoid most divisions. With r = RN(1/scale), let p be
 * x * r + zp computed in float32 (one FMA in the AVX-512 variant; the AVX2
 * one rounds x * r and adds zp exactly after the rounding, which only
 * tightens the bound below) and q = RN(x / scale), the reference's
 * quotient. Only |x/scale| <= 256
 * matters: beyond it q + zp and p are both beyond [-0.5, 255.5] on the same
 * side and saturate alike. There |p - (q + zp)| <= 2^-15 (r and the
 * multiply: |x/scale| * 2^-23) + 2^-15 (the add, |p| < 512) + 2^-16 (q's
 * rounding) < 2^-13. So when p is at least QL_DYNQ_TIE_EPS = 2^-13 away
 * from every half-integer, p and the real q + zp lie strictly on the same
 * side of every rounding tie (zp is an integer) and RNE(p) == RNE(q) + zp;
 * a block with a lane closer to a tie (about one lane in 4096) is
 * recomputed with the division. Tiny results (subnormal p or q) round to
 * zp both ways; x = +-inf gives +-inf both ways and NaN stays NaN. This
 * needs scale and r normal and finite, which ql_dynq_recip_ok checks
 * (otherwise every lane divides). The test |p - RNE(p)| >= 1/2 - eps is
 * exact: p and RNE(p) are close enough for the subtraction to be exact
 * (Sterbenz) once p is clamped to a few thousand.
 */
#define QL_DYNQ_TIE_EPS (1.0f / 8192.0f)
static inline int ql_dynq_recip_ok(float scale) {
  const float r = 1.0f / scale;
  return scale >= 1.17549435e-38f && scale <= 3.0e38f && r >= 1.17549435e-38f;
}

/* ISA variants (dynq-<isa>.c); callers use the dispatchers above. */
void ql_dynq_minmax__avx2(const float *x, int64_t n, float *mn, float *mx);
void ql_dynq_quantize__avx2(const float *x, int64_t n, float scale, float zp, uint8_t *y);
void ql_dynq_minmax__avx512(const float *x, int64_t n, float *mn, float *mx);
void ql_dynq_quantize__avx512(const float *x, int64_t n, float scale, float zp, uint8_t *y);

/* clip(RNE(q) + zp, 0, 255) for 0 <= zp <= 255, the steps every variant
 * vectorizes: q is first clamped to [-512, 512] (NaN goes to -512; every
 * value outside saturates either way), then adding and subtracting
 * 1.5 * 2^23 rounds to an integer, ties to even, exactly as nearbyintf in
 * the default rounding mode; the result is an integer in [0, 255]. */
static inline uint8_t ql_dynq_quant1(float q, float zp) {
  const float magic = 12582912.0f;
  q = q > -512.0f ? q : -512.0f;
  q = q < 512.0f ? q : 512.0f;
  float r = ((q + magic) - magic) + zp;
  r = r > 0.0f ? r : 0.0f;
  r = r < 255.0f ? r : 255.0f;
  return (uint8_t)(int32_t)r;
}

#endif

/* Requantization of an int32 accumulator to an 8/16-bit integer: the one
 * definition every integer op (QLinearConv, QLinearMatMul, ...) uses, and the
 * one a fast kernel must reproduce bit for bit.
 *
 *   y = saturate(RNE(acc * multiplier) + zp)      (ONNX QLinearConv/MatMul)
 *
 * Float32 throughout, as ONNX Runtime does (MLAS "fp32" requantization):
 *  - the multiplier is computed once, in float32, as
 *        (float)(in_scale * w_scale) / out_scale
 *    i.e. ql_requant_multiplier() below;
 *  - (float)acc is the float32 nearest to acc (exact for |acc| <= 2^24),
 *    and the product acc * multiplier is rounded to float32;
 *  - RNE is round-half-to-even (nearbyintf in the default rounding mode).
 * The ONNX reference implementation multiplies in float64 instead; the two
 * can differ by 1 when the float32 product lands exactly on a .5 tie that
 * the float64 one misses (SPEC §8.9). The ONNX node tests agree with both.
 *
 * Clamping in float before rounding gives the same result as clamping after
 * (the bounds lo - zp and hi - zp are integers and rounding is monotone) and
 * keeps the float -> int conversion in range. A NaN product (only possible
 * with NaN, infinite or zero scales) yields `lo`; +-inf saturate.
 * Requires lo <= zp <= hi and |lo|, |hi| <= 2^24. */
#ifndef QL_REQUANT_H
#define QL_REQUANT_H

#include <math.h>
#include <stdint.h>

static inline float ql_requant_multiplier(float in_scale, float w_scale, float out_scale) {
  const float prod = in_scale * w_scale; /* rounded to float32 before the divide */
  return prod / out_scale;
}

/* Saturating float -> integer step shared by the int and float8 paths:
 * saturate(RNE(v) + zp) for a value already scaled. */
static inline int32_t ql_requant_value_f32(float v, int32_t zp, int32_t lo, int32_t hi) {
  const float vlo = (float)(lo - zp), vhi = (float)(hi - zp);
  v = v >= vlo ? v : vlo; /* also maps NaN to vlo */
  v = v <= vhi ? v : vhi;
  return (int32_t)nearbyintf(v) + zp;
}

static inline int32_t ql_requant_f32(int32_t acc, float multiplier, int32_t zp, int32_t lo, int32_t hi) {
  return ql_requant_value_f32((float)acc * multiplier, zp, lo, hi);
}

#endif

/* Quantization parameters, hand-worked from ONNX Runtime 1.32's formulas
 * (onnxruntime/quantization/quant_utils.py):
 *   get_qmin_qmax_for_qType: reduce_range first, then the symmetric range
 *     (INT8/INT16 only), else the full range of the type;
 *   compute_scale_zp: rmin = min(rmin, 0), rmax = max(rmax, 0); symmetric
 *     makes the range [-a, a]; scale = (rmax - rmin) / (qmax - qmin) in
 *     float64; scale < FLT_MIN gives (1, 0); zp = RNE((qmin + qmax) / 2)
 *     when symmetric, else RNE(qmin - rmin / scale); scale rounded to float32;
 *   quantize_nparray: clip(RNE(x / scale) + zp) in float32, full type range.
 * Every expected number below is worked out by hand in the comment next to
 * it; none comes from qlinear. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>

#include "quant/quant.h"

static void range_is(ql_dtype t, int sym, int reduce, int64_t lo, int64_t hi) {
  int64_t a, b;
  ql_qrange(t, sym, reduce, &a, &b);
  assert_int_equal(a, lo);
  assert_int_equal(b, hi);
}

static void test_qrange(void **state) {
  (void)state;
  range_is(QL_UINT8, 0, 0, 0, 255);
  range_is(QL_INT8, 0, 0, -128, 127);
  range_is(QL_INT8, 1, 0, -127, 127);     /* symmetric int8 drops -128 */
  range_is(QL_UINT8, 1, 0, 0, 255);       /* 1.32: no symmetric range for uint8 */
  range_is(QL_INT16, 1, 0, -32767, 32767);
  range_is(QL_UINT16, 0, 0, 0, 65535);
  range_is(QL_INT8, 0, 1, -64, 64);       /* reduce_range wins over symmetric */
  range_is(QL_INT8, 1, 1, -64, 64);
  range_is(QL_UINT8, 0, 1, 0, 127);
  range_is(QL_INT4, 1, 0, -8, 7);         /* 4-bit: full range */
  range_is(QL_INT4, 0, 1, -4, 3);
  range_is(QL_UINT4, 0, 1, 0, 7);
}

static void params(float rmin, float rmax, ql_dtype t, int sym, int reduce, float *s, int64_t *z) {
  int64_t lo, hi;
  ql_qrange(t, sym, reduce, &lo, &hi);
  ql_compute_scale_zp(rmin, rmax, lo, hi, sym, s, z);
}

static void test_u8_asymmetric(void **state) {
  (void)state;
  float s;
  int64_t z;
  /* [-1, 3]: scale = 4/255 = 0.0156862745...; zp = RNE(0 + 1/scale) = RNE(63.75) = 64 */
  params(-1.0f, 3.0f, QL_UINT8, 0, 0, &s, &z);
  assert_true(s == (float)(4.0 / 255.0));
  assert_int_equal(z, 64);
  /* [0.5, 2.55]: 0 is put in the range, so [0, 2.55]: scale = 2.55/255 = 0.01, zp = 0 */
  params(0.5f, 2.55f, QL_UINT8, 0, 0, &s, &z);
  assert_true(s == (float)((double)2.55f / 255.0));
  assert_int_equal(z, 0);
  /* [-2, -1]: rmax becomes 0: scale = 2/255, zp = RNE(0 + 2/(2/255)) = 255 */
  params(-2.0f, -1.0f, QL_UINT8, 0, 0, &s, &z);
  assert_true(s == (float)(2.0 / 255.0));
  assert_int_equal(z, 255);
}

static void test_s8(void **state) {
  (void)state;
  float s;
  int64_t z;
  /* symmetric [-0.5, 2.54]: a = 2.54, scale = 5.08/254 = 0.02, zp = RNE(0/2) = 0 */
  params(-0.5f, 2.54f, QL_INT8, 1, 0, &s, &z);
  assert_true(s == (float)((2.0 * (double)2.54f) / 254.0));
  assert_int_equal(z, 0);
  /* asymmetric [0, 6] (a Relu6 output): scale = 6/255, zp = RNE(-128 - 0) = -128 */
  params(0.0f, 6.0f, QL_INT8, 0, 0, &s, &z);
  assert_true(s == (float)(6.0 / 255.0));
  assert_int_equal(z, -128);
  /* asymmetric [-1, 1.55]: scale = 2.55/255 = 0.01, zp = RNE(-128 + 1/0.01) = -28 */
  params(-1.0f, 1.55f, QL_INT8, 0, 0, &s, &z);
  assert_true(s == (float)((1.0 + (double)1.55f) / 255.0));
  assert_int_equal(z, -28);
  /* the range is taken in float64: [-1e8, 1] has no float32 difference of 1
   * at that magnitude, but (1 + 1e8) / 255 = 392156.866..., and zp =
   * RNE(-128 + 1e8 / 392156.866...) = RNE(126.99999...) = 127 */
  params(-1e8f, 1.0f, QL_INT8, 0, 0, &s, &z);
  assert_true(s == (float)((1.0 + 1e8) / 255.0));
  assert_int_equal(z, 127);
}

static void test_reduce_range(void **state) {
  (void)state;
  float s;
  int64_t z;
  /* s8 reduce_range symmetric [-1, 0.5]: [-64, 64], a = 1, scale = 2/128 = 1/64, zp = 0 */
  params(-1.0f, 0.5f, QL_INT8, 1, 1, &s, &z);
  assert_true(s == 1.0f / 64.0f);
  assert_int_equal(z, 0);
  /* u8 reduce_range [0, 127]: scale = 127/127 = 1, zp = 0 */
  params(0.0f, 127.0f, QL_UINT8, 0, 1, &s, &z);
  assert_true(s == 1.0f);
  assert_int_equal(z, 0);
  /* u8 reduce_range [-1, 1]: scale = 2/127, zp = RNE(1/(2/127)) = RNE(63.5) = 64 (ties to even) */
  params(-1.0f, 1.0f, QL_UINT8, 0, 1, &s, &z);
  assert_true(s == (float)(2.0 / 127.0));
  assert_int_equal(z, 64);
}

static void test_degenerate(void **state) {
  (void)state;
  float s;
  int64_t z;
  /* all-zero range: scale 0 < FLT_MIN -> scale 1, zp 0 */
  params(0.0f, 0.0f, QL_INT8, 0, 0, &s, &z);
  assert_true(s == 1.0f);
  assert_int_equal(z, 0);
  params(0.0f, 0.0f, QL_UINT8, 0, 0, &s, &z);
  assert_true(s == 1.0f);
  assert_int_equal(z, 0);
  /* a positive range whose scale is below FLT_MIN: 1e-37 / 255 < 1.18e-38 */
  params(0.0f, 1e-37f, QL_INT8, 1, 0, &s, &z);
  assert_true(s == 1.0f);
  assert_int_equal(z, 0);
  /* symmetric uint8 (1.32 keeps [0, 255]): zp = RNE(255 / 2) = RNE(127.5) = 128 */
  params(-1.0f, 1.0f, QL_UINT8, 1, 0, &s, &z);
  assert_true(s == (float)(2.0 / 255.0));
  assert_int_equal(z, 128);
}

static void test_quantize_value(void **state) {
  (void)state;
  /* RNE(x / s) + zp, saturated to the type */
  assert_int_equal(ql_quantize_value(2.5f, 1.0f, 0, QL_INT8), 2);    /* 2.5 -> 2 (even) */
  assert_int_equal(ql_quantize_value(3.5f, 1.0f, 0, QL_INT8), 4);    /* 3.5 -> 4 */
  assert_int_equal(ql_quantize_value(-2.5f, 1.0f, 0, QL_INT8), -2);
  assert_int_equal(ql_quantize_value(0.3f, 0.1f, -128, QL_INT8), -125); /* 0.3/0.1 = 3.0000001 -> 3 */
  assert_int_equal(ql_quantize_value(1000.0f, 1.0f, 0, QL_INT8), 127);
  assert_int_equal(ql_quantize_value(-1000.0f, 1.0f, 0, QL_INT8), -128);
  assert_int_equal(ql_quantize_value(-1.0f, 1.0f, 0, QL_UINT8), 0);
  assert_int_equal(ql_quantize_value(200.0f, 1.0f, 100, QL_UINT8), 255);
  assert_int_equal(ql_quantize_value(NAN, 1.0f, 0, QL_INT8), -128);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_qrange),       cmocka_unit_test(test_u8_asymmetric), cmocka_unit_test(test_s8),
      cmocka_unit_test(test_reduce_range), cmocka_unit_test(test_degenerate),    cmocka_unit_test(test_quantize_value),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Elementwise, reduce and shape ops: hand-worked values from the operator
 * spec (ties to even, integer division and modulo signs, unsigned 64-bit
 * comparisons, reflect padding) and the refusals a hostile model must get
 * (out-of-range indices, runaway sizes, division by zero) instead of a crash
 * or an out-of-bounds access. Each case is one node built with the IR API. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "ir/ir.h"
#include "ops/op.h"

#include "one-node.h"

static ql_tensor *vec_f32(int64_t n, const float *v) { return tensor(QL_FLOAT, 1, &n, v); }
static ql_tensor *vec_i64(int64_t n, const int64_t *v) { return tensor(QL_INT64, 1, &n, v); }
static ql_tensor *vec_i32(int64_t n, const int32_t *v) { return tensor(QL_INT32, 1, &n, v); }

/* ---------------------------------------------------------------- values */

static void test_round_ties_to_even(void **state) {
  (void)state;
  one_node o = mk(22, "Round", 1, 1);
  const float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 2.4999998f, -3.5f};
  ql_tensor *in[] = {vec_f32(7, x)}, *out[1] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  const float want[] = {0, 2, 2, -0.0f, -2, 2, -4};
  for (int i = 0; i < 7; i++) assert_true(((float *)out[0]->data)[i] == want[i]);
  assert_true(signbit(((float *)out[0]->data)[3]));
  ql_tensor_free(out[0]);
}

/* Div truncates toward zero (the reference casts the true quotient back to
 * the integer type); Mod with fmod=0 takes the divisor's sign (numpy mod),
 * with fmod=1 the dividend's (C fmod). */
static void test_int_div_mod_signs(void **state) {
  (void)state;
  const int32_t a[] = {-7, 7, -7, 7, INT32_MIN}, b[] = {2, -2, -2, 2, -1};
  static const struct {
    const char *op;
    int fmod;
    int32_t want[5];
  } cases[] = {
      {"Div", -1, {-3, -3, 3, 3, INT32_MIN}},
      {"Mod", 0, {1, -1, -1, 1, 0}},
      {"Mod", 1, {-1, 1, -1, 1, 0}},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    one_node o = mk(14, cases[k].op, 2, 1);
    if (cases[k].fmod >= 0) attr_int(&o, "fmod", cases[k].fmod);
    ql_tensor *in[] = {vec_i32(5, a), vec_i32(5, b)}, *out[1] = {0};
    ql_error e = {0};
    assert_int_equal(run(&o, in, out, &e), QL_OK);
    assert_int_equal(out[0]->dtype, QL_INT32);
    for (int i = 0; i < 5; i++) assert_int_equal(((int32_t *)out[0]->data)[i], cases[k].want[i]);
    ql_tensor_free(out[0]);
  }
}

static void test_int_division_by_zero_is_an_error(void **state) {
  (void)state;
  const char *ops[] = {"Div", "Mod"};
  for (int k = 0; k < 2; k++) {
    one_node o = mk(14, ops[k], 2, 1);
    const int64_t a[] = {1, 2}, b[] = {1, 0};
    ql_tensor *in[] = {vec_i64(2, a), vec_i64(2, b)}, *out[1] = {0};
    ql_error e = {0};
    assert_int_equal(run(&o, in, out, &e), QL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "division by zero"));
    assert_null(out[0]);
  }
}

/* uint64 values above INT64_MAX must compare as unsigned. */
static void test_uint64_compares_unsigned(void **state) {
  (void)state;
  const uint64_t a[] = {UINT64_C(0x8000000000000001), 1}, b[] = {1, UINT64_MAX};
  int64_t n = 2;
  one_node o = mk(13, "Max", 2, 1);
  ql_tensor *in[] = {tensor(QL_UINT64, 1, &n, a), tensor(QL_UINT64, 1, &n, b)}, *out[1] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  assert_true(((uint64_t *)out[0]->data)[0] == UINT64_C(0x8000000000000001));
  assert_true(((uint64_t *)out[0]->data)[1] == UINT64_MAX);
  ql_tensor_free(out[0]);

  o = mk(13, "ReduceMin", 1, 1);
  attr_int(&o, "keepdims", 0);
  ql_tensor *in2[] = {tensor(QL_UINT64, 1, &n, a)}, *out2[1] = {0};
  assert_int_equal(run(&o, in2, out2, &e), QL_OK);
  assert_int_equal(out2[0]->rank, 0);
  assert_true(((uint64_t *)out2[0]->data)[0] == 1);
  ql_tensor_free(out2[0]);

  o = mk(13, "ArgMax", 1, 1);
  ql_tensor *in3[] = {tensor(QL_UINT64, 1, &n, a)}, *out3[1] = {0};
  assert_int_equal(run(&o, in3, out3, &e), QL_OK);
  assert_int_equal(((int64_t *)out3[0]->data)[0], 0);
  ql_tensor_free(out3[0]);
}

/* Clip-13: "When 'min' is greater than 'max', the clip operator sets all the
 * 'input' values to the value of 'max'"; NaN passes through. */
static void test_clip_min_above_max_and_nan(void **state) {
  (void)state;
  one_node o = mk(13, "Clip", 3, 1);
  const float x[] = {-5, 0, 5, NAN}, lo = 2, hi = 1;
  ql_tensor *in[] = {vec_f32(4, x), tensor(QL_FLOAT, 0, NULL, &lo), tensor(QL_FLOAT, 0, NULL, &hi)}, *out[1] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  const float *y = out[0]->data;
  assert_true(y[0] == 1 && y[1] == 1 && y[2] == 1 && isnan(y[3]));
  ql_tensor_free(out[0]);
}

/* Pads wider than the dim keep reflecting, as numpy does:
 * numpy.pad([1, 2, 3], (4, 3), 'reflect') == [1 2 3 2 1 2 3 2 1 2]. */
static void test_pad_reflect_beyond_size(void **state) {
  (void)state;
  one_node o = mk(13, "Pad", 2, 1);
  attr_str(&o, "mode", "reflect");
  const float x[] = {1, 2, 3};
  const int64_t p[] = {4, 3};
  ql_tensor *in[] = {vec_f32(3, x), vec_i64(2, p)}, *out[1] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  const float want[] = {1, 2, 3, 2, 1, 2, 3, 2, 1, 2};
  assert_int_equal(out[0]->numel, 10);
  for (int i = 0; i < 10; i++) assert_true(((float *)out[0]->data)[i] == want[i]);
  ql_tensor_free(out[0]);
}

/* Slice clamps starts/ends; a negative step walks backwards. */
static void test_slice_clamping(void **state) {
  (void)state;
  one_node o = mk(13, "Slice", 5, 1);
  const float x[] = {0, 1, 2, 3, 4, 5};
  const int64_t s[] = {INT64_MAX}, en[] = {INT64_MIN}, ax[] = {0}, st[] = {-2};
  ql_tensor *in[] = {vec_f32(6, x), vec_i64(1, s), vec_i64(1, en), vec_i64(1, ax), vec_i64(1, st)}, *out[1] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  assert_int_equal(out[0]->numel, 3);
  const float want[] = {5, 3, 1};
  for (int i = 0; i < 3; i++) assert_true(((float *)out[0]->data)[i] == want[i]);
  ql_tensor_free(out[0]);
  /* the most negative step takes just the start element */
  one_node o2 = mk(13, "Slice", 5, 1);
  const int64_t s2[] = {-1}, e2[] = {INT64_MIN}, st2[] = {INT64_MIN};
  ql_tensor *in2[] = {vec_f32(6, x), vec_i64(1, s2), vec_i64(1, e2), vec_i64(1, ax), vec_i64(1, st2)}, *out2[1] = {0};
  assert_int_equal(run(&o2, in2, out2, &e), QL_OK);
  assert_int_equal(out2[0]->numel, 1);
  assert_true(((float *)out2[0]->data)[0] == 5);
  ql_tensor_free(out2[0]);
}

/* ---------------------------------------------------------------- refusals */

static void expect_fail(one_node o, ql_tensor **in, ql_status code, const char *needle) {
  ql_tensor *out[4] = {0};
  ql_error e = {0};
  ql_status st = run(&o, in, out, &e);
  if (st != code) fail_msg("status %d, expected %d: %s", (int)st, (int)code, e.msg);
  if (needle && !strstr(e.msg, needle)) fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
  for (int i = 0; i < 4; i++) assert_null(out[i]);
}

static void test_gather_index_out_of_range(void **state) {
  (void)state;
  const float x[] = {1, 2, 3};
  const int64_t bad[][2] = {{0, 3}, {-4, 0}, {INT64_MIN, 0}, {0, INT64_MAX}};
  for (int k = 0; k < 4; k++) {
    ql_tensor *in[] = {vec_f32(3, x), vec_i64(2, bad[k])};
    expect_fail(mk(13, "Gather", 2, 1), in, QL_ERR_INVALID_ARGUMENT, "out of range");
  }
  const int32_t bad32[] = {1, 7};
  ql_tensor *in2[] = {vec_f32(3, x), vec_i32(2, bad32)};
  expect_fail(mk(13, "GatherElements", 2, 1), in2, QL_ERR_INVALID_ARGUMENT, "out of range");
  /* GatherElements indices larger than data along a non-axis dim */
  int64_t d2[] = {2, 1}, di[] = {2, 2};
  const float x2[] = {1, 2};
  const int64_t ix[] = {0, 0, 0, 0};
  ql_tensor *in3[] = {tensor(QL_FLOAT, 2, d2, x2), tensor(QL_INT64, 2, di, ix)};
  one_node o = mk(13, "GatherElements", 2, 1);
  attr_int(&o, "axis", 0);
  expect_fail(o, in3, QL_ERR_INVALID_MODEL, "exceeds");
}

static void test_runaway_sizes_are_refused(void **state) {
  (void)state;
  const float x[] = {1};
  const int64_t huge[] = {INT64_C(1) << 40, INT64_C(1) << 40};
  ql_tensor *in[] = {vec_f32(1, x), vec_i64(2, huge)};
  expect_fail(mk(13, "Expand", 2, 1), in, QL_ERR_INVALID_MODEL, NULL); /* product overflows */
  const int64_t big[] = {INT64_C(1) << 20, INT64_C(1) << 20};
  ql_tensor *in1[] = {vec_f32(1, x), vec_i64(2, big)};
  expect_fail(mk(13, "Expand", 2, 1), in1, QL_ERR_LIMIT, "limit");
  int64_t d11[] = {1, 1};
  ql_tensor *in2[] = {tensor(QL_FLOAT, 2, d11, x), vec_i64(2, big)};
  expect_fail(mk(13, "Tile", 2, 1), in2, QL_ERR_LIMIT, "limit");
  ql_tensor *in3[] = {vec_i64(2, big)};
  expect_fail(mk(20, "ConstantOfShape", 1, 1), in3, QL_ERR_LIMIT, "limit");
  const int64_t neg[] = {-1, 4};
  ql_tensor *in4[] = {vec_i64(2, neg)};
  expect_fail(mk(20, "ConstantOfShape", 1, 1), in4, QL_ERR_INVALID_MODEL, NULL);
  const int64_t r0 = INT64_MIN, r1 = INT64_MAX, r2 = 1, rz = 0;
  ql_tensor *in5[] = {tensor(QL_INT64, 0, NULL, &r0), tensor(QL_INT64, 0, NULL, &r1), tensor(QL_INT64, 0, NULL, &r2)};
  expect_fail(mk(11, "Range", 3, 1), in5, QL_ERR_LIMIT, NULL);
  ql_tensor *in6[] = {tensor(QL_INT64, 0, NULL, &r2), tensor(QL_INT64, 0, NULL, &r1), tensor(QL_INT64, 0, NULL, &rz)};
  expect_fail(mk(11, "Range", 3, 1), in6, QL_ERR_INVALID_ARGUMENT, "delta");
  const float f0 = 0, f1 = INFINITY, f2 = 1;
  ql_tensor *in7[] = {tensor(QL_FLOAT, 0, NULL, &f0), tensor(QL_FLOAT, 0, NULL, &f1), tensor(QL_FLOAT, 0, NULL, &f2)};
  expect_fail(mk(11, "Range", 3, 1), in7, QL_ERR_INVALID_ARGUMENT, "finite");
  /* small inputs whose broadcast (or gather) would be 2^32 elements */
  int64_t dc[] = {1 << 16, 1}, dr[] = {1, 1 << 16}, d2[] = {2, 1 << 16}, di[] = {1 << 16};
  ql_tensor *in9[] = {ql_tensor_new(QL_FLOAT, 2, dc, NULL), ql_tensor_new(QL_FLOAT, 2, dr, NULL)};
  expect_fail(mk(14, "Add", 2, 1), in9, QL_ERR_LIMIT, "limit");
  ql_tensor *in10[] = {ql_tensor_new(QL_BOOL, 2, dc, NULL), ql_tensor_new(QL_FLOAT, 2, dr, NULL),
                       ql_tensor_new(QL_FLOAT, 0, NULL, NULL)};
  expect_fail(mk(16, "Where", 3, 1), in10, QL_ERR_LIMIT, "limit");
  ql_tensor *in11[] = {ql_tensor_new(QL_FLOAT, 2, d2, NULL), ql_tensor_new(QL_INT64, 1, di, NULL)};
  expect_fail(mk(13, "Gather", 2, 1), in11, QL_ERR_LIMIT, "limit");
  const int64_t pads[] = {INT64_C(1) << 40, 0};
  ql_tensor *in8[] = {vec_f32(1, x), vec_i64(2, pads)};
  expect_fail(mk(13, "Pad", 2, 1), in8, QL_ERR_LIMIT, "limit");
}

static void test_bad_shapes_are_refused(void **state) {
  (void)state;
  float x[6] = {0};
  int64_t d23[] = {2, 3};
  const int64_t s1[] = {4, -1}, s2[] = {-1, -1}, s3[] = {0, 0, 0}, s4[] = {7};
  const int64_t *shapes[] = {s1, s2, s3, s4};
  const int64_t ns[] = {2, 2, 3, 1};
  for (int k = 0; k < 4; k++) {
    ql_tensor *in[] = {tensor(QL_FLOAT, 2, d23, x), vec_i64(ns[k], shapes[k])};
    expect_fail(mk(14, "Reshape", 2, 1), in, QL_ERR_INVALID_MODEL, NULL);
  }
  /* Slice with a zero step */
  const int64_t z[] = {0}, one[] = {1}, zstep[] = {0};
  ql_tensor *in2[] = {tensor(QL_FLOAT, 2, d23, x), vec_i64(1, z), vec_i64(1, one), vec_i64(1, z), vec_i64(1, zstep)};
  expect_fail(mk(13, "Slice", 5, 1), in2, QL_ERR_INVALID_MODEL, "steps");
  /* Split sizes that do not add up */
  const int64_t sp[] = {1, 1};
  ql_tensor *in3[] = {tensor(QL_FLOAT, 2, d23, x), vec_i64(2, sp)};
  one_node o = mk(13, "Split", 2, 2);
  attr_int(&o, "axis", 1);
  expect_fail(o, in3, QL_ERR_INVALID_MODEL, "sums");
  /* Squeeze of a dim that is not 1 */
  const int64_t ax[] = {1};
  ql_tensor *in4[] = {tensor(QL_FLOAT, 2, d23, x), vec_i64(1, ax)};
  expect_fail(mk(13, "Squeeze", 2, 1), in4, QL_ERR_INVALID_MODEL, "squeeze");
  /* Unsqueeze past the maximum rank */
  const int64_t many[] = {0, 1, 2, 3, 4, 5, 6};
  ql_tensor *in5[] = {tensor(QL_FLOAT, 2, d23, x), vec_i64(7, many)};
  expect_fail(mk(13, "Unsqueeze", 2, 1), in5, QL_ERR_LIMIT, "rank");
  /* Pad cropping more than the dim holds */
  const int64_t crop[] = {-2, 0, -2, 0};
  ql_tensor *in6[] = {tensor(QL_FLOAT, 2, d23, x), vec_i64(4, crop)};
  expect_fail(mk(13, "Pad", 2, 1), in6, QL_ERR_INVALID_MODEL, "crop");
  /* Transpose with a repeated perm entry */
  one_node t = mk(13, "Transpose", 1, 1);
  ql_attr *a = ql_node_add_attr(t.n, "perm", QL_ATTR_INTS);
  a->ints = ql_malloc(2 * sizeof(int64_t));
  a->ints[0] = a->ints[1] = 0;
  a->n = 2;
  ql_tensor *in7[] = {tensor(QL_FLOAT, 2, d23, x)};
  expect_fail(t, in7, QL_ERR_INVALID_MODEL, "permutation");
  /* broadcasting that does not fit */
  int64_t d4[] = {4};
  float x4[4] = {0};
  ql_tensor *in8[] = {tensor(QL_FLOAT, 2, d23, x), tensor(QL_FLOAT, 1, d4, x4)};
  expect_fail(mk(14, "Add", 2, 1), in8, QL_ERR_INVALID_MODEL, "broadcast");
  /* Concat with mismatched dims */
  ql_tensor *in9[] = {tensor(QL_FLOAT, 2, d23, x), tensor(QL_FLOAT, 1, d4, x4)};
  one_node cc = mk(13, "Concat", 2, 1);
  attr_int(&cc, "axis", 0);
  expect_fail(cc, in9, QL_ERR_INVALID_MODEL, NULL);
  /* Reduce with a repeated axis */
  const int64_t rep[] = {1, -1};
  ql_tensor *in10[] = {tensor(QL_FLOAT, 2, d23, x), vec_i64(2, rep)};
  expect_fail(mk(18, "ReduceMax", 2, 1), in10, QL_ERR_INVALID_MODEL, "repeated");
}

/* Mod of floats without fmod=1 is invalid per the schema. */
static void test_float_mod_needs_fmod(void **state) {
  (void)state;
  const float a[] = {1}, b[] = {2};
  ql_tensor *in[] = {vec_f32(1, a), vec_f32(1, b)};
  expect_fail(mk(13, "Mod", 2, 1), in, QL_ERR_INVALID_MODEL, "fmod");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_ties_to_even),
      cmocka_unit_test(test_int_div_mod_signs),
      cmocka_unit_test(test_int_division_by_zero_is_an_error),
      cmocka_unit_test(test_uint64_compares_unsigned),
      cmocka_unit_test(test_clip_min_above_max_and_nan),
      cmocka_unit_test(test_pad_reflect_beyond_size),
      cmocka_unit_test(test_slice_clamping),
      cmocka_unit_test(test_gather_index_out_of_range),
      cmocka_unit_test(test_runaway_sizes_are_refused),
      cmocka_unit_test(test_bad_shapes_are_refused),
      cmocka_unit_test(test_float_mod_needs_fmod),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Index, bit, misc and nn-extra ops: hand-worked values for the corners the
 * ONNX node tests do not reach (NaN ordering in TopK, integer wrap in
 * CumSum, shifts by the full width, sub-byte BitCast, IOU exactly at the
 * threshold, unique strings) and the refusals a hostile model must get
 * (out-of-range indices, runaway sizes, malformed equations) instead of a
 * crash or an out-of-bounds access. Each case is one node built with the
 * IR API; the expected values are worked out by hand from the spec text
 * quoted next to them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "ir/ir.h"
#include "ops/op.h"

#include "one-node.h"

static ql_tensor *vec(ql_dtype t, int64_t n, const void *v) { return tensor(t, 1, &n, v); }
static ql_tensor *scalar_i64(int64_t v) { return tensor(QL_INT64, 0, NULL, &v); }

static void free_outs(ql_tensor **out, int n) {
  for (int i = 0; i < n; i++) ql_tensor_free(out[i]);
}

/* Runs and expects a refusal with the given status; no output may leak. */
static void expect_fail(one_node *o, ql_tensor **in, ql_status want) {
  ql_tensor *out[4] = {0};
  ql_error e = {0};
  assert_int_equal(run(o, in, out, &e), want);
  assert_true(e.msg[0] != 0);
  for (int i = 0; i < 4; i++) assert_null(out[i]);
}

/* ---------------------------------------------------------------- values */

/* TopK: "the element with the lower index will appear first" on ties, and
 * NaN sorts above every number (numpy's lexsort, which the reference uses),
 * so largest=1 puts it first. X = [1, NaN, 3, 3], k = 3. */
static void test_topk_nan_and_ties(void **state) {
  (void)state;
  one_node o = mk(24, "TopK", 2, 2);
  const float x[] = {1, NAN, 3, 3};
  const int64_t k = 3;
  ql_tensor *in[] = {vec(QL_FLOAT, 4, x), vec(QL_INT64, 1, &k)}, *out[2] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  const float *v = out[0]->data;
  const int64_t *ix = out[1]->data;
  assert_true(isnan(v[0]) && v[1] == 3 && v[2] == 3);
  assert_int_equal(ix[0], 1);
  assert_int_equal(ix[1], 2);
  assert_int_equal(ix[2], 3);
  free_outs(out, 2);

  /* smallest: [1, 3, 3] at [0, 2, 3] */
  o = mk(24, "TopK", 2, 2);
  attr_int(&o, "largest", 0);
  ql_tensor *in2[] = {vec(QL_FLOAT, 4, x), vec(QL_INT64, 1, &k)}, *out2[2] = {0};
  assert_int_equal(run(&o, in2, out2, &e), QL_OK);
  v = out2[0]->data;
  ix = out2[1]->data;
  assert_true(v[0] == 1 && v[1] == 3 && v[2] == 3);
  assert_int_equal(ix[0], 0);
  assert_int_equal(ix[1], 2);
  assert_int_equal(ix[2], 3);
  free_outs(out2, 2);
}

/* CumSum keeps x's type: int32 wraps as numpy.cumsum(dtype=int32) does.
 * [2147483647, 1, 1] -> [2147483647, -2147483648, -2147483647];
 * exclusive + reverse of [1, 2, 3] -> [5, 3, 0] (the spec's example). */
static void test_cumsum_wraps_and_exclusive_reverse(void **state) {
  (void)state;
  one_node o = mk(14, "CumSum", 2, 1);
  const int32_t x[] = {INT32_MAX, 1, 1};
  ql_tensor *in[] = {vec(QL_INT32, 3, x), scalar_i64(0)}, *out[1] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  const int32_t *y = out[0]->data;
  assert_int_equal(y[0], INT32_MAX);
  assert_int_equal(y[1], INT32_MIN);
  assert_int_equal(y[2], INT32_MIN + 1);
  free_outs(out, 1);

  o = mk(14, "CumSum", 2, 1);
  attr_int(&o, "exclusive", 1);
  attr_int(&o, "reverse", 1);
  const float f[] = {1, 2, 3};
  ql_tensor *in2[] = {vec(QL_FLOAT, 3, f), scalar_i64(-1)}, *out2[1] = {0};
  assert_int_equal(run(&o, in2, out2, &e), QL_OK);
  const float *z = out2[0]->data;
  assert_true(z[0] == 5 && z[1] == 3 && z[2] == 0);
  free_outs(out2, 1);
}

/* BitShift: shifting by the full width or more gives 0 (C would leave it
 * undefined); 0x81 << 1 keeps 8 bits: 0x02. */
static void test_bitshift_full_width(void **state) {
  (void)state;
  one_node o = mk(11, "BitShift", 2, 1);
  attr_str(&o, "direction", "LEFT");
  const uint8_t x[] = {1, 0x81, 1}, s[] = {8, 1, 200};
  ql_tensor *in[] = {vec(QL_UINT8, 3, x), vec(QL_UINT8, 3, s)}, *out[1] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  const uint8_t *y = out[0]->data;
  assert_int_equal(y[0], 0);
  assert_int_equal(y[1], 2);
  assert_int_equal(y[2], 0);
  free_outs(out, 1);

  o = mk(11, "BitShift", 2, 1);
  attr_str(&o, "direction", "RIGHT");
  const uint64_t a[] = {UINT64_MAX, UINT64_MAX}, b[] = {63, 64};
  ql_tensor *in2[] = {vec(QL_UINT64, 2, a), vec(QL_UINT64, 2, b)}, *out2[1] = {0};
  assert_int_equal(run(&o, in2, out2, &e), QL_OK);
  assert_true(((uint64_t *)out2[0]->data)[0] == 1);
  assert_true(((uint64_t *)out2[0]->data)[1] == 0);
  free_outs(out2, 1);
}

/* BitCast keeps the bits: float 1.0f is 0x3f800000; int4 -1 (bits 1111) is
 * uint4 15 and uint4 8 (1000) is int4 -8; widths must match. */
static void test_bitcast_bits(void **state) {
  (void)state;
  one_node o = mk(26, "BitCast", 1, 1);
  attr_int(&o, "to", QL_INT32);
  const float f[] = {1.0f, -2.0f};
  ql_tensor *in[] = {vec(QL_FLOAT, 2, f)}, *out[1] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  assert_int_equal(((int32_t *)out[0]->data)[0], 0x3f800000);
  assert_int_equal(((uint32_t *)out[0]->data)[1], 0xc0000000u);
  free_outs(out, 1);

  o = mk(26, "BitCast", 1, 1);
  attr_int(&o, "to", QL_UINT4);
  const int8_t i4[] = {-1, -8, 7};
  ql_tensor *in2[] = {vec(QL_INT4, 3, i4)}, *out2[1] = {0};
  assert_int_equal(run(&o, in2, out2, &e), QL_OK);
  assert_int_equal(((uint8_t *)out2[0]->data)[0], 15);
  assert_int_equal(((uint8_t *)out2[0]->data)[1], 8);
  assert_int_equal(((uint8_t *)out2[0]->data)[2], 7);
  free_outs(out2, 1);

  o = mk(26, "BitCast", 1, 1);
  attr_int(&o, "to", QL_INT4);
  const uint8_t u4[] = {8, 15, 1};
  ql_tensor *in3[] = {vec(QL_UINT4, 3, u4)}, *out3[1] = {0};
  assert_int_equal(run(&o, in3, out3, &e), QL_OK);
  assert_int_equal(((int8_t *)out3[0]->data)[0], -8);
  assert_int_equal(((int8_t *)out3[0]->data)[1], -1);
  assert_int_equal(((int8_t *)out3[0]->data)[2], 1);
  free_outs(out3, 1);

  o = mk(26, "BitCast", 1, 1);
  attr_int(&o, "to", QL_INT16);
  ql_tensor *in4[] = {vec(QL_FLOAT, 2, f)};
  expect_fail(&o, in4, QL_ERR_INVALID_MODEL);
}

/* Unique on strings, sorted: X = ["b", "a", "b"] gives Y = ["a", "b"],
 * indices = [1, 0], inverse_indices = [1, 0, 1], counts = [1, 2]; with
 * sorted = 0 the order of first occurrence: Y = ["b", "a"]. */
static void test_unique_strings(void **state) {
  (void)state;
  for (int sorted = 1; sorted >= 0; sorted--) {
    one_node o = mk(11, "Unique", 1, 4);
    attr_int(&o, "sorted", sorted);
    int64_t n = 3;
    ql_tensor *x = ql_tensor_new(QL_STRING, 1, &n, NULL);
    const char *sv[] = {"b", "a", "b"};
    for (int i = 0; i < 3; i++) ((char **)x->data)[i] = ql_strdup(sv[i]);
    ql_tensor *in[] = {x}, *out[4] = {0};
    ql_error e = {0};
    assert_int_equal(run(&o, in, out, &e), QL_OK);
    assert_int_equal(out[0]->numel, 2);
    char **y = out[0]->data;
    const int64_t *ix = out[1]->data, *inv = out[2]->data, *cnt = out[3]->data;
    if (sorted) {
      assert_string_equal(y[0], "a");
      assert_string_equal(y[1], "b");
      assert_true(ix[0] == 1 && ix[1] == 0);
      assert_true(inv[0] == 1 && inv[1] == 0 && inv[2] == 1);
      assert_true(cnt[0] == 1 && cnt[1] == 2);
    } else {
      assert_string_equal(y[0], "b");
      assert_string_equal(y[1], "a");
      assert_true(ix[0] == 0 && ix[1] == 1);
      assert_true(inv[0] == 0 && inv[1] == 1 && inv[2] == 0);
      assert_true(cnt[0] == 2 && cnt[1] == 1);
    }
    free_outs(out, 4);
  }
}

/* NonMaxSuppression: "boxes with IOU exactly equal to the threshold are
 * kept". Boxes [0,0,1,2] and [0,1,1,3] (y1,x1,y2,x2) overlap in a 1x1
 * square; union 2 + 2 - 1 = 3, IOU = 1/3. With iou_threshold 1/3 (as
 * float) both stay; with 0.3 the lower-scored box 1 goes. */
static void test_nms_threshold_is_strict(void **state) {
  (void)state;
  const float boxes[] = {0, 0, 1, 2, 0, 1, 1, 3}, scores[] = {0.9f, 0.8f};
  const float thr[] = {1.0f / 3.0f, 0.3f};
  const int64_t want_rows[] = {2, 1};
  for (int k = 0; k < 2; k++) {
    one_node o = mk(11, "NonMaxSuppression", 4, 1);
    int64_t bd[3] = {1, 2, 4}, sd[3] = {1, 1, 2}, mx = 10;
    ql_tensor *in[] = {tensor(QL_FLOAT, 3, bd, boxes), tensor(QL_FLOAT, 3, sd, scores), vec(QL_INT64, 1, &mx),
                       vec(QL_FLOAT, 1, &thr[k])},
              *out[1] = {0};
    ql_error e = {0};
    assert_int_equal(run(&o, in, out, &e), QL_OK);
    assert_int_equal(out[0]->dims[0], want_rows[k]);
    assert_int_equal(((int64_t *)out[0]->data)[2], 0); /* the top score comes first */
    free_outs(out, 1);
  }
}

/* Einsum "ii->i" takes the diagonal; implicit "ij,jk" is a matmul with
 * output labels in ASCII order (i, k). */
static void test_einsum_diagonal_and_implicit(void **state) {
  (void)state;
  one_node o = mk(12, "Einsum", 1, 1);
  attr_str(&o, "equation", "ii->i");
  int64_t d[2] = {2, 2};
  const int32_t m[] = {1, 2, 3, 4};
  ql_tensor *in[] = {tensor(QL_INT32, 2, d, m)}, *out[1] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  assert_int_equal(out[0]->numel, 2);
  assert_int_equal(((int32_t *)out[0]->data)[0], 1);
  assert_int_equal(((int32_t *)out[0]->data)[1], 4);
  free_outs(out, 1);

  /* [[1,2],[3,4]] @ [[5,6],[7,8]] = [[19,22],[43,50]] */
  o = mk(12, "Einsum", 2, 1);
  attr_str(&o, "equation", "ij,jk");
  const int32_t b[] = {5, 6, 7, 8};
  ql_tensor *in2[] = {tensor(QL_INT32, 2, d, m), tensor(QL_INT32, 2, d, b)}, *out2[1] = {0};
  assert_int_equal(run(&o, in2, out2, &e), QL_OK);
  const int32_t *y = out2[0]->data;
  assert_true(y[0] == 19 && y[1] == 22 && y[2] == 43 && y[3] == 50);
  free_outs(out2, 1);

  const char *bad[] = {"ij,jk->q", "i.j", "ij->ii", "ijk"};
  for (int k = 0; k < 4; k++) {
    o = mk(12, "Einsum", 1, 1);
    attr_str(&o, "equation", bad[k]);
    ql_tensor *in3[] = {tensor(QL_INT32, 2, d, m)};
    expect_fail(&o, in3, QL_ERR_INVALID_MODEL);
  }
}

/* ScatterElements max reduction: np.maximum semantics, NaN wins.
 * data [1, 5], indices [0, 0, 1], updates [3, 2, NaN] -> [3, NaN]. */
static void test_scatter_max_nan(void **state) {
  (void)state;
  one_node o = mk(18, "ScatterElements", 3, 1);
  attr_str(&o, "reduction", "max");
  const float data[] = {1, 5}, upd[] = {3, 2, NAN};
  const int64_t ind[] = {0, 0, 1};
  ql_tensor *in[] = {vec(QL_FLOAT, 2, data), vec(QL_INT64, 3, ind), vec(QL_FLOAT, 3, upd)}, *out[1] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  assert_true(((float *)out[0]->data)[0] == 3);
  assert_true(isnan(((float *)out[0]->data)[1]));
  free_outs(out, 1);

  /* max/min reductions arrived in schema version 18 */
  o = mk(16, "ScatterElements", 3, 1);
  attr_str(&o, "reduction", "max");
  ql_tensor *in2[] = {vec(QL_FLOAT, 2, data), vec(QL_INT64, 3, ind), vec(QL_FLOAT, 3, upd)};
  expect_fail(&o, in2, QL_ERR_INVALID_MODEL);
}

/* GridSample: a NaN or huge grid value with zero padding reads zeros and
 * must not turn into an undefined float->int conversion. */
static void test_gridsample_hostile_grid(void **state) {
  (void)state;
  const char *modes[] = {"nearest", "linear", "cubic"};
  for (int m = 0; m < 3; m++) {
    one_node o = mk(22, "GridSample", 2, 1);
    attr_str(&o, "mode", modes[m]);
    int64_t xd[4] = {1, 1, 2, 2}, gd[4] = {1, 1, 3, 2};
    const float x[] = {1, 2, 3, 4}, g[] = {NAN, 0, 1e30f, -1e30f, INFINITY, 0};
    ql_tensor *in[] = {tensor(QL_FLOAT, 4, xd, x), tensor(QL_FLOAT, 4, gd, g)}, *out[1] = {0};
    ql_error e = {0};
    assert_int_equal(run(&o, in, out, &e), QL_OK);
    for (int i = 0; i < 3; i++) assert_true(((float *)out[0]->data)[i] == 0);
    free_outs(out, 1);
  }
}


/* TensorScatter circular mode: positions are (write_index + s) modulo
 * max_sequence_length, with Python's non-negative modulo: past [0, 0, 0]
 * (batch 1, axis 1), update [7, 8], write index -1 -> positions 2 and 0 ->
 * [8, 0, 7]. Linear mode must refuse an index that runs past the end. */
static void test_tensor_scatter_positions(void **state) {
  (void)state;
  int64_t pd[2] = {1, 3}, ud[2] = {1, 2};
  const float past[] = {0, 0, 0}, upd[] = {7, 8};
  const int64_t w = -1;
  one_node o = mk(24, "TensorScatter", 3, 1);
  attr_str(&o, "mode", "circular");
  attr_int(&o, "axis", 1);
  ql_tensor *in[] = {tensor(QL_FLOAT, 2, pd, past), tensor(QL_FLOAT, 2, ud, upd), vec(QL_INT64, 1, &w)}, *out[1] = {0};
  ql_error e = {0};
  assert_int_equal(run(&o, in, out, &e), QL_OK);
  const float *y = out[0]->data;
  assert_true(y[0] == 8 && y[1] == 0 && y[2] == 7);
  free_outs(out, 1);

  const int64_t w2 = 2;
  o = mk(24, "TensorScatter", 3, 1);
  attr_int(&o, "axis", 1);
  ql_tensor *in2[] = {tensor(QL_FLOAT, 2, pd, past), tensor(QL_FLOAT, 2, ud, upd), vec(QL_INT64, 1, &w2)};
  expect_fail(&o, in2, QL_ERR_INVALID_MODEL);
}

/* ---------------------------------------------------------------- refusals */

static void test_out_of_range_indices(void **state) {
  (void)state;
  const float data[] = {1, 2, 3};
  {
    one_node o = mk(18, "ScatterElements", 3, 1);
    const int64_t ind[] = {3};
    const float u[] = {9};
    ql_tensor *in[] = {vec(QL_FLOAT, 3, data), vec(QL_INT64, 1, ind), vec(QL_FLOAT, 1, u)};
    expect_fail(&o, in, QL_ERR_INVALID_MODEL);
  }
  {
    one_node o = mk(18, "ScatterND", 3, 1);
    int64_t id[2] = {1, 1};
    const int64_t ind[] = {-4};
    const float u[] = {9};
    ql_tensor *in[] = {vec(QL_FLOAT, 3, data), tensor(QL_INT64, 2, id, ind), vec(QL_FLOAT, 1, u)};
    expect_fail(&o, in, QL_ERR_INVALID_MODEL);
  }
  {
    one_node o = mk(13, "GatherND", 2, 1);
    int64_t id[2] = {1, 1};
    const int64_t ind[] = {INT64_MIN};
    ql_tensor *in[] = {vec(QL_FLOAT, 3, data), tensor(QL_INT64, 2, id, ind)};
    expect_fail(&o, in, QL_ERR_INVALID_MODEL);
  }
  {
    one_node o = mk(13, "GatherND", 2, 1);
    attr_int(&o, "batch_dims", 1); /* b must be < min(q, r) = 1 */
    int64_t id[2] = {1, 1};
    const int64_t ind[] = {0};
    ql_tensor *in[] = {vec(QL_FLOAT, 3, data), tensor(QL_INT64, 2, id, ind)};
    expect_fail(&o, in, QL_ERR_INVALID_MODEL);
  }
  {
    one_node o = mk(11, "Compress", 2, 1);
    attr_int(&o, "axis", 0);
    const uint8_t cond[] = {0, 0, 0, 1};
    ql_tensor *in[] = {vec(QL_FLOAT, 3, data), vec(QL_BOOL, 4, cond)};
    expect_fail(&o, in, QL_ERR_INVALID_MODEL);
  }
  {
    one_node o = mk(10, "ReverseSequence", 2, 1);
    int64_t xd[2] = {3, 1};
    const int64_t lens[] = {4};
    ql_tensor *in[] = {tensor(QL_FLOAT, 2, xd, data), vec(QL_INT64, 1, lens)};
    expect_fail(&o, in, QL_ERR_INVALID_MODEL);
  }
  {
    one_node o = mk(22, "RoiAlign", 3, 1);
    int64_t xd[4] = {1, 1, 1, 3}, rd[2] = {1, 4};
    const float roi[] = {0, 0, 1, 1};
    const int64_t b[] = {1};
    ql_tensor *in[] = {tensor(QL_FLOAT, 4, xd, data), tensor(QL_FLOAT, 2, rd, roi), vec(QL_INT64, 1, b)};
    expect_fail(&o, in, QL_ERR_INVALID_MODEL);
  }
  {
    one_node o = mk(24, "TopK", 2, 2);
    const int64_t k = 4;
    ql_tensor *in[] = {vec(QL_FLOAT, 3, data), vec(QL_INT64, 1, &k)};
    expect_fail(&o, in, QL_ERR_INVALID_MODEL);
  }
}

static void test_runaway_sizes_are_refused(void **state) {
  (void)state;
  {
    one_node o = mk(11, "OneHot", 3, 1);
    const int64_t ind[] = {0}, depth = (int64_t)1 << 40;
    const float vals[] = {0, 1};
    ql_tensor *in[] = {vec(QL_INT64, 1, ind), scalar_i64(depth), vec(QL_FLOAT, 2, vals)};
    expect_fail(&o, in, QL_ERR_LIMIT);
  }
  {
    one_node o = mk(18, "CenterCropPad", 2, 1);
    const float x[] = {1};
    const int64_t sh[] = {(int64_t)1 << 40};
    ql_tensor *in[] = {vec(QL_FLOAT, 1, x), vec(QL_INT64, 1, sh)};
    expect_fail(&o, in, QL_ERR_LIMIT);
  }
  {
    one_node o = mk(20, "AffineGrid", 2, 1);
    int64_t td[3] = {1, 2, 3};
    const float th[] = {1, 0, 0, 0, 1, 0};
    const int64_t sz[] = {1, 1, (int64_t)1 << 20, (int64_t)1 << 20};
    ql_tensor *in[] = {tensor(QL_FLOAT, 3, td, th), vec(QL_INT64, 4, sz)};
    expect_fail(&o, in, QL_ERR_LIMIT);
  }
  {
    one_node o = mk(18, "Col2Im", 3, 1);
    int64_t xd[3] = {1, 1, 1};
    const float x[] = {1};
    const int64_t img[] = {INT64_MAX, 1}, blk[] = {1, 1};
    ql_tensor *in[] = {tensor(QL_FLOAT, 3, xd, x), vec(QL_INT64, 2, img), vec(QL_INT64, 2, blk)};
    expect_fail(&o, in, QL_ERR_INVALID_MODEL);
  }
  {
    one_node o = mk(13, "DepthToSpace", 1, 1);
    attr_int(&o, "blocksize", (int64_t)1 << 40);
    int64_t xd[4] = {1, 1, 1, 1};
    const float x[] = {1};
    ql_tensor *in[] = {tensor(QL_FLOAT, 4, xd, x)};
    expect_fail(&o, in, QL_ERR_INVALID_MODEL);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_topk_nan_and_ties),
      cmocka_unit_test(test_cumsum_wraps_and_exclusive_reverse),
      cmocka_unit_test(test_bitshift_full_width),
      cmocka_unit_test(test_bitcast_bits),
      cmocka_unit_test(test_unique_strings),
      cmocka_unit_test(test_nms_threshold_is_strict),
      cmocka_unit_test(test_einsum_diagonal_and_implicit),
      cmocka_unit_test(test_scatter_max_nan),
      cmocka_unit_test(test_gridsample_hostile_grid),
      cmocka_unit_test(test_tensor_scatter_positions),
      cmocka_unit_test(test_out_of_range_indices),
      cmocka_unit_test(test_runaway_sizes_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

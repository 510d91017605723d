/* Hand-worked cases for the integer convolution / matmul reference ops and
 * the conv geometry. Every expected value is derived in the comment above
 * it from the ONNX definitions (QLinearConv/ConvInteger/MatMulInteger-10,
 * Conv auto_pad rules); none comes from running our code. Ops are called
 * directly through the registry with a hand-built ql_op_ctx. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>

#include "ir/ir.h"
#include "common/scratch.h"
#include "ops/op.h"
#include "ops/conv-geom.h"
#include "ops/requant.h"

/* ---------------------------------------------------------------- harness */
static ql_tensor *mk(ql_dtype t, int rank, const int64_t *dims, const void *data) {
  ql_tensor *x = ql_tensor_new(t, rank, dims, NULL);
  assert_non_null(x);
  if (x->numel) memcpy(x->data, data, ql_tensor_nbytes(x));
  return x;
}
static ql_tensor *u8s(int rank, const int64_t *dims, const uint8_t *v) { return mk(QL_UINT8, rank, dims, v); }
static ql_tensor *i8s(int rank, const int64_t *dims, const int8_t *v) { return mk(QL_INT8, rank, dims, v); }
static ql_tensor *f32(float v) { return mk(QL_FLOAT, 0, NULL, &v); }
static ql_tensor *u8(uint8_t v) { return mk(QL_UINT8, 0, NULL, &v); }
static ql_tensor *i8(int8_t v) { return mk(QL_INT8, 0, NULL, &v); }

static void set_ints(ql_node *n, const char *name, size_t count, const int64_t *v) {
  ql_attr *a = ql_node_add_attr(n, name, QL_ATTR_INTS);
  assert_non_null(a);
  a->n = count;
  a->ints = ql_malloc(count * sizeof *v);
  memcpy(a->ints, v, count * sizeof *v);
}
static void set_int(ql_node *n, const char *name, int64_t v) {
  ql_node_add_attr(n, name, QL_ATTR_INT)->i = v;
}
static void set_str(ql_node *n, const char *name, const char *s) {
  ql_attr *a = ql_node_add_attr(n, name, QL_ATTR_STRING);
  a->s = ql_strdup(s);
  a->slen = strlen(s);
}

/* Runs node `n` (op n->op_type at `opset`) on in[0..n_in); frees the
 * inputs and the node. Returns the status; *out gets output 0. */
static ql_status run(ql_node *n, int64_t opset, ql_tensor **in, size_t n_in, ql_tensor **out, ql_error *err) {
  ql_op_resolution r;
  assert_int_equal(ql_op_resolve("", n->op_type, opset, &r, err), QL_OK);
  ql_tensor *outs[1] = {NULL};
  ql_op_ctx c;
  memset(&c, 0, sizeof c);
  c.node = n;
  c.version = r.version;
  c.n_in = n_in;
  c.in = (const ql_tensor *const *)in;
  c.n_out = 1;
  c.out = outs;
  c.err = err;
  c.threads = 1;
  ql_scratch scratch;
  assert_int_equal(ql_scratch_init(&scratch, 1), 0);
  c.scratch_ = &scratch;
  ql_status st = r.def->run(&c);
  ql_scratch_free(&scratch);
  for (size_t i = 0; i < n_in; i++) ql_tensor_free(in[i]);
  ql_node_free(n);
  *out = outs[0];
  if (st) {
    ql_tensor_free(outs[0]);
    *out = NULL;
  }
  return st;
}

static void expect_i32(ql_tensor *y, int rank, const int64_t *dims, const int32_t *v) {
  assert_non_null(y);
  assert_int_equal(y->dtype, QL_INT32);
  assert_int_equal(y->rank, rank);
  for (int i = 0; i < rank; i++) assert_int_equal(y->dims[i], dims[i]);
  for (int64_t i = 0; i < y->numel; i++) assert_int_equal(((int32_t *)y->data)[i], v[i]);
  ql_tensor_free(y);
}
static void expect_q(ql_tensor *y, ql_dtype t, int64_t numel, const int32_t *v) {
  assert_non_null(y);
  assert_int_equal(y->dtype, t);
  assert_int_equal(y->numel, numel);
  for (int64_t i = 0; i < numel; i++)
    assert_int_equal(t == QL_UINT8 ? ((uint8_t *)y->data)[i] : ((int8_t *)y->data)[i], v[i]);
  ql_tensor_free(y);
}

static ql_node *node(const char *op) {
  ql_node *n = ql_node_new(op, "", "n");
  assert_non_null(n);
  return n;
}

/* ---------------------------------------------------------------- ConvInteger */

/* Per-output-channel w_zero_point.
 * x = [10,20,30], x_zp = 10 -> centered [0,10,20].
 * w ch0 = [3,5], ch1 = [7,7]; w_zp = [1,7] -> centered ch0 [2,4], ch1 [0,0].
 * ch0: o0 = 0*2 + 10*4 = 40, o1 = 10*2 + 20*4 = 100; ch1: 0, 0. */
static void test_convinteger_per_channel_w_zp(void **state) {
  (void)state;
  const int64_t xd[] = {1, 1, 3}, wd[] = {2, 1, 2}, zd[] = {2};
  ql_tensor *in[4] = {u8s(3, xd, (uint8_t[]){10, 20, 30}), u8s(3, wd, (uint8_t[]){3, 5, 7, 7}), u8(10),
                      u8s(1, zd, (uint8_t[]){1, 7})};
  ql_tensor *y;
  ql_error e = {0};
  assert_int_equal(run(node("ConvInteger"), 10, in, 4, &y, &e), QL_OK);
  expect_i32(y, 3, (int64_t[]){1, 2, 2}, (int32_t[]){40, 100, 0, 0});
}

/* Padding is filled with x_zp, i.e. contributes 0 after centering.
 * x = [5,9], x_zp = 5 -> [0,4]; w = [1,2,3]; pads [1,1] -> out = 2+2-3+1 = 2.
 * o0 reads (pad, x0, x1): 0*1 + 0*2 + 4*3 = 12
 * o1 reads (x0, x1, pad): 0*1 + 4*2 + 0*3 = 8
 * (Padding with a raw 0 instead would give o0 = -5*1 + 12 = 7.) */
static void test_convinteger_pads_with_x_zero_point(void **state) {
  (void)state;
  const int64_t xd[] = {1, 1, 2}, wd[] = {1, 1, 3};
  ql_node *n = node("ConvInteger");
  set_ints(n, "pads", 2, (int64_t[]){1, 1});
  ql_tensor *in[3] = {u8s(3, xd, (uint8_t[]){5, 9}), i8s(3, wd, (int8_t[]){1, 2, 3}), u8(5)};
  ql_tensor *y;
  ql_error e = {0};
  assert_int_equal(run(n, 10, in, 3, &y, &e), QL_OK);
  expect_i32(y, 3, (int64_t[]){1, 1, 2}, (int32_t[]){12, 8});
}

/* group = 2, C = 2, M = 4: output channels 0,1 read input channel 0,
 * channels 2,3 read input channel 1 (m / (M/group)).
 * x ch0 = [1,2], ch1 = [3,4]; w (1x1) = 1, 2, 3, 4.
 * y = [1,2], [2,4], [9,12], [12,16]. */
static void test_convinteger_group2(void **state) {
  (void)state;
  const int64_t xd[] = {1, 2, 2}, wd[] = {4, 1, 1};
  ql_node *n = node("ConvInteger");
  set_int(n, "group", 2);
  ql_tensor *in[2] = {i8s(3, xd, (int8_t[]){1, 2, 3, 4}), i8s(3, wd, (int8_t[]){1, 2, 3, 4})};
  ql_tensor *y;
  ql_error e = {0};
  assert_int_equal(run(n, 10, in, 2, &y, &e), QL_OK);
  expect_i32(y, 3, (int64_t[]){1, 4, 2}, (int32_t[]){1, 2, 2, 4, 9, 12, 12, 16});
}

/* Depthwise (group = C = 2, M = 2) in 2-D, 2x2 kernel of ones:
 * ch0 = [[1,2],[3,4]] -> 10, ch1 = [[10,20],[30,40]] with w = 2 -> 200. */
static void test_convinteger_depthwise_2d(void **state) {
  (void)state;
  const int64_t xd[] = {1, 2, 2, 2}, wd[] = {2, 1, 2, 2};
  ql_node *n = node("ConvInteger");
  set_int(n, "group", 2);
  ql_tensor *in[2] = {i8s(4, xd, (int8_t[]){1, 2, 3, 4, 10, 20, 30, 40}),
                      i8s(4, wd, (int8_t[]){1, 1, 1, 1, 2, 2, 2, 2})};
  ql_tensor *y;
  ql_error e = {0};
  assert_int_equal(run(n, 10, in, 2, &y, &e), QL_OK);
  expect_i32(y, 4, (int64_t[]){1, 2, 1, 1}, (int32_t[]){10, 200});
}

/* Stride 3, dilation 2: x = [0..6], w = [1,1]; effective kernel 3,
 * out = floor((7 - 3)/3) + 1 = 2. o0 = x0 + x2 = 2; o1 = x3 + x5 = 8. */
static void test_convinteger_stride_dilation(void **state) {
  (void)state;
  const int64_t xd[] = {1, 1, 7}, wd[] = {1, 1, 2};
  ql_node *n = node("ConvInteger");
  set_ints(n, "strides", 1, (int64_t[]){3});
  set_ints(n, "dilations", 1, (int64_t[]){2});
  ql_tensor *in[2] = {i8s(3, xd, (int8_t[]){0, 1, 2, 3, 4, 5, 6}), i8s(3, wd, (int8_t[]){1, 1})};
  ql_tensor *y;
  ql_error e = {0};
  assert_int_equal(run(n, 10, in, 2, &y, &e), QL_OK);
  expect_i32(y, 3, (int64_t[]){1, 1, 2}, (int32_t[]){2, 8});
}

/* SAME_LOWER vs SAME_UPPER, 1-D: x = [1,2,3,4], w = [1,10], stride 1:
 * out = 4, total pad = 3*1 + 2 - 4 = 1.
 * SAME_LOWER puts it first:  o_i = x[i-1]*1 + x[i]*10 -> [10, 21, 32, 43]
 * SAME_UPPER puts it last:   o_i = x[i]*1 + x[i+1]*10 -> [21, 32, 43, 4] */
static void test_convinteger_same_lower_upper_1d(void **state) {
  (void)state;
  const int64_t xd[] = {1, 1, 4}, wd[] = {1, 1, 2};
  const char *modes[2] = {"SAME_LOWER", "SAME_UPPER"};
  const int32_t want[2][4] = {{10, 21, 32, 43}, {21, 32, 43, 4}};
  for (int i = 0; i < 2; i++) {
    ql_node *n = node("ConvInteger");
    set_str(n, "auto_pad", modes[i]);
    ql_tensor *in[2] = {i8s(3, xd, (int8_t[]){1, 2, 3, 4}), i8s(3, wd, (int8_t[]){1, 10})};
    ql_tensor *y;
    ql_error e = {0};
    assert_int_equal(run(n, 10, in, 2, &y, &e), QL_OK);
    expect_i32(y, 3, (int64_t[]){1, 1, 4}, want[i]);
  }
}

/* SAME_* with stride 2 in 2-D: x = [[1,2,3],[4,5,6],[7,8,9]], 2x2 kernel
 * [[1,0],[0,0]] picks each window's top-left input.
 * out = ceil(3/2) = 2, total pad = (2-1)*2 + 2 - 3 = 1 per axis.
 * SAME_LOWER (pad 1 before): window corners (-1,-1) (-1,1) (1,-1) (1,1)
 *   -> [[pad, pad], [pad, x(1,1)=5]] = [[0,0],[0,5]]
 * SAME_UPPER (pad 1 after): corners (0,0) (0,2) (2,0) (2,2) -> [[1,3],[7,9]] */
static void test_convinteger_same_lower_stride2_2d(void **state) {
  (void)state;
  const int64_t xd[] = {1, 1, 3, 3}, wd[] = {1, 1, 2, 2};
  const char *modes[2] = {"SAME_LOWER", "SAME_UPPER"};
  const int32_t want[2][4] = {{0, 0, 0, 5}, {1, 3, 7, 9}};
  for (int i = 0; i < 2; i++) {
    ql_node *n = node("ConvInteger");
    set_str(n, "auto_pad", modes[i]);
    set_ints(n, "strides", 2, (int64_t[]){2, 2});
    /* x_zp = 100 so a pad read as raw 0 would show up as -100 */
    ql_tensor *in[3] = {u8s(4, xd, (uint8_t[]){101, 102, 103, 104, 105, 106, 107, 108, 109}),
                        i8s(4, wd, (int8_t[]){1, 0, 0, 0}), u8(100)};
    ql_tensor *y;
    ql_error e = {0};
    assert_int_equal(run(n, 10, in, 3, &y, &e), QL_OK);
    expect_i32(y, 4, (int64_t[]){1, 1, 2, 2}, want[i]);
  }
}

/* 3-D, kernel 2x1x1, stride 1: y[d,h,w] = x[d,h,w] - x[d+1,h,w] with
 * w = [1,-1]. x depth slices [[1,2]], [[5,7]], [[6,6]] (D=3, H=1, W=2)
 * -> [[1-5, 2-7]], [[5-6, 7-6]] = [-4,-5,-1,1]. */
static void test_convinteger_3d(void **state) {
  (void)state;
  const int64_t xd[] = {1, 1, 3, 1, 2}, wd[] = {1, 1, 2, 1, 1};
  ql_tensor *in[2] = {i8s(5, xd, (int8_t[]){1, 2, 5, 7, 6, 6}), i8s(5, wd, (int8_t[]){1, -1})};
  ql_tensor *y;
  ql_error e = {0};
  assert_int_equal(run(node("ConvInteger"), 10, in, 2, &y, &e), QL_OK);
  expect_i32(y, 5, (int64_t[]){1, 1, 2, 1, 2}, (int32_t[]){-4, -5, -1, 1});
}

/* ---------------------------------------------------------------- QLinearConv */

/* Per-channel w_scale and w_zp with bias.
 * x = [10,20], x_zp = 10 -> [0,10]; w ch0 = 3, ch1 = 9, w_zp = [1,7] -> 2, 2.
 * x_scale 0.5, w_scale [0.5, 0.25], y_scale 0.25:
 *   mult0 = 0.5*0.5/0.25 = 1.0, mult1 = 0.5*0.25/0.25 = 0.5 (exact in float)
 * B = [3,-4]: acc ch0 = [0*2+3, 10*2+3] = [3,23]; ch1 = [0-4, 20-4] = [-4,16]
 * y_zp = 100 (uint8): ch0 = [103,123]; ch1 = [-2+100, 8+100] = [98,108]. */
static void test_qlinearconv_per_channel(void **state) {
  (void)state;
  const int64_t xd[] = {1, 1, 2}, wd[] = {2, 1, 1}, md[] = {2};
  ql_tensor *in[9] = {u8s(3, xd, (uint8_t[]){10, 20}),
                      f32(0.5f),
                      u8(10),
                      u8s(3, wd, (uint8_t[]){3, 9}),
                      mk(QL_FLOAT, 1, md, (float[]){0.5f, 0.25f}),
                      u8s(1, md, (uint8_t[]){1, 7}),
                      f32(0.25f),
                      u8(100),
                      mk(QL_INT32, 1, md, (int32_t[]){3, -4})};
  ql_tensor *y;
  ql_error e = {0};
  assert_int_equal(run(node("QLinearConv"), 10, in, 9, &y, &e), QL_OK);
  expect_q(y, QL_UINT8, 4, (int32_t[]){103, 123, 98, 108});
}

/* Round half to even. 1x1 conv with w = 1, all scales 1 except y_scale 2:
 * acc = x, y = RNE(x/2) + 10 (int8):
 *   5 -> 2.5 -> 2 -> 12;  7 -> 3.5 -> 4 -> 14;  -5 -> -2.5 -> -2 -> 8;
 *   -3 -> -1.5 -> -2 -> 8;  1 -> 0.5 -> 0 -> 10;  -1 -> -0.5 -> -0 -> 10;
 *   3 -> 1.5 -> 2 -> 12. (roundf, ties away from zero, would give 13,14,7,8,11,9,12.) */
static void test_qlinearconv_rne_ties(void **state) {
  (void)state;
  const int64_t xd[] = {1, 1, 7}, wd[] = {1, 1, 1};
  ql_tensor *in[8] = {i8s(3, xd, (int8_t[]){5, 7, -5, -3, 1, -1, 3}), f32(1.0f), i8(0), i8s(3, wd, (int8_t[]){1}),
                      f32(1.0f), i8(0), f32(2.0f), i8(10)};
  ql_tensor *y;
  ql_error e = {0};
  assert_int_equal(run(node("QLinearConv"), 10, in, 8, &y, &e), QL_OK);
  expect_q(y, QL_INT8, 7, (int32_t[]){12, 14, 8, 8, 10, 10, 12});
}

/* Saturation at both ends. w = 2, scales 1: acc = 2x.
 * uint8, y_zp 128: x = 127 -> 254+128 = 382 -> 255; -128 -> -256+128 -> 0;
 *   0 -> 128; 63 -> 126+128 = 254 (inside).
 * int8, y_zp 0: 254 -> 127; -256 -> -128; 0 -> 0; 63 -> 126. */
static void test_qlinearconv_saturation(void **state) {
  (void)state;
  const int64_t xd[] = {1, 1, 4}, wd[] = {1, 1, 1};
  for (int s = 0; s < 2; s++) {
    ql_tensor *in[8] = {i8s(3, xd, (int8_t[]){127, -128, 0, 63}), f32(1.0f), i8(0), i8s(3, wd, (int8_t[]){2}),
                        f32(1.0f), i8(0), f32(1.0f), s ? i8(0) : u8(128)};
    ql_tensor *y;
    ql_error e = {0};
    assert_int_equal(run(node("QLinearConv"), 10, in, 8, &y, &e), QL_OK);
    if (s) expect_q(y, QL_INT8, 4, (int32_t[]){127, -128, 0, 126});
    else expect_q(y, QL_UINT8, 4, (int32_t[]){255, 0, 128, 254});
  }
}

/* Padding with a nonzero x_zp in QLinearConv, 2-D, pads 1 all round, 3x3
 * kernel of ones on a 1x1 input: only the centre tap sees x.
 * x = 200, x_zp = 190 -> 10; w_zp 0; mult = 1; y_zp 5 -> y = 10 + 5 = 15.
 * (A pad read as raw 0 would add 8 * -190.) */
static void test_qlinearconv_pad_x_zp(void **state) {
  (void)state;
  const int64_t xd[] = {1, 1, 1, 1}, wd[] = {1, 1, 3, 3};
  ql_node *n = node("QLinearConv");
  set_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
  ql_tensor *in[8] = {u8s(4, xd, (uint8_t[]){200}),
                      f32(1.0f),
                      u8(190),
                      i8s(4, wd, (int8_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}),
                      f32(1.0f),
                      i8(0),
                      f32(1.0f),
                      u8(5)};
  ql_tensor *y;
  ql_error e = {0};
  assert_int_equal(run(n, 10, in, 8, &y, &e), QL_OK);
  expect_q(y, QL_UINT8, 1, (int32_t[]){15});
}

/* Bad models fail cleanly with INVALID_MODEL. */
static void test_qconv_rejects_bad_models(void **state) {
  (void)state;
  ql_error e = {0};
  ql_tensor *y;
  /* C = 3 is not group (2) * w dim 1 (1) */
  {
    const int64_t xd[] = {1, 3, 2}, wd[] = {2, 1, 1};
    ql_node *n = node("ConvInteger");
    set_int(n, "group", 2);
    ql_tensor *in[2] = {i8s(3, xd, (int8_t[]){1, 2, 3, 4, 5, 6}), i8s(3, wd, (int8_t[]){1, 1})};
    assert_int_equal(run(n, 10, in, 2, &y, &e), QL_ERR_INVALID_MODEL);
  }
  /* kernel (3) larger than the input (2) */
  {
    const int64_t xd[] = {1, 1, 2}, wd[] = {1, 1, 3};
    ql_tensor *in[2] = {i8s(3, xd, (int8_t[]){1, 2}), i8s(3, wd, (int8_t[]){1, 1, 1})};
    assert_int_equal(run(node("ConvInteger"), 10, in, 2, &y, &e), QL_ERR_INVALID_MODEL);
  }
  /* w_scale with 3 elements for 1 output channel */
  {
    const int64_t xd[] = {1, 1, 1}, wd[] = {1, 1, 1}, sd[] = {3};
    ql_tensor *in[8] = {i8s(3, xd, (int8_t[]){1}), f32(1.0f), i8(0), i8s(3, wd, (int8_t[]){1}),
                        mk(QL_FLOAT, 1, sd, (float[]){1, 1, 1}), i8(0), f32(1.0f), i8(0)};
    assert_int_equal(run(node("QLinearConv"), 10, in, 8, &y, &e), QL_ERR_INVALID_MODEL);
  }
  /* negative pad, unknown auto_pad, stride 0 */
  {
    const char *which[3] = {"pads", "auto_pad", "strides"};
    for (int i = 0; i < 3; i++) {
      const int64_t xd[] = {1, 1, 2}, wd[] = {1, 1, 1};
      ql_node *n = node("ConvInteger");
      if (i == 0) set_ints(n, which[i], 2, (int64_t[]){-1, 0});
      if (i == 1) set_str(n, which[i], "SAME");
      if (i == 2) set_ints(n, which[i], 1, (int64_t[]){0});
      ql_tensor *in[2] = {i8s(3, xd, (int8_t[]){1, 2}), i8s(3, wd, (int8_t[]){1})};
      assert_int_equal(run(n, 10, in, 2, &y, &e), QL_ERR_INVALID_MODEL);
    }
  }
}

/* ---------------------------------------------------------------- MatMulInteger */

/* Per-row a_zp [M] and per-column b_zp [N] (2x2 @ 2x2):
 * a = [[3,4],[5,6]], a_zp = [1,2] -> [[2,3],[3,4]]
 * b = [[1,2],[3,4]], b_zp = [1,0] -> [[0,2],[2,4]]
 * y = [[2*0+3*2, 2*2+3*4], [3*0+4*2, 3*2+4*4]] = [[6,16],[8,22]] */
static void test_matmulinteger_row_col_zp(void **state) {
  (void)state;
  const int64_t d2[] = {2, 2}, d1[] = {2};
  ql_tensor *in[4] = {u8s(2, d2, (uint8_t[]){3, 4, 5, 6}), u8s(2, d2, (uint8_t[]){1, 2, 3, 4}),
                      u8s(1, d1, (uint8_t[]){1, 2}), u8s(1, d1, (uint8_t[]){1, 0})};
  ql_tensor *y;
  ql_error e = {0};
  assert_int_equal(run(node("MatMulInteger"), 10, in, 4, &y, &e), QL_OK);
  expect_i32(y, 2, d2, (int32_t[]){6, 16, 8, 22});
}

/* numpy promotion: a 1-D [K] @ b [2, K, N] broadcasts a over the batch and
 * drops the promoted axis: a = [1,2], b0 = [[1,0],[0,1]], b1 = [[2,3],[4,5]]
 * -> [[1,2], [1*2+2*4, 1*3+2*5]] = [[1,2],[10,13]], shape [2, 2]. */
static void test_matmulinteger_1d_batch(void **state) {
  (void)state;
  const int64_t ad[] = {2}, bd[] = {2, 2, 2};
  ql_tensor *in[2] = {i8s(1, ad, (int8_t[]){1, 2}), i8s(3, bd, (int8_t[]){1, 0, 0, 1, 2, 3, 4, 5})};
  ql_tensor *y;
  ql_error e = {0};
  assert_int_equal(run(node("MatMulInteger"), 10, in, 2, &y, &e), QL_OK);
  expect_i32(y, 2, (int64_t[]){2, 2}, (int32_t[]){1, 2, 10, 13});
}

/* ---------------------------------------------------------------- requant, geometry */

/* ql_requant_f32 directly: ties to even, saturation, NaN -> lo. */
static void test_requant_function(void **state) {
  (void)state;
  assert_int_equal(ql_requant_f32(5, 0.5f, 0, -128, 127), 2);    /* 2.5 -> 2 */
  assert_int_equal(ql_requant_f32(-5, 0.5f, 0, -128, 127), -2);  /* -2.5 -> -2 */
  assert_int_equal(ql_requant_f32(7, 0.5f, 0, -128, 127), 4);    /* 3.5 -> 4 */
  assert_int_equal(ql_requant_f32(1000, 1.0f, 0, -128, 127), 127);
  assert_int_equal(ql_requant_f32(-1000, 1.0f, 0, -128, 127), -128);
  assert_int_equal(ql_requant_f32(INT32_MAX, 1e30f, 128, 0, 255), 255); /* +inf product */
  assert_int_equal(ql_requant_f32(7, NAN, 128, 0, 255), 0);
  /* 255/256 is not a tie: 0.99609375 -> 1, +zp 3 */
  assert_int_equal(ql_requant_f32(255, 1.0f / 256, 3, 0, 255), 4);
  /* multiplier in float32: 0.1f * 0.2f rounds to 0.020000001f, / 0.02f ->
   * 1.0000001f (not 1): acc 4 -> 4.0000005 -> 4 */
  assert_true(ql_requant_multiplier(0.1f, 0.2f, 0.02f) > 1.0f);
  assert_int_equal(ql_requant_f32(4, ql_requant_multiplier(0.1f, 0.2f, 0.02f), 0, -128, 127), 4);
}

/* Geometry with ceil_mode (pooling): in 6, k 3, s 2, no pads:
 * floor: (6-3)/2 + 1 = 2; ceil: ceil(3/2) + 1 = 3 (last window starts at 4 < 6).
 * in 5, k 2, s 2, pads 0/1: span 5+1-2 = 4; ceil -> 4/2+1 = 3, window 3 starts at
 * 4 < 5 so it stays. in 4, k 2, s 2, pad end 1: span 3; ceil -> 3, but window 3
 * starts at 4 >= in + pad_begin (4) -> dropped -> 2. */
static void test_geom_ceil_mode(void **state) {
  (void)state;
  ql_node *n = node("MaxPool");
  ql_error e = {0};
  ql_op_ctx c;
  memset(&c, 0, sizeof c);
  c.node = n;
  c.err = &e;
  ql_conv_attrs a;
  ql_conv_geom g;
  assert_int_equal(ql_conv_attrs_read(&c, 1, &a), QL_OK);
  a.has_kernel_shape = 1;
  a.kernel_shape[0] = 3;
  a.strides[0] = 2;
  const int64_t in6 = 6, in5 = 5, in4 = 4;
  assert_int_equal(ql_conv_geom_forward(&c, &a, &in6, NULL, &g), QL_OK);
  assert_int_equal(g.out[0], 2);
  a.ceil_mode = 1;
  assert_int_equal(ql_conv_geom_forward(&c, &a, &in6, NULL, &g), QL_OK);
  assert_int_equal(g.out[0], 3);
  a.kernel_shape[0] = 2;
  a.pads[1] = 1;
  assert_int_equal(ql_conv_geom_forward(&c, &a, &in5, NULL, &g), QL_OK);
  assert_int_equal(g.out[0], 3);
  assert_int_equal(ql_conv_geom_forward(&c, &a, &in4, NULL, &g), QL_OK);
  assert_int_equal(g.out[0], 2);
  /* kernel_shape required when no weight is given */
  a.has_kernel_shape = 0;
  assert_int_equal(ql_conv_geom_forward(&c, &a, &in4, NULL, &g), QL_ERR_INVALID_MODEL);
  ql_node_free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_convinteger_per_channel_w_zp),
      cmocka_unit_test(test_convinteger_pads_with_x_zero_point),
      cmocka_unit_test(test_convinteger_group2),
      cmocka_unit_test(test_convinteger_depthwise_2d),
      cmocka_unit_test(test_convinteger_stride_dilation),
      cmocka_unit_test(test_convinteger_same_lower_upper_1d),
      cmocka_unit_test(test_convinteger_same_lower_stride2_2d),
      cmocka_unit_test(test_convinteger_3d),
      cmocka_unit_test(test_qlinearconv_per_channel),
      cmocka_unit_test(test_qlinearconv_rne_ties),
      cmocka_unit_test(test_qlinearconv_saturation),
      cmocka_unit_test(test_qlinearconv_pad_x_zp),
      cmocka_unit_test(test_qconv_rejects_bad_models),
      cmocka_unit_test(test_matmulinteger_row_col_zp),
      cmocka_unit_test(test_matmulinteger_1d_batch),
      cmocka_unit_test(test_requant_function),
      cmocka_unit_test(test_geom_ceil_mode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

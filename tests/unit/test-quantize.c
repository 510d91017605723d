/* QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear / Cast, hand-worked.
 * Every expected value below is worked out by hand from the ONNX operator
 * description quoted next to it (onnx 1.22, QuantizeLinear-25 unless noted);
 * none is produced by qlinear itself. The ops are called through the
 * registry, exactly as the runtime calls them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/ir.h"
#include "common/scratch.h"
#include "ops/op.h"

#define NODE_DIR QL_SHARED_DIR "/onnx-node-tests/node"

/* ---------------------------------------------------------------- helpers */
typedef struct {
  ql_node *node;
  const ql_tensor *in[3];
  size_t n_in;
  ql_tensor *out[3];
  ql_error err;
} call;

static void call_init(call *k, const char *op) {
  memset(k, 0, sizeof *k);
  k->node = ql_node_new(op, "", "n");
  assert_non_null(k->node);
}

static void attr_i(call *k, const char *name, int64_t v) {
  ql_attr *a = ql_node_add_attr(k->node, name, QL_ATTR_INT);
  assert_non_null(a);
  a->i = v;
}

static void attr_s(call *k, const char *name, const char *s) {
  ql_attr *a = ql_node_add_attr(k->node, name, QL_ATTR_STRING);
  assert_non_null(a);
  a->s = ql_strdup(s);
  a->slen = strlen(s);
}

/* runs the op at the given ai.onnx opset; returns the status */
static ql_status call_run(call *k, int64_t opset, size_t n_out) {
  ql_op_resolution r;
  ql_status st = ql_op_resolve("", k->node->op_type, opset, &r, &k->err);
  assert_int_equal(st, QL_OK);
  ql_op_ctx c;
  memset(&c, 0, sizeof c);
  c.node = k->node;
  c.version = r.version;
  c.n_in = k->n_in;
  c.in = k->in;
  c.n_out = n_out;
  c.out = k->out;
  c.err = &k->err;
  c.threads = 1;
  ql_scratch scratch;
  assert_int_equal(ql_scratch_init(&scratch, 1), 0);
  c.scratch_ = &scratch;
  st = r.def->run(&c);
  ql_scratch_free(&scratch);
  return st;
}

static void call_free(call *k) {
  for (size_t i = 0; i < k->n_in; i++) ql_tensor_free((ql_tensor *)k->in[i]);
  for (size_t i = 0; i < 3; i++) ql_tensor_free(k->out[i]);
  ql_node_free(k->node);
}

static ql_tensor *tensor(ql_dtype t, int rank, const int64_t *dims) {
  ql_tensor *x = NULL;
  assert_int_equal(ql_tensor_create(t, rank, dims, &x, NULL), QL_OK);
  return x;
}
static ql_tensor *tf32(int rank, const int64_t *dims, const float *v) {
  ql_tensor *x = tensor(QL_FLOAT, rank, dims);
  memcpy(x->data, v, (size_t)x->numel * sizeof(float));
  return x;
}
static ql_tensor *scalar_f32(float v) { return tf32(0, NULL, &v); }
/* an integer-typed tensor from int64 values */
static ql_tensor *tint(ql_dtype t, int rank, const int64_t *dims, const int64_t *v) {
  ql_tensor *x = tensor(t, rank, dims);
  for (int64_t i = 0; i < x->numel; i++) ql_store_i64(t, x->data, i, v[i]);
  return x;
}
static ql_tensor *scalar_int(ql_dtype t, int64_t v) { return tint(t, 0, NULL, &v); }

static void expect_ints(const ql_tensor *y, ql_dtype t, const int64_t *want, int64_t n) {
  assert_non_null(y);
  assert_int_equal(y->dtype, t);
  assert_int_equal(y->numel, n);
  for (int64_t i = 0; i < n; i++) {
    int64_t got = ql_load_i64(t, y->data, i);
    if (got != want[i]) {
      fprintf(stderr, "element %lld: got %lld, want %lld\n", (long long)i, (long long)got, (long long)want[i]);
      fail();
    }
  }
}
static void expect_f32(const ql_tensor *y, const float *want, int64_t n) {
  assert_non_null(y);
  assert_int_equal(y->dtype, QL_FLOAT);
  assert_int_equal(y->numel, n);
  for (int64_t i = 0; i < n; i++) assert_float_equal(((float *)y->data)[i], want[i], 0);
}

/* y = QuantizeLinear(x (f32, 1-D), scalar scale, scalar zp of type t) */
static void q1d(const float *x, int64_t n, float s, ql_dtype t, int64_t zp, const int64_t *want) {
  call k;
  call_init(&k, "QuantizeLinear");
  k.in[0] = tf32(1, &n, x);
  k.in[1] = scalar_f32(s);
  k.in[2] = scalar_int(t, zp);
  k.n_in = 3;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  expect_ints(k.out[0], t, want, n);
  call_free(&k);
}

/* ---------------------------------------------------------------- rounding */
static void test_q_round_half_even(void **state) {
  (void)state;
  /* "For (x / y_scale), it rounds to the nearest even": 2.5 -> 2, -2.5 -> -2,
   * 3.5 -> 4, -3.5 -> -4, 0.5 -> 0, 1.5 -> 2; values just off a tie round to
   * the nearer integer (2.4999998 -> 2, 2.5000002 -> 3). */
  const float x[] = {2.5f, -2.5f, 3.5f, -3.5f, 0.5f, 1.5f, 2.4999998f, 2.5000002f, -0.5f};
  const int64_t want[] = {2, -2, 4, -4, 0, 2, 2, 3, 0};
  q1d(x, 9, 1.0f, QL_INT8, 0, want);
  /* the division happens first: 5 / 2 = 2.5 -> 2, 7 / 2 = 3.5 -> 4, -5 / 2 -> -2,
   * then "+ y_zero_point": 10 */
  const float x2[] = {5.0f, 7.0f, -5.0f};
  const int64_t want2[] = {12, 14, 8};
  q1d(x2, 3, 2.0f, QL_UINT8, 10, want2);
}

/* ---------------------------------------------------------------- saturation */
static void test_q_saturation(void **state) {
  (void)state;
  /* "y = saturate((x / y_scale) + y_zero_point)", uint8 [0, 255]:
   * 200 + 128 -> 255, -200 + 128 -> 0; 127.5 -> 128 (tie, even) + 128 -> 255 */
  const float x[] = {200.0f, -200.0f, 127.5f, -128.0f, INFINITY, -INFINITY};
  const int64_t want_u8[] = {255, 0, 255, 0, 255, 0};
  q1d(x, 6, 1.0f, QL_UINT8, 128, want_u8);
  /* int8 [-128, 127]: 127.5 -> 128 -> 127 */
  const int64_t want_i8[] = {127, -128, 127, -128, 127, -128};
  q1d(x, 6, 1.0f, QL_INT8, 0, want_i8);
  /* int16 [-32768, 32767], uint16 [0, 65535] */
  const float x16[] = {32767.5f, -40000.0f, 70000.0f};
  const int64_t want_i16[] = {32767, -32768, 32767};
  q1d(x16, 3, 1.0f, QL_INT16, 0, want_i16);
  const int64_t want_u16[] = {32768, 0, 65535};
  q1d(x16, 3, 1.0f, QL_UINT16, 0, want_u16);
  /* int4 [-8, 7]: 7.5 -> 8 -> 7; -8.5 -> -8 (tie, even); -9 -> -8; uint4 [0, 15] */
  const float x4[] = {7.5f, -8.5f, -9.0f, 6.5f, 15.5f};
  const int64_t want_i4[] = {7, -8, -8, 6, 7};
  q1d(x4, 5, 1.0f, QL_INT4, 0, want_i4);
  /* uint4 with zp 1: 8+1=9, -8+1 -> 0, -9+1 -> 0, 6+1=7, 16+1 -> 15 */
  const int64_t want_u4[] = {9, 0, 0, 7, 15};
  q1d(x4, 5, 1.0f, QL_UINT4, 1, want_u4);
}

static void test_q_saturation_2bit(void **state) {
  (void)state;
  /* QuantizeLinear-25 adds "uint2: [0, 3]" and "int2: [-2, 1]" */
  const float x[] = {-3.0f, -2.0f, -1.0f, 0.0f, 1.0f, 1.5f, 2.5f, 4.0f};
  const int64_t want_i2[] = {-2, -2, -1, 0, 1, 1, 1, 1};
  q1d(x, 8, 1.0f, QL_INT2, 0, want_i2);
  const int64_t want_u2[] = {0, 0, 0, 0, 1, 2, 2, 3};
  q1d(x, 8, 1.0f, QL_UINT2, 0, want_u2);
  /* int2 is refused before opset 25: "T3" lists uint2/int2 only from 25 */
  call k;
  call_init(&k, "QuantizeLinear");
  int64_t n = 1;
  k.in[0] = tf32(1, &n, x);
  k.in[1] = scalar_f32(1.0f);
  k.in[2] = scalar_int(QL_INT2, 0);
  k.n_in = 3;
  assert_int_equal(call_run(&k, 24, 1), QL_ERR_INVALID_MODEL);
  call_free(&k);
}

/* ---------------------------------------------------------------- per-axis */
static void per_axis_case(int64_t axis) {
  /* "Per-axis quantization: The scale must be a 1-D tensor, with the length
   * of the quantization axis." x[2,3,2], axis 1 (or -2: "Negative value
   * means counting dimensions from the back"), scale [1, 2, 4], zp [0, 1, 2].
   * Element (i, j, k) uses scale[j]:  j=0: x/1,  j=1: x/2 + 1,  j=2: x/4 + 2. */
  call k;
  call_init(&k, "QuantizeLinear");
  attr_i(&k, "axis", axis);
  const int64_t dims[] = {2, 3, 2}, sd = 3;
  const float x[] = {1, -1, 2, 3, 4, 10, /* i = 1 */ -3, 7, 6, -6, 8, -8};
  const float s[] = {1, 2, 4};
  const int64_t zp[] = {0, 1, 2};
  k.in[0] = tf32(3, dims, x);
  k.in[1] = tf32(1, &sd, s);
  k.in[2] = tint(QL_INT8, 1, &sd, zp);
  k.n_in = 3;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  /* j=0: 1, -1 | j=1: 2/2+1=2, 3/2=1.5->2 +1=3 | j=2: 4/4+2=3, 10/4=2.5->2 +2=4
   * j=0: -3, 7 | j=1: 6/2+1=4, -6/2+1=-2 | j=2: 8/4+2=4, -8/4+2=0 */
  const int64_t want[] = {1, -1, 2, 3, 3, 4, -3, 7, 4, -2, 4, 0};
  expect_ints(k.out[0], QL_INT8, want, 12);
  call_free(&k);
}

static void test_q_per_axis(void **state) {
  (void)state;
  per_axis_case(1);
  per_axis_case(-2);
}

static void test_dq_per_axis_default_axis(void **state) {
  (void)state;
  /* DequantizeLinear: "y = (x - x_zero_point) * x_scale", axis defaults to 1.
   * x[2,2] uint8, scale [0.5, 3], zp [10, 0]: column 0: (x-10)*0.5, column 1: x*3 */
  call k;
  call_init(&k, "DequantizeLinear");
  const int64_t dims[] = {2, 2}, two = 2;
  const int64_t x[] = {10, 1, 13, 255};
  const float s[] = {0.5f, 3.0f};
  const int64_t zp[] = {10, 0};
  k.in[0] = tint(QL_UINT8, 2, dims, x);
  k.in[1] = tf32(1, &two, s);
  k.in[2] = tint(QL_UINT8, 1, &two, zp);
  k.n_in = 3;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  const float want[] = {0.0f, 3.0f, 1.5f, 765.0f};
  expect_f32(k.out[0], want, 4);
  call_free(&k);
}

static void test_per_axis_errors(void **state) {
  (void)state;
  /* "Accepted range is [-r, r-1]": axis 2 on a rank-2 input is an error, as
   * is a scale whose length is not D[axis]. Rank-1 input with the default
   * axis 1 and a 2-element scale: no such axis (the tests set axis=0). */
  const int64_t dims[] = {2, 3}, three = 3, two = 2;
  const float x[6] = {0};
  const float s3[] = {1, 1, 1}, s2[] = {1, 1};
  call k;
  call_init(&k, "QuantizeLinear");
  attr_i(&k, "axis", 2);
  k.in[0] = tf32(2, dims, x);
  k.in[1] = tf32(1, &three, s3);
  k.n_in = 2;
  assert_int_equal(call_run(&k, 25, 1), QL_ERR_INVALID_MODEL);
  call_free(&k);

  call_init(&k, "QuantizeLinear");
  k.in[0] = tf32(2, dims, x);
  k.in[1] = tf32(1, &two, s2); /* axis 1 has 3 elements */
  k.n_in = 2;
  assert_int_equal(call_run(&k, 25, 1), QL_ERR_INVALID_MODEL);
  assert_non_null(strstr(k.err.msg, "per-axis"));
  call_free(&k);

  call_init(&k, "DequantizeLinear");
  k.in[0] = tint(QL_UINT8, 1, &two, (const int64_t[]){1, 2});
  k.in[1] = tf32(1, &two, s2);
  k.n_in = 2;
  assert_int_equal(call_run(&k, 25, 1), QL_ERR_INVALID_MODEL);
  call_free(&k);

  /* zero point shape must equal the scale's: "y_zero_point must have the
   * same shape as y_scale" */
  call_init(&k, "QuantizeLinear");
  k.in[0] = tf32(2, dims, x);
  k.in[1] = tf32(1, &three, s3);
  k.in[2] = tint(QL_UINT8, 1, &two, (const int64_t[]){0, 0});
  k.n_in = 3;
  assert_int_equal(call_run(&k, 25, 1), QL_ERR_INVALID_MODEL);
  call_free(&k);

  /* opset 10: "y_scale ... a scalar" -- no per-axis before 13 */
  call_init(&k, "QuantizeLinear");
  k.in[0] = tf32(2, dims, x);
  k.in[1] = tf32(1, &three, s3);
  k.n_in = 2;
  assert_int_equal(call_run(&k, 10, 1), QL_ERR_INVALID_MODEL);
  call_free(&k);
}

/* ---------------------------------------------------------------- blocked */
static void test_q_blocked_partial_block(void **state) {
  (void)state;
  /* "Blocked quantization: ... y_scale shape is (D0, ..., ceil(Di/B), ..., Dn)".
   * x[2,5], axis 1, B 2: scale [2,3]; columns {0,1} use block 0, {2,3} block 1,
   * column 4 alone uses block 2 (the last block is partial). */
  call k;
  call_init(&k, "QuantizeLinear");
  attr_i(&k, "axis", 1);
  attr_i(&k, "block_size", 2);
  const int64_t dims[] = {2, 5}, sdims[] = {2, 3};
  const float x[] = {2, 4, 9, 12, 5, /* row 1 */ -6, 6, 1, 3, 100};
  const float s[] = {2, 3, 5, /* row 1 */ 3, 2, 10};
  const int64_t zp[] = {0, 1, 2, /* row 1 */ 3, 4, 5};
  k.in[0] = tf32(2, dims, x);
  k.in[1] = tf32(2, sdims, s);
  k.in[2] = tint(QL_UINT8, 2, sdims, zp);
  k.n_in = 3;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  /* row 0: 2/2=1, 4/2=2 | 9/3=3 +1=4, 12/3=4 +1=5 | 5/5=1 +2=3
   * row 1: -6/3=-2 +3=1, 6/3=2 +3=5 | 1/2=0.5->0 +4=4, 3/2=1.5->2 +4=6 | 100/10=10 +5=15 */
  const int64_t want[] = {1, 2, 4, 5, 3, 1, 5, 4, 6, 15};
  expect_ints(k.out[0], QL_UINT8, want, 10);
  call_free(&k);
}

static void test_dq_blocked_axis0(void **state) {
  (void)state;
  /* DQ blocked along axis 0: x[3,2] int8, B 2 -> scale [2,2]; rows 0,1 use
   * block 0, row 2 block 1 (partial). y = (x - zp) * s */
  call k;
  call_init(&k, "DequantizeLinear");
  attr_i(&k, "axis", 0);
  attr_i(&k, "block_size", 2);
  const int64_t dims[] = {3, 2}, sdims[] = {2, 2};
  const int64_t x[] = {1, 2, 3, 4, 5, 6};
  const float s[] = {0.5f, 2.0f, 4.0f, 0.25f};
  const int64_t zp[] = {1, 0, -1, 2};
  k.in[0] = tint(QL_INT8, 2, dims, x);
  k.in[1] = tf32(2, sdims, s);
  k.in[2] = tint(QL_INT8, 2, sdims, zp);
  k.n_in = 3;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  /* (1-1)*.5=0, (2-0)*2=4, (3-1)*.5=1, (4-0)*2=8, (5+1)*4=24, (6-2)*.25=1 */
  const float want[] = {0, 4, 1, 8, 24, 1};
  expect_f32(k.out[0], want, 6);
  call_free(&k);
}

static void test_blocked_validation(void **state) {
  (void)state;
  /* "the accepted range is [ceil(Di/Si), ceil(Di/(Si-1))-1]": D 5, S 2 ->
   * B in [3, 4]. B 2 and B 5 are refused, B 3 and B 4 accepted. B < 0 is
   * refused ("The block size is a positive integer"). */
  const int64_t dims[] = {1, 5}, sdims[] = {1, 2};
  const float x[5] = {1, 2, 3, 4, 5};
  const float s[2] = {1, 1};
  const int64_t blocks[] = {2, 3, 4, 5, -1};
  const ql_status want[] = {QL_ERR_INVALID_MODEL, QL_OK, QL_OK, QL_ERR_INVALID_MODEL, QL_ERR_INVALID_MODEL};
  for (int i = 0; i < 5; i++) {
    call k;
    call_init(&k, "QuantizeLinear");
    attr_i(&k, "axis", 1);
    attr_i(&k, "block_size", blocks[i]);
    k.in[0] = tf32(2, dims, x);
    k.in[1] = tf32(2, sdims, s);
    k.n_in = 2;
    ql_status st = call_run(&k, 25, 1);
    if (st != want[i]) fprintf(stderr, "block %lld: %s\n", (long long)blocks[i], k.err.msg);
    assert_int_equal(st, want[i]);
    if (blocks[i] == 2) assert_non_null(strstr(k.err.msg, "[3, 4]"));
    call_free(&k);
  }
}

/* ---------------------------------------------------------------- int4 packing */
static void test_int4_packing(void **state) {
  (void)state;
  /* int4 technical note: "pack(x,y): y << 4 | x & 0x0F", odd counts padded.
   * The node test's DQ input holds [0, 1, 7, -4, -8] as bytes 16, 199, 8:
   * 16 = 0 | 1<<4, 199 = 7 | (-4 & 0xF)<<4 = 7 | 0xC0, 8 = -8 & 0xF (pad 0). */
  ql_tensor *t = NULL;
  ql_error err = {0};
  assert_int_equal(ql_tensor_load_pb(NODE_DIR "/test_dequantizelinear_int4/test_data_set_0/input_0.pb", &t, &err), QL_OK);
  const int64_t unpacked[] = {0, 1, 7, -4, -8};
  expect_ints(t, QL_INT4, unpacked, 5);
  assert_int_equal(((int8_t *)t->data)[3], -4); /* held unpacked, sign-extended */
  ql_tensor_free(t);

  /* Q producing that odd-length int4 tensor, saved and packed again:
   * x/2 = [0, 1, 7, -4, -8] -> bytes 0x10, 0xC7, 0x08 */
  call k;
  call_init(&k, "QuantizeLinear");
  int64_t n = 5;
  const float x[] = {0.0f, 2.0f, 14.5f, -8.0f, -17.0f}; /* 7.25 -> 7, -8.5 -> -8 */
  k.in[0] = tf32(1, &n, x);
  k.in[1] = scalar_f32(2.0f);
  k.in[2] = scalar_int(QL_INT4, 0);
  k.n_in = 3;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  expect_ints(k.out[0], QL_INT4, unpacked, 5);
  char path[] = "/tmp/ql-test-int4-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(ql_tensor_save_pb(k.out[0], path, &err), QL_OK);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  unsigned char buf[256];
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  int found = 0;
  for (size_t i = 0; i + 3 <= len; i++)
    if (buf[i] == 0x10 && buf[i + 1] == 0xc7 && buf[i + 2] == 0x08) found = 1;
  assert_true(found);
  assert_int_equal(ql_tensor_load_pb(path, &t, &err), QL_OK);
  expect_ints(t, QL_INT4, unpacked, 5);
  ql_tensor_free(t);
  unlink(path);
  call_free(&k);
}

/* ---------------------------------------------------------------- types and precision */
static ql_tensor *scalar_f16(float v) {
  ql_tensor *t = tensor(QL_FLOAT16, 0, NULL);
  ((uint16_t *)t->data)[0] = ql_f32_to_f16(v);
  return t;
}

static void test_q_float16_precision(void **state) {
  (void)state;
  /* "The type of y_scale determines the precision of the division ... unless
   * the precision attribute is specified." 35.75 / 1.099609375 = 32.51154...
   * in float32 (-> 33), but in float16 (11-bit significand, ulp 2^-5 at 32)
   * it is 32.5 exactly, which rounds to the even 32. Both operands are
   * float16-exact. */
  for (int prec = 0; prec < 2; prec++) {
    call k;
    call_init(&k, "QuantizeLinear");
    if (prec) attr_i(&k, "precision", QL_FLOAT);
    int64_t n = 1;
    const float x[] = {35.75f};
    k.in[0] = tf32(1, &n, x);
    k.in[1] = scalar_f16(1.099609375f);
    k.in[2] = scalar_int(QL_UINT8, 0);
    k.n_in = 3;
    assert_int_equal(call_run(&k, 25, 1), QL_OK);
    const int64_t want[] = {prec ? 33 : 32};
    expect_ints(k.out[0], QL_UINT8, want, 1);
    call_free(&k);
  }
  /* opset 19/21: x and y_scale share T1, so float32 x with a float16 scale
   * is invalid there */
  call k;
  call_init(&k, "QuantizeLinear");
  int64_t n = 1;
  const float x[] = {1.0f};
  k.in[0] = tf32(1, &n, x);
  k.in[1] = scalar_f16(1.0f);
  k.n_in = 2;
  assert_int_equal(call_run(&k, 21, 1), QL_ERR_INVALID_MODEL);
  call_free(&k);
}

static void test_q_output_type_rules(void **state) {
  (void)state;
  /* "If neither output_dtype nor y_zero_point are supplied, output data type
   * is uint8": 3.4 -> 3 */
  int64_t n = 2;
  const float x[] = {3.4f, -1.0f};
  call k;
  call_init(&k, "QuantizeLinear");
  k.in[0] = tf32(1, &n, x);
  k.in[1] = scalar_f32(1.0f);
  k.n_in = 2;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  expect_ints(k.out[0], QL_UINT8, (const int64_t[]){3, 0}, 2);
  call_free(&k);
  /* output_dtype without zero point selects the type: int16 */
  call_init(&k, "QuantizeLinear");
  attr_i(&k, "output_dtype", QL_INT16);
  k.in[0] = tf32(1, &n, x);
  k.in[1] = scalar_f32(1.0f);
  k.n_in = 2;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  expect_ints(k.out[0], QL_INT16, (const int64_t[]){3, -1}, 2);
  call_free(&k);
  /* "If both output_dtype and y_zero_point are specified, output_dtype must be T3" */
  call_init(&k, "QuantizeLinear");
  attr_i(&k, "output_dtype", QL_INT8);
  k.in[0] = tf32(1, &n, x);
  k.in[1] = scalar_f32(1.0f);
  k.in[2] = scalar_int(QL_UINT8, 0);
  k.n_in = 3;
  assert_int_equal(call_run(&k, 25, 1), QL_ERR_INVALID_MODEL);
  assert_non_null(strstr(k.err.msg, "output_dtype"));
  call_free(&k);
  /* int32 is not a Q output type */
  call_init(&k, "QuantizeLinear");
  attr_i(&k, "output_dtype", QL_INT32);
  k.in[0] = tf32(1, &n, x);
  k.in[1] = scalar_f32(1.0f);
  k.n_in = 2;
  assert_int_equal(call_run(&k, 25, 1), QL_ERR_INVALID_MODEL);
  call_free(&k);
}

static void test_dq_type_rules(void **state) {
  (void)state;
  int64_t n = 1;
  call k;
  /* "x_zero_point and x must have the same type" */
  call_init(&k, "DequantizeLinear");
  k.in[0] = tint(QL_UINT8, 1, &n, (const int64_t[]){5});
  k.in[1] = scalar_f32(1.0f);
  k.in[2] = scalar_int(QL_INT8, 0);
  k.n_in = 3;
  assert_int_equal(call_run(&k, 25, 1), QL_ERR_INVALID_MODEL);
  call_free(&k);
  /* float8e8m0 scales (24+) are not an output type: output_dtype is needed.
   * With output_dtype float: (3 - 1) * 2^(130-127) = 16 */
  for (int with = 0; with < 2; with++) {
    call_init(&k, "DequantizeLinear");
    if (with) attr_i(&k, "output_dtype", QL_FLOAT);
    k.in[0] = tint(QL_INT8, 1, &n, (const int64_t[]){3});
    ql_tensor *s = tensor(QL_FLOAT8E8M0, 0, NULL);
    ((uint8_t *)s->data)[0] = 130;
    k.in[1] = s;
    k.in[2] = scalar_int(QL_INT8, 1);
    k.n_in = 3;
    assert_int_equal(call_run(&k, 25, 1), with ? QL_OK : QL_ERR_INVALID_MODEL);
    if (with) expect_f32(k.out[0], (const float[]){16.0f}, 1);
    call_free(&k);
  }
  /* int32 DQ "there's no zero point": 100000 * 0.5 */
  call_init(&k, "DequantizeLinear");
  k.in[0] = tint(QL_INT32, 1, &n, (const int64_t[]){100000});
  k.in[1] = scalar_f32(0.5f);
  k.n_in = 2;
  assert_int_equal(call_run(&k, 10, 1), QL_OK);
  expect_f32(k.out[0], (const float[]){50000.0f}, 1);
  call_free(&k);
}

static void test_dq_float16_output_rounds_once(void **state) {
  (void)state;
  /* DQ with a float16 scale outputs float16: (2049 - 0) * 1 = 2049 is not a
   * float16 (ulp 2 above 2048) and rounds to the even 2048; 2051 -> 2052. */
  call k;
  call_init(&k, "DequantizeLinear");
  int64_t n = 2;
  k.in[0] = tint(QL_INT16, 1, &n, (const int64_t[]){2049, 2051});
  k.in[1] = scalar_f16(1.0f);
  k.n_in = 2;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  assert_int_equal(k.out[0]->dtype, QL_FLOAT16);
  assert_float_equal(ql_f16_to_f32(((uint16_t *)k.out[0]->data)[0]), 2048.0f, 0);
  assert_float_equal(ql_f16_to_f32(((uint16_t *)k.out[0]->data)[1]), 2052.0f, 0);
  call_free(&k);
}

/* ---------------------------------------------------------------- float8 / float4 */
static void test_q_float8_saturate(void **state) {
  (void)state;
  /* "saturate ... only applies for float 8 quantization": 1000 / 1 to E4M3FN
   * is 448 (0x7E) when saturating and NaN (0x7F) otherwise; 3 / 2 = 1.5 is
   * exact (0x3C); -0 stays -0 (0x80). */
  for (int sat = 0; sat < 2; sat++) {
    call k;
    call_init(&k, "QuantizeLinear");
    attr_i(&k, "saturate", sat);
    int64_t n = 4;
    const float x[] = {1000.0f, 3.0f, -0.0f, -1000.0f};
    k.in[0] = tf32(1, &n, x);
    k.in[1] = scalar_f32(2.0f);
    ql_tensor *zp = tensor(QL_FLOAT8E4M3FN, 0, NULL);
    k.in[2] = zp;
    k.n_in = 3;
    assert_int_equal(call_run(&k, 25, 1), QL_OK);
    const uint8_t *y = k.out[0]->data;
    assert_int_equal(k.out[0]->dtype, QL_FLOAT8E4M3FN);
    assert_int_equal(y[0], sat ? 0x7e : 0x7f);
    assert_int_equal(y[1], 0x3c);
    assert_int_equal(y[2], 0x80);
    assert_int_equal(y[3], sat ? 0xfe : 0xff);
    call_free(&k);
  }
}

static void test_q_float4(void **state) {
  (void)state;
  /* float4 E2M1 output (23+): 5 / 2 = 2.5 lies halfway between 2 (0x4) and
   * 3 (0x5): ties to even -> 2. 20 / 2 = 10 clamps to 6 (0x7); -1.5 -> 0xB. */
  call k;
  call_init(&k, "QuantizeLinear");
  int64_t n = 3;
  const float x[] = {5.0f, 20.0f, -3.0f};
  k.in[0] = tf32(1, &n, x);
  k.in[1] = scalar_f32(2.0f);
  k.in[2] = tensor(QL_FLOAT4E2M1, 0, NULL);
  k.n_in = 3;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  const uint8_t *y = k.out[0]->data;
  assert_int_equal(y[0], 0x4);
  assert_int_equal(y[1], 0x7);
  assert_int_equal(y[2], 0xb);
  call_free(&k);
}

/* ---------------------------------------------------------------- DynamicQuantizeLinear */
static void dql(const float *x, int64_t n, float want_scale, int want_zp, const int64_t *want_y) {
  call k;
  call_init(&k, "DynamicQuantizeLinear");
  k.in[0] = tf32(1, &n, x);
  k.n_in = 1;
  assert_int_equal(call_run(&k, 11, 3), QL_OK);
  expect_ints(k.out[0], QL_UINT8, want_y, n);
  assert_int_equal(k.out[1]->rank, 0);
  assert_float_equal(((float *)k.out[1]->data)[0], want_scale, 0);
  assert_int_equal(((uint8_t *)k.out[2]->data)[0], want_zp);
  call_free(&k);
}

static void test_dynamic_quantize(void **state) {
  (void)state;
  /* DynamicQuantizeLinear-11: range widened to include 0, y_scale =
   * (max - min) / 255, zp = RNE(clip(-min / y_scale, 0, 255)),
   * y = saturate(RNE(x / y_scale) + zp).
   * x = [-1, 0, 1.55, 0.3]: scale = 2.55 / 255 = 0.01, zp = 1 / 0.01 = 100,
   * y = [-100 + 100, 100, 155 + 100, 30 + 100] = [0, 100, 255, 130] */
  const float x[] = {-1.0f, 0.0f, 1.55f, 0.3f};
  dql(x, 4, (1.55f - -1.0f) / 255.0f, 100, (const int64_t[]){0, 100, 255, 130});
  /* all positive: min widened to 0, zp 0; [0.51, 2.55] -> [51, 255] */
  const float x2[] = {0.51f, 2.55f};
  dql(x2, 2, 2.55f / 255.0f, 0, (const int64_t[]){51, 255});
  /* all zero: the spec is silent; we follow ONNX Runtime (y_scale = 1.0, zp 0) */
  const float z[] = {0.0f, 0.0f, 0.0f};
  dql(z, 3, 1.0f, 0, (const int64_t[]){0, 0, 0});
}

/* ---------------------------------------------------------------- Cast */
static void test_cast_to_int4_rne_then_wrap(void **state) {
  (void)state;
  /* int4 technical note: "Cast to a 4 bit type is done by rounding to the
   * nearest-integer (with ties to even) nearest-even integer and truncating":
   * 2.5 -> 2, 3.5 -> 4, -2.5 -> -2, 8 -> -8 (bits 1000), -9 -> 7, 9.5 -> 10 -> -6 */
  call k;
  call_init(&k, "Cast");
  attr_i(&k, "to", QL_INT4);
  int64_t n = 6;
  const float x[] = {2.5f, 3.5f, -2.5f, 8.0f, -9.0f, 9.5f};
  k.in[0] = tf32(1, &n, x);
  k.n_in = 1;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  expect_ints(k.out[0], QL_INT4, (const int64_t[]){2, 4, -2, -8, 7, -6}, 6);
  call_free(&k);
}

static void test_cast_misc(void **state) {
  (void)state;
  call k;
  /* "fixed point: when OOR, discard higher bits and reinterpret ...
   * 200 (int16) -> -56 (int8)"; "bool: zero to False; nonzero to True" */
  int64_t n = 3;
  call_init(&k, "Cast");
  attr_i(&k, "to", QL_INT8);
  k.in[0] = tint(QL_INT16, 1, &n, (const int64_t[]){200, -129, 5});
  k.n_in = 1;
  assert_int_equal(call_run(&k, 25, 1), QL_OK);
  expect_ints(k.out[0], QL_INT8, (const int64_t[]){-56, 127, 5}, 3);
  call_free(&k);
  /* float -> bool: "+/- 0.0 to False; all else to True" (NaN included) */
  call_init(&k, "Cast");
  attr_i(&k, "to", QL_BOOL);
  const float xb[] = {-0.0f, 0.1f, NAN};
  k.in[0] = tf32(1, &n, xb);
  k.n_in = 1;
  assert_int_equal(call_run(&k, 13, 1), QL_OK);
  expect_ints(k.out[0], QL_BOOL, (const int64_t[]){0, 1, 1}, 3);
  call_free(&k);
  /* Cast-1 names the type with a string */
  call_init(&k, "Cast");
  attr_s(&k, "to", "INT32");
  const float xi[] = {-2.7f, 2.7f, 0.0f};
  k.in[0] = tf32(1, &n, xi);
  k.n_in = 1;
  assert_int_equal(call_run(&k, 1, 1), QL_OK);
  expect_ints(k.out[0], QL_INT32, (const int64_t[]){-2, 2, 0}, 3);
  call_free(&k);
  /* float8 targets are refused before opset 19 */
  call_init(&k, "Cast");
  attr_i(&k, "to", QL_FLOAT8E4M3FN);
  k.in[0] = tf32(1, &n, xi);
  k.n_in = 1;
  assert_int_equal(call_run(&k, 13, 1), QL_ERR_INVALID_MODEL);
  call_free(&k);
  /* e8m0 round_mode (24+): 0.3 is between 0.25 and 0.5: up -> 0.5 (126),
   * down -> 0.25 (125), nearest -> 0.25 (0.3 < 0.375) */
  const char *modes[] = {"up", "down", "nearest"};
  const int64_t want[] = {126, 125, 125};
  for (int m = 0; m < 3; m++) {
    int64_t one = 1;
    call_init(&k, "Cast");
    attr_i(&k, "to", QL_FLOAT8E8M0);
    attr_s(&k, "round_mode", modes[m]);
    const float x3[] = {0.3f};
    k.in[0] = tf32(1, &one, x3);
    k.n_in = 1;
    assert_int_equal(call_run(&k, 25, 1), QL_OK);
    assert_int_equal(((uint8_t *)k.out[0]->data)[0], want[m]);
    call_free(&k);
  }
}

static void test_cast_strings(void **state) {
  (void)state;
  /* "+INF (and INF), -INF, and NaN ... case-insensitive"; "1e-5" and "1E8" */
  int64_t n = 6;
  call k;
  call_init(&k, "Cast");
  attr_i(&k, "to", QL_FLOAT);
  ql_tensor *s = tensor(QL_STRING, 1, &n);
  const char *v[] = {"3.14", "1E8", "-inf", "+INF", "nan", "1e-5"};
  for (int i = 0; i < 6; i++) ((char **)s->data)[i] = ql_strdup(v[i]);
  k.in[0] = s;
  k.n_in = 1;
  assert_int_equal(call_run(&k, 13, 1), QL_OK);
  const float *y = k.out[0]->data;
  assert_float_equal(y[0], 3.14f, 0);
  assert_float_equal(y[1], 1e8f, 0);
  assert_true(isinf(y[2]) && y[2] < 0);
  assert_true(isinf(y[3]) && y[3] > 0);
  assert_true(isnan(y[4]));
  assert_float_equal(y[5], 1e-5f, 0);
  call_free(&k);
  /* numbers to strings: "plain floating-point representation (such as
   * "314.15926")". The float 314.15926f is 314.159271240234375; the shortest
   * decimal that reads back to it has 8 digits: 314.15927 (314.1593 is 2.9e-5
   * away, more than half the float spacing 2^-15 there). */
  call_init(&k, "Cast");
  attr_i(&k, "to", QL_STRING);
  int64_t three = 3;
  const float x[] = {314.15926f, -0.5f, INFINITY};
  k.in[0] = tf32(1, &three, x);
  k.n_in = 1;
  assert_int_equal(call_run(&k, 13, 1), QL_OK);
  char **o = k.out[0]->data;
  assert_string_equal(o[0], "314.15927");
  assert_string_equal(o[1], "-0.5");
  assert_string_equal(o[2], "INF");
  call_free(&k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_q_round_half_even),
      cmocka_unit_test(test_q_saturation),
      cmocka_unit_test(test_q_saturation_2bit),
      cmocka_unit_test(test_q_per_axis),
      cmocka_unit_test(test_dq_per_axis_default_axis),
      cmocka_unit_test(test_per_axis_errors),
      cmocka_unit_test(test_q_blocked_partial_block),
      cmocka_unit_test(test_dq_blocked_axis0),
      cmocka_unit_test(test_blocked_validation),
      cmocka_unit_test(test_int4_packing),
      cmocka_unit_test(test_q_float16_precision),
      cmocka_unit_test(test_q_output_type_rules),
      cmocka_unit_test(test_dq_type_rules),
      cmocka_unit_test(test_dq_float16_output_rounds_once),
      cmocka_unit_test(test_q_float8_saturate),
      cmocka_unit_test(test_q_float4),
      cmocka_unit_test(test_dynamic_quantize),
      cmocka_unit_test(test_cast_to_int4_rne_then_wrap),
      cmocka_unit_test(test_cast_misc),
      cmocka_unit_test(test_cast_strings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Float format conversions in src/common/dtype.c against the ONNX reference.
 * Tables in tests/data/dtype/f8-table.inc come from onnx.reference / ml_dtypes
 * (tests/data/dtype/gen.py); the hand-written cases cite the ONNX Cast
 * operator description (opset 25) they check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

#include "../data/dtype/f8-table.inc"

static uint32_t bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- every code of every float8 / float4 type decodes like ml_dtypes ---- */
static void check_decode(ql_dtype t, const uint32_t *want, int n) {
  for (int c = 0; c < n; c++) {
    uint32_t got = bits(ql_f8_to_f32(t, (uint8_t)c));
    if (got != want[c]) {
      fprintf(stderr, "%s code 0x%02x: got 0x%08x, want 0x%08x\n", ql_dtype_name(t), c, got, want[c]);
      fail();
    }
  }
}

static void test_decode_all_codes(void **state) {
  (void)state;
  check_decode(QL_FLOAT8E4M3FN, dec_QL_FLOAT8E4M3FN, 256);
  check_decode(QL_FLOAT8E4M3FNUZ, dec_QL_FLOAT8E4M3FNUZ, 256);
  check_decode(QL_FLOAT8E5M2, dec_QL_FLOAT8E5M2, 256);
  check_decode(QL_FLOAT8E5M2FNUZ, dec_QL_FLOAT8E5M2FNUZ, 256);
  check_decode(QL_FLOAT4E2M1, dec_QL_FLOAT4E2M1, 16);
  for (int c = 0; c < 256; c++) {
    float got = ql_f8_to_f32(QL_FLOAT8E8M0, (uint8_t)c);
    if (c == 0xff) assert_true(isnan(got));
    else assert_int_equal(bits(got), dec_e8m0[c]);
  }
}

/* ---- encodings: every value, every RNE tie and its neighbours, specials ---- */
static void check_encode(ql_dtype t, const f8_enc_case *cs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float x = from_bits(cs[i].in);
    uint8_t s = ql_f32_to_f8(t, x, 1), u = ql_f32_to_f8(t, x, 0);
    if (s != cs[i].sat || u != cs[i].nosat) {
      fprintf(stderr, "%s(0x%08x = %g): saturate got 0x%02x want 0x%02x; no-saturate got 0x%02x want 0x%02x\n",
              ql_dtype_name(t), cs[i].in, x, s, cs[i].sat, u, cs[i].nosat);
      fail();
    }
  }
}

static void test_encode_tables(void **state) {
  (void)state;
  check_encode(QL_FLOAT8E4M3FN, enc_QL_FLOAT8E4M3FN, N(enc_QL_FLOAT8E4M3FN));
  check_encode(QL_FLOAT8E4M3FNUZ, enc_QL_FLOAT8E4M3FNUZ, N(enc_QL_FLOAT8E4M3FNUZ));
  check_encode(QL_FLOAT8E5M2, enc_QL_FLOAT8E5M2, N(enc_QL_FLOAT8E5M2));
  check_encode(QL_FLOAT8E5M2FNUZ, enc_QL_FLOAT8E5M2FNUZ, N(enc_QL_FLOAT8E5M2FNUZ));
  check_encode(QL_FLOAT4E2M1, enc_QL_FLOAT4E2M1, N(enc_QL_FLOAT4E2M1));
}

static void test_f16_bf16_tables(void **state) {
  (void)state;
  for (size_t i = 0; i < N(enc_f16); i++) {
    uint16_t got = ql_f32_to_f16(from_bits(enc_f16[i].in));
    if (got != enc_f16[i].out) {
      fprintf(stderr, "f16(0x%08x): got 0x%04x want 0x%04x\n", enc_f16[i].in, got, enc_f16[i].out);
      fail();
    }
  }
  for (size_t i = 0; i < N(enc_bf16); i++) {
    uint16_t got = ql_f32_to_bf16(from_bits(enc_bf16[i].in));
    if (got != enc_bf16[i].out) {
      fprintf(stderr, "bf16(0x%08x): got 0x%04x want 0x%04x\n", enc_bf16[i].in, got, enc_bf16[i].out);
      fail();
    }
  }
  /* float64 -> float16 rounds once (numpy), so 1 + 2^-11 + 2^-40 goes up */
  for (size_t i = 0; i < N(enc_f16_from_f64); i++) {
    uint16_t h = 0;
    ql_store_f64(QL_FLOAT16, &h, 0, enc_f16_from_f64[i].in);
    if (h != enc_f16_from_f64[i].out) {
      fprintf(stderr, "f16(%.17g): got 0x%04x want 0x%04x\n", enc_f16_from_f64[i].in, h, enc_f16_from_f64[i].out);
      fail();
    }
  }
}

static void test_e8m0_table(void **state) {
  (void)state;
  for (size_t i = 0; i < N(enc_e8m0); i++) {
    float x = from_bits(enc_e8m0[i].in);
    uint8_t up = ql_f32_to_e8m0(x, 1, 0), down = ql_f32_to_e8m0(x, 1, 1), near = ql_f32_to_e8m0(x, 1, 2);
    uint8_t up_ns = ql_f32_to_e8m0(x, 0, 0);
    if (up != enc_e8m0[i].up || down != enc_e8m0[i].down || near != enc_e8m0[i].nearest ||
        up_ns != enc_e8m0[i].up_nosat) {
      fprintf(stderr, "e8m0(0x%08x): got %02x %02x %02x %02x want %02x %02x %02x %02x\n", enc_e8m0[i].in, up, down,
              near, up_ns, enc_e8m0[i].up, enc_e8m0[i].down, enc_e8m0[i].nearest, enc_e8m0[i].up_nosat);
      fail();
    }
  }
}

/* ---- hand-worked edge cases, each tied to the clause it checks ---- */
static void test_float8_edges(void **state) {
  (void)state;
  /* Cast table "else: RNE": 1.0625 lies halfway between E4M3FN 1.0 (0x38) and
   * 1.125 (0x39); ties go to the even mantissa, 1.0. 1.1875 ties to 1.25. */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, 1.0625f, 1), 0x38);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, 1.1875f, 1), 0x3a);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, -1.0625f, 1), 0xb8);
  /* E5M2 1.125 is halfway between 1.0 (0x3c) and 1.25 (0x3d): even -> 1.0 */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E5M2, 1.125f, 1), 0x3c);
  /* "[x] > FLT_MAX": E4M3FN 464 rounds (tie, even) to 448, so it is in range;
   * 480 rounds past 448: saturate -> 448 (0x7e), no saturate -> NaN (0x7f). */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, 464.0f, 0), 0x7e);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, 480.0f, 1), 0x7e);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, 480.0f, 0), 0x7f);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, -480.0f, 0), 0xff);
  /* E5M2 max 57344; 61440 is the tie with "65536" (Inf): RNE goes to Inf. */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E5M2, 61440.0f, 0), 0x7c);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E5M2, 61440.0f, 1), 0x7b);
  /* saturate table, "Inf -> FLT_MAX" for all four types (FNUZ included) */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, INFINITY, 1), 0x7e);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FNUZ, INFINITY, 1), 0x7f);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E5M2, -INFINITY, 1), 0xfb);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E5M2FNUZ, -INFINITY, 1), 0xff);
  /* non-saturate table: Inf -> NaN / NaN / Inf / NaN, -Inf -> -NaN / NaN / -Inf / NaN */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, INFINITY, 0), 0x7f);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, -INFINITY, 0), 0xff);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FNUZ, -INFINITY, 0), 0x80);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E5M2, -INFINITY, 0), 0xfc);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E5M2FNUZ, INFINITY, 0), 0x80);
  /* "-0 -> -0 / 0 / -0 / 0" */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, -0.0f, 1), 0x80);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FNUZ, -0.0f, 1), 0x00);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E5M2, -0.0f, 1), 0x80);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E5M2FNUZ, -0.0f, 1), 0x00);
  /* NaN -> NaN in every type (FNUZ has only 0x80) */
  assert_true(isnan(ql_f8_to_f32(QL_FLOAT8E4M3FN, ql_f32_to_f8(QL_FLOAT8E4M3FN, NAN, 1))));
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FNUZ, NAN, 0), 0x80);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E5M2FNUZ, -NAN, 1), 0x80);
  /* subnormals: E4M3FN smallest is 2^-9 (0x01). 2^-10 is the tie with 0 ->
   * even (0); just above it rounds up; 3*2^-10 ties between 0x01 and 0x02 -> 0x02. */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, 0x1p-10f, 1), 0x00);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, nextafterf(0x1p-10f, 1.0f), 1), 0x01);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, 3 * 0x1p-10f, 1), 0x02);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FN, -0x1p-11f, 1), 0x80); /* rounds to -0 */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT8E4M3FNUZ, -0x1p-12f, 1), 0x00); /* no -0 in FNUZ */
  assert_float_equal(ql_f8_to_f32(QL_FLOAT8E5M2FNUZ, 0x01), 0x1p-17f, 0);
  assert_float_equal(ql_f8_to_f32(QL_FLOAT8E4M3FNUZ, 0x7f), 240.0f, 0);
}

static void test_float4_edges(void **state) {
  (void)state;
  /* float4 E2M1 (Cast opset 23): magnitudes 0, .5, 1, 1.5, 2, 3, 4, 6, RNE,
   * no Inf/NaN so out-of-range clamps to +-6 whatever saturate says. */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT4E2M1, 2.5f, 0), 0x4);  /* tie 2|3 -> 2 (even) */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT4E2M1, 3.5f, 0), 0x6);  /* tie 3|4 -> 4 */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT4E2M1, 5.0f, 0), 0x6);  /* tie 4|6 -> 4 */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT4E2M1, 0.25f, 0), 0x0); /* tie 0|.5 -> 0 */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT4E2M1, 0.75f, 0), 0x2); /* tie .5|1 -> 1 */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT4E2M1, 1e9f, 0), 0x7);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT4E2M1, -INFINITY, 0), 0xf);
  assert_int_equal(ql_f32_to_f8(QL_FLOAT4E2M1, -0.0f, 0), 0x8);
  /* NaN: the backend test test_cast_FLOAT_to_FLOAT4E2M1 expects -0 (0x8) */
  assert_int_equal(ql_f32_to_f8(QL_FLOAT4E2M1, NAN, 1), 0x8);
  assert_float_equal(ql_f8_to_f32(QL_FLOAT4E2M1, 0xf), -6.0f, 0);
}

static void test_e8m0_edges(void **state) {
  (void)state;
  /* Cast opset 24 e8m0 table, column "saturate + up": 0 -> 0 (E8M0_MIN code),
   * NaN -> NaN, Inf -> E8M0_MAX, x > E8M0_MAX -> E8M0_MAX, x < MIN -> MIN. */
  assert_int_equal(ql_f32_to_e8m0(0.0f, 1, 0), 0x00);
  assert_int_equal(ql_f32_to_e8m0(NAN, 1, 0), 0xff);
  assert_int_equal(ql_f32_to_e8m0(INFINITY, 1, 0), 0xfe);
  assert_int_equal(ql_f32_to_e8m0(3e38f, 1, 0), 0xfe);
  assert_int_equal(ql_f32_to_e8m0(1e-45f, 1, 0), 0x00);
  /* column "non-saturate + nearest": 0, Inf, > MAX and < MIN are all NaN */
  assert_int_equal(ql_f32_to_e8m0(0.0f, 0, 2), 0xff);
  assert_int_equal(ql_f32_to_e8m0(INFINITY, 0, 2), 0xff);
  assert_int_equal(ql_f32_to_e8m0(3.4e38f, 0, 2), 0xff);
  assert_int_equal(ql_f32_to_e8m0(1e-45f, 0, 2), 0xff);
  /* round_mode: up = away from zero, down = toward zero, nearest = ties up.
   * 1.1 -> 2 / 1 / 1; 1.5 (tie between 1 and 2) -> nearest 2; 0.124 -> 0.125 up */
  assert_int_equal(ql_f32_to_e8m0(1.1f, 1, 0), 128);
  assert_int_equal(ql_f32_to_e8m0(1.1f, 1, 1), 127);
  assert_int_equal(ql_f32_to_e8m0(1.1f, 1, 2), 127);
  assert_int_equal(ql_f32_to_e8m0(1.5f, 1, 2), 128);
  assert_int_equal(ql_f32_to_e8m0(0.124f, 1, 0), 124);
  /* 2^-127 is the float32 subnormal 0x00400000 and the code 0 exactly */
  assert_int_equal(ql_f32_to_e8m0(0x1p-127f, 0, 0), 0x00);
  assert_int_equal(ql_f32_to_e8m0(0x1.8p-127f, 1, 2), 0x01);
  assert_float_equal(ql_f8_to_f32(QL_FLOAT8E8M0, 0), 0x1p-127f, 0);
}

static void test_f16_bf16_edges(void **state) {
  (void)state;
  /* float16: 65520 is the tie between 65504 and "65536" -> Inf; 2^-25 is the
   * tie between 0 and the smallest subnormal 2^-24 -> 0 */
  assert_int_equal(ql_f32_to_f16(65520.0f), 0x7c00);
  assert_int_equal(ql_f32_to_f16(65519.0f), 0x7bff);
  assert_int_equal(ql_f32_to_f16(0x1p-25f), 0x0000);
  assert_int_equal(ql_f32_to_f16(-0x1.000002p-25f), 0x8001);
  assert_int_equal(ql_f32_to_f16(-0.0f), 0x8000);
  assert_float_equal(ql_f16_to_f32(0x0001), 0x1p-24f, 0);
  assert_true(isinf(ql_f16_to_f32(0xfc00)) && ql_f16_to_f32(0xfc00) < 0);
  /* bfloat16: 1 + 2^-8 is the tie between 1 and 1 + 2^-7 -> 1 (even) */
  assert_int_equal(ql_f32_to_bf16(1.00390625f), 0x3f80);
  assert_int_equal(ql_f32_to_bf16(1.01171875f), 0x3f82); /* tie 1+2^-7 (odd) | 1+2^-6 -> 1+2^-6 */
  assert_int_equal(ql_f32_to_bf16(3.4e38f), 0x7f80);     /* rounds past max -> Inf */
  assert_int_equal(ql_f32_to_bf16(-NAN) & 0xffc0, 0xffc0);
}

static void test_subbyte_store(void **state) {
  (void)state;
  /* Cast "fixed point -> fixed point: when OOR, discard higher bits and
   * reinterpret": 200 -> int4 is 200 & 0xf = 8 -> -8; -9 -> 7; uint2 of 6 -> 2 */
  int8_t s = 0;
  uint8_t u = 0;
  ql_store_i64(QL_INT4, &s, 0, 200);
  assert_int_equal(s, -8);
  ql_store_i64(QL_INT4, &s, 0, -9);
  assert_int_equal(s, 7);
  ql_store_i64(QL_INT2, &s, 0, 3);
  assert_int_equal(s, -1);
  ql_store_i64(QL_UINT2, &u, 0, 6);
  assert_int_equal(u, 2);
  ql_store_i64(QL_UINT4, &u, 0, -1);
  assert_int_equal(u, 15);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_all_codes), cmocka_unit_test(test_encode_tables),
      cmocka_unit_test(test_f16_bf16_tables),  cmocka_unit_test(test_e8m0_table),
      cmocka_unit_test(test_float8_edges),     cmocka_unit_test(test_float4_edges),
      cmocka_unit_test(test_e8m0_edges),       cmocka_unit_test(test_f16_bf16_edges),
      cmocka_unit_test(test_subbyte_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

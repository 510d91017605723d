/* The 8-bit table lookup kernels (src/kernels/lut.h): every kernel this CPU
 * runs must give table[x[i]] for every length (the AVX-512 one works in
 * blocks of 64 and a masked tail) and leave the bytes past n alone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kernels/lut.h"

static uint32_t rng(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 24;
}

static void check_kernel(ql_lut_fn k) {
  uint8_t table[256], x[300] = {0}, y[300 + 16];
  uint32_t s = 7;
  for (int i = 0; i < 256; i++) table[i] = (uint8_t)rng(&s);
  for (size_t n = 0; n <= 300; n++) {
    for (size_t i = 0; i < n; i++) x[i] = (uint8_t)rng(&s);
    if (n > 0) x[0] = 0, x[n - 1] = 255; /* both ends of the table */
    if (n > 2) x[1] = 127, x[2] = 128;   /* both sides of the halves */
    memset(y, 0xEE, sizeof y);
    k(table, x, y, n);
    for (size_t i = 0; i < n; i++) assert_int_equal(y[i], table[x[i]]);
    for (size_t i = n; i < sizeof y; i++) assert_int_equal(y[i], 0xEE);
  }
}

static void test_scalar(void **state) {
  (void)state;
  check_kernel(ql_lut_u8__scalar);
}

static void test_selected(void **state) {
  (void)state;
  for (int isa = QL_ISA_SCALAR; isa < QL_ISA_COUNT; isa++)
    if (ql_isa_supported((ql_isa)isa)) check_kernel(ql_lut_select((ql_isa)isa));
#if defined(__x86_64__)
  if (ql_isa_supported(QL_ISA_AVX512VNNI) && (ql_cpu_features() & QL_CPU_AVX512VBMI))
    assert_ptr_equal(ql_lut_select(QL_ISA_AVX512VNNI), ql_lut_u8__avx512vbmi);
#endif
  assert_ptr_equal(ql_lut_select(QL_ISA_AVX2), ql_lut_u8__scalar);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_scalar), cmocka_unit_test(test_selected)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The run scratch (src/common/scratch.h): blocks are disjoint and aligned,
 * marks nest like a stack, a request that does not fit spills to the heap
 * and is freed at its release, the region then grows to the peak so that
 * the same sequence allocates nothing, and every thread's block ends at
 * the largest any thread asked for. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/scratch.h"
#include "common/util.h"

/* An op that takes a, then a nested op that takes b and c, then d. */
static void sequence(ql_scratch *s, size_t a, size_t b, size_t c, size_t d) {
  ql_scratch_mark m0 = ql_scratch_begin(s);
  unsigned char *pa = ql_scratch_get(s, a);
  assert_non_null(pa);
  memset(pa, 1, a);
  ql_scratch_mark m1 = ql_scratch_begin(s);
  unsigned char *pb = ql_scratch_get(s, b), *pc = ql_scratch_get(s, c);
  assert_non_null(pb);
  assert_non_null(pc);
  assert_int_equal((uintptr_t)pb % 64, 0);
  assert_int_equal((uintptr_t)pc % 64, 0);
  memset(pb, 2, b);
  memset(pc, 3, c);
  /* disjoint, with 64 readable bytes past each */
  assert_true(pb + b + 64 <= pc || pc + c + 64 <= pb);
  assert_true(pa + a + 64 <= pb || pb + b + 64 <= pa);
  ql_scratch_release(s, m1);
  unsigned char *pd = ql_scratch_get(s, d);
  assert_non_null(pd);
  memset(pd, 4, d);
  for (size_t i = 0; i < a; i++) assert_int_equal(pa[i], 1); /* the outer block survived */
  ql_scratch_release(s, m0);
}

static void test_stack_and_growth(void **state) {
  (void)state;
  ql_scratch s;
  assert_int_equal(ql_scratch_init(&s, 1), 0);
  ql_fault_inject_set(0);
  sequence(&s, 1000, 5000, 100, 7000);
  assert_true(ql_fault_inject_set(0) > 0); /* the first time spills */
  sequence(&s, 1000, 5000, 100, 7000);
  assert_int_equal(ql_fault_inject_set(0), 0);
  sequence(&s, 10, 20, 30, 40); /* smaller fits too */
  assert_int_equal(ql_fault_inject_set(0), 0);
  sequence(&s, 1000, 50000, 100, 7000); /* larger spills once more */
  assert_true(ql_fault_inject_set(0) > 0);
  sequence(&s, 1000, 50000, 100, 7000);
  assert_int_equal(ql_fault_inject_set(0), 0);
  ql_scratch_free(&s);
}

static void test_threads(void **state) {
  (void)state;
  ql_scratch s;
  assert_int_equal(ql_scratch_init(&s, 3), 0);
  ql_scratch_mark m = ql_scratch_begin(&s);
  unsigned char *t1 = ql_scratch_thread(&s, 1, 4096);
  assert_non_null(t1);
  memset(t1, 7, 4096);
  assert_null(ql_scratch_thread(&s, 3, 16)); /* no such thread */
  ql_scratch_release(&s, m);
  /* threads 0 and 2 now have 4096 bytes too: no allocation */
  ql_fault_inject_set(0);
  assert_non_null(ql_scratch_thread(&s, 0, 4096));
  assert_non_null(ql_scratch_thread(&s, 2, 4000));
  assert_int_equal(ql_fault_inject_set(0), 0);
  ql_scratch_free(&s);
}

/* Out of memory: the request fails, nothing leaks, the scratch still works. */
static void test_oom(void **state) {
  (void)state;
  ql_scratch s;
  assert_int_equal(ql_scratch_init(&s, 1), 0);
  ql_scratch_mark m = ql_scratch_begin(&s);
  ql_fault_inject_set(1);
  assert_null(ql_scratch_get(&s, 100));
  assert_null(ql_scratch_thread(&s, 0, 100));
  ql_fault_inject_set(0);
  assert_null(ql_scratch_get(&s, SIZE_MAX - 10));
  ql_scratch_release(&s, m);
  sequence(&s, 64, 64, 64, 64);
  ql_scratch_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_stack_and_growth), cmocka_unit_test(test_threads),
                                     cmocka_unit_test(test_oom)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* qgemm kernels against a plain-C int64 reference, for every ISA this CPU
 * has (the others print SKIP). Cases after XNNPACK's gemm tests: K around
 * the k-block (4, and 64 for AMX), N around the 16/32-column tiles, M below
 * and around the row blocks, strided A, output gaps with 0xA5 canaries,
 * all zero-point ranges, per-column b_zp and multipliers, ties and
 * saturation. Comparison is exact. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/qgemm.h"
#include "runtime/threadpool.h"

/* ---------------------------------------------------------------- reference */
/* The documented formula written the long way (round, then add and clamp in
 * double), so it checks the kernels' clamp-before-round shortcut too. */
static int32_t ref_requant(int32_t acc, float mult, int32_t zp, int32_t lo, int32_t hi) {
  float x = (float)acc * mult;
  if (isnan(x)) return lo;
  double q = (double)nearbyintf(x) + zp;
  if (q < lo) return lo;
  if (q > hi) return hi;
  return (int32_t)q;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (uint32_t)(g_rng >> 16);
}

typedef struct gcase {
  int64_t m, k, n;
  int a_signed, b_signed;
  int32_t a_zp;
  int bzp_mode; /* 0 none, 1 scalar, 2 per column */
  int32_t bzp_scalar;
  ql_qgemm_out out;
  int mult_mode; /* 0 per tensor, 1 per column, 2 ties (0.5), 3 saturating (1.0), 4 with NaN/inf/0 columns */
  int bias;
  int fbias;
  int64_t lda_extra, ldc_extra;
  int clamp; /* narrower out_min/out_max */
  int split; /* run compute over odd sub-ranges instead of ql_qgemm_run */
  int big;   /* values at the extremes (wrap test) */
  int trans_b; /* B given N x K (conv weights) */
} gcase;

static size_t out_size(ql_qgemm_out o) { return o == QL_QGEMM_OUT_U8 || o == QL_QGEMM_OUT_S8 ? 1 : 4; }

/* Returns 0 if the kernel output matches exactly. */
static int run_case(ql_isa isa, const gcase *gc, ql_threadpool *pool) {
  const int64_t m = gc->m, k = gc->k, n = gc->n, lda = k + gc->lda_extra, ldc = n + gc->ldc_extra;
  /* 64-byte aligned, so that K % 64 == 0 exercises AMX's in-place A too */
  uint8_t *a = aligned_alloc(64, (size_t)((m * lda + 64) / 64 * 64));
  uint8_t *b = malloc((size_t)(k * n));
  int32_t *bzp = malloc((size_t)n * sizeof(int32_t)), *bias = malloc((size_t)n * sizeof(int32_t));
  float *mult = malloc((size_t)n * sizeof(float)), *fbias = malloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < m * lda; i++) a[i] = gc->big ? (gc->a_signed ? 0x80 : 0xFF) : (uint8_t)rnd();
  for (int64_t i = 0; i < k * n; i++) b[i] = gc->big ? (gc->b_signed ? 0x80 : 0xFF) : (uint8_t)rnd();
  for (int64_t j = 0; j < n; j++) {
    bzp[j] = gc->bzp_mode == 2 ? (gc->b_signed ? (int32_t)(rnd() % 256) - 128 : (int32_t)(rnd() % 256))
                               : gc->bzp_mode == 1 ? gc->bzp_scalar : 0;
    bias[j] = (int32_t)(rnd() % 200001) - 100000;
    fbias[j] = ((int32_t)(rnd() % 2001) - 1000) * 0.37f;
    /* spread that keeps most outputs unsaturated for sums of ~K*2^14 */
    float base = 1.0f / (float)(k * 128 + 1);
    switch (gc->mult_mode) {
    case 1: mult[j] = base * (0.25f + (float)(rnd() % 1000) / 500.0f); break;
    case 2: mult[j] = (j & 1) ? 0.5f : 0.25f; break;
    case 3: mult[j] = 1.0f; break;
    case 4: {
      static const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, 1e-30f, 3e38f};
      mult[j] = special[j % 6];
      break;
    }
    default: mult[j] = base; break;
    }
  }
  ql_qgemm_packed_b *pb = NULL;
  ql_error err = {0};
  assert_int_equal(ql_qgemm_pack_b(b, gc->b_signed, k, n, gc->trans_b ? 1 : n, gc->trans_b ? k : 1,
                                   gc->bzp_mode ? bzp : NULL, gc->bzp_mode == 2, isa, &pb, &err),
                   QL_OK);
  size_t es = out_size(gc->out);
  size_t cbytes = (size_t)((m - 1) * ldc + n) * es + 64;
  uint8_t *c = malloc(cbytes);
  memset(c, 0xA5, cbytes);
  int32_t lo = 0, hi = 0, zp = 0;
  if (gc->out == QL_QGEMM_OUT_U8) {
    lo = gc->clamp ? 17 : 0;
    hi = gc->clamp ? 201 : 255;
    zp = gc->clamp ? 100 : (int32_t)(rnd() % 256);
  } else if (gc->out == QL_QGEMM_OUT_S8) {
    lo = gc->clamp ? -100 : -128;
    hi = gc->clamp ? 90 : 127;
    zp = gc->clamp ? 3 : (int32_t)(rnd() % 256) - 128;
  }
  ql_qgemm_args args = {
      .pb = pb, .a = a, .lda = lda, .m = m, .a_signed = gc->a_signed, .a_zp = gc->a_zp,
      .bias = gc->bias ? bias : NULL, .out_type = gc->out, .mult = mult, .mult_per_col = gc->mult_mode != 0,
      .out_zp = zp, .out_min = lo, .out_max = hi, .fbias = gc->fbias ? fbias : NULL, .c = c, .ldc = ldc};
  if (gc->split) {
    /* odd, unaligned ranges: every tile boundary case of the kernels */
    void *ws = malloc(ql_qgemm_workspace_size(pb, m) + 64);
    args.workspace = (void *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    int64_t mcut = m > 2 ? m / 3 + 1 : 1;
    ql_qgemm_prepare_a(&args, 0, mcut);
    ql_qgemm_prepare_a(&args, mcut, m);
    for (int64_t i0 = 0; i0 < m; i0 += 7)
      for (int64_t j0 = 0; j0 < n; j0 += 13) ql_qgemm_compute(&args, i0, i0 + 7, j0, j0 + 13);
    free(ws);
  } else {
    assert_int_equal(ql_qgemm_run(&args, pool, &err), QL_OK);
  }
  int bad = 0;
  for (int64_t i = 0; i < m && bad < 3; i++) {
    for (int64_t j = 0; j < n && bad < 3; j++) {
      int64_t s = 0;
      int32_t zb = gc->bzp_mode ? bzp[gc->bzp_mode == 2 ? j : 0] : 0;
      for (int64_t kk = 0; kk < k; kk++) {
        int32_t av = gc->a_signed ? (int8_t)a[i * lda + kk] : a[i * lda + kk];
        uint8_t braw = gc->trans_b ? b[j * k + kk] : b[kk * n + j];
        int32_t bv = gc->b_signed ? (int8_t)braw : braw;
        s += (int64_t)(av - gc->a_zp) * (bv - zb);
      }
      if (gc->bias) s += bias[j];
      int32_t acc = (int32_t)(uint32_t)(uint64_t)s; /* 32-bit wrap */
      const uint8_t *cell = c + (size_t)(i * ldc + j) * es;
      float mu = mult[gc->mult_mode ? j : 0];
      int ok;
      int64_t got = 0, want = 0;
      switch (gc->out) {
      case QL_QGEMM_OUT_I32: memcpy(&got, cell, 4); got = (int32_t)got; want = acc; ok = got == want; break;
      case QL_QGEMM_OUT_U8: got = *cell; want = ref_requant(acc, mu, zp, lo, hi); ok = got == want; break;
      case QL_QGEMM_OUT_S8: got = (int8_t)*cell; want = ref_requant(acc, mu, zp, lo, hi); ok = got == want; break;
      default: {
        float y = (float)acc * mu, g;
        if (gc->fbias) y = y + fbias[j];
        memcpy(&g, cell, 4);
        ok = memcmp(&g, &y, 4) == 0 || (isnan(g) && isnan(y));
        got = (int64_t)g;
        want = (int64_t)y;
      }
      }
      if (!ok) {
        print_error("%s: M x N x K = %lld x %lld x %lld (a_signed %d b_signed %d a_zp %d bzp_mode %d out %d "
                    "mult_mode %d split %d lda %lld ldc %lld): C[%lld][%lld] = %lld, want %lld (acc %d)\n",
                    ql_isa_name(isa), (long long)m, (long long)n, (long long)k, gc->a_signed, gc->b_signed,
                    gc->a_zp, gc->bzp_mode, gc->out, gc->mult_mode, gc->split, (long long)lda, (long long)ldc,
                    (long long)i, (long long)j, (long long)got, (long long)want, acc);
        bad++;
      }
    }
  }
  /* canaries: the row gaps and past the end */
  for (int64_t i = 0; i < m && !bad; i++) {
    size_t from = (size_t)(i * ldc + n) * es, to = i + 1 < m ? (size_t)((i + 1) * ldc) * es : cbytes;
    for (size_t x = from; x < to; x++)
      if (c[x] != 0xA5) {
        print_error("%s: M x N x K = %lld x %lld x %lld: byte %zu after row %lld overwritten\n", ql_isa_name(isa),
                    (long long)m, (long long)n, (long long)k, x - from, (long long)i);
        bad++;
        break;
      }
  }
  ql_qgemm_packed_b_free(pb);
  free(a);
  free(b);
  free(bzp);
  free(bias);
  free(mult);
  free(fbias);
  free(c);
  return bad;
}

/* ---------------------------------------------------------------- cases */
static const int64_t g_ks[] = {1, 3, 4, 5, 13, 63, 64, 65, 133, 300};
static const int64_t g_ns[] = {1, 15, 16, 17, 31, 32, 33, 47, 64, 80};
static const int64_t g_ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40};
static const int32_t g_azp_u8[] = {0, 1, 128, 255};
static const int32_t g_azp_s8[] = {-128, 0, 127};

static int sweep(ql_isa isa, ql_threadpool *pool) {
  int fails = 0, cases = 0;
  /* shapes: every K with a few M x N, then every M and N with a few K */
  for (size_t ki = 0; ki < sizeof g_ks / sizeof *g_ks; ki++)
    for (size_t t = 0; t < 4; t++) {
      static const int64_t mn[4][2] = {{1, 17}, {5, 33}, {17, 16}, {33, 47}};
      for (int sign = 0; sign < 4; sign++) {
        gcase gc = {.m = mn[t][0], .n = mn[t][1], .k = g_ks[ki], .a_signed = sign & 1, .b_signed = sign >> 1};
        gc.a_zp = gc.a_signed ? g_azp_s8[(ki + t) % 3] : g_azp_u8[(ki + t) % 4];
        gc.bzp_mode = (int)((ki + t + sign) % 3);
        gc.bzp_scalar = gc.b_signed ? -77 : 200;
        gc.out = (ql_qgemm_out)((ki + t) % 4);
        gc.mult_mode = (int)((ki * 3 + t) % 4);
        gc.bias = (int)(t & 1);
        gc.fbias = (int)((ki + t) & 1);
        gc.lda_extra = (t & 2) ? 7 : 0;
        gc.ldc_extra = (t == 1) ? 5 : 0;
        gc.split = (int)((ki + t) % 3 == 0);
        gc.trans_b = (int)(t == 3);
        fails += run_case(isa, &gc, pool);
        cases++;
      }
    }
  for (size_t mi = 0; mi < sizeof g_ms / sizeof *g_ms; mi++)
    for (size_t ni = 0; ni < sizeof g_ns / sizeof *g_ns; ni++) {
      gcase gc = {.m = g_ms[mi], .n = g_ns[ni], .k = (mi + ni) % 3 == 0 ? 70 : (mi + ni) % 3 == 1 ? 12 : 128};
      gc.a_signed = (int)(mi & 1);
      gc.b_signed = (int)((ni & 1) ^ 1);
      gc.a_zp = gc.a_signed ? g_azp_s8[ni % 3] : g_azp_u8[ni % 4];
      gc.bzp_mode = (int)(ni % 3);
      gc.bzp_scalar = gc.b_signed ? 5 : 3;
      gc.out = (ql_qgemm_out)((mi + 2 * ni) % 4);
      gc.mult_mode = (int)((mi + ni) % 4);
      gc.bias = (int)((mi ^ ni) & 1);
      gc.lda_extra = mi % 3 == 0 ? 3 : 0;
      gc.ldc_extra = ni % 2 ? 9 : 0;
      gc.clamp = (int)(ni % 4 == 1);
      gc.split = (int)((mi + ni) % 5 == 0);
      fails += run_case(isa, &gc, pool);
      cases++;
    }
  /* every zero point, every output type, per-column and special multipliers */
  for (int sign = 0; sign < 4; sign++)
    for (int zi = 0; zi < 4; zi++)
      for (int o = 0; o < 4; o++)
        for (int mm = 0; mm < 5; mm++) {
          gcase gc = {.m = 19, .n = 37, .k = 67, .a_signed = sign & 1, .b_signed = sign >> 1};
          if (gc.a_signed && zi == 3) continue;
          gc.a_zp = gc.a_signed ? g_azp_s8[zi] : g_azp_u8[zi];
          gc.bzp_mode = 2;
          gc.out = (ql_qgemm_out)o;
          gc.mult_mode = mm;
          gc.bias = 1;
          gc.fbias = mm & 1;
          gc.trans_b = (o + zi) & 1;
          fails += run_case(isa, &gc, pool);
          cases++;
        }
  /* 32-bit wrap: |sum| > 2^31 with every value at its extreme */
  for (int sign = 0; sign < 4; sign++) {
    gcase gc = {.m = 3, .n = 17, .k = 140000, .a_signed = sign & 1, .b_signed = sign >> 1, .big = 1};
    gc.a_zp = gc.a_signed ? 127 : 0;
    gc.bzp_mode = 1;
    gc.bzp_scalar = gc.b_signed ? 127 : 0;
    gc.out = QL_QGEMM_OUT_I32;
    fails += run_case(isa, &gc, pool);
    cases++;
  }
  print_message("%s: %d cases, %d failures\n", ql_isa_name(isa), cases, fails);
  return fails;
}

static void test_isa(void **state) {
  ql_isa isa = (ql_isa)(intptr_t)*state;
  if (!ql_isa_supported(isa)) {
    print_message("SKIP: this CPU has no %s\n", ql_isa_name(isa));
    skip();
  }
  assert_int_equal(sweep(isa, NULL), 0);
}

static int state_scalar(void **s) { *s = (void *)(intptr_t)QL_ISA_SCALAR; return 0; }
static int state_avx2(void **s) { *s = (void *)(intptr_t)QL_ISA_AVX2; return 0; }
static int state_avxvnni(void **s) { *s = (void *)(intptr_t)QL_ISA_AVXVNNI; return 0; }
static int state_avx512vnni(void **s) { *s = (void *)(intptr_t)QL_ISA_AVX512VNNI; return 0; }
static int state_amx(void **s) { *s = (void *)(intptr_t)QL_ISA_AMX; return 0; }

/* The same bytes whatever the thread count (3 threads on 2 cores too) and
 * the same as the scalar twin's. */
static void test_threads_deterministic(void **state) {
  (void)state;
  ql_threadpool *pool = NULL;
  ql_error err = {0};
  assert_int_equal(ql_threadpool_create(3, &pool, &err), QL_OK);
  const int64_t m = 301, k = 1000, n = 100; /* M x K > 2^18: A is prepared in parallel too */
  uint8_t *a = malloc((size_t)(m * k)), *b = malloc((size_t)(k * n));
  for (int64_t i = 0; i < m * k; i++) a[i] = (uint8_t)rnd();
  for (int64_t i = 0; i < k * n; i++) b[i] = (uint8_t)rnd();
  int32_t bzp = 3;
  float mult = 1.0f / 40000;
  ql_qgemm_packed_b *pb, *pb_scalar;
  assert_int_equal(ql_qgemm_pack_b(b, 1, k, n, n, 1, &bzp, 0, QL_ISA_AUTO, &pb, &err), QL_OK);
  assert_int_equal(ql_qgemm_pack_b(b, 1, k, n, n, 1, &bzp, 0, QL_ISA_SCALAR, &pb_scalar, &err), QL_OK);
  uint8_t *c1 = malloc((size_t)(m * n)), *c2 = malloc((size_t)(m * n));
  /* reference: the scalar twin on the calling thread */
  ql_qgemm_args args = {.pb = pb_scalar, .a = a, .lda = k, .m = m, .a_zp = 9, .out_type = QL_QGEMM_OUT_U8,
                        .mult = &mult, .out_zp = 128, .out_min = 0, .out_max = 255, .c = c1, .ldc = n};
  assert_int_equal(ql_qgemm_run(&args, NULL, &err), QL_OK);
  args.pb = pb;
  args.c = c2;
  for (int rep = 0; rep < 5; rep++) {
    memset(c2, 0, (size_t)(m * n));
    assert_int_equal(ql_qgemm_run(&args, pool, &err), QL_OK);
    assert_memory_equal(c1, c2, (size_t)(m * n));
  }
  /* the whole sweep through the pool, on the best ISA */
  assert_int_equal(sweep(ql_isa_best(), pool), 0);
  ql_qgemm_packed_b_free(pb);
  ql_qgemm_packed_b_free(pb_scalar);
  free(a);
  free(b);
  free(c1);
  free(c2);
  ql_threadpool_free(pool);
}

typedef struct cover {
  int hits[37][23];
} cover;

static void cover_fn(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)thread;
  cover *cv = ctx;
  for (size_t i = i0; i < i0 + ni; i++)
    for (size_t j = j0; j < j0 + nj; j++) __atomic_fetch_add(&cv->hits[i][j], 1, __ATOMIC_RELAXED);
}

typedef struct nested {
  ql_threadpool *pool;
  cover cv;
} nested;

static void nested_fn(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)thread;
  nested *nc = ctx;
  (void)j0;
  (void)nj;
  /* a task that uses the pool again: must run inline, not deadlock */
  for (size_t i = i0; i < i0 + ni; i++) ql_threadpool_parallel_for_2d(nc->pool, cover_fn, &nc->cv, 37, 23, 37, 5);
}

/* Each task is told its thread: below the pool's size, and never the same
 * index in two tasks at once (the contract ql_op_thread_scratch relies on). */
typedef struct busy {
  int size;
  int busy[4];
  int bad, seen[4];
} busy;

static void busy_fn(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)i0;
  (void)j0;
  (void)ni;
  (void)nj;
  busy *b = ctx;
  if (thread >= (size_t)b->size) {
    __atomic_store_n(&b->bad, 1, __ATOMIC_RELAXED);
    return;
  }
  if (__atomic_exchange_n(&b->busy[thread], 1, __ATOMIC_ACQ_REL)) __atomic_store_n(&b->bad, 1, __ATOMIC_RELAXED);
  __atomic_store_n(&b->seen[thread], 1, __ATOMIC_RELAXED);
  for (volatile int k = 0; k < 2000; k++) {
  }
  __atomic_store_n(&b->busy[thread], 0, __ATOMIC_RELEASE);
}

static void test_threadpool_thread_index(void **state) {
  (void)state;
  for (int n = 1; n <= 3; n++) {
    ql_threadpool *pool = NULL;
    assert_int_equal(ql_threadpool_create(n, &pool, NULL), QL_OK);
    busy b;
    memset(&b, 0, sizeof b);
    b.size = n;
    for (int r = 0; r < 50; r++) ql_threadpool_parallel_for_2d(pool, busy_fn, &b, 64, 3, 1, 1);
    assert_int_equal(b.bad, 0);
    assert_int_equal(b.seen[0], 1); /* the caller always works */
    ql_threadpool_free(pool);
  }
  busy b1;
  memset(&b1, 0, sizeof b1);
  b1.size = 1;
  ql_threadpool_parallel_for_2d(NULL, busy_fn, &b1, 5, 5, 2, 2); /* no pool: thread 0 */
  assert_int_equal(b1.bad, 0);
  assert_int_equal(b1.seen[0], 1);
}

static void test_threadpool_nested(void **state) {
  (void)state;
  nested nc;
  memset(&nc, 0, sizeof nc);
  assert_int_equal(ql_threadpool_create(2, &nc.pool, NULL), QL_OK);
  ql_threadpool_parallel_for_2d(nc.pool, nested_fn, &nc, 4, 1, 1, 1);
  for (int i = 0; i < 37; i++)
    for (int j = 0; j < 23; j++) assert_int_equal(nc.cv.hits[i][j], 4);
  ql_threadpool_free(nc.pool);
}

static void test_threadpool_covers_once(void **state) {
  (void)state;
  for (int nt = 1; nt <= 4; nt++) {
    ql_threadpool *pool = NULL;
    assert_int_equal(ql_threadpool_create(nt, &pool, NULL), QL_OK);
    assert_int_equal(ql_threadpool_size(pool), nt);
    for (int rep = 0; rep < 20; rep++) {
      cover cv;
      memset(&cv, 0, sizeof cv);
      ql_threadpool_parallel_for_2d(pool, cover_fn, &cv, 37, 23, (size_t)(rep % 5 + 1), (size_t)(rep % 7 + 1));
      for (int i = 0; i < 37; i++)
        for (int j = 0; j < 23; j++) assert_int_equal(cv.hits[i][j], 1);
    }
    /* fewer tiles than threads, and counts that do not divide evenly: some
     * threads' shares are empty or one tile longer */
    static const size_t tiles[][2] = {{37, 12}, {19, 23}, {37, 8}, {13, 23}, {10, 6}};
    for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++) {
      cover cv;
      memset(&cv, 0, sizeof cv);
      ql_threadpool_parallel_for_2d(pool, cover_fn, &cv, 37, 23, tiles[t][0], tiles[t][1]);
      for (int i = 0; i < 37; i++)
        for (int j = 0; j < 23; j++) assert_int_equal(cv.hits[i][j], 1);
    }
    ql_threadpool_free(pool);
  }
  ql_threadpool_free(NULL);
  cover cv;
  memset(&cv, 0, sizeof cv);
  ql_threadpool_parallel_for_2d(NULL, cover_fn, &cv, 37, 23, 4, 4);
  assert_int_equal(cv.hits[36][22], 1);
}

/* Hand-worked values of the documented requantization (ONNX: "rounding to
 * nearest ties to even", then saturate). */
static void test_requant_formula(void **state) {
  (void)state;
  assert_int_equal(ql_requant_fp32(5, 0.5f, 0, -128, 127), 2);    /* 2.5 -> 2 */
  assert_int_equal(ql_requant_fp32(7, 0.5f, 0, -128, 127), 4);    /* 3.5 -> 4 */
  assert_int_equal(ql_requant_fp32(-5, 0.5f, 0, -128, 127), -2);  /* -2.5 -> -2 */
  assert_int_equal(ql_requant_fp32(-7, 0.5f, 10, -128, 127), 6);  /* -3.5 -> -4, + 10 */
  assert_int_equal(ql_requant_fp32(1000, 1.0f, 0, 0, 255), 255);
  assert_int_equal(ql_requant_fp32(-1000, 1.0f, 128, 0, 255), 0);
  assert_int_equal(ql_requant_fp32(2147483647, 1e30f, 0, -128, 127), 127);
  assert_int_equal(ql_requant_fp32(-2147483647, 1e30f, 0, -128, 127), -128);
  assert_int_equal(ql_requant_fp32(1, NAN, 5, 0, 255), 0);
  assert_int_equal(ql_requant_fp32(3, 0.25f, 0, -128, 127), 1);  /* 0.75 */
  assert_int_equal(ql_requant_fp32(16777217, 1.0f, 0, 0, 255), 255);
}

static void test_isa_names(void **state) {
  (void)state;
  for (int i = 0; i < QL_ISA_COUNT; i++) assert_int_equal(ql_isa_from_name(ql_isa_name((ql_isa)i)), i);
  assert_int_equal(ql_isa_from_name("avx9000"), QL_ISA_AUTO);
  assert_true(ql_isa_supported(QL_ISA_SCALAR));
  assert_true(ql_isa_supported(ql_isa_best()));
  print_message("best ISA: %s (features 0x%x)\n", ql_isa_name(ql_isa_best()), ql_cpu_features());
}

static void test_bad_args(void **state) {
  (void)state;
  uint8_t b[4] = {0};
  ql_qgemm_packed_b *pb = NULL;
  ql_error err = {0};
  int32_t zp = 300;
  assert_int_equal(ql_qgemm_pack_b(b, 0, 2, 2, 2, 1, &zp, 0, QL_ISA_SCALAR, &pb, &err), QL_ERR_INVALID_ARGUMENT);
  assert_null(pb);
  assert_int_equal(ql_qgemm_pack_b(b, 0, 0, 2, 2, 1, NULL, 0, QL_ISA_SCALAR, &pb, &err), QL_ERR_INVALID_ARGUMENT);
  assert_int_equal(ql_qgemm_pack_b(b, 0, 2, 2, 2, 1, NULL, 0, QL_ISA_SCALAR, &pb, &err), QL_OK);
  uint8_t a[4] = {0}, c[4];
  ql_qgemm_args args = {.pb = pb, .a = a, .lda = 2, .m = 2, .a_zp = 256, .c = c, .ldc = 2};
  assert_int_equal(ql_qgemm_run(&args, NULL, &err), QL_ERR_INVALID_ARGUMENT);
  args.a_zp = 0;
  args.out_type = QL_QGEMM_OUT_U8; /* no multiplier */
  assert_int_equal(ql_qgemm_run(&args, NULL, &err), QL_ERR_INVALID_ARGUMENT);
  ql_qgemm_packed_b_free(pb);
  ql_qgemm_packed_b_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_requant_formula),
      cmocka_unit_test(test_isa_names),
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_threadpool_covers_once),
      cmocka_unit_test(test_threadpool_nested), cmocka_unit_test(test_threadpool_thread_index),
  };
  const struct CMUnitTest isa_tests[] = {
      {"isa_scalar", test_isa, state_scalar, NULL, NULL},
      {"isa_avx2", test_isa, state_avx2, NULL, NULL},
      {"isa_avxvnni", test_isa, state_avxvnni, NULL, NULL},
      {"isa_avx512vnni", test_isa, state_avx512vnni, NULL, NULL},
      {"isa_amx", test_isa, state_amx, NULL, NULL},
      cmocka_unit_test(test_threads_deterministic),
  };
  int r = cmocka_run_group_tests_name("qgemm-basics", tests, NULL, NULL);
  return r + cmocka_run_group_tests_name("qgemm-isa", isa_tests, NULL, NULL);
}

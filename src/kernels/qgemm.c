/* qgemm: B packing, the per-run plan (which kernel family, where A goes) and
 * the threaded driver. The ISA kernels live in qgemm-<isa>.c. */
#include "qgemm-internal.h"
#include "../common/util.h"
#include "../runtime/threadpool.h"

/* Below this many rows the AMX tiles (16 rows) would mostly multiply
 * padding, and the work is bound by streaming B anyway: use the AVX-512 VNNI
 * kernels, which read the same packed B. */
#define QL_AMX_MIN_M 4
#ifndef QL_QGEMM_STREAM_BYTES
#define QL_QGEMM_STREAM_BYTES ((size_t)1 << 20)
#endif

static ql_isa path_for(const ql_qgemm_packed_b *pb, int64_t m) {
  if (pb->isa == QL_ISA_AMX && m < QL_AMX_MIN_M) return QL_ISA_AVX512VNNI;
  return pb->isa;
}

static int64_t round_up(int64_t x, int64_t a) { return (x + a - 1) / a * a; }

#if defined(__SSE2__)
#include <emmintrin.h>
/* 16 columns of a row-major B, 4 rows at a time: interleave the rows so that
 * each column's 4 k are adjacent (the panel layout) and add the column sums.
 * Returns the number of rows done (a multiple of 4). */
static int64_t pack_rows_sse2(const uint8_t *src, int64_t stride, int64_t k, uint8_t flip, int8_t *panel,
                              uint32_t sum[16]) {
  const __m128i x = _mm_set1_epi8((char)flip);
  __m128i s0 = _mm_setzero_si128(), s1 = s0, s2 = s0, s3 = s0; /* columns 0-3, 4-7, 8-11, 12-15 */
  int64_t kk = 0;
  for (; kk + 4 <= k; kk += 4) {
    __m128i r0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + kk * stride)), x);
    __m128i r1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + (kk + 1) * stride)), x);
    __m128i r2 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + (kk + 2) * stride)), x);
    __m128i r3 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + (kk + 3) * stride)), x);
    __m128i t0 = _mm_unpacklo_epi8(r0, r1), t1 = _mm_unpackhi_epi8(r0, r1);
    __m128i t2 = _mm_unpacklo_epi8(r2, r3), t3 = _mm_unpackhi_epi8(r2, r3);
    __m128i o[4] = {_mm_unpacklo_epi16(t0, t2), _mm_unpackhi_epi16(t0, t2), _mm_unpacklo_epi16(t1, t3),
                    _mm_unpackhi_epi16(t1, t3)};
    __m128i *dst = (__m128i *)(panel + kk * 16);
    for (int c = 0; c < 4; c++) {
      _mm_store_si128(dst + c, o[c]);
      /* each int32 lane is one column's 4 int8: sign-extend and add them */
      __m128i lo = _mm_srai_epi16(_mm_unpacklo_epi8(o[c], o[c]), 8);
      __m128i hi = _mm_srai_epi16(_mm_unpackhi_epi8(o[c], o[c]), 8);
      __m128i ones = _mm_set1_epi16(1);
      __m128i plo = _mm_madd_epi16(lo, ones), phi = _mm_madd_epi16(hi, ones); /* pair sums */
      /* [c0 c0 c1 c1] + [c2 c2 c3 c3] -> per column */
      __m128i a = _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(plo), _mm_castsi128_ps(phi), 0x88));
      __m128i b = _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(plo), _mm_castsi128_ps(phi), 0xDD));
      __m128i cs = _mm_add_epi32(a, b);
      if (c == 0) s0 = _mm_add_epi32(s0, cs);
      if (c == 1) s1 = _mm_add_epi32(s1, cs);
      if (c == 2) s2 = _mm_add_epi32(s2, cs);
      if (c == 3) s3 = _mm_add_epi32(s3, cs);
    }
  }
  uint32_t t[16];
  _mm_storeu_si128((__m128i *)t, s0);
  _mm_storeu_si128((__m128i *)(t + 4), s1);
  _mm_storeu_si128((__m128i *)(t + 8), s2);
  _mm_storeu_si128((__m128i *)(t + 12), s3);
  for (int j = 0; j < 16; j++) sum[j] += t[j];
  return kk;
}
#endif

ql_status ql_qgemm_pack_b(const void *b, int b_signed, int64_t k, int64_t n, int64_t stride_k,
                          int64_t stride_n, const int32_t *b_zp, int b_zp_per_col, ql_isa isa,
                          ql_qgemm_packed_b **out, ql_error *err) {
  *out = NULL;
  if (isa == QL_ISA_AUTO) isa = ql_isa_best();
  if (isa < 0 || isa >= QL_ISA_COUNT || !ql_isa_supported(isa))
    return ql_errf(err, QL_ERR_UNSUPPORTED_HARDWARE, "qgemm: this CPU cannot run %s kernels", ql_isa_name(isa));
  if (k < 1 || n < 1 || k > ((int64_t)1 << 31) - 64 || n > ((int64_t)1 << 40))
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "qgemm: bad B size %lld x %lld", (long long)k, (long long)n);
  for (int64_t j = 0; b_zp && j < (b_zp_per_col ? n : 1); j++)
    if (b_zp[j] < (b_signed ? -128 : 0) || b_zp[j] > (b_signed ? 127 : 255))
      return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "qgemm: b_zero_point %d out of range", (int)b_zp[j]);
  ql_qgemm_packed_b *pb = ql_calloc(1, sizeof *pb);
  if (!pb) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "qgemm: out of memory packing B");
  pb->isa = isa;
  pb->b_signed = b_signed;
  pb->k = k;
  pb->n = n;
  pb->kp = round_up(k, isa == QL_ISA_AMX ? 64 : 4);
  pb->np = round_up(n, QL_QGEMM_NR);
  size_t bytes;
  if (ql_mul_overflow_size((size_t)pb->kp, (size_t)pb->np, &bytes)) {
    ql_qgemm_packed_b_free(pb);
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "qgemm: B too large");
  }
  pb->data = ql_malloc_aligned(bytes);
  pb->bzp = ql_malloc_aligned((size_t)pb->np * sizeof(int32_t));
  pb->colk = ql_malloc_aligned((size_t)pb->np * sizeof(int32_t));
  if (!pb->data || !pb->bzp || !pb->colk) {
    ql_qgemm_packed_b_free(pb);
    return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "qgemm: out of memory packing B (%zu bytes)", bytes);
  }
  memset(pb->data, 0, bytes);
  const uint8_t *src = b;
  /* uint8 B is stored as b - 128 (int8), zero point shifted alike */
  const int shift = b_signed ? 0 : 128;
  pb->need_rowsum = 0;
  for (int64_t p0 = 0; p0 < pb->np; p0 += QL_QGEMM_NR) {
    int8_t *panel = pb->data + p0 * pb->kp;
    const int64_t cols = n - p0 < QL_QGEMM_NR ? n - p0 : QL_QGEMM_NR;
    uint32_t sum[QL_QGEMM_NR] = {0};
    /* k outer: a row-major B is then read 16 contiguous bytes at a time */
    const uint8_t flip = b_signed ? 0 : 0x80; /* b - 128 == (int8)(b ^ 0x80) */
    if (cols == QL_QGEMM_NR && stride_n == 1) {
      int64_t kk = 0;
#if defined(__SSE2__)
      kk = pack_rows_sse2(src + p0, stride_k, k, flip, panel, sum);
#endif
      for (; kk < k; kk++) {
        const uint8_t *row = src + kk * stride_k + p0;
        int8_t *dst = panel + (kk / 4) * 64 + (kk % 4);
        for (int j = 0; j < QL_QGEMM_NR; j++) {
          int8_t v = (int8_t)(row[j] ^ flip);
          dst[j * 4] = v;
          sum[j] += (uint32_t)(int32_t)v;
        }
      }
    } else {
      for (int64_t kk = 0; kk < k; kk++) {
        const uint8_t *row = src + kk * stride_k + p0 * stride_n;
        int8_t *dst = panel + (kk / 4) * 64 + (kk % 4);
        for (int64_t j = 0; j < cols; j++) {
          int8_t v = (int8_t)(row[j * stride_n] ^ flip);
          dst[j * 4] = v;
          sum[j] += (uint32_t)(int32_t)v;
        }
      }
    }
    for (int64_t j = 0; j < QL_QGEMM_NR; j++) {
      int64_t col = p0 + j;
      int32_t zp = j < cols ? (b_zp ? b_zp[b_zp_per_col ? col : 0] : 0) - shift : 0;
      pb->bzp[col] = zp;
      pb->colk[col] = j < cols ? (int32_t)((uint32_t)k * (uint32_t)zp - sum[j]) : 0;
      if (zp) pb->need_rowsum = 1;
    }
  }
  *out = pb;
  return QL_OK;
}

void ql_qgemm_packed_b_free(ql_qgemm_packed_b *pb) {
  if (!pb) return;
  ql_free_aligned(pb->data);
  ql_free_aligned(pb->bzp);
  ql_free_aligned(pb->colk);
  ql_free(pb);
}

/* Copied rows of A: all of them, or the last 32, plus 32 zero rows. */
static int64_t tail_start(const ql_qgemm_packed_b *pb, int64_t m, int direct) {
  (void)pb;
  return direct ? (m > 32 ? m - 32 : 0) : 0;
}

/* In place when no transform or padding is needed; for AMX also only when
 * rows are cache-line aligned (a 64-byte tile row that straddles two lines
 * costs two loads). */
static int can_use_a_directly(const ql_qgemm_args *args, ql_isa path, int xor_a) {
  if (xor_a || args->pb->kp != args->pb->k || path == QL_ISA_SCALAR) return 0;
  if (path == QL_ISA_AMX) return (uintptr_t)args->a % 64 == 0 && args->lda % 64 == 0;
  return 1;
}

size_t ql_qgemm_workspace_size(const ql_qgemm_packed_b *pb, int64_t m) {
  /* the larger of the two layouts: A's sign is not known here */
  size_t rows = (size_t)m + 32;
  return (size_t)round_up((int64_t)(rows * (size_t)(pb->kp + 64)), 64) + (size_t)m * sizeof(int32_t) + 64;
}

void ql_qgemm_get_prep(const ql_qgemm_args *args, ql_qgemm_prep *p) {
  const ql_qgemm_packed_b *pb = args->pb;
  p->path = path_for(pb, args->m);
  /* u8 x s8 kernels need A unsigned; AMX (tdpbssd) and scalar take int8 A */
  p->xor_a = args->a_signed && p->path != QL_ISA_AMX && p->path != QL_ISA_SCALAR;
  p->direct = can_use_a_directly(args, p->path, p->xor_a);
  p->a = args->a;
  p->lda = args->lda;
  p->a_zp = args->a_zp + (p->xor_a ? 128 : 0);
  p->kp = pb->kp;
  p->m = args->m;
  /* a row stride of a multiple of 1 KiB puts the 16 rows of a tile load in
   * a few L1 sets (4K aliasing); one more cache line spreads them */
  p->ts = p->kp % 1024 == 0 ? p->kp + 64 : p->kp;
  p->tail_start = tail_start(pb, args->m, p->direct);
  p->tail = args->workspace;
  size_t tail_bytes = (size_t)round_up((args->m - p->tail_start + 32) * p->ts, 64);
  p->rowsum = pb->need_rowsum ? (int32_t *)((char *)args->workspace + tail_bytes) : NULL;
}

void ql_qgemm_prepare_a(const ql_qgemm_args *args, int64_t m0, int64_t m1) {
  ql_qgemm_prep p;
  ql_qgemm_get_prep(args, &p);
  ql_qgemm_prepare_a__scalar(args, &p, m0, m1);
}

void ql_qgemm_compute(const ql_qgemm_args *args, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  ql_qgemm_prep p;
  ql_qgemm_get_prep(args, &p);
  if (m1 > args->m) m1 = args->m;
  if (n1 > args->pb->n) n1 = args->pb->n;
  if (m0 >= m1 || n0 >= n1) return;
  switch (p.path) {
#if defined(__x86_64__)
  case QL_ISA_AMX: ql_qgemm_compute__amx(args, &p, m0, m1, n0, n1); break;
  case QL_ISA_AVX512VNNI: ql_qgemm_compute__avx512vnni(args, &p, m0, m1, n0, n1); break;
  case QL_ISA_AVXVNNI: ql_qgemm_compute__avxvnni(args, &p, m0, m1, n0, n1); break;
  case QL_ISA_AVX2: ql_qgemm_compute__avx2(args, &p, m0, m1, n0, n1); break;
#endif
  default: ql_qgemm_compute__scalar(args, &p, m0, m1, n0, n1); break;
  }
}

const char *ql_qgemm_kernel_name(const ql_qgemm_packed_b *pb, int64_t m) {
  switch (path_for(pb, m)) {
  case QL_ISA_AMX: return "qgemm_32x32c64__amx";
  case QL_ISA_AVX512VNNI: return m == 1 ? "qgemm_1x64c4__avx512vnni" : "qgemm_8x32c4__avx512vnni";
  case QL_ISA_AVXVNNI: return "qgemm_4x16c4__avxvnni";
  case QL_ISA_AVX2: return "qgemm_2x16c4__avx2";
  default: return "qgemm_1x1c4__scalar";
  }
}

/* ---------------------------------------------------------------- driver */
static void task_prepare(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)thread;
  (void)j0;
  (void)nj;
  ql_qgemm_prepare_a(ctx, (int64_t)i0, (int64_t)(i0 + ni));
}

static void task_compute(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)thread;
  ql_qgemm_compute(ctx, (int64_t)i0, (int64_t)(i0 + ni), (int64_t)j0, (int64_t)(j0 + nj));
}

ql_status ql_qgemm_run(const ql_qgemm_args *in, struct ql_threadpool *pool, ql_error *err) {
  const ql_qgemm_packed_b *pb = in->pb;
  if (!pb || !in->a || !in->c || in->m < 0 || in->lda < pb->k || in->ldc < pb->n)
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "qgemm: bad arguments");
  if (in->m == 0) return QL_OK;
  if (in->a_zp < (in->a_signed ? -128 : 0) || in->a_zp > (in->a_signed ? 127 : 255))
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "qgemm: a_zero_point %d out of range", (int)in->a_zp);
  if (in->out_type == QL_QGEMM_OUT_U8 || in->out_type == QL_QGEMM_OUT_S8) {
    int lo = in->out_type == QL_QGEMM_OUT_U8 ? 0 : -128, hi = lo + 255;
    if (!in->mult || in->out_min < lo || in->out_max > hi || in->out_min > in->out_max ||
        in->out_zp < lo || in->out_zp > hi)
      return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "qgemm: bad requantization parameters");
  } else if (in->out_type == QL_QGEMM_OUT_F32 && !in->mult) {
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "qgemm: float output needs a multiplier");
  }
  ql_qgemm_args a = *in;
  void *ws = NULL;
  if (!a.workspace) {
    ws = ql_malloc_aligned(ql_qgemm_workspace_size(pb, a.m));
    if (!ws) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "qgemm: out of memory for the workspace");
    a.workspace = ws;
  }
  /* an int32 output past the caches is written around them: no read for
   * ownership of lines that are only overwritten */
  a.stream = a.out_type == QL_QGEMM_OUT_I32 && (uintptr_t)a.c % 64 == 0 && a.ldc % 16 == 0 &&
             (size_t)a.m * (size_t)a.ldc * 4 >= QL_QGEMM_STREAM_BYTES;
  int nt = ql_threadpool_size(pool);
  /* phase 1: inline when small (waking the workers costs more than a copy
   * of a few hundred KiB), else in row chunks */
  if (nt == 1 || a.m * pb->k <= ((int64_t)1 << 18)) {
    ql_qgemm_prepare_a(&a, 0, a.m);
  } else {
    size_t rows_per = (size_t)(a.m + nt - 1) / (size_t)nt;
    if (rows_per < 64) rows_per = 64;
    ql_threadpool_parallel_for_2d(pool, task_prepare, &a, (size_t)a.m, 1, rows_per, 1);
  }
  /* phase 2: tiles of few rows and many columns, so that the rows of A a
   * tile reads stay in L1 while B streams past them from L2 (measured best
   * for AMX; VNNI does not care much); split N further for balance */
  const int amx = path_for(pb, a.m) == QL_ISA_AMX;
  const int64_t tm = amx ? 32 : 64;
  int64_t tn = pb->n < 1024 ? (pb->n + 31) / 32 * 32 : 1024;
  int64_t tiles = ((a.m + tm - 1) / tm) * ((pb->n + tn - 1) / tn);
  /* a few rows stream all of B from memory in little time: finer tiles let
   * a worker that wakes late still take its share. AMX splits N only as far
   * as an even share needs: with every thread on all columns, each core's L2
   * keeps all of B from call to call, while column slices handed out
   * dynamically move between the cores (128x768x768 on 2 threads: 0.047 ms
   * with slices of 384 columns, 0.037 with whole rows) */
  const int64_t per_thread = a.m < QL_AMX_MIN_M ? 8 : amx ? 1 : 4;
  while (nt > 1 && (tiles < per_thread * nt || (amx && tiles < 4 * nt && tiles % nt)) && tn > 32) {
    tn = (tn / 2 + 31) / 32 * 32;
    tiles = ((a.m + tm - 1) / tm) * ((pb->n + tn - 1) / tn);
  }
  ql_threadpool_parallel_for_2d(pool, task_compute, &a, (size_t)a.m, (size_t)pb->n, (size_t)tm, (size_t)tn);
  ql_free_aligned(ws);
  return QL_OK;
}

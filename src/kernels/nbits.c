/* MatMulNBits fast path: packing, quantization of A (INT8 mode), dispatch
 * and threading. The kernels are in nbits-<isa>.c; nbits.h defines the
 * exact result they all give. */
#include "nbits.h"
#include "../common/util.h"
#include "../runtime/threadpool.h"

#include <math.h>
#include <string.h>

static ql_isa family(ql_isa isa) {
  ql_isa best = ql_isa_best();
  if (isa == QL_ISA_AUTO || isa > best) isa = best;
  if (isa >= QL_ISA_AVX512VNNI && ql_isa_supported(QL_ISA_AVX512VNNI)) return QL_ISA_AVX512VNNI;
  if (isa >= QL_ISA_AVX2 && ql_isa_supported(QL_ISA_AVX2)) return QL_ISA_AVX2;
  return QL_ISA_SCALAR;
}

void ql_nbits_packed_free(ql_nbits_packed *pb) {
  if (!pb) return;
  ql_free_aligned(pb->q);
  ql_free_aligned(pb->scale);
  ql_free_aligned(pb->zf);
  ql_free_aligned(pb->zi);
  ql_free(pb);
}

ql_status ql_nbits_pack(const uint8_t *b, const float *scales, const uint8_t *zp_u8, const float *zp_f32,
                        int64_t k, int64_t n, int64_t bs, ql_nbits_mode mode, ql_isa isa,
                        ql_nbits_packed **out, ql_error *err) {
  *out = NULL;
  if (k < 1 || n < 1 || bs < 16 || (bs & (bs - 1)) || k > ((int64_t)1 << 30) || n > ((int64_t)1 << 30) ||
      bs > ((int64_t)1 << 24) || (mode == QL_NBITS_INT8 && zp_f32))
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "MatMulNBits pack: unsupported shape");
  const int64_t kblocks = (k + bs - 1) / bs, kpad = kblocks * bs, panels = (n + QL_NBITS_NR - 1) / QL_NBITS_NR;
  size_t qbytes, pbytes;
  if (ql_mul_overflow_size((size_t)panels, (size_t)kpad * 16, &qbytes) ||
      ql_mul_overflow_size((size_t)panels * QL_NBITS_NR, (size_t)kblocks * sizeof(float), &pbytes))
    return ql_errf(err, QL_ERR_LIMIT, "MatMulNBits pack: weight too large");
  ql_nbits_packed *pb = ql_calloc(1, sizeof *pb);
  if (!pb) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  pb->isa = family(isa);
  pb->mode = mode;
  pb->k = k, pb->n = n, pb->bs = bs, pb->kblocks = kblocks, pb->panels = panels, pb->zdef = 8;
  pb->q = ql_malloc_aligned(qbytes);
  pb->scale = ql_malloc_aligned(pbytes);
  if (mode == QL_NBITS_F32) pb->zf = ql_malloc_aligned(pbytes);
  else if (zp_u8) pb->zi = ql_malloc_aligned(pbytes);
  if (!pb->q || !pb->scale || (mode == QL_NBITS_F32 && !pb->zf) || (zp_u8 && mode == QL_NBITS_INT8 && !pb->zi)) {
    ql_nbits_packed_free(pb);
    return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  memset(pb->q, 0, qbytes);
  uint8_t *cq = ql_malloc((size_t)kpad);
  if (!cq) {
    ql_nbits_packed_free(pb);
    return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  const int64_t zrow = (kblocks + 1) / 2;
  for (int64_t p = 0; p < panels; p++) {
    for (int64_t kb = 0; kb < kblocks; kb++)
      for (int c = 0; c < QL_NBITS_NR; c++) {
        int64_t col = p * QL_NBITS_NR + c, i = (p * kblocks + kb) * QL_NBITS_NR + c;
        int in = col < n;
        pb->scale[i] = in ? scales[col * kblocks + kb] : 0.0f;
        int32_t z = !in ? 0 : zp_u8 ? (zp_u8[col * zrow + kb / 2] >> (4 * (kb & 1))) & 0xF : 8;
        if (pb->zi) pb->zi[i] = z;
        if (pb->zf) pb->zf[i] = !in ? 0.0f : zp_f32 ? zp_f32[col * kblocks + kb] : (float)z;
      }
    /* one column's nibbles at a time, unpacked, then scattered */
    uint8_t *dst = pb->q + p * kpad * 16;
    for (int c = 0; c < QL_NBITS_NR && p * QL_NBITS_NR + c < n; c++) {
      const uint8_t *src = b + (p * QL_NBITS_NR + c) * kblocks * (bs / 2);
      for (int64_t kk = 0; kk < kpad; kk++) cq[kk] = (src[kk / 2] >> (4 * (kk & 1))) & 0xF;
      if (mode == QL_NBITS_INT8) {
        uint8_t *d = dst + (c / 16) * 64 + (c % 16) * 4;
        for (int64_t g = 0; g < kpad / 8; g++)
          for (int i = 0; i < 4; i++) d[g * 128 + i] = (uint8_t)(cq[g * 8 + i] | cq[g * 8 + 4 + i] << 4);
      } else {
        const int sh = c < 16 ? 0 : 4;
        for (int64_t kk = 0; kk < kpad; kk++) dst[kk * 16 + c % 16] |= (uint8_t)(cq[kk] << sh);
      }
    }
  }
  ql_free(cq);
  *out = pb;
  return QL_OK;
}

/* ---- run ---- */

static int8_t sat_i8(float v) {
  if (!(v >= -128.0f)) return -128;
  if (v > 127.0f) return 127;
  return (int8_t)nearbyintf(v);
}

/* Quantizes rows [r0, r1) of A as nbits.h says (the reference op does the
 * same, loop for loop). */
static void quantize_a(const ql_nbits_packed *pb, const float *a, int64_t r0, int64_t r1, int8_t *aq, float *as,
                       int32_t *asum, int32_t *corr) {
  const int64_t K = pb->k, bs = pb->bs, kblocks = pb->kblocks;
  for (int64_t r = r0; r < r1; r++)
    for (int64_t kb = 0; kb < kblocks; kb++) {
      const float *src = a + r * K + kb * bs;
      const int64_t len = K - kb * bs < bs ? K - kb * bs : bs;
      float amax = 0.0f;
      for (int64_t j = 0; j < len; j++) amax = fmaxf(amax, fabsf(src[j]));
      float inv = amax != 0.0f ? 127.0f / amax : 0.0f;
      as[r * kblocks + kb] = amax / 127.0f;
      int8_t *dst = aq + (r * kblocks + kb) * bs;
      uint32_t s = 0;
      for (int64_t j = 0; j < bs; j++) {
        dst[j] = j < len ? sat_i8(src[j] * inv) : 0;
        s += (uint32_t)(int32_t)dst[j];
      }
      asum[r * kblocks + kb] = (int32_t)s;
      corr[r * kblocks + kb] = (int32_t)(s * (uint32_t)pb->zdef);
    }
}

typedef struct job {
  const ql_nbits_packed *pb;
  const float *a, *bias;
  float *y;
  ql_nbits_qa qa;
  int8_t *aq;
  float *as;
  int32_t *asum, *corr;
} job;

static void quant_task(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)thread;
  job *jb = ctx;
  (void)j0, (void)nj;
#if defined(__x86_64__)
  if (jb->pb->isa == QL_ISA_AVX512VNNI) {
    ql_nbits_quant__avx512vnni(jb->pb, jb->a, (int64_t)i0, (int64_t)(i0 + ni), jb->aq, jb->as, jb->asum, jb->corr);
    return;
  }
#endif
  quantize_a(jb->pb, jb->a, (int64_t)i0, (int64_t)(i0 + ni), jb->aq, jb->as, jb->asum, jb->corr);
}

static void gemm_task(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj) {
  (void)thread;
  const job *jb = ctx;
  const ql_nbits_packed *pb = jb->pb;
  for (size_t p = i0; p < i0 + ni; p++) {
    const int64_t r0 = (int64_t)j0, r1 = (int64_t)(j0 + nj);
    if (pb->mode == QL_NBITS_INT8) {
      switch (pb->isa) {
#if defined(__x86_64__)
      case QL_ISA_AVX512VNNI: ql_nbits_i8__avx512vnni(pb, &jb->qa, r0, r1, (int64_t)p, jb->bias, jb->y); break;
      case QL_ISA_AVX2: ql_nbits_i8__avx2(pb, &jb->qa, r0, r1, (int64_t)p, jb->bias, jb->y); break;
#endif
      default: ql_nbits_i8__scalar(pb, &jb->qa, r0, r1, (int64_t)p, jb->bias, jb->y); break;
      }
    } else {
      switch (pb->isa) {
#if defined(__x86_64__)
      case QL_ISA_AVX512VNNI: ql_nbits_f32__avx512vnni(pb, jb->a, r0, r1, (int64_t)p, jb->bias, jb->y); break;
      case QL_ISA_AVX2: ql_nbits_f32__avx2(pb, jb->a, r0, r1, (int64_t)p, jb->bias, jb->y); break;
#endif
      default: ql_nbits_f32__scalar(pb, jb->a, r0, r1, (int64_t)p, jb->bias, jb->y); break;
      }
    }
  }
}

/* INT8 mode: A quantized per row and block (the bytes, then a scale, a sum
 * and a correction per block, 4 bytes each), each part on whole cache lines */
static int workspace_parts(const ql_nbits_packed *pb, int64_t m, size_t *na, size_t *nb) {
  *na = *nb = 0;
  if (pb->mode != QL_NBITS_INT8 || m <= 0) return 0;
  if (ql_mul_overflow_size((size_t)m, (size_t)(pb->kblocks * pb->bs), na) ||
      ql_mul_overflow_size((size_t)m, (size_t)pb->kblocks * 4, nb) || *na > SIZE_MAX / 2 || *nb > SIZE_MAX / 8)
    return -1;
  *na = (*na + 63) & ~(size_t)63;
  *nb = (*nb + 63) & ~(size_t)63;
  return 0;
}

size_t ql_nbits_workspace_size(const ql_nbits_packed *pb, int64_t m) {
  size_t na, nb;
  return workspace_parts(pb, m, &na, &nb) ? SIZE_MAX : na + 3 * nb;
}

ql_status ql_nbits_run(const ql_nbits_packed *pb, const float *a, int64_t m, const float *bias, float *y,
                       void *workspace, struct ql_threadpool *pool, ql_error *err) {
  if (m <= 0) return QL_OK;
  job jb = {.pb = pb, .a = a, .bias = bias, .y = y};
  const int threads = ql_threadpool_size(pool);
  if (pb->mode == QL_NBITS_INT8) {
    size_t na, nb;
    if (workspace_parts(pb, m, &na, &nb)) return ql_errf(err, QL_ERR_LIMIT, "A too large");
    if (!workspace) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "nbits: no workspace");
    jb.aq = workspace;
    jb.as = (float *)((char *)workspace + na);
    jb.asum = (int32_t *)((char *)jb.as + nb);
    jb.corr = (int32_t *)((char *)jb.asum + nb);
    jb.qa = (ql_nbits_qa){jb.aq, jb.as, jb.asum, jb.corr};
    ql_threadpool_parallel_for_2d(pool, quant_task, &jb, (size_t)m, 1, (size_t)(m + threads - 1) / (size_t)threads, 1);
  }
  /* one task = a few panels over a band of rows; the B panel stays in L2
   * while the band's rows stream past it */
  const int64_t band = m < 256 ? m : 256;
  int64_t per = pb->panels / (8 * threads);
  if (per < 1) per = 1;
  if (per > 8) per = 8;
  ql_threadpool_parallel_for_2d(pool, gemm_task, &jb, (size_t)pb->panels, (size_t)m, (size_t)per, (size_t)band);
  return QL_OK;
}

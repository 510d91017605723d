/* dwconv: the per-run plan (layout of Q, tap offsets), weight pairing and
 * the ISA dispatch. The kernels live in dwconv-<isa>.c. */
#include "dwconv-internal.h"

/* Q above this many int16 elements (32 MiB) is left to the generic loop. */
#define QL_DWCONV_MAX_Q ((int64_t)1 << 24)

int ql_dwconv_plan_init(ql_dwconv_plan *pl, int nsp, const int64_t *in, const int64_t *out, const int64_t *kernel,
                        const int64_t *stride, const int64_t *dilation, const int64_t *pad_begin) {
  memset(pl, 0, sizeof *pl);
  if (nsp < 1 || nsp > 2) return 0;
  const int two = nsp == 2;
  int64_t kh = 1, dh = 1;
  pl->ih = pl->oh = pl->sh = 1;
  if (two) {
    pl->ih = in[0];
    pl->oh = out[0];
    kh = kernel[0];
    pl->sh = stride[0];
    dh = dilation[0];
    pl->pt = pad_begin[0];
  }
  const int l = nsp - 1;
  pl->iw = in[l];
  pl->ow = out[l];
  pl->sw = stride[l];
  pl->pl = pad_begin[l];
  const int64_t kw = kernel[l], dw = dilation[l];
  /* every attribute is <= 2^31 (conv-geom), so these products fit */
  if (kh < 1 || kw < 1 || kh * kw > 2 * QL_DWCONV_MAX_PAIRS || pl->sh > 16 || pl->sw > 16 || pl->ih < 1 ||
      pl->iw < 1 || pl->oh < 1 || pl->ow < 1)
    return 0;
  const int64_t ry = (kh - 1) * dh / pl->sh, rx = (kw - 1) * dw / pl->sw;
  if (pl->oh > QL_DWCONV_MAX_Q || pl->ow > QL_DWCONV_MAX_Q || ry > QL_DWCONV_MAX_Q || rx > QL_DWCONV_MAX_Q ||
      pl->pt > QL_DWCONV_MAX_Q || pl->pl > QL_DWCONV_MAX_Q)
    return 0;
  pl->qh = pl->oh + ry;
  pl->wq = pl->ow + rx;
  const int64_t sub = pl->qh * pl->wq; /* < 2^50 */
  if (sub > QL_DWCONV_MAX_Q || pl->sh * pl->sw * sub > QL_DWCONV_MAX_Q) return 0;
  pl->f = pl->oh * pl->wq;
  pl->f_pad = (pl->f + 63) / 64 * 64;
  /* the last block reads up to f_pad - f + rx - 1 elements past the
   * sub-planes (see dwconv.h); round generously */
  pl->q_elems = pl->sh * pl->sw * sub + 64 + rx + 64;
  int lo[QL_DWCONV_MAX_PAIRS], hi[QL_DWCONV_MAX_PAIRS];
  if (!(pl->npairs = ql_dwconv_pairs(kh, kw, pl->sh, pl->sw, dh, dw, lo, hi))) return 0;
  for (int p = 0; p < pl->npairs; p++) {
    const int64_t ky = lo[p] / kw, kx = lo[p] % kw;
    const int64_t phy = ky * dh % pl->sh, phx = kx * dw % pl->sw;
    pl->off[p] = (phy * pl->sw + phx) * sub + (ky * dh / pl->sh) * pl->wq + kx * dw / pl->sw;
  }
  return 1;
}

int ql_dwconv_pairs(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int *lo, int *hi) {
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1 || kh > 2 * QL_DWCONV_MAX_PAIRS ||
      kw > 2 * QL_DWCONV_MAX_PAIRS || kh * kw > 2 * QL_DWCONV_MAX_PAIRS)
    return 0;
  /* kx and kx + sw/dw are in the same stride phase, one column apart */
  const int64_t step = sw % dw == 0 ? sw / dw : 0;
  unsigned char used[2 * QL_DWCONV_MAX_PAIRS];
  int n = 0;
  for (int64_t ky = 0; ky < kh; ky++) {
    memset(used, 0, (size_t)kw);
    for (int64_t kx = 0; kx < kw; kx++) {
      if (used[kx]) continue;
      if (n == QL_DWCONV_MAX_PAIRS) return 0;
      lo[n] = (int)(ky * kw + kx);
      hi[n] = -1;
      if (step && kx + step < kw) {
        used[kx + step] = 1;
        hi[n] = (int)(ky * kw + kx + step);
      }
      n++;
    }
  }
  return n;
}

void ql_dwconv_pack_w(const int16_t *w, int npairs, const int *lo, const int *hi, uint32_t *out) {
  for (int p = 0; p < npairs; p++)
    out[p] = (uint32_t)(uint16_t)w[lo[p]] | (uint32_t)(hi[p] < 0 ? 0 : (uint16_t)w[hi[p]]) << 16;
}

size_t ql_dwconv_scratch_size(const ql_dwconv_plan *pl) {
  return ql_dwconv_q_bytes(pl) + (size_t)pl->f_pad * sizeof(int32_t) + 64;
}

void ql_dwconv_scratch_init(const ql_dwconv_plan *pl, void *scratch) {
  memset(scratch, 0, (size_t)pl->q_elems * sizeof(int16_t));
}

void ql_dwconv_plane(const ql_dwconv_plan *pl, ql_isa isa, const ql_dwconv_args *a, void *scratch) {
#if defined(__x86_64__)
  if (isa >= QL_ISA_AVX512VNNI) {
    ql_dwconv_plane__avx512vnni(pl, a, scratch);
    return;
  }
  if (isa == QL_ISA_AVXVNNI) {
    ql_dwconv_plane__avxvnni(pl, a, scratch);
    return;
  }
  if (isa == QL_ISA_AVX2) {
    ql_dwconv_plane__avx2(pl, a, scratch);
    return;
  }
#else
  (void)isa;
#endif
  ql_dwconv_plane__scalar(pl, a, scratch);
}

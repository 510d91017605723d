/* Shared by the dwconv ISA files (not part of the kernel API, dwconv.h is):
 * the construction of Q and the copy of the staged outputs, written once and
 * compiled in each ISA file with its own row converter. */
#ifndef QL_KERNELS_DWCONV_INTERNAL_H
#define QL_KERNELS_DWCONV_INTERNAL_H

#include "dwconv.h"
#include <string.h>

/* Bytes of Q at the start of the scratch (the staging block follows). */
static inline size_t ql_dwconv_q_bytes(const ql_dwconv_plan *pl) {
  return ((size_t)pl->q_elems * sizeof(int16_t) + 63) / 64 * 64;
}

/* Columns [*clo, *chi) of phase phx whose input column c*sw + phx - pl lies
 * in [0, iw); the others are padding (0). */
static inline void ql_dwconv_span(const ql_dwconv_plan *pl, int64_t phx, int64_t *clo, int64_t *chi) {
  const int64_t s = pl->sw, b = pl->pl - phx;
  int64_t lo = b <= 0 ? 0 : (b + s - 1) / s, hi = (pl->iw + b + s - 1) / s;
  if (hi > pl->wq) hi = pl->wq;
  if (lo > hi) lo = hi;
  *clo = lo;
  *chi = hi;
}

/* Columns [start, chi) of phase row dst (phase phx of input row src). */
static inline void ql_dwconv_row_tail(const ql_dwconv_plan *pl, const uint8_t *src, int sgn, int32_t xzp,
                                      int16_t *dst, int64_t phx, int64_t start, int64_t chi) {
  const int64_t s = pl->sw, o = phx - pl->pl;
  if (sgn)
    for (int64_t c = start; c < chi; c++) dst[c] = (int16_t)((int8_t)src[c * s + o] - xzp);
  else
    for (int64_t c = start; c < chi; c++) dst[c] = (int16_t)(src[c * s + o] - xzp);
}

/* row(pl, src, sgn, xzp, dst, phx, clo, chi): columns [clo, chi) of phase
 * row dst from input row src; nothing else (the padding stays zero). */
typedef void (*ql_dwconv_row_fn)(const ql_dwconv_plan *pl, const uint8_t *src, int sgn, int32_t xzp, int16_t *dst,
                                 int64_t phx, int64_t clo, int64_t chi);

/* Q for plane a->x (layout in dwconv.h): only the input's own positions
 * are written; ql_dwconv_scratch_init zeroed the padding (the same for
 * every plane of a plan) and the tail slack once. */
static inline __attribute__((always_inline)) void ql_dwconv_build_q(const ql_dwconv_plan *pl,
                                                                    const ql_dwconv_args *a, int16_t *q,
                                                                    ql_dwconv_row_fn row) {
  const int64_t sub = pl->qh * pl->wq, wq = pl->wq;
  const uint8_t *x = a->x;
  int64_t clo[16], chi[16]; /* sw <= 16 (plan_init) */
  for (int64_t phx = 0; phx < pl->sw; phx++) ql_dwconv_span(pl, phx, &clo[phx], &chi[phx]);
  for (int64_t phy = 0; phy < pl->sh; phy++) {
    /* rows r with iy = r*sh + phy - pt in [0, ih) */
    const int64_t b = pl->pt - phy;
    int64_t r = b <= 0 ? 0 : (b + pl->sh - 1) / pl->sh, rend = (pl->ih + b + pl->sh - 1) / pl->sh;
    if (rend > pl->qh) rend = pl->qh;
    for (; r < rend; r++) {
      const uint8_t *src = x + (r * pl->sh - b) * pl->iw;
      int16_t *d0 = q + phy * pl->sw * sub + r * wq;
      for (int64_t phx = 0; phx < pl->sw; phx++)
        if (clo[phx] < chi[phx]) row(pl, src, a->x_signed, a->x_zp, d0 + phx * sub, phx, clo[phx], chi[phx]);
    }
  }
}

/* The staged outputs (f order, row stride wq) into the output plane. */
static inline void ql_dwconv_unstage(const ql_dwconv_plan *pl, const ql_dwconv_args *a, const void *stage) {
  const size_t osz = a->out_kind ? 1 : 4;
  const uint8_t *s = stage;
  uint8_t *y = a->y;
  if (pl->wq == pl->ow) {
    memcpy(y, s, (size_t)(pl->oh * pl->ow) * osz);
    return;
  }
  for (int64_t oy = 0; oy < pl->oh; oy++)
    memcpy(y + (size_t)(oy * pl->ow) * osz, s + (size_t)(oy * pl->wq) * osz, (size_t)pl->ow * osz);
}

void ql_dwconv_plane__scalar(const ql_dwconv_plan *pl, const ql_dwconv_args *a, void *scratch);
void ql_dwconv_plane__avx2(const ql_dwconv_plan *pl, const ql_dwconv_args *a, void *scratch);
void ql_dwconv_plane__avxvnni(const ql_dwconv_plan *pl, const ql_dwconv_args *a, void *scratch);
void ql_dwconv_plane__avx512vnni(const ql_dwconv_plan *pl, const ql_dwconv_args *a, void *scratch);

#endif

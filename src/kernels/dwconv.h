/*
 * Fast int8 depthwise convolution (one input channel per output plane), the
 * engine behind the depthwise QLinearConv / ConvInteger fast path.
 *
 * ---- Exact definition (what every ISA must reproduce bit for bit) ----
 * For one output plane (2-D, or 1-D as a single row):
 *   acc[oy][ox] = wrap32( bias + sum_{ky,kx} xc[oy*sh + ky*dh - pt][ox*sw + kx*dw - pl] * w[ky][kx] )
 * with xc = x - x_zp (0 outside the input: the input is padded with x_zp)
 * and w already centered (w - w_zp[m], int16 in [-255, 255]). Output:
 * acc itself (int32) or ql_requant_fp32(acc, mult, y_zp, lo, hi) (qgemm.h),
 * the formula the reference op uses, so results equal the reference's.
 *
 * ---- How (the layout is the point) ----
 * Per plane, the input is copied once into Q: centered int16, zero padded,
 * split into sh*sw stride-phase sub-planes of qh rows x wq columns,
 *   Q[phy][phx][r][c] = xc[r*sh + phy - pt][c*sw + phx - pl].
 * Tap (ky, kx) of output (oy, ox) is then Q[phy][phx][oy + ry][ox + rx]
 * with phy = ky*dh % sh, ry = ky*dh / sh (likewise x): with the output
 * flattened as f = oy*wq + ox (wq >= ow + max rx, the columns past ow are
 * computed and dropped), every tap is ONE contiguous run Q[f + off[tap]]
 * for every stride, dilation and pad, with no bounds tests.
 * Taps whose runs are adjacent in Q (off and off + 1: neighbouring kx at
 * stride 1, kx and kx + 2 at stride 2, ...) form a pair: read as int32
 * lanes, Q + f0 + off holds (Q[f0 + off + 2j], Q[f0 + off + 2j + 1]) in
 * lane j, so one vpmaddwd / vpdpwssd with the weights (w_lo, w_hi) adds
 * both taps of even output f0 + 2j, and the same from Q + f0 + off + 1 of
 * odd output f0 + 2j + 1: 2 taps per instruction, no shuffles, exact
 * (|x|, |w| <= 255, so a pair sum < 2^17). A tap without a neighbour is a
 * pair with w_hi = 0. Even and odd accumulators are requantized separately
 * and recombined as the low/high int16 halves of each lane, which is the
 * natural int16 order.
 * Requantized results go to a staging row block (f order) and are copied
 * into the output rows.
 *
 * Usage: ql_dwconv_plan_init() per run (geometry), then per plane
 * ql_dwconv_plane() with a scratch of ql_dwconv_scratch_size() bytes (one
 * per thread, ql_dwconv_scratch_init'ed: the padding is written once). Weights are paired once per session: ql_dwconv_pack_w().
 */
#ifndef QL_KERNELS_DWCONV_H
#define QL_KERNELS_DWCONV_H

#include "qgemm.h"

/* Kernels with more taps use the op's generic loop. */
#define QL_DWCONV_MAX_PAIRS 256

typedef struct ql_dwconv_plan {
  int64_t ih, iw, oh, ow;    /* plane geometry (a 1-D conv: ih = oh = 1) */
  int64_t sh, sw, pt, pl;    /* strides, pads at the beginning */
  int64_t qh, wq;            /* one phase sub-plane: rows, columns */
  int64_t q_elems;           /* int16 elements of Q, with the tail slack */
  int64_t f;                 /* flattened outputs oh * wq */
  int64_t f_pad;             /* f rounded up to the widest block (64) */
  int npairs;
  int64_t off[QL_DWCONV_MAX_PAIRS]; /* pair p: w_lo reads Q[f + off], w_hi Q[f + off + 1] */
} ql_dwconv_plan;

/* The tap pairs of a kernel (they depend only on kernel, stride and
 * dilation): pair p is taps lo[p] and hi[p] (t = ky*kw + kx; hi -1: none).
 * Returns the number of pairs, 0 when above QL_DWCONV_MAX_PAIRS or the
 * arguments are out of range (kh, kw, sh, sw, dh, dw >= 1). */
int ql_dwconv_pairs(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int *lo, int *hi);

/* Per-plane operands. */
typedef struct ql_dwconv_args {
  const void *x;          /* the input plane, ih x iw, uint8 or int8 */
  int x_signed;
  int32_t x_zp;
  const uint32_t *wpair;  /* the plane's npairs packed weight pairs */
  int32_t bias;
  int out_kind;           /* 0 int32, 1 uint8, 2 int8 */
  float mult;             /* requantization (out_kind != 0) */
  int32_t y_zp, lo, hi;   /* lo <= y_zp <= hi, within the output type */
  void *y;                /* the output plane, oh x ow */
} ql_dwconv_args;

/* Fills the plan for a plane of nsp (1 or 2) spatial axes: in/out/kernel/
 * stride/dilation/pad_begin per axis; the pairs are ql_dwconv_pairs' for
 * the same kernel, strides and dilations. Returns 0 when this kernel does
 * not take the geometry (too many taps, strides above 16, unreasonable
 * scratch): the caller then uses its generic loop. */
int ql_dwconv_plan_init(ql_dwconv_plan *pl, int nsp, const int64_t *in, const int64_t *out, const int64_t *kernel,
                        const int64_t *stride, const int64_t *dilation, const int64_t *pad_begin);

/* The weights of one plane by pairs: (uint16)w[lo[p]] | (uint16)w[hi[p]] << 16
 * (0 for hi[p] = -1). w: the centered taps, row-major. */
void ql_dwconv_pack_w(const int16_t *w, int npairs, const int *lo, const int *hi, uint32_t *out);

/* Scratch for one thread (64-byte aligned): Q and the staging block.
 * ql_dwconv_scratch_init once per plan (it zeroes Q's padding), then any
 * number of planes of that plan. */
size_t ql_dwconv_scratch_size(const ql_dwconv_plan *pl);
void ql_dwconv_scratch_init(const ql_dwconv_plan *pl, void *scratch);

/* One plane on the given ISA (any supported one; AMX/VNNI levels use the
 * AVX-512 kernel, AVX-VNNI the AVX2 one). */
void ql_dwconv_plane(const ql_dwconv_plan *pl, ql_isa isa, const ql_dwconv_args *a, void *scratch);

#endif

/* Portable depthwise plane: the scalar twin of the SIMD kernels (same Q,
 * same tap pairs, same requantization), and the path of non-x86 builds. */
#include "dwconv-internal.h"

void ql_dwconv_plane__scalar(const ql_dwconv_plan *pl, const ql_dwconv_args *a, void *scratch) {
  int16_t *q = scratch;
  void *stage = (uint8_t *)scratch + ql_dwconv_q_bytes(pl);
  ql_dwconv_build_q(pl, a, q, ql_dwconv_row_tail);
  for (int64_t f = 0; f < pl->f; f++) {
    uint32_t acc = (uint32_t)a->bias;
    for (int p = 0; p < pl->npairs; p++) {
      const int32_t wa = (int16_t)(a->wpair[p] & 0xffff), wb = (int16_t)(a->wpair[p] >> 16);
      acc += (uint32_t)(wa * q[f + pl->off[p]] + wb * q[f + pl->off[p] + 1]);
    }
    if (a->out_kind == 0) ((int32_t *)stage)[f] = (int32_t)acc;
    else ((uint8_t *)stage)[f] = (uint8_t)ql_requant_fp32((int32_t)acc, a->mult, a->y_zp, a->lo, a->hi);
  }
  ql_dwconv_unstage(pl, a, stage);
}

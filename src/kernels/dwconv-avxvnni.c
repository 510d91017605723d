/* AVX-VNNI depthwise plane: vpdpwssd sums a tap pair into the accumulator
 * (non-saturating, wraps like vpaddd). */
#define DW_MAC(acc, x, w) acc = _mm256_dpwssd_avx_epi32(acc, x, w)
#define DW_NAME ql_dwconv_plane__avxvnni
#include "dwconv-avx2-body.h"

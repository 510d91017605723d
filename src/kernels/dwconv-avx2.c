/* AVX2 depthwise plane: vpmaddwd sums each tap pair, vpaddd accumulates. */
#define DW_MAC(acc, x, w) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))
#define DW_NAME ql_dwconv_plane__avx2
#include "dwconv-avx2-body.h"

/* AMX qgemm: 2 x 2 blocks of 16 x 16 int32 tiles (32 rows x 32 columns) fed
 * by two A tiles (16 rows x 64 k) and two B tiles (64 k x 16 columns, which
 * is exactly one 1 KiB stretch of a packed B panel). tdpbusd for uint8 A,
 * tdpbssd for int8 A: B is always stored as int8 (see qgemm.h). The tiles
 * go through a stack buffer to the AVX-512 epilogue. */
#include "qgemm-epilogue-avx512.h"

typedef struct tile_config {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_config;

static void config_tiles(void) {
  tile_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; t++) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  /* GCC 12 may sink or drop the stores above past the asm in
   * _tile_loadconfig (it does not see the memory read): SIGILL. */
  __asm__ volatile("" ::: "memory");
  _tile_loadconfig(&cfg);
}

/* C tiles 0..3 = (rows 0-15, cols 0-15), (0-15, 16-31), (16-31, 0-15),
 * (16-31, 16-31); A tiles 4, 5; B tiles 6, 7. */
#define DP(s, c, a, b)                                                                                       \
  do {                                                                                                       \
    if (s)                                                                                                   \
      _tile_dpbssd(c, a, b);                                                                                 \
    else                                                                                                     \
      _tile_dpbusd(c, a, b);                                                                                 \
  } while (0)

static inline __attribute__((always_inline)) void block(const ql_qgemm_args *args, const ql_qgemm_prep *p,
                                                        const int sa, const int two_m, const int two_n,
                                                        int64_t m, int64_t m_end, int64_t pn, int64_t nb,
                                                        int64_t ne, int32_t (*buf)[16][16]) {
  const int64_t kp = p->kp;
  const uint8_t *a0 = p->a + m * kp, *a1 = a0 + 16 * kp;
  const int8_t *b0 = args->pb->data + pn * kp, *b1 = b0 + 16 * kp;
  _tile_zero(0);
  if (two_n) _tile_zero(1);
  if (two_m) _tile_zero(2);
  if (two_m && two_n) _tile_zero(3);
  for (int64_t k = 0; k < kp; k += 64) {
    _tile_loadd(4, a0 + k, kp);
    _tile_loadd(6, b0 + k * 16, 64);
    DP(sa, 0, 4, 6);
    if (two_n) {
      _tile_loadd(7, b1 + k * 16, 64);
      DP(sa, 1, 4, 7);
    }
    if (two_m) {
      _tile_loadd(5, a1 + k, kp);
      DP(sa, 2, 5, 6);
      if (two_n) DP(sa, 3, 5, 7);
    }
  }
  _tile_stored(0, buf[0], 64);
  if (two_n) _tile_stored(1, buf[1], 64);
  if (two_m) _tile_stored(2, buf[2], 64);
  if (two_m && two_n) _tile_stored(3, buf[3], 64);
  for (int j = 0; j < 1 + two_n; j++) {
    ql_epi512 e;
    ql_epi512_init(&e, args, p, pn + 16 * j, nb, ne);
    for (int h = 0; h < 1 + two_m; h++) {
      int64_t rows = m_end - (m + 16 * h);
      if (rows > 16) rows = 16;
      for (int64_t r = 0; r < rows; r++)
        ql_epi512_store(&e, args, p, m + 16 * h + r, _mm512_load_si512((const void *)buf[2 * h + j][r]));
    }
  }
}

static inline __attribute__((always_inline)) void compute(const ql_qgemm_args *args, const ql_qgemm_prep *p,
                                                          const int sa, int64_t m0, int64_t m1, int64_t n0,
                                                          int64_t n1) {
  _Alignas(64) int32_t buf[4][16][16];
  for (int64_t pn = n0 / 16 * 16; pn < n1; pn += 32) {
    const int two_n = pn + 16 < n1;
    for (int64_t m = m0; m < m1; m += 32) {
      const int two_m = m + 16 < m1;
      if (two_m && two_n)
        block(args, p, sa, 1, 1, m, m1, pn, n0, n1, buf);
      else if (two_m)
        block(args, p, sa, 1, 0, m, m1, pn, n0, n1, buf);
      else if (two_n)
        block(args, p, sa, 0, 1, m, m1, pn, n0, n1, buf);
      else
        block(args, p, sa, 0, 0, m, m1, pn, n0, n1, buf);
    }
  }
}

void ql_qgemm_compute__amx(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1, int64_t n0,
                           int64_t n1) {
  config_tiles();
  if (args->a_signed)
    compute(args, p, 1, m0, m1, n0, n1);
  else
    compute(args, p, 0, m0, m1, n0, n1);
  _tile_release();
}

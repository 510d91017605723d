/* AMX qgemm: 2 x 2 blocks of 16 x 16 int32 tiles (32 rows x 32 columns) fed
 * by two A tiles (16 rows x 64 k) and two B tiles (64 k x 16 columns, which
 * is exactly one 1 KiB stretch of a packed B panel). The driver gives each
 * call few rows and many columns: the A rows stay in L1 while B streams past
 * them, loaded with the non-temporal hint (tileloaddt1) so that it does not
 * evict them (measured +20-25%). tdpbusd for uint8 A,
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

/* A finished block waiting for its epilogue, which runs a few rows at a time
 * between the tile multiplies of the next block: the AMX unit and the
 * AVX-512 ports then work at once instead of taking turns. */
typedef struct pending {
  int live;
  int two_m, two_n;
  int64_t m, pn;
  int units, done; /* (rows / 4) x panels */
  ql_epi512 e[2];
  int32_t (*buf)[16][16];
} pending;

static inline __attribute__((always_inline)) void drain(pending *q, const ql_qgemm_args *args,
                                                        const ql_qgemm_prep *p, const ql_qgemm_out ot,
                                                        int64_t m_end, int quota) {
  if (!q->live) return;
  int stop = q->done + quota < q->units ? q->done + quota : q->units;
  for (; q->done < stop; q->done++) {
    /* unit u: panel j = u & two_n, rows 4 * (u >> two_n) + 0..3 of 16 or 32 */
    int u = q->done, j = q->two_n ? u & 1 : 0, row = 4 * (q->two_n ? u >> 1 : u), h = row >> 4, r = row & 15;
    int64_t mm = q->m + row;
    const int32_t(*t)[16] = q->buf[2 * h + j];
    if (mm + 4 <= m_end) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++)
        ql_epi512_store(&q->e[j], args, p, ot, 0, mm + i, _mm512_load_si512((const void *)t[r + i]));
    } else {
      for (int i = 0; i < 4 && mm + i < m_end; i++)
        ql_epi512_store(&q->e[j], args, p, ot, 0, mm + i, _mm512_load_si512((const void *)t[r + i]));
    }
  }
  if (q->done == q->units) q->live = 0;
}

static inline __attribute__((always_inline)) void block(const ql_qgemm_args *args, const ql_qgemm_prep *p,
                                                        const int sa, const ql_qgemm_out ot, const int two_m,
                                                        const int two_n,
                                                        int64_t m, int64_t m_end, int64_t pn, int64_t nb,
                                                        int64_t ne, const int32_t (*ct)[16], int32_t (*buf)[16][16],
                                                        pending *q) {
  const int64_t kp = p->kp;
  int64_t lda;
  const uint8_t *a0 = ql_qgemm_a_block(p, m, two_m ? 32 : 16, &lda), *a1 = a0 + 16 * lda;
  const int8_t *b0 = args->pb->data + pn * kp, *b1 = b0 + 16 * kp;
  const int quota = q->live ? (int)((q->units + kp / 64 - 1) / (kp / 64)) : 0;
  /* the accumulators start from bias + a_zp' * colk (ct, one row read 16
   * times with stride 0): one add less in the epilogue */
  _tile_loadd(0, ct[0], 0);
  if (two_n) _tile_loadd(1, ct[1], 0);
  if (two_m) _tile_loadd(2, ct[0], 0);
  if (two_m && two_n) _tile_loadd(3, ct[1], 0);
  for (int64_t k = 0; k < kp; k += 64) {
    _tile_loadd(4, a0 + k, lda);
    _tile_stream_loadd(6, b0 + k * 16, 64);
    DP(sa, 0, 4, 6);
    if (two_n) {
      _tile_stream_loadd(7, b1 + k * 16, 64);
      DP(sa, 1, 4, 7);
    }
    if (two_m) {
      _tile_loadd(5, a1 + k, lda);
      DP(sa, 2, 5, 6);
      if (two_n) DP(sa, 3, 5, 7);
    }
    drain(q, args, p, ot, m_end, quota);
  }
  drain(q, args, p, ot, m_end, 1 << 30);
  if (ot == QL_QGEMM_OUT_I32 && !p->rowsum && two_m && two_n && m + 32 <= m_end && pn >= nb && pn + 32 <= ne) {
    /* int32 output of a whole block needs no epilogue at all */
    int32_t *c = (int32_t *)args->c + m * args->ldc + pn;
    const size_t ldc = (size_t)args->ldc * 4;
    _tile_stored(0, c, ldc);
    _tile_stored(1, c + 16, ldc);
    _tile_stored(2, c + 16 * args->ldc, ldc);
    _tile_stored(3, c + 16 * args->ldc + 16, ldc);
    return;
  }
  _tile_stored(0, buf[0], 64);
  if (two_n) _tile_stored(1, buf[1], 64);
  if (two_m) _tile_stored(2, buf[2], 64);
  if (two_m && two_n) _tile_stored(3, buf[3], 64);
  q->live = 1;
  q->two_m = two_m;
  q->two_n = two_n;
  q->m = m;
  q->pn = pn;
  q->units = (two_m ? 8 : 4) * (two_n ? 2 : 1);
  q->done = 0;
  q->buf = buf;
  ql_epi512_init(&q->e[0], args, p, pn, nb, ne);
  if (two_n) ql_epi512_init(&q->e[1], args, p, pn + 16, nb, ne);
}

static inline __attribute__((always_inline)) void compute(const ql_qgemm_args *args, const ql_qgemm_prep *p,
                                                          const int sa, const ql_qgemm_out ot, int64_t m0,
                                                          int64_t m1, int64_t n0, int64_t n1) {
  _Alignas(64) int32_t buf[2][4][16][16]; /* double buffered: one drains while the other fills */
  pending q = {0};
  int cur = 0;
  _Alignas(64) int32_t ct[2][16];
  for (int64_t pn = n0 / 16 * 16; pn < n1; pn += 32) {
    const int two_n = pn + 16 < n1;
    for (int j = 0; j < 1 + two_n; j++) {
      ql_epi512 e;
      ql_epi512_init(&e, args, p, pn + 16 * j, n0, n1);
      _mm512_store_si512((void *)ct[j], e.colterm);
    }
    for (int64_t m = m0; m < m1; m += 32, cur ^= 1) {
      const int two_m = m + 16 < m1;
      if (two_m && two_n)
        block(args, p, sa, ot, 1, 1, m, m1, pn, n0, n1, (const int32_t(*)[16])ct, buf[cur], &q);
      else if (two_m)
        block(args, p, sa, ot, 1, 0, m, m1, pn, n0, n1, (const int32_t(*)[16])ct, buf[cur], &q);
      else if (two_n)
        block(args, p, sa, ot, 0, 1, m, m1, pn, n0, n1, (const int32_t(*)[16])ct, buf[cur], &q);
      else
        block(args, p, sa, ot, 0, 0, m, m1, pn, n0, n1, (const int32_t(*)[16])ct, buf[cur], &q);
    }
  }
  drain(&q, args, p, ot, m1, 1 << 30);
}

void ql_qgemm_compute__amx(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1, int64_t n0,
                           int64_t n1) {
  config_tiles();
#define CASE(sa, ot)                                                                                         \
  case 4 * (sa) + (ot): compute(args, p, sa, ot, m0, m1, n0, n1); break
  switch (4 * !!args->a_signed + (int)args->out_type) {
    CASE(0, QL_QGEMM_OUT_I32);
    CASE(0, QL_QGEMM_OUT_U8);
    CASE(0, QL_QGEMM_OUT_S8);
    CASE(0, QL_QGEMM_OUT_F32);
    CASE(1, QL_QGEMM_OUT_I32);
    CASE(1, QL_QGEMM_OUT_U8);
    CASE(1, QL_QGEMM_OUT_S8);
    CASE(1, QL_QGEMM_OUT_F32);
  }
#undef CASE
  _tile_release();
}

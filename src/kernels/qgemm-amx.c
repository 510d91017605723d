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
 * (16-31, 16-31); A tiles 4, 5; B tiles 6, 7. Tiles are not renamed: the
 * load of a tile for step k+1 waits until the multiplies of step k have
 * read it, so each k step multiplies in the order A0B0, A1B0, A0B1, A1B1,
 * which leaves every operand load one multiply (16 cycles) or more of slack
 * (the order A0B0, A0B1, A1B0, A1B1 measured 3-5% slower). */
#define DP(s, c, a, b)                                                                                       \
  do {                                                                                                       \
    if (s)                                                                                                   \
      _tile_dpbssd(c, a, b);                                                                                 \
    else                                                                                                     \
      _tile_dpbusd(c, a, b);                                                                                 \
  } while (0)

/* A finished block waiting for its epilogue, which runs a few rows at a time
 * between the tile multiplies of the next block: the AMX unit and the
 * AVX-512 ports then work at once instead of taking turns. Everything the
 * drain needs is hoisted here (row pointer, strides, the two panels'
 * epilogue constants), so that the interleaved code is the epilogue's
 * vector work and little else. */
typedef struct pending {
  int live, two_n, units, done; /* units: (rows / 4) x panels */
  int rows;                     /* valid rows of the block (<= 32) */
  int full[2];                  /* panel j's 16 columns all belong to this call */
  char *c;                      /* C at the block's first row, first panel */
  size_t ldc;                   /* bytes */
  const int32_t *rowsum;        /* at the block's first row; NULL when not needed */
  ql_epi512 e[2];
  int stream;
  int32_t (*buf)[16][16];
} pending;

static inline __attribute__((always_inline)) size_t out_size(const ql_qgemm_out ot) {
  return ot == QL_QGEMM_OUT_U8 || ot == QL_QGEMM_OUT_S8 ? 1 : 4;
}

/* One row of panel j: the tiles started from zero, so colterm (bias +
 * a_zp' * colk) and the row-sum term are added here. */
static inline __attribute__((always_inline)) void drain_row(const pending *q, const ql_qgemm_out ot, const int rs,
                                                            const int fb, int j, int row, const int32_t *t) {
  const ql_epi512 *e = &q->e[j];
  __m512i acc = _mm512_add_epi32(_mm512_load_si512((const void *)t), e->colterm);
  if (rs) acc = _mm512_sub_epi32(acc, _mm512_mullo_epi32(e->bzp, _mm512_set1_epi32(q->rowsum[row])));
  char *dst = q->c + (size_t)row * q->ldc + (size_t)j * 16 * out_size(ot);
  if (ot == QL_QGEMM_OUT_I32 && q->stream && q->full[j])
    _mm512_stream_si512((void *)dst, acc);
  else if (q->full[j])
    ql_epi512_put(e, ot, fb, 1, dst, acc);
  else
    ql_epi512_put(e, ot, fb, 0, dst, acc);
}

static inline __attribute__((always_inline)) void drain(pending *q, const ql_qgemm_out ot, const int rs, const int fb,
                                                        int quota) {
  if (!q->live) return;
  int stop = q->done + quota < q->units ? q->done + quota : q->units;
  for (; q->done < stop; q->done++) {
    /* unit u: panel j = u & two_n, rows 4 * (u >> two_n) + 0..3 of 16 or 32 */
    const int u = q->done, j = q->two_n ? u & 1 : 0, row = 4 * (q->two_n ? u >> 1 : u);
    const int32_t(*t)[16] = q->buf[2 * (row >> 4) + j] + (row & 15);
    if (row + 4 <= q->rows) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++) drain_row(q, ot, rs, fb, j, row + i, t[i]);
    } else {
      for (int i = 0; i < 4 && row + i < q->rows; i++) drain_row(q, ot, rs, fb, j, row + i, t[i]);
    }
  }
  if (q->done == q->units) q->live = 0;
}

static inline __attribute__((always_inline)) void block(const ql_qgemm_args *args, const ql_qgemm_prep *p,
                                                        const int sa, const ql_qgemm_out ot, const int rs,
                                                        const int fb, const int two_m, const int two_n, int64_t m,
                                                        int rows, int64_t pn, const ql_epi512 *e, const int *full,
                                                        int32_t (*buf)[16][16], pending *q) {
  const int64_t kp = p->kp;
  int64_t lda;
  const uint8_t *a0 = ql_qgemm_a_block(p, m, two_m ? 32 : 16, &lda), *a1 = a0 + 16 * lda;
  const int8_t *b0 = args->pb->data + pn * kp, *b1 = b0 + 16 * kp;
  const int quota = q->live ? (int)((q->units + kp / 64 - 1) / (kp / 64)) : 0;
  /* zeroed accumulators: loading bias + a_zp' * colk into them instead
   * (one add less per row in the epilogue) measured 4-6% slower, the
   * first multiply then waits for the load */
  _tile_zero(0);
  if (two_n) _tile_zero(1);
  if (two_m) _tile_zero(2);
  if (two_m && two_n) _tile_zero(3);
  for (int64_t k = 0; k < kp; k += 64) {
    _tile_loadd(4, a0 + k, lda);
    _tile_stream_loadd(6, b0 + k * 16, 64);
    DP(sa, 0, 4, 6);
    if (two_m) {
      _tile_loadd(5, a1 + k, lda);
      DP(sa, 2, 5, 6);
    }
    if (two_n) {
      _tile_stream_loadd(7, b1 + k * 16, 64);
      DP(sa, 1, 4, 7);
      if (two_m) DP(sa, 3, 5, 7);
    }
    drain(q, ot, rs, fb, quota);
  }
  drain(q, ot, rs, fb, 1 << 30);
  _tile_stored(0, buf[0], 64);
  if (two_n) _tile_stored(1, buf[1], 64);
  if (two_m) _tile_stored(2, buf[2], 64);
  if (two_m && two_n) _tile_stored(3, buf[3], 64);
  q->live = 1;
  q->two_n = two_n;
  q->units = (two_m ? 8 : 4) * (two_n ? 2 : 1);
  q->done = 0;
  q->rows = rows;
  q->c = (char *)args->c + (size_t)(m * args->ldc + pn) * out_size(ot);
  q->ldc = (size_t)args->ldc * out_size(ot);
  q->rowsum = rs ? p->rowsum + m : NULL;
  q->stream = args->stream;
  q->buf = buf;
  q->e[0] = e[0];
  q->full[0] = full[0];
  if (two_n) {
    q->e[1] = e[1];
    q->full[1] = full[1];
  }
}

static inline __attribute__((always_inline)) void compute(const ql_qgemm_args *args, const ql_qgemm_prep *p,
                                                          const int sa, const ql_qgemm_out ot, const int rs,
                                                          const int fb, int64_t m0, int64_t m1, int64_t n0,
                                                          int64_t n1) {
  _Alignas(64) int32_t buf[2][4][16][16]; /* double buffered: one drains while the other fills */
  pending q;
  q.live = 0;
  int cur = 0;
  for (int64_t pn = n0 / 16 * 16; pn < n1; pn += 32) {
    const int two_n = pn + 16 < n1;
    ql_epi512 e[2];
    int full[2];
    for (int j = 0; j < 1 + two_n; j++) {
      ql_epi512_init(&e[j], args, p, pn + 16 * j, n0, n1);
      full[j] = e[j].mask == 0xFFFF;
    }
    for (int64_t m = m0; m < m1; m += 32, cur ^= 1) {
      const int two_m = m + 16 < m1, rows = m1 - m < 32 ? (int)(m1 - m) : 32;
      if (two_m && two_n)
        block(args, p, sa, ot, rs, fb, 1, 1, m, rows, pn, e, full, buf[cur], &q);
      else if (two_m)
        block(args, p, sa, ot, rs, fb, 1, 0, m, rows, pn, e, full, buf[cur], &q);
      else if (two_n)
        block(args, p, sa, ot, rs, fb, 0, 1, m, rows, pn, e, full, buf[cur], &q);
      else
        block(args, p, sa, ot, rs, fb, 0, 0, m, rows, pn, e, full, buf[cur], &q);
    }
  }
  drain(&q, ot, rs, fb, 1 << 30);
}

void ql_qgemm_compute__amx(const ql_qgemm_args *args, const ql_qgemm_prep *p, int64_t m0, int64_t m1, int64_t n0,
                           int64_t n1) {
  config_tiles();
  const int rs = p->rowsum != NULL, fb = args->out_type == QL_QGEMM_OUT_F32 && args->fbias;
#define CASE(sa, ot, rs)                                                                                     \
  case 8 * (sa) + 2 * (ot) + (rs): compute(args, p, sa, ot, rs, (ot) == QL_QGEMM_OUT_F32 && fb, m0, m1, n0, n1); break
  switch (8 * !!args->a_signed + 2 * (int)args->out_type + rs) {
    CASE(0, QL_QGEMM_OUT_I32, 0);
    CASE(0, QL_QGEMM_OUT_U8, 0);
    CASE(0, QL_QGEMM_OUT_S8, 0);
    CASE(0, QL_QGEMM_OUT_F32, 0);
    CASE(1, QL_QGEMM_OUT_I32, 0);
    CASE(1, QL_QGEMM_OUT_U8, 0);
    CASE(1, QL_QGEMM_OUT_S8, 0);
    CASE(1, QL_QGEMM_OUT_F32, 0);
    CASE(0, QL_QGEMM_OUT_I32, 1);
    CASE(0, QL_QGEMM_OUT_U8, 1);
    CASE(0, QL_QGEMM_OUT_S8, 1);
    CASE(0, QL_QGEMM_OUT_F32, 1);
    CASE(1, QL_QGEMM_OUT_I32, 1);
    CASE(1, QL_QGEMM_OUT_U8, 1);
    CASE(1, QL_QGEMM_OUT_S8, 1);
    CASE(1, QL_QGEMM_OUT_F32, 1);
  }
#undef CASE
  _tile_release();
  if (args->stream) _mm_sfence(); /* the streamed rows are visible before the pool reports the tile done */
}

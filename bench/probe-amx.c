/* Peak probe: register-resident tdpbusd on four independent accumulator
 * tiles (no loads), the ceiling the AMX qgemm kernel is measured against. */
#include "probe.h"
#include <immintrin.h>
#include <string.h>

typedef struct tile_config {
  uint8_t palette_id, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_config;

double ql_probe_amx_ops(long iters) {
  tile_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; t++) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  __asm__ volatile("" ::: "memory"); /* GCC 12 drops the stores otherwise */
  _tile_loadconfig(&cfg);
  for (int t = 0; t < 8; t++) {
    switch (t) { /* tile numbers must be constants */
    case 0: _tile_zero(0); break;
    case 1: _tile_zero(1); break;
    case 2: _tile_zero(2); break;
    case 3: _tile_zero(3); break;
    case 4: _tile_zero(4); break;
    case 5: _tile_zero(5); break;
    case 6: _tile_zero(6); break;
    default: _tile_zero(7); break;
    }
  }
  for (long i = 0; i < iters; i++) {
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    _tile_dpbusd(2, 5, 6);
    _tile_dpbusd(3, 5, 7);
  }
  _tile_release();
  return (double)iters * 4 * 16 * 16 * 64 * 2;
}

/* bench-probe: the int8 peak of one core, the ceiling bench/compare.py
 * measures GOPS against. Register-resident loops with no loads or stores:
 *   AMX         tdpbusd on 4 independent accumulator tiles (16x16 int32 each)
 *   AVX-512     vpdpbusd on 20 independent zmm accumulators (latency 5 x 2
 *   VNNI        ports needs >= 10)
 * One thread. Features are detected at run time (CPUID plus the OS's XCR0,
 * plus the AMX permission request Linux requires); what the CPU or OS lacks is
 * skipped and reported as null. Each probe keeps the best of 30 ~30 ms
 * samples (a peak, not a typical value: the machine may be shared, and
 * the AMX unit of a core is shared with its SMT sibling, possibly another
 * guest of the host).
 *
 *   gcc -O2 -o bench-probe bench/probe.c && ./bench-probe [--json]
 *
 * Built by hand from bench/run.sh: no special compiler flags, the ISA code is
 * enabled per function with target attributes. run.sh also builds it as a
 * shared library (-shared -fPIC) for bench/compare.py, which calls
 * ql_bench_probe_gops between the timed blocks of a case: the AMX unit's speed
 * moves with the host's load (a "slow mode" that switches per CPU within
 * seconds), so a peak read once at the start is not the ceiling a case ran
 * under minutes later. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu_s(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

static uint64_t xgetbv0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

typedef struct features {
  int avx512vnni, amx_int8, amx_os;
} features;

static features detect(void) {
  features f = {0};
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return f; /* no OSXSAVE: no XCR0 */
  uint64_t xcr0 = xgetbv0();
  if (__get_cpuid_max(0, NULL) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  int avx512_os = (xcr0 & 0xE6) == 0xE6; /* SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM */
  f.avx512vnni = avx512_os && (b & (1u << 16)) && (c & (1u << 11));
  int amx_cpu = (d & (1u << 24)) && (d & (1u << 25)); /* AMX-TILE, AMX-INT8 */
  f.amx_os = (xcr0 & (3u << 17)) == (3u << 17);        /* XTILECFG, XTILEDATA */
  /* Linux hands out the tile data state only on request. */
  f.amx_int8 = amx_cpu && f.amx_os && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
  return f;
}

/* ------------------------------------------------------------------ AMX */
typedef struct tile_config {
  uint8_t palette_id, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_config;

/* All eight tiles 16 rows x 64 bytes, zeroed. */
__attribute__((target("amx-tile,amx-int8"))) static inline void amx_setup(void) {
  tile_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; t++) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  /* GCC 12 drops the stores to cfg otherwise: it cannot see ldtilecfg read it */
  __asm__ volatile("" ::: "memory");
  __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
  __asm__ volatile("tilezero %%tmm0\n\ttilezero %%tmm1\n\ttilezero %%tmm2\n\ttilezero %%tmm3\n\t"
                   "tilezero %%tmm4\n\ttilezero %%tmm5\n\ttilezero %%tmm6\n\ttilezero %%tmm7" ::);
}

__attribute__((target("amx-tile,amx-int8"), noinline)) static double amx_ops(long iters) {
  amx_setup();
  long n = iters;
  __asm__ volatile("1:\n\t"
                   "tdpbusd %%tmm6, %%tmm4, %%tmm0\n\t"
                   "tdpbusd %%tmm7, %%tmm4, %%tmm1\n\t"
                   "tdpbusd %%tmm6, %%tmm5, %%tmm2\n\t"
                   "tdpbusd %%tmm7, %%tmm5, %%tmm3\n\t"
                   "dec %0\n\t"
                   "jnz 1b"
                   : "+r"(n)::"cc");
  __asm__ volatile("tilerelease" ::);
  return (double)iters * 4 * 16 * 16 * 64 * 2; /* 16x16 outputs x 64 MACs, 2 ops per MAC */
}

/* The same multiplies with their four operand tiles loaded from a 4 KiB
 * buffer (L1) every iteration, as a GEMM kernel does. Not a peak: a health
 * check. On this VM a core sometimes enters a mode for seconds to minutes in
 * which tile loads run 3-5x slower while the register-resident loop above
 * keeps its speed (measured: 1,200 against 4,900 GOPS on one CPU while the
 * other read 5,500 and 5,600); every AMX kernel then slows alike. */
__attribute__((target("amx-tile,amx-int8"), noinline)) static double amx_l1_ops(long iters) {
  static _Alignas(64) uint8_t buf[4096];
  amx_setup();
  long n = iters;
  const long stride = 64;
  __asm__ volatile("1:\n\t"
                   "tileloadd (%1,%2,1), %%tmm4\n\t"
                   "tileloadd 1024(%1,%2,1), %%tmm6\n\t"
                   "tdpbusd %%tmm6, %%tmm4, %%tmm0\n\t"
                   "tileloadd 2048(%1,%2,1), %%tmm5\n\t"
                   "tdpbusd %%tmm6, %%tmm5, %%tmm2\n\t"
                   "tileloadd 3072(%1,%2,1), %%tmm7\n\t"
                   "tdpbusd %%tmm7, %%tmm4, %%tmm1\n\t"
                   "tdpbusd %%tmm7, %%tmm5, %%tmm3\n\t"
                   "dec %0\n\t"
                   "jnz 1b"
                   : "+r"(n)
                   : "r"(buf), "r"(stride)
                   : "cc", "memory");
  __asm__ volatile("tilerelease" ::);
  return (double)iters * 4 * 16 * 16 * 64 * 2;
}

/* ------------------------------------------------------------------ AVX-512 VNNI */
#define DP(r) "vpdpbusd %%zmm30, %%zmm31, %%zmm" #r "\n\t"

__attribute__((target("avx512f,avx512vnni"), noinline)) static double avx512vnni_ops(long iters) {
  long n = iters;
  __asm__ volatile("vpxord %%zmm30, %%zmm30, %%zmm30\n\t"
                   "vpxord %%zmm31, %%zmm31, %%zmm31\n\t"
                   "1:\n\t" DP(0) DP(1) DP(2) DP(3) DP(4) DP(5) DP(6) DP(7) DP(8) DP(9) DP(10) DP(11) DP(12)
                       DP(13) DP(14) DP(15) DP(16) DP(17) DP(18) DP(19) "dec %0\n\t"
                   "jnz 1b\n\t"
                   "vzeroupper"
                   : "+r"(n)
                   :
                   : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                     "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm30",
                     "xmm31", "cc");
  return (double)iters * 20 * 16 * 4 * 2; /* 16 int32 lanes x 4 MACs, 2 ops per MAC */
}

/* Best GOPS over `samples` runs of ~target_s each, per wall-clock second
 * and per second of this thread's CPU time. On a shared machine the wall
 * figure drops whenever the scheduler hands the core to someone else; the CPU
 * time figure is the core's own peak (the one %-of-peak is computed against). */
typedef struct peak {
  double wall, cpu;
} peak;

static peak peak_gops(double (*fn)(long), int samples, double target_s) {
  long iters = 1000;
  for (;;) { /* calibrate */
    double t0 = now_s();
    fn(iters);
    double dt = now_s() - t0;
    if (dt > 0.01) {
      iters = (long)(iters * target_s / dt) + 1;
      break;
    }
    iters *= 4;
  }
  peak best = {0, 0};
  for (int s = 0; s < samples; s++) {
    double t0 = now_s(), c0 = cpu_s();
    double ops = fn(iters);
    double w = ops / (now_s() - t0) * 1e-9, c = ops / (cpu_s() - c0) * 1e-9;
    if (w > best.wall) best.wall = w;
    if (c > best.cpu) best.cpu = c;
  }
  return best;
}

/* For callers that load this file as a library: the peak GOPS per CPU second
 * of isa ("amx_int8" or "avx512vnni"; "amx_int8_l1": the health check with
 * tile loads) on the calling thread, best of samples runs of ~target_s; 0
 * when the CPU or OS lacks it. */
double ql_bench_probe_gops(const char *isa, int samples, double target_s);
double ql_bench_probe_gops(const char *isa, int samples, double target_s) {
  static features f;
  static int detected;
  if (!detected) {
    f = detect();
    detected = 1;
  }
  if (!strcmp(isa, "amx_int8") && f.amx_int8) return peak_gops(amx_ops, samples, target_s).cpu;
  if (!strcmp(isa, "amx_int8_l1") && f.amx_int8) return peak_gops(amx_l1_ops, samples, target_s).cpu;
  if (!strcmp(isa, "avx512vnni") && f.avx512vnni) return peak_gops(avx512vnni_ops, samples, target_s).cpu;
  return 0;
}

static void cpu_name(char *out, size_t n) {
  snprintf(out, n, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    char *c = strchr(line, ':');
    if (!strncmp(line, "model name", 10) && c) {
      snprintf(out, n, "%s", c + 2);
      out[strcspn(out, "\n")] = 0;
      break;
    }
  }
  fclose(f);
}

static void put(int json, const char *key, int have, peak v, int last) {
  if (json) {
    if (have) printf("\"%s_gops\":%.1f,\"%s_gops_wall\":%.1f%s", key, v.cpu, key, v.wall, last ? "" : ",");
    else printf("\"%s_gops\":null,\"%s_gops_wall\":null%s", key, key, last ? "" : ",");
  } else if (have) {
    printf("%-12s %8.1f GOPS per CPU second, %8.1f per wall second (1 thread)\n", key, v.cpu, v.wall);
  } else {
    printf("%-12s skipped (not supported by this CPU/OS)\n", key);
  }
}

int main(int argc, char **argv) {
  int json = argc > 1 && !strcmp(argv[1], "--json");
  features f = detect();
  peak none = {0, 0};
  peak amx = f.amx_int8 ? peak_gops(amx_ops, 30, 0.03) : none;
  peak vnni = f.avx512vnni ? peak_gops(avx512vnni_ops, 30, 0.03) : none;
  char name[256];
  cpu_name(name, sizeof name);
  if (json) {
    printf("{\"cpu\":\"");
    for (const char *p = name; *p; p++)
      if (*p != '"' && *p != '\\') putchar(*p);
    printf("\",");
  } else {
    printf("cpu          %s\n", name);
  }
  put(json, "amx_int8", f.amx_int8, amx, 0);
  put(json, "avx512vnni", f.avx512vnni, vnni, 1);
  if (json) printf("}\n");
  return 0;
}

/* bench-qgemm: GOPS (2*M*N*K / t) of ql_qgemm_run per ISA and thread count,
 * u8 A x s8 B -> requantized u8, per-tensor multiplier (the QLinearMatMul
 * case). Each sample repeats the GEMM for >= 5 ms; the configurations of a
 * shape are interleaved sample by sample so that load from other processes
 * hits them alike; the median sample is printed. GOPS uses the wall clock;
 * cpuGOPS divides by the CPU time the threads got (this machine is shared:
 * the wall clock partly measures the other tenants). "%peak" compares
 * cpuGOPS with a register-resident probe (AMX tdpbusd, or AVX-512 vpdpbusd
 * for the VNNI kernels) run on as many threads right before each sample;
 * the median of those ratios is printed. "best" columns: the fastest
 * sample and the highest ratio, the closest this gets to an idle machine.
 *
 *   bench-qgemm [--reps N] [--isa amx,avx512vnni,...] [--threads 1,2]
 *               [--shape M,K,N]... [--probe-only]
 */
#include "kernels/qgemm.h"
#include "probe.h"
#include "runtime/threadpool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the process: on this shared machine the wall clock mostly
 * measures the other tenants, so GOPS are also given per CPU second used. */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double thread_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ---------------------------------------------------------------- probes */
typedef struct probe_arg {
  int amx;
  long iters;
  double ops, secs, cpu;
} probe_arg;

static void *probe_thread(void *p) {
  probe_arg *a = p;
  double t0 = now(), c0 = thread_cpu_now();
  a->ops = a->amx ? ql_probe_amx_ops(a->iters) : ql_probe_avx512vnni_ops(a->iters);
  a->secs = now() - t0;
  a->cpu = thread_cpu_now() - c0;
  return NULL;
}

/* Median GOPS of the probe on nt threads at once; *cpu_gops: per CPU
 * second of each thread, times nt. */
static double probe_gops(int amx, int nt, int reps, double *cpu_gops) {
  double s[32], sc[32];
  long iters = amx ? 200000 : 2000000;
  for (int r = 0; r < reps && r < 32; r++) {
    probe_arg args[8];
    pthread_t th[8];
    for (int i = 0; i < nt; i++) {
      args[i] = (probe_arg){.amx = amx, .iters = iters};
      pthread_create(&th[i], NULL, probe_thread, &args[i]);
    }
    double ops = 0, secs = 0, cpu = 0;
    for (int i = 0; i < nt; i++) {
      pthread_join(th[i], NULL);
      ops += args[i].ops;
      cpu += args[i].cpu;
      if (args[i].secs > secs) secs = args[i].secs;
    }
    s[r] = ops / secs * 1e-9;
    sc[r] = ops / cpu * nt * 1e-9;
  }
  qsort(s, (size_t)reps, sizeof *s, cmp_double);
  qsort(sc, (size_t)reps, sizeof *sc, cmp_double);
  *cpu_gops = sc[reps / 2];
  return s[reps / 2];
}

/* ---------------------------------------------------------------- gemm */
typedef struct config {
  ql_isa isa;
  int threads;
  ql_qgemm_packed_b *pb;
  double samples[64], cpu_samples[64], ratio[64];
} config;

int main(int argc, char **argv) {
  int reps = 7, probe_only = 0;
  ql_isa isas[QL_ISA_COUNT];
  int n_isa = 0, threads[4] = {1, 2}, n_threads = 2;
  long shapes[16][3];
  int n_shapes = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = atoi(argv[++i]);
      if (reps < 1 || reps > 64) reps = 7;
    } else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
      for (char *t = strtok(argv[++i], ","); t && n_isa < QL_ISA_COUNT; t = strtok(NULL, ",")) {
        ql_isa x = ql_isa_from_name(t);
        if (x == QL_ISA_AUTO) {
          fprintf(stderr, "unknown ISA %s\n", t);
          return 2;
        }
        isas[n_isa++] = x;
      }
    } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      n_threads = 0;
      for (char *t = strtok(argv[++i], ","); t && n_threads < 4; t = strtok(NULL, ",")) threads[n_threads++] = atoi(t);
    } else if (!strcmp(argv[i], "--shape") && i + 1 < argc && n_shapes < 16) {
      if (sscanf(argv[++i], "%ld,%ld,%ld", &shapes[n_shapes][0], &shapes[n_shapes][1], &shapes[n_shapes][2]) == 3)
        n_shapes++;
    } else if (!strcmp(argv[i], "--probe-only")) {
      probe_only = 1;
    } else {
      fprintf(stderr, "usage: %s [--reps N] [--isa a,b] [--threads 1,2] [--shape M,K,N]... [--probe-only]\n",
              argv[0]);
      return 2;
    }
  }
  if (!n_isa)
    for (int i = QL_ISA_AMX; i >= QL_ISA_AVX2; i--)
      if (ql_isa_supported((ql_isa)i)) isas[n_isa++] = (ql_isa)i;
  if (!n_shapes) {
    static const long def[4][3] = {{1, 4096, 4096}, {128, 768, 768}, {512, 1024, 1024}, {1024, 1024, 1024}};
    memcpy(shapes, def, sizeof def);
    n_shapes = 4;
  }

  /* peaks per thread count */
  /* % of peak compares CPU-time GOPS, the figure load does not distort */
  double peak_amx[4] = {0}, peak_vnni[4] = {0}, wall_amx = 0, wall_vnni = 0;
  for (int t = 0; t < n_threads; t++) {
    if (ql_isa_supported(QL_ISA_AMX)) wall_amx = probe_gops(1, threads[t], reps, &peak_amx[t]);
    if (ql_isa_supported(QL_ISA_AVX512VNNI)) wall_vnni = probe_gops(0, threads[t], reps, &peak_vnni[t]);
    printf("peak probe, %d thread(s): AMX tdpbusd %.0f GOPS (wall %.0f), AVX-512 vpdpbusd %.0f GOPS (wall %.0f)\n",
           threads[t], peak_amx[t], wall_amx, peak_vnni[t], wall_vnni);
  }
  if (probe_only) return 0;

  ql_threadpool *pools[4] = {0};
  for (int t = 0; t < n_threads; t++)
    if (ql_threadpool_create(threads[t], &pools[t], NULL) != QL_OK) return 1;

  printf("%-16s %-11s %-26s %3s %9s %9s %9s %6s %9s %6s\n", "M,K,N", "isa", "kernel", "thr", "ms(wall)", "GOPS",
         "cpuGOPS", "%peak", "best", "%best");
  for (int s = 0; s < n_shapes; s++) {
    const long m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
    uint8_t *a = malloc((size_t)(m * k)), *b = malloc((size_t)(k * n)), *c = malloc((size_t)(m * n));
    for (long i = 0; i < m * k; i++) a[i] = (uint8_t)(i * 2654435761u >> 24);
    for (long i = 0; i < k * n; i++) b[i] = (uint8_t)(i * 2246822519u >> 25);
    config cfg[QL_ISA_COUNT * 4];
    int nc = 0;
    for (int i = 0; i < n_isa; i++) {
      ql_qgemm_packed_b *pb = NULL;
      ql_error err;
      if (ql_qgemm_pack_b(b, 1, k, n, n, 1, NULL, 0, isas[i], &pb, &err) != QL_OK) {
        printf("%s: %s\n", ql_isa_name(isas[i]), err.msg);
        continue;
      }
      for (int t = 0; t < n_threads; t++) cfg[nc++] = (config){.isa = isas[i], .threads = t, .pb = pb};
    }
    size_t ws_size = 0;
    for (int i = 0; i < nc; i++) {
      size_t w = ql_qgemm_workspace_size(cfg[i].pb, m);
      if (w > ws_size) ws_size = w;
    }
    void *ws = NULL;
    if (posix_memalign(&ws, 64, ws_size)) return 1;
    float mult = 1.0f / (float)(k * 64);
    const double ops = 2.0 * (double)m * (double)n * (double)k;
    for (int r = -1; r < reps; r++) { /* r == -1: warm-up */
      for (int i = 0; i < nc; i++) {
        ql_qgemm_args args = {.pb = cfg[i].pb, .a = a, .lda = k, .m = m, .a_zp = 7, .out_type = QL_QGEMM_OUT_U8,
                              .mult = &mult, .out_zp = 128, .out_min = 0, .out_max = 255, .c = c, .ldc = n,
                              .workspace = ws};
        /* a short probe right before the sample: the ratio of the two is
         * what "% of peak" reports, robust to the machine's load changing */
        int amx_peak = cfg[i].isa == QL_ISA_AMX && m >= 4;
        double probe = 0;
        if (cfg[i].isa >= QL_ISA_AVX512VNNI) {
          probe_arg pa[4];
          pthread_t th[4];
          int nt = threads[cfg[i].threads] < 4 ? threads[cfg[i].threads] : 4;
          for (int t = 0; t < nt; t++) {
            pa[t] = (probe_arg){.amx = amx_peak, .iters = amx_peak ? 20000 : 100000};
            pthread_create(&th[t], NULL, probe_thread, &pa[t]);
          }
          double pops = 0, pcpu = 0;
          for (int t = 0; t < nt; t++) {
            pthread_join(th[t], NULL);
            pops += pa[t].ops;
            pcpu += pa[t].cpu;
          }
          probe = pops / pcpu * 1e-9; /* per thread */
        }
        int iters = 0;
        double t0 = now(), c0 = cpu_now(), t1;
        do {
          ql_qgemm_run(&args, pools[cfg[i].threads], NULL);
          iters++;
          t1 = now();
        } while (t1 - t0 < 5e-3);
        if (r >= 0) {
          cfg[i].samples[r] = (t1 - t0) / iters;
          cfg[i].cpu_samples[r] = (cpu_now() - c0) / iters / threads[cfg[i].threads];
          cfg[i].ratio[r] = probe > 0 ? ops / ((cpu_now() - c0) / iters) * 1e-9 / probe : 0;
        }
      }
    }
    char shape[32];
    snprintf(shape, sizeof shape, "%ld,%ld,%ld", m, k, n);
    if (m == 1 && nc > 0 && ql_isa_supported(QL_ISA_AVX512VNNI)) {
      /* GEMV streams B: compare with reading as many bytes as fast as possible */
      size_t bytes = (size_t)(cfg[0].pb->kp * cfg[0].pb->np);
      double best = 1e9;
      volatile int64_t sink = 0;
      for (int r = 0; r < reps; r++) {
        double t0 = cpu_now();
        sink += ql_probe_read(cfg[0].pb->data, bytes / 256 * 256);
        double t = cpu_now() - t0;
        if (t < best) best = t;
      }
      (void)sink;
      printf("%-16s read probe over the packed B (%.1f MB): %.1f GB/s per thread (best of %d)\n", shape, bytes / 1e6,
             bytes / best * 1e-9, reps);
    }
    for (int i = 0; i < nc; i++) {
      qsort(cfg[i].samples, (size_t)reps, sizeof(double), cmp_double);
      qsort(cfg[i].cpu_samples, (size_t)reps, sizeof(double), cmp_double);
      qsort(cfg[i].ratio, (size_t)reps, sizeof(double), cmp_double);
      double t = cfg[i].samples[reps / 2], gops = ops / t * 1e-9, cgops = ops / cfg[i].cpu_samples[reps / 2] * 1e-9;
      char pk[16] = "-", pkb[16] = "-";
      if (cfg[i].ratio[reps / 2] > 0) snprintf(pk, sizeof pk, "%.0f%%", 100 * cfg[i].ratio[reps / 2]);
      if (cfg[i].ratio[reps - 1] > 0) snprintf(pkb, sizeof pkb, "%.0f%%", 100 * cfg[i].ratio[reps - 1]);
      double bgops = ops / cfg[i].cpu_samples[0] * 1e-9;
      printf("%-16s %-11s %-26s %3d %9.3f %9.1f %9.1f %6s %9.1f %6s", shape, ql_isa_name(cfg[i].isa),
             ql_qgemm_kernel_name(cfg[i].pb, m), threads[cfg[i].threads], t * 1e3, gops, cgops, pk, bgops, pkb);
      if (m == 1) /* B bytes over the per-thread CPU time: bandwidth if the threads had the cores */
        printf("  B at %.1f GB/s", (double)(cfg[i].pb->kp * cfg[i].pb->np) / cfg[i].cpu_samples[reps / 2] * 1e-9);
      printf("\n");
    }
    for (int i = 0; i < nc; i += n_threads) ql_qgemm_packed_b_free(cfg[i].pb);
    free(ws);
    free(a);
    free(b);
    free(c);
  }
  for (int t = 0; t < n_threads; t++) ql_threadpool_free(pools[t]);
  return 0;
}

/* qlinear bench MODEL [--inputs DIR] [--threads N] [--runs R] [--warmup W]
 *                     [--isa NAME] [--json]
 *
 * Times runs of one model. The last line printed is always `median_ms=<float>`
 * so scripts can take it with `tail -n1`; with --json one JSON object comes
 * right before it. The first run is ql_session_run; its outputs are then bound
 * and every later run is ql_session_run_into (as an application that reuses
 * its output buffers, and as bench/compare.py times ONNX Runtime with IO
 * binding). Only the run call is timed. */
#include "cli.h"
#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* splitmix64: a fixed seed gives the same inputs on every machine, so two
 * runtimes (or two builds) are fed the same data. */
static uint64_t next_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Random input i of the declared shape (symbolic dims -> 1). Ranges follow
 * what a quantized model sees: the full uint8/int8 range (zero points sit in
 * the middle), floats in [-1, 1). Integer types wider than 8 bits usually
 * carry indices or shapes, whose only safe guess is 0 (the tensor is created
 * zero-filled); bool stays false. */
static int make_random_input(const ql_session *s, size_t i, uint64_t *seed, ql_tensor **out) {
  int rank = 0;
  int64_t dims[QL_MAX_RANK];
  ql_dtype dt = ql_session_input_info(s, i, &rank, dims);
  if (rank < 0) {
    cli_error("input %zu ('%s') has no declared rank: pass real inputs with --inputs DIR", i,
              ql_session_input_name(s, i));
    return -1;
  }
  for (int d = 0; d < rank; d++)
    if (dims[d] < 0) dims[d] = 1;
  ql_error err = {0};
  if (ql_tensor_create(dt, rank, dims, out, &err)) {
    cli_error("input %zu ('%s'): %s", i, ql_session_input_name(s, i), err.msg);
    return -1;
  }
  ql_tensor *t = *out;
  for (int64_t k = 0; k < t->numel; k++) {
    uint64_t r = next_rand(seed);
    float f = (float)((double)(r >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    switch (dt) {
    case QL_UINT8: ((uint8_t *)t->data)[k] = (uint8_t)r; break;
    case QL_INT8: ((int8_t *)t->data)[k] = (int8_t)(uint8_t)r; break;
    case QL_FLOAT: ((float *)t->data)[k] = f; break;
    case QL_DOUBLE: ((double *)t->data)[k] = f; break;
    case QL_FLOAT16: ((uint16_t *)t->data)[k] = ql_f32_to_f16(f); break;
    default: k = t->numel; break;
    }
  }
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Linear interpolation between order statistics of sorted v[0..n-1]. */
static double quantile(const double *v, int n, double q) {
  double pos = q * (n - 1);
  int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

static void usage(void) {
  cli_error("usage: qlinear bench MODEL [--inputs DIR] [--threads N] [--runs R] [--warmup W] [--isa NAME] [--json]");
}

int ql_cmd_bench(int argc, char **argv) {
  const char *model = NULL, *indir = NULL, *isa = NULL;
  int threads = 1, runs = 10, warmup = 2, json = 0;
  for (int i = 1; i < argc; i++) {
    int *iv = NULL;
    if (!strcmp(argv[i], "--inputs") && i + 1 < argc) indir = argv[++i];
    else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
    else if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--threads")) iv = &threads;
    else if (!strcmp(argv[i], "--runs")) iv = &runs;
    else if (!strcmp(argv[i], "--warmup")) iv = &warmup;
    else if (argv[i][0] != '-' && !model) model = argv[i];
    else {
      cli_error("bench: unexpected argument '%s'", argv[i]);
      usage();
      return 2;
    }
    if (iv) {
      const char *opt = argv[i];
      if (i + 1 >= argc || cli_parse_int(argv[++i], iv) || (iv != &warmup && *iv < 1)) {
        cli_error("%s expects a %s integer", opt, iv == &warmup ? "non-negative" : "positive");
        return 2;
      }
    }
  }
  if (!model) {
    usage();
    return 2;
  }

  int rc = 1;
  ql_error err = {0};
  ql_model *m = NULL;
  ql_session *s = NULL;
  ql_tensor **in = NULL, **out = NULL;
  double *times = NULL;
  size_t ni = 0, no = 0;

  double t0 = now_ms();
  if (ql_model_load_file(model, NULL, &m, &err)) {
    cli_error("%s", err.msg);
    return 1;
  }
  double load_ms = now_ms() - t0;
  ql_session_options opt = {.threads = threads, .isa = isa};
  t0 = now_ms();
  if (ql_session_create(m, &opt, &s, &err)) {
    cli_error("%s", err.msg);
    goto out;
  }
  double create_ms = now_ms() - t0;
  ql_model_free(m);
  m = NULL;

  ni = ql_session_input_count(s);
  no = ql_session_output_count(s);
  in = calloc(ni + 1, sizeof *in);
  out = calloc(no + 1, sizeof *out);
  times = malloc((size_t)runs * sizeof *times);
  if (!in || !out || !times) {
    cli_error("out of memory");
    goto out;
  }
  if (indir) {
    if (cli_load_inputs(s, indir, NULL, 0, in)) goto out;
  } else {
    uint64_t seed = 0x5EED;
    for (size_t i = 0; i < ni; i++)
      if (make_random_input(s, i, &seed, &in[i])) goto out;
  }

  int bound = 0;
  for (int r = -warmup; r < runs; r++) {
    double a = now_ms();
    ql_status st = bound ? ql_session_run_into(s, (const ql_tensor *const *)in, ni, out, no, &err)
                         : ql_session_run(s, (const ql_tensor *const *)in, ni, out, no, &err);
    double b = now_ms();
    if (st) {
      cli_error("%s", err.msg);
      goto out;
    }
    if (r >= 0) times[r] = b - a;
    if (!bound) { /* bind these outputs from now on (strings cannot be bound) */
      bound = 1;
      for (size_t j = 0; j < no; j++) bound &= out[j]->dtype != QL_STRING;
      for (size_t j = 0; !bound && j < no; j++) {
        ql_tensor_free(out[j]);
        out[j] = NULL;
      }
    }
  }

  qsort(times, (size_t)runs, sizeof *times, cmp_double);
  double med = quantile(times, runs, 0.5), p10 = quantile(times, runs, 0.1), p90 = quantile(times, runs, 0.9);
  struct rusage ru;
  long rss_kb = getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_maxrss;
  if (json) {
    printf("{\"model\":");
    cli_json_str(stdout, model);
    printf(",\"isa\":");
    if (isa) cli_json_str(stdout, isa);
    else printf("null");
    printf(",\"threads\":%d,\"runs\":%d,\"warmup\":%d,\"load_ms\":%.4f,\"create_ms\":%.4f,"
           "\"median_ms\":%.4f,\"p10_ms\":%.4f,\"p90_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f,"
           "\"peak_rss_kb\":%ld}\n",
           threads, runs, warmup, load_ms, create_ms, med, p10, p90, times[0], times[runs - 1], rss_kb);
  } else {
    printf("model      %s\n", model);
    printf("threads    %d   isa %s\n", threads, isa ? isa : "(best available)");
    printf("load       %.3f ms\n", load_ms);
    printf("create     %.3f ms\n", create_ms);
    printf("runs       %d (after %d warm-up)\n", runs, warmup);
    printf("time (ms)  min %.3f  p10 %.3f  median %.3f  p90 %.3f  max %.3f\n", times[0], p10, med, p90,
           times[runs - 1]);
    printf("peak RSS   %ld KiB\n", rss_kb);
  }
  printf("median_ms=%.4f\n", med);
  rc = 0;
out:
  for (size_t i = 0; in && i < ni; i++) ql_tensor_free(in[i]);
  for (size_t j = 0; out && j < no; j++) ql_tensor_free(out[j]);
  free(in);
  free(out);
  free(times);
  ql_session_free(s);
  ql_model_free(m);
  return rc;
}

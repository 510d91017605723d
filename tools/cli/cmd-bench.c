/* qlinear bench MODEL [--inputs DIR] [--threads N] [--runs R] [--warmup W]
 *                     [--isa NAME] [--profile] [--json]
 *
 * Times runs of one model. The last line printed is always `median_ms=<float>`
 * so scripts can take it with `tail -n1`; with --json one JSON object comes
 * right before it. The first run is ql_session_run; its outputs are then bound
 * and every later run is ql_session_run_into (as an application that reuses
 * its output buffers, and as bench/compare.py times ONNX Runtime with IO
 * binding). Only the run call is timed. --profile then makes R more runs
 * that time every step, and reports each node's median and the total per
 * op type (those runs are not the timed ones: timing steps costs a little). */
#include "cli.h"
#include "common/util.h"
#include "runtime/runtime.h"

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
  cli_error("usage: qlinear bench MODEL [--inputs DIR] [--threads N] [--runs R] [--warmup W] [--isa NAME] [--profile] "
            "[--json]");
}

/* Step times of the profiled runs: a run's steps come in the same order
 * every time, so step k of each run is the same node. */
typedef struct profile {
  const ql_node **node; /* n_steps */
  double *ms;           /* [run][step] */
  size_t n_steps, cap, step;
  int run, runs;
  int bad;              /* a run's steps differed from the first run's */
} profile;

static void on_step(void *ctx, const ql_node *node, double ms) {
  profile *p = ctx;
  if (p->run == 0) {
    if (p->n_steps == p->cap) {
      size_t cap = p->cap ? 2 * p->cap : 256;
      const ql_node **nn = realloc(p->node, cap * sizeof *nn);
      double *mm = nn ? realloc(p->ms, cap * (size_t)p->runs * sizeof *mm) : NULL;
      if (nn) p->node = nn;
      if (!mm) {
        p->bad = 1;
        return;
      }
      p->ms = mm;
      p->cap = cap;
    }
    p->node[p->n_steps++] = node;
  }
  if (p->step >= p->n_steps || p->node[p->step] != node) {
    p->bad = 1;
    return;
  }
  p->ms[(size_t)p->run * p->cap + p->step++] = ms;
}

typedef struct op_total {
  const char *op;
  int nodes;
  double ms;
} op_total;

typedef struct step_time {
  const ql_node *node;
  double ms;
} step_time;

static int op_by_ms_desc(const void *a, const void *b) {
  double x = ((const op_total *)a)->ms, y = ((const op_total *)b)->ms;
  return (x < y) - (x > y);
}
static int step_by_ms_desc(const void *a, const void *b) {
  double x = ((const step_time *)a)->ms, y = ((const step_time *)b)->ms;
  return (x < y) - (x > y);
}

/* Runs the profile and prints it (text, or a JSON member after the main
 * object's fields). Returns 0, or -1 with the error printed. */
static int run_profile(ql_session *s, ql_tensor **in, size_t ni, ql_tensor **out, size_t no, int runs, int json,
                       double median_ms) {
  profile p = {.runs = runs};
  ql_error err = {0};
  int rc = -1;
  double *v = NULL;
  op_total *ops = NULL;
  step_time *top = NULL;
  for (p.run = 0; p.run < runs; p.run++) {
    p.step = 0;
    if (ql_session_run_into_timed(s, (const ql_tensor *const *)in, ni, out, no, on_step, &p, &err)) {
      cli_error("%s", err.msg);
      goto out;
    }
    if (p.bad || p.step != p.n_steps) {
      cli_error("profile: the steps of run %d differ from the first run's", p.run + 1);
      goto out;
    }
  }
  v = malloc((size_t)runs * sizeof *v);
  ops = calloc(p.n_steps + 1, sizeof *ops);
  top = calloc(p.n_steps + 1, sizeof *top);
  if (!v || !ops || !top) {
    cli_error("out of memory");
    goto out;
  }
  size_t n_ops = 0;
  double sum = 0;
  for (size_t k = 0; k < p.n_steps; k++) {
    for (int r = 0; r < runs; r++) v[r] = p.ms[(size_t)r * p.cap + k];
    qsort(v, (size_t)runs, sizeof *v, cmp_double);
    const double med = quantile(v, runs, 0.5);
    sum += med;
    top[k] = (step_time){p.node[k], med};
    size_t o = 0;
    while (o < n_ops && strcmp(ops[o].op, p.node[k]->op_type)) o++;
    if (o == n_ops) ops[n_ops++] = (op_total){p.node[k]->op_type, 0, 0};
    ops[o].nodes++;
    ops[o].ms += med;
  }
  qsort(ops, n_ops, sizeof *ops, op_by_ms_desc);
  qsort(top, p.n_steps, sizeof *top, step_by_ms_desc);
  const size_t n_top = p.n_steps < 10 ? p.n_steps : 10;
  if (json) {
    printf(",\"profile\":{\"runs\":%d,\"steps\":%zu,\"sum_ms\":%.4f,\"ops\":[", runs, p.n_steps, sum);
    for (size_t o = 0; o < n_ops; o++) {
      printf("%s{\"op\":", o ? "," : "");
      cli_json_str(stdout, ops[o].op);
      printf(",\"nodes\":%d,\"ms\":%.4f}", ops[o].nodes, ops[o].ms);
    }
    printf("],\"slowest\":[");
    for (size_t k = 0; k < n_top; k++) {
      printf("%s{\"node\":", k ? "," : "");
      cli_json_str(stdout, top[k].node->name ? top[k].node->name : "");
      printf(",\"op\":");
      cli_json_str(stdout, top[k].node->op_type);
      printf(",\"ms\":%.4f}", top[k].ms);
    }
    printf("]}");
  } else {
    printf("profile    %zu steps, median of %d runs each; their sum %.3f ms (the median run: %.3f ms)\n", p.n_steps,
           runs, sum, median_ms);
    printf("  %-28s %6s %10s %7s\n", "op type", "nodes", "ms", "share");
    for (size_t o = 0; o < n_ops; o++)
      printf("  %-28s %6d %10.3f %6.1f%%\n", ops[o].op, ops[o].nodes, ops[o].ms, sum > 0 ? 100 * ops[o].ms / sum : 0);
    printf("  slowest nodes\n");
    for (size_t k = 0; k < n_top; k++)
      printf("  %-40s %-20s %8.3f ms\n", top[k].node->name && *top[k].node->name ? top[k].node->name : "(unnamed)",
             top[k].node->op_type, top[k].ms);
  }
  rc = 0;
out:
  free(p.node);
  free(p.ms);
  free(v);
  free(ops);
  free(top);
  return rc;
}

int ql_cmd_bench(int argc, char **argv) {
  const char *model = NULL, *indir = NULL, *isa = NULL;
  int threads = 1, runs = 10, warmup = 2, json = 0, prof = 0;
  for (int i = 1; i < argc; i++) {
    int *iv = NULL;
    if (!strcmp(argv[i], "--inputs") && i + 1 < argc) indir = argv[++i];
    else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
    else if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--profile")) prof = 1;
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

  if (prof && !bound) {
    cli_error("--profile: the model has string outputs, which cannot be bound");
    goto out;
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
           "\"peak_rss_kb\":%ld",
           threads, runs, warmup, load_ms, create_ms, med, p10, p90, times[0], times[runs - 1], rss_kb);
    if (prof && run_profile(s, in, ni, out, no, runs, 1, med)) goto out;
    printf("}\n");
  } else {
    printf("model      %s\n", model);
    printf("threads    %d   isa %s\n", threads, isa ? isa : "(best available)");
    printf("load       %.3f ms\n", load_ms);
    printf("create     %.3f ms\n", create_ms);
    printf("runs       %d (after %d warm-up)\n", runs, warmup);
    printf("time (ms)  min %.3f  p10 %.3f  median %.3f  p90 %.3f  max %.3f\n", times[0], p10, med, p90,
           times[runs - 1]);
    printf("peak RSS   %ld KiB\n", rss_kb);
    if (prof && run_profile(s, in, ni, out, no, runs, 0, med)) goto out;
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

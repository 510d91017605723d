/* qlinear accuracy MODEL (--samples DIR | --raw-u8 FILE) --labels FILE [--scale S] [--limit N] [--threads N] [--json]
 * Top-1 accuracy of a classifier on labelled data, and its median latency.
 * --raw-u8: N images of the model's input size, one byte per value (e.g.
 * MNIST), converted to float as value*scale. Labels: one byte per sample. */
#include "cli.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/format.h"
#include "quant/quant.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int ql_cmd_accuracy(int argc, char **argv) {
  const char *model = NULL, *samples = NULL, *raw = NULL, *labels = NULL;
  double scale = 1.0;
  int limit = 0, threads = 1, json = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--samples") && v) samples = argv[++i];
    else if (!strcmp(a, "--raw-u8") && v) raw = argv[++i];
    else if (!strcmp(a, "--labels") && v) labels = argv[++i];
    else if (!strcmp(a, "--scale") && v) scale = atof(argv[++i]);
    else if (!strcmp(a, "--limit") && v) {
      if (cli_parse_int(argv[++i], &limit)) return cli_error("--limit expects a number"), 2;
    } else if (!strcmp(a, "--threads") && v) {
      if (cli_parse_int(argv[++i], &threads) || threads < 1) return cli_error("--threads expects a positive number"), 2;
    } else if (!strcmp(a, "--json")) json = 1;
    else if (a[0] != '-' && !model) model = a;
    else {
      cli_error("usage: qlinear accuracy MODEL (--samples DIR | --raw-u8 FILE) --labels FILE [--scale S] [--limit N]");
      return 2;
    }
  }
  if (!model || !labels || !!samples == !!raw) {
    cli_error("usage: qlinear accuracy MODEL (--samples DIR | --raw-u8 FILE) --labels FILE [--scale S] [--limit N]");
    return 2;
  }
  ql_error err = {0};
  ql_model *m = NULL;
  ql_session *s = NULL;
  uint8_t *lab = NULL, *img = NULL;
  size_t nlab = 0, nimg = 0;
  ql_samples smp = {0};
  double *times = NULL;
  int rc = 1;
  if (ql_model_load_file(model, NULL, &m, &err) || ql_session_create(m, &(ql_session_options){.threads = threads}, &s, &err) ||
      ql_read_file(labels, 1u << 30, &lab, &nlab, &err)) {
    cli_error("%s", err.msg);
    goto out;
  }
  if (ql_session_input_count(s) != 1 || ql_session_output_count(s) < 1) {
    cli_error("accuracy needs a model with one input");
    goto out;
  }
  int rank;
  int64_t dims[QL_MAX_RANK];
  ql_dtype dt = ql_session_input_info(s, 0, &rank, dims);
  size_t n;
  int64_t per = 1;
  if (raw) {
    for (int d = 0; d < rank; d++) {
      if (dims[d] < 0) dims[d] = 1; /* a symbolic batch: one sample at a time */
      per *= dims[d];
    }
    if (dt != QL_FLOAT || rank < 0 || ql_read_file(raw, 4ull << 30, &img, &nimg, &err)) {
      cli_error("%s", dt != QL_FLOAT || rank < 0 ? "--raw-u8 needs a float input of known shape" : err.msg);
      goto out;
    }
    n = nimg / (size_t)per;
  } else {
    if (ql_samples_load(samples, 1, (size_t)-1, &smp, &err)) {
      cli_error("%s", err.msg);
      goto out;
    }
    n = smp.n;
  }
  if (n > nlab) n = nlab;
  if (limit && (size_t)limit < n) n = (size_t)limit;
  times = calloc(n + 1, sizeof *times);
  size_t correct = 0;
  ql_tensor *x = raw ? ql_tensor_new(QL_FLOAT, rank, dims, &err) : NULL;
  size_t no = ql_session_output_count(s);
  ql_tensor **out = calloc(no, sizeof *out);
  for (size_t i = 0; i < n; i++) {
    ql_tensor *loaded = NULL;
    if (!raw && ql_samples_get(&smp, i, &loaded, &err)) {
      cli_error("%s", err.msg);
      ql_tensor_free(x);
      free(out);
      goto out;
    }
    const ql_tensor *in = raw ? x : loaded;
    if (raw)
      for (int64_t k = 0; k < per; k++) ((float *)x->data)[k] = (float)(img[i * (size_t)per + (size_t)k] * scale);
    double t0 = now_ms();
    ql_status rst = ql_session_run(s, &in, 1, out, no, &err);
    if (!raw) ql_samples_release(&smp, &loaded);
    if (rst) {
      cli_error("sample %zu: %s", i, err.msg);
      ql_tensor_free(x);
      free(out);
      goto out;
    }
    times[i] = now_ms() - t0;
    const ql_tensor *y = out[0];
    int64_t best = 0;
    for (int64_t k = 1; k < y->numel; k++)
      if (ql_tensor_get_f64(y, k) > ql_tensor_get_f64(y, best)) best = k;
    correct += best == lab[i];
    for (size_t j = 0; j < no; j++) {
      ql_tensor_free(out[j]);
      out[j] = NULL;
    }
  }
  ql_tensor_free(x);
  free(out);
  qsort(times, n, sizeof *times, cmp_d);
  double med = n ? times[n / 2] : 0;
  if (json)
    printf("{\"model\": \"%s\", \"samples\": %zu, \"correct\": %zu, \"accuracy\": %.6f, \"median_ms\": %.4f}\n", model, n,
           correct, n ? (double)correct / n : 0, med);
  else
    printf("%s: top-1 accuracy %.2f%% (%zu/%zu), median %.3f ms per inference\n", model, n ? 100.0 * correct / n : 0,
           correct, n, med);
  rc = 0;
out:
  free(times);
  ql_free(lab);
  ql_free(img);
  ql_samples_free(&smp);
  ql_session_free(s);
  ql_model_free(m);
  return rc;
}

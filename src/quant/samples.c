/* Calibration/evaluation sample sets: DIR/<sample>/input_N.pb|.npy (the
 * layout `qlinear run --inputs` reads), or, for single-input models, one
 * .pb/.npy file per sample directly in DIR. */
#include <unistd.h>
#include "../format/format.h"
#include "quant.h"
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int has_suffix(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

static ql_status load_any(const char *path, ql_tensor **out, ql_error *err) {
  if (has_suffix(path, ".npy")) return ql_npy_load(path, out, err);
  return ql_tensor_load_pb(path, out, err);
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

void ql_samples_free(ql_samples *s) {
  for (size_t i = 0; s->inputs && i < s->n; i++) {
    for (size_t k = 0; s->inputs[i] && k < s->n_inputs; k++) ql_tensor_free(s->inputs[i][k]);
    ql_free(s->inputs[i]);
  }
  for (size_t i = 0; s->paths && i < s->n; i++) ql_free(s->paths[i]);
  ql_free(s->inputs);
  ql_free(s->paths);
  memset(s, 0, sizeof *s);
}

/* DIR/input_k.pb, else DIR/input_k.npy */
static void input_path(char *buf, size_t n, const char *dir, size_t k) {
  snprintf(buf, n, "%s/input_%zu.pb", dir, k);
  if (!exists(buf)) snprintf(buf, n, "%s/input_%zu.npy", dir, k);
}

ql_status ql_samples_load(const char *dir, size_t n_inputs, size_t max_samples, ql_samples *out, ql_error *err) {
  memset(out, 0, sizeof *out);
  out->n_inputs = n_inputs;
  DIR *d = opendir(dir);
  if (!d) return ql_errf(err, QL_ERR_IO, "cannot open the sample directory '%s'", dir);
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  ql_status st = QL_OK;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    if (ql_grow((void **)&names, &cap, n + 1, sizeof *names) || !(names[n] = ql_strdup(de->d_name))) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      break;
    }
    n++;
  }
  closedir(d);
  if (st) goto done;
  qsort(names, n, sizeof *names, cmp_str);
  char path[4096];
  /* a directory that itself holds input_0.* is a single sample */
  input_path(path, sizeof path, dir, 0);
  if (exists(path)) {
    for (size_t i = 0; i < n; i++) ql_free(names[i]);
    n = 1;
    if (!names && !(names = ql_calloc(1, sizeof *names))) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      goto done;
    }
    names[0] = NULL; /* DIR itself */
  }
  if (!(out->paths = ql_calloc(n + 1, sizeof *out->paths))) {
    st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n && out->n < max_samples && !st; i++) {
    if (names[i]) snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    else snprintf(path, sizeof path, "%s", dir);
    struct stat sb;
    if (stat(path, &sb)) continue;
    if (S_ISDIR(sb.st_mode)) {
      char in[4096 + 32];
      for (size_t k = 0; k < n_inputs && !st; k++) {
        input_path(in, sizeof in, path, k);
        if (!exists(in)) st = ql_errf(err, QL_ERR_IO, "sample '%s' has no input_%zu.pb or input_%zu.npy", path, k, k);
      }
    } else if (!((has_suffix(path, ".pb") || has_suffix(path, ".npy")) && n_inputs == 1)) {
      continue;
    }
    if (!st && !(out->paths[out->n++] = ql_strdup(path))) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  if (!st && out->n == 0) st = ql_errf(err, QL_ERR_INVALID_ARGUMENT, "no samples found in '%s'", dir);
done:
  for (size_t i = 0; i < n; i++) ql_free(names[i]);
  ql_free(names);
  if (st) ql_samples_free(out);
  return st;
}

ql_status ql_samples_get(const ql_samples *s, size_t i, ql_tensor **in, ql_error *err) {
  for (size_t k = 0; k < s->n_inputs; k++) in[k] = NULL;
  if (i >= s->n) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "sample %zu of %zu", i, s->n);
  if (s->inputs) {
    for (size_t k = 0; k < s->n_inputs; k++) in[k] = s->inputs[i][k];
    return QL_OK;
  }
  struct stat sb;
  const char *p = s->paths[i];
  ql_status st = QL_OK;
  if (stat(p, &sb)) return ql_errf(err, QL_ERR_IO, "cannot read the sample '%s'", p);
  if (!S_ISDIR(sb.st_mode)) {
    st = load_any(p, &in[0], err);
  } else {
    char path[4096 + 32];
    for (size_t k = 0; k < s->n_inputs && !st; k++) {
      input_path(path, sizeof path, p, k);
      st = load_any(path, &in[k], err);
    }
  }
  if (st) ql_samples_release(s, in);
  return st;
}

void ql_samples_release(const ql_samples *s, ql_tensor **in) {
  for (size_t k = 0; k < s->n_inputs; k++) {
    if (!s->inputs) ql_tensor_free(in[k]);
    in[k] = NULL;
  }
}

ql_status ql_samples_run_observed(ql_session *s, const ql_samples *smp, size_t i, int observe_inputs,
                                  ql_observer_fn fn, void *ctx, ql_error *err) {
  size_t no = ql_session_output_count(s);
  ql_tensor **out = ql_calloc(no + 1, sizeof *out), **in = ql_calloc(smp->n_inputs + 1, sizeof *in);
  ql_status st = !out || !in ? ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory") : QL_OK;
  if (!st && !(st = ql_samples_get(smp, i, in, err))) {
    for (size_t k = 0; observe_inputs && k < smp->n_inputs; k++) fn(ctx, ql_session_input_name(s, k), in[k]);
    st = ql_session_run_observed(s, (const ql_tensor *const *)in, smp->n_inputs, out, no, fn, ctx, err);
    ql_samples_release(smp, in);
    for (size_t j = 0; j < no; j++) ql_tensor_free(out[j]);
  }
  ql_free(out);
  ql_free(in);
  return st;
}

ql_status ql_samples_spread(const ql_samples *s, size_t n, ql_samples *view, ql_error *err) {
  *view = *s;
  view->n = s->n < n ? s->n : n;
  view->paths = NULL;
  view->inputs = NULL;
  if (s->paths && !(view->paths = ql_calloc(view->n + 1, sizeof *view->paths)))
    return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  if (s->inputs && !(view->inputs = ql_calloc(view->n + 1, sizeof *view->inputs))) {
    ql_free(view->paths);
    return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (size_t i = 0; i < view->n; i++) {
    if (s->paths) view->paths[i] = s->paths[i * s->n / view->n];
    if (s->inputs) view->inputs[i] = s->inputs[i * s->n / view->n];
  }
  return QL_OK;
}

void ql_samples_view_free(ql_samples *view) {
  ql_free(view->paths);
  ql_free(view->inputs);
  memset(view, 0, sizeof *view);
}

void ql_progress(const char *label, size_t done, size_t n) {
  /* a bar on a terminal; otherwise a line every 10% */
  if (!isatty(2)) {
    if (done * 10 / n != (done - 1) * 10 / n || done == n) fprintf(stderr, "%s %zu/%zu\n", label, done, n);
    return;
  }
  int w = 30, bar = (int)(done * (size_t)w / n);
  fprintf(stderr, "\r%s [%.*s%*s] %zu/%zu", label, bar, "==============================", w - bar, "", done, n);
  if (done == n) fputc('\n', stderr);
}

/* NumPy .npy v1/v2/v3: magic, version, header length, a Python dict literal
 * with 'descr', 'fortran_order', 'shape', then the raw data. */
ql_status ql_npy_load(const char *path, ql_tensor **out, ql_error *err) {
  uint8_t *b;
  size_t len;
  *out = NULL;
  ql_status st = ql_read_file(path, 4ull << 30, &b, &len, err);
  if (st) return st;
  st = ql_errf(err, QL_ERR_INVALID_ARGUMENT, "%s: not a supported .npy file", path);
  if (len < 10 || memcmp(b, "\x93NUMPY", 6)) goto done;
  size_t hl, off;
  if (b[6] == 1) {
    hl = b[8] | (size_t)b[9] << 8;
    off = 10;
  } else {
    if (len < 12) goto done;
    hl = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    off = 12;
  }
  if (hl > len - off) goto done;
  char *h = ql_strndup((const char *)b + off, hl);
  if (!h) goto done;
  ql_dtype dt = QL_UNDEFINED;
  const char *ds = strstr(h, "'descr'");
  if (ds) {
    ds = strchr(ds + 7, '\'');
    if (ds) {
      ds++;
      if (!strncmp(ds, "<f4", 3)) dt = QL_FLOAT;
      else if (!strncmp(ds, "<f8", 3)) dt = QL_DOUBLE;
      else if (!strncmp(ds, "|u1", 3)) dt = QL_UINT8;
      else if (!strncmp(ds, "|i1", 3)) dt = QL_INT8;
      else if (!strncmp(ds, "<i4", 3)) dt = QL_INT32;
      else if (!strncmp(ds, "<i8", 3)) dt = QL_INT64;
      else if (!strncmp(ds, "<f2", 3)) dt = QL_FLOAT16;
    }
  }
  int fortran = strstr(h, "'fortran_order': True") != NULL;
  int64_t dims[QL_MAX_RANK];
  int rank = 0, ok = dt != QL_UNDEFINED && !fortran;
  const char *sh = strstr(h, "'shape'");
  sh = sh ? strchr(sh, '(') : NULL;
  if (!sh) ok = 0;
  while (ok && sh && *++sh && *sh != ')') {
    if (*sh == ' ' || *sh == ',') continue;
    char *e;
    long long v = strtoll(sh, &e, 10);
    if (e == sh || v < 0 || rank >= QL_MAX_RANK) ok = 0;
    else dims[rank++] = v;
    sh = e - 1;
  }
  ql_free(h);
  if (!ok) goto done;
  ql_tensor *t = ql_tensor_new(dt, rank, dims, err);
  if (!t) {
    st = err ? err->code : QL_ERR_OUT_OF_MEMORY;
    goto done;
  }
  size_t need = ql_tensor_nbytes(t);
  if (len - off - hl != need) {
    ql_tensor_free(t);
    st = ql_errf(err, QL_ERR_INVALID_ARGUMENT, "%s: %zu data bytes, the header says %zu", path, len - off - hl, need);
    goto done;
  }
  if (need) memcpy(t->data, b + off + hl, need);
  *out = t;
  st = QL_OK;
done:
  ql_free(b);
  return st;
}

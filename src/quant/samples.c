/* Calibration/evaluation sample sets: DIR/<sample>/input_N.pb|.npy (the
 * layout `qlinear run --inputs` reads), or, for single-input models, one
 * .pb/.npy file per sample directly in DIR. */
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
  ql_free(s->inputs);
  memset(s, 0, sizeof *s);
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
  snprintf(path, sizeof path, "%s/input_0.pb", dir);
  int flat_sample = exists(path);
  snprintf(path, sizeof path, "%s/input_0.npy", dir);
  flat_sample |= exists(path);
  if (flat_sample) {
    for (size_t i = 0; i < n; i++) ql_free(names[i]);
    n = 1;
    ql_free(names[0]);
    names[0] = ql_strdup(".");
  }
  if (!(out->inputs = ql_calloc(n + 1, sizeof *out->inputs))) {
    st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n && out->n < max_samples; i++) {
    if (!names[i]) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      break;
    }
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat sb;
    if (stat(path, &sb)) continue;
    ql_tensor **in = ql_calloc(n_inputs + 1, sizeof *in);
    if (!in) {
      st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
      break;
    }
    out->inputs[out->n++] = in;
    if (S_ISDIR(sb.st_mode)) {
      for (size_t k = 0; k < n_inputs && !st; k++) {
        snprintf(path, sizeof path, "%s/%s/input_%zu.pb", dir, names[i], k);
        if (!exists(path)) snprintf(path, sizeof path, "%s/%s/input_%zu.npy", dir, names[i], k);
        st = load_any(path, &in[k], err);
      }
    } else if ((has_suffix(names[i], ".pb") || has_suffix(names[i], ".npy")) && n_inputs == 1) {
      st = load_any(path, &in[0], err);
    } else {
      ql_free(in);
      out->n--;
    }
  }
  if (!st && out->n == 0) st = ql_errf(err, QL_ERR_INVALID_ARGUMENT, "no samples found in '%s'", dir);
done:
  for (size_t i = 0; i < n; i++) ql_free(names[i]);
  ql_free(names);
  if (st) ql_samples_free(out);
  return st;
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

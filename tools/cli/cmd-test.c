/* qlinear test DIR...: ONNX backend-style cases (model.onnx plus
 * test_data_set_N/input_N.pb, output_N.pb). Integer outputs must match
 * exactly; floats within |a-b| <= 1e-7 + 1e-3*|b|, NaN equal to NaN.
 * An optional DIR/tolerance.txt overrides the float tolerance per output:
 * lines "J ATOL RTOL" (J an output index or '*'), '#' starts a comment. */
#include "cli.h"
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"

static int is_float_type(ql_dtype t) { return ql_dtype_is_float(t); }

typedef struct tolerance {
  double atol, rtol;
} tolerance;

/* Float tolerance of output j from DIR/tolerance.txt, or the default. */
static tolerance case_tolerance(const char *dir, size_t j) {
  tolerance t = {1e-7, 1e-3};
  char path[4096], line[256];
  snprintf(path, sizeof path, "%s/tolerance.txt", dir);
  FILE *f = fopen(path, "r");
  if (!f) return t;
  while (fgets(line, sizeof line, f)) {
    char idx[32];
    double a, r;
    if (line[0] == '#' || sscanf(line, "%31s %lf %lf", idx, &a, &r) != 3) continue;
    if (!strcmp(idx, "*") || (size_t)strtoul(idx, NULL, 10) == j) {
      t.atol = a;
      t.rtol = r;
      if (strcmp(idx, "*")) break; /* a line for j wins over '*' */
    }
  }
  fclose(f);
  return t;
}

/* 0 when equal; otherwise writes the reason. */
static int compare(const ql_tensor *got, const ql_tensor *exp, tolerance tol, char *why, size_t n) {
  if (got->dtype != exp->dtype) {
    snprintf(why, n, "type %s, expected %s", ql_dtype_name(got->dtype), ql_dtype_name(exp->dtype));
    return 1;
  }
  int same_shape = got->rank == exp->rank;
  for (int i = 0; same_shape && i < got->rank; i++) same_shape = got->dims[i] == exp->dims[i];
  if (!same_shape) {
    char a[128] = "", b[128] = "";
    for (int i = 0; i < got->rank; i++) snprintf(a + strlen(a), sizeof a - strlen(a), "%s%lld", i ? "," : "", (long long)got->dims[i]);
    for (int i = 0; i < exp->rank; i++) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%lld", i ? "," : "", (long long)exp->dims[i]);
    snprintf(why, n, "shape [%s], expected [%s]", a, b);
    return 1;
  }
  for (int64_t i = 0; i < exp->numel; i++) {
    if (exp->dtype == QL_STRING) {
      const char *a = ((char **)got->data)[i], *b = ((char **)exp->data)[i];
      if (strcmp(a ? a : "", b ? b : "")) {
        snprintf(why, n, "index %lld: got \"%s\", expected \"%s\"", (long long)i, a, b);
        return 1;
      }
    } else if (is_float_type(exp->dtype)) {
      double a = ql_load_f64(got->dtype, got->data, i), b = ql_load_f64(exp->dtype, exp->data, i);
      if (isnan(a) && isnan(b)) continue;
      if (isinf(b) && a == b) continue;
      if (!(fabs(a - b) <= tol.atol + tol.rtol * fabs(b))) {
        snprintf(why, n, "index %lld: got %.9g, expected %.9g", (long long)i, a, b);
        return 1;
      }
    } else {
      int64_t a = ql_load_i64(got->dtype, got->data, i), b = ql_load_i64(exp->dtype, exp->data, i);
      if (a != b) {
        snprintf(why, n, "index %lld: got %lld, expected %lld", (long long)i, (long long)a, (long long)b);
        return 1;
      }
    }
  }
  return 0;
}

static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* returns 0 pass, 1 fail, 2 skip; writes the reason */
static int run_case(const char *dir, const ql_session_options *opt, char *why, size_t wn) {
  char path[4096];
  ql_error err = {0};
  ql_model *m = NULL;
  ql_session *s = NULL;
  int rc = 1;
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  if (ql_model_load_file(path, NULL, &m, &err)) {
    snprintf(why, wn, "%s", err.msg);
    return err.code == QL_ERR_UNSUPPORTED ? 2 : 1;
  }
  if (ql_session_create(m, opt, &s, &err)) {
    snprintf(why, wn, "%s", err.msg);
    ql_model_free(m);
    return err.code == QL_ERR_UNSUPPORTED ? 2 : 1;
  }
  ql_model_free(m);
  DIR *d = opendir(dir);
  char *sets[256];
  size_t ns = 0;
  struct dirent *de;
  while (d && (de = readdir(d)))
    if (!strncmp(de->d_name, "test_data_set_", 14) && ns < 256) sets[ns++] = strdup(de->d_name);
  if (d) closedir(d);
  qsort(sets, ns, sizeof *sets, cmp_str);
  if (!ns) {
    snprintf(why, wn, "no test_data_set_* directory");
    goto done;
  }
  size_t ni = ql_session_input_count(s), no = ql_session_output_count(s);
  rc = 0;
  for (size_t k = 0; k < ns && rc == 0; k++) {
    ql_tensor **in = calloc(ni + 1, sizeof *in), **out = calloc(no + 1, sizeof *out);
    for (size_t i = 0; i < ni && rc == 0; i++) {
      snprintf(path, sizeof path, "%s/%s/input_%zu.pb", dir, sets[k], i);
      if (ql_tensor_load_pb(path, &in[i], &err)) {
        snprintf(why, wn, "%s: %s", sets[k], err.msg);
        /* sequence/optional inputs are not TensorProtos: unsupported, not wrong */
        rc = err.code == QL_ERR_UNSUPPORTED || err.code == QL_ERR_INVALID_MODEL || err.code == QL_ERR_LIMIT ? 2 : 1;
      }
    }
    if (rc == 0 && ql_session_run(s, (const ql_tensor *const *)in, ni, out, no, &err)) {
      snprintf(why, wn, "%s: %s", sets[k], err.msg);
      rc = err.code == QL_ERR_UNSUPPORTED ? 2 : 1;
    }
    for (size_t j = 0; j < no && rc == 0; j++) {
      snprintf(path, sizeof path, "%s/%s/output_%zu.pb", dir, sets[k], j);
      if (!file_exists(path)) continue;
      ql_tensor *exp = NULL;
      if (ql_tensor_load_pb(path, &exp, &err)) {
        snprintf(why, wn, "%s: expected output: %s", sets[k], err.msg);
        rc = 2;
        break;
      }
      char r[400];
      if (compare(out[j], exp, case_tolerance(dir, j), r, sizeof r)) {
        snprintf(why, wn, "%s: output %zu ('%s'): %s", sets[k], j, ql_session_output_name(s, j), r);
        rc = 1;
      }
      ql_tensor_free(exp);
    }
    for (size_t i = 0; i < ni; i++) ql_tensor_free(in[i]);
    for (size_t j = 0; j < no; j++) ql_tensor_free(out[j]);
    free(in);
    free(out);
  }
done:
  for (size_t k = 0; k < ns; k++) free(sets[k]);
  ql_session_free(s);
  return rc;
}

int ql_cmd_test(int argc, char **argv) {
  int verbose = 0, pass = 0, fail = 0, skip = 0, ndirs = 0;
  ql_session_options opt = {.threads = 1};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
      verbose = 1;
      continue;
    }
    /* the same cases through other kernel families and thread counts */
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      if (cli_parse_int(argv[++i], &opt.threads) || opt.threads < 1) {
        cli_error("--threads expects a positive integer");
        return 2;
      }
      continue;
    }
    if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
      opt.isa = argv[++i];
      continue;
    }
    if (!strcmp(argv[i], "--ref")) {
      opt.reference_only = 1;
      continue;
    }
    ndirs++;
    const char *dir = argv[i];
    size_t l = strlen(dir);
    while (l > 1 && dir[l - 1] == '/') l--;
    const char *name = dir + l;
    while (name > dir && name[-1] != '/') name--;
    char why[1024] = "";
    int r = run_case(dir, &opt, why, sizeof why);
    const char *tag = r == 0 ? "PASS" : r == 1 ? "FAIL" : "SKIP";
    if (r == 0) pass++;
    else if (r == 1) fail++;
    else skip++;
    if (r == 0 && !verbose) printf("%s %.*s\n", tag, (int)(dir + l - name), name);
    else printf("%s %.*s%s%s\n", tag, (int)(dir + l - name), name, *why ? ": " : "", why);
    fflush(stdout);
  }
  if (!ndirs) {
    cli_error("usage: qlinear test [--verbose] [--threads N] [--isa NAME] [--ref] DIR...");
    return 2;
  }
  printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
  return fail ? 1 : 0;
}

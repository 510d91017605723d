/* qlinear run MODEL --inputs DIR -o OUTDIR [--threads N] [-i NAME=FILE.pb] */
#include "cli.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cli_load_inputs(const ql_session *s, const char *dir, char **named, int n_named, ql_tensor **inputs) {
  size_t ni = ql_session_input_count(s);
  ql_error err;
  for (int k = 0; k < n_named; k++) {
    char *eq = strchr(named[k], '=');
    if (!eq) {
      cli_error("-i expects NAME=FILE.pb, got '%s'", named[k]);
      return -1;
    }
    size_t i;
    for (i = 0; i < ni; i++)
      if (strlen(ql_session_input_name(s, i)) == (size_t)(eq - named[k]) &&
          !strncmp(ql_session_input_name(s, i), named[k], (size_t)(eq - named[k])))
        break;
    if (i == ni) {
      cli_error("-i %s: the model has no input named '%.*s'", named[k], (int)(eq - named[k]), named[k]);
      return -1;
    }
    ql_tensor_free(inputs[i]);
    inputs[i] = NULL;
    if (ql_tensor_load_pb(eq + 1, &inputs[i], &err)) {
      cli_error("%s", err.msg);
      return -1;
    }
  }
  for (size_t i = 0; i < ni; i++) {
    if (inputs[i]) continue;
    if (!dir) {
      cli_error("input %zu ('%s') not given (use --inputs DIR or -i NAME=FILE.pb)", i, ql_session_input_name(s, i));
      return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/input_%zu.pb", dir, i);
    if (ql_tensor_load_pb(path, &inputs[i], &err)) {
      cli_error("input %zu ('%s'): %s", i, ql_session_input_name(s, i), err.msg);
      return -1;
    }
  }
  return 0;
}

int ql_cmd_run(int argc, char **argv) {
  const char *model = NULL, *indir = NULL, *outdir = NULL;
  char *named[64];
  int n_named = 0, threads = 1, rc = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--inputs") && i + 1 < argc) indir = argv[++i];
    else if (!strcmp(argv[i], "-o") && i + 1 < argc) outdir = argv[++i];
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      if (cli_parse_int(argv[++i], &threads) || threads < 1) {
        cli_error("--threads expects a positive integer");
        return 2;
      }
    } else if (!strcmp(argv[i], "-i") && i + 1 < argc && n_named < 64) named[n_named++] = argv[++i];
    else if (argv[i][0] != '-' && !model) model = argv[i];
    else {
      cli_error("run: unexpected argument '%s'", argv[i]);
      return 2;
    }
  }
  if (!model || !outdir || (!indir && !n_named)) {
    cli_error("usage: qlinear run MODEL --inputs DIR -o OUTDIR [--threads N] [-i NAME=FILE.pb]");
    return 2;
  }
  ql_error err = {0};
  ql_model *m = NULL;
  ql_session *s = NULL;
  ql_tensor **in = NULL, **out = NULL;
  size_t ni = 0, no = 0;
  if (ql_model_load_file(model, NULL, &m, &err)) {
    cli_error("%s", err.msg);
    return 1;
  }
  ql_session_options opt = {.threads = threads};
  if (ql_session_create(m, &opt, &s, &err)) {
    cli_error("%s", err.msg);
    goto out;
  }
  ql_model_free(m);
  m = NULL;
  ni = ql_session_input_count(s);
  no = ql_session_output_count(s);
  in = calloc(ni + 1, sizeof *in);
  out = calloc(no + 1, sizeof *out);
  if (!in || !out) goto out;
  if (cli_load_inputs(s, indir, named, n_named, in)) goto out;
  if (ql_session_run(s, (const ql_tensor *const *)in, ni, out, no, &err)) {
    cli_error("%s", err.msg);
    goto out;
  }
  if (mkdir(outdir, 0777) && errno != EEXIST) {
    cli_error("cannot create '%s': %s", outdir, strerror(errno));
    goto out;
  }
  rc = 0;
  for (size_t j = 0; j < no; j++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/output_%zu.pb", outdir, j);
    if (ql_tensor_save_pb(out[j], path, &err)) {
      cli_error("%s", err.msg);
      rc = 1;
      break;
    }
  }
out:
  for (size_t i = 0; in && i < ni; i++) ql_tensor_free(in[i]);
  for (size_t j = 0; out && j < no; j++) ql_tensor_free(out[j]);
  free(in);
  free(out);
  ql_session_free(s);
  ql_model_free(m);
  return rc;
}

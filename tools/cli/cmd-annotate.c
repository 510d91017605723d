/* qlinear annotate IN OUT: writes quantization_annotation for every quantized
 * tensor. OUT is written atomically (temporary file + rename), so a failure
 * never leaves a partial OUT. Exit 0: written; 1: could not write; 2: IN
 * cannot be read (or bad usage). */
#include "cli.h"
#include <string.h>

#include "verify/verify.h"

int ql_cmd_annotate(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1]) {
      cli_error("usage: qlinear annotate IN OUT");
      return 2;
    }
    if (!in) in = argv[i];
    else if (!out) out = argv[i];
    else {
      cli_error("usage: qlinear annotate IN OUT");
      return 2;
    }
  }
  if (!in || !out) {
    cli_error("usage: qlinear annotate IN OUT");
    return 2;
  }
  ql_error err = {0};
  ql_model *m = NULL;
  if (ql_model_load_file(in, NULL, &m, &err)) {
    cli_error("%s: %s", in, err.msg);
    return 2;
  }
  size_t n = 0;
  if (ql_annotate_model(m, &n, &err) || ql_model_save_file(m, out, &err)) {
    ql_model_free(m);
    cli_error("%s: %s", out, err.msg);
    return 1;
  }
  ql_model_free(m);
  printf("%s: annotated %zu quantized tensor%s\n", out, n, n == 1 ? "" : "s");
  return 0;
}

/* qlinear: the command-line tool. */
#include "cli.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("qlinear: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

void cli_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c == '\n') fputs("\\n", f);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

int cli_parse_int(const char *s, int *out) {
  char *end;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || *end || end == s || v < 0 || v > 1 << 20) return -1;
  *out = (int)v;
  return 0;
}

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
} k_cmds[] = {
    {"test", ql_cmd_test, "test [--verbose] DIR...        run ONNX backend-style test cases"},
    {"run", ql_cmd_run, "run MODEL --inputs DIR -o OUTDIR [--threads N] [-i NAME=FILE.pb]"},
    {"inspect", ql_cmd_inspect, "inspect MODEL [--json]        versions, I/O, ops, quantization style"},
    {"accuracy", ql_cmd_accuracy, "accuracy MODEL (--samples DIR | --raw-u8 FILE) --labels FILE [--scale S]"},
    {"ops", ql_cmd_ops, "ops [--markdown]                 list the implemented operators"},
    {"verify", ql_cmd_verify, "verify MODEL [--json] [--strict]  check quantization parameters"},
    {"annotate", ql_cmd_annotate, "annotate IN OUT               write quantization_annotation"},
    {"quantize", ql_cmd_quantize, "quantize IN OUT --calib DIR [options]"},
    {"bench", ql_cmd_bench, "bench MODEL [--inputs DIR] [--threads N] [--runs R] [--json]"},
};

static void usage(FILE *f) {
  fprintf(f, "qlinear %s: load, verify, quantize and run quantized ONNX models\n\nusage: qlinear COMMAND ...\n",
          QL_VERSION_STRING);
  for (size_t i = 0; i < sizeof k_cmds / sizeof *k_cmds; i++)
    if (k_cmds[i].fn) fprintf(f, "  qlinear %s\n", k_cmds[i].help);
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("qlinear %s\n", QL_VERSION_STRING);
    return 0;
  }
  for (size_t i = 0; i < sizeof k_cmds / sizeof *k_cmds; i++)
    if (!strcmp(argv[1], k_cmds[i].name) && k_cmds[i].fn) return k_cmds[i].fn(argc - 1, argv + 1);
  cli_error("unknown command '%s' (see qlinear --help)", argv[1]);
  return 2;
}

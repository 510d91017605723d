/* qlinear verify MODEL [--json] [--strict]: static checks of quantization
 * parameters. Exit 0: no errors (warnings allowed); 1: errors; 2: the model
 * cannot be read (or bad usage). */
#include "cli.h"
#include <string.h>

#include "verify/verify.h"

static void print_json(FILE *f, const ql_vreport *r) {
  fprintf(f, "{\"ok\": %s, \"violations\": [", r->n_errors ? "false" : "true");
  for (size_t i = 0; i < r->n; i++) {
    const ql_vfinding *v = &r->items[i];
    fputs(i ? ",\n  {\"rule\": " : "\n  {\"rule\": ", f);
    cli_json_str(f, v->rule);
    fprintf(f, ", \"severity\": \"%s\", \"node\": ", v->severity == QL_VERROR ? "error" : "warning");
    cli_json_str(f, v->node);
    fputs(", \"op_type\": ", f);
    cli_json_str(f, v->op_type);
    fputs(", \"tensor\": ", f);
    cli_json_str(f, v->tensor);
    fputs(", \"message\": ", f);
    cli_json_str(f, v->message);
    fputc('}', f);
  }
  fprintf(f, "%s], \"summary\": {\"errors\": %zu, \"warnings\": %zu, \"strict\": %s, \"nodes\": %zu, "
             "\"quantization_nodes\": %zu, \"quantized_tensors\": %zu, \"annotations\": %zu, "
             "\"dynamic_params\": %zu, \"by_rule\": {",
          r->n ? "\n" : "", r->n_errors, r->n_warnings, r->strict ? "true" : "false", r->nodes, r->quant_nodes,
          r->quantized_tensors, r->annotations, r->dynamic_params);
  int first = 1;
  for (int k = 0; ql_verify_rules[k]; k++) {
    size_t cnt = 0;
    for (size_t i = 0; i < r->n; i++) cnt += !strcmp(r->items[i].rule, ql_verify_rules[k]);
    if (!cnt) continue;
    fputs(first ? "" : ", ", f);
    first = 0;
    cli_json_str(f, ql_verify_rules[k]);
    fprintf(f, ": %zu", cnt);
  }
  fputs("}}}\n", f);
}

static void print_human(FILE *f, const char *path, const ql_vreport *r) {
  for (size_t i = 0; i < r->n; i++) {
    const ql_vfinding *v = &r->items[i];
    fputs(v->rule, f);
    if (*v->node || *v->op_type) fprintf(f, " node '%s' (%s)", v->node, v->op_type);
    if (*v->tensor) fprintf(f, " tensor '%s'", v->tensor);
    fprintf(f, ": %s%s\n", v->message, v->severity == QL_VWARNING ? " [warning]" : "");
  }
  fprintf(f, "%s: %s: %zu error%s, %zu warning%s; %zu nodes, %zu quantization nodes, %zu quantized tensors, "
             "%zu annotations, %zu dynamic parameters%s\n",
          path, r->n_errors ? "FAILED" : "OK", r->n_errors, r->n_errors == 1 ? "" : "s", r->n_warnings,
          r->n_warnings == 1 ? "" : "s", r->nodes, r->quant_nodes, r->quantized_tensors, r->annotations,
          r->dynamic_params, r->strict ? " (strict)" : "");
}

int ql_cmd_verify(int argc, char **argv) {
  const char *path = NULL;
  int json = 0;
  ql_verify_options opt = {0};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--strict")) opt.strict = 1;
    else if (!path && argv[i][0] != '-') path = argv[i];
    else {
      cli_error("usage: qlinear verify MODEL [--json] [--strict]");
      return 2;
    }
  }
  if (!path) {
    cli_error("usage: qlinear verify MODEL [--json] [--strict]");
    return 2;
  }
  ql_error err = {0};
  ql_model *m = NULL;
  if (ql_model_load_file(path, NULL, &m, &err)) {
    cli_error("%s: %s", path, err.msg);
    return 2;
  }
  ql_vreport rep;
  ql_status st = ql_verify_model(m, &opt, &rep, &err);
  ql_model_free(m);
  if (st) {
    ql_vreport_free(&rep);
    cli_error("%s: %s", path, err.msg);
    return 2;
  }
  if (json) print_json(stdout, &rep);
  else print_human(stdout, path, &rep);
  int rc = rep.n_errors ? 1 : 0;
  ql_vreport_free(&rep);
  return rc;
}

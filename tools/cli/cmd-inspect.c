/* qlinear inspect MODEL [--json]: what a model is, at a glance. */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

typedef struct {
  const char *domain, *op;
  int count;
} op_count;

static int cmp_ops(const void *a, const void *b) {
  const op_count *x = a, *y = b;
  int d = strcmp(x->domain, y->domain);
  return d ? d : strcmp(x->op, y->op);
}

static int is_qoperator(const char *op) {
  return !strncmp(op, "QLinear", 7) || !strcmp(op, "QGemm") || !strcmp(op, "QAttention");
}
static int is_dynamic(const char *op) {
  return !strcmp(op, "DynamicQuantizeLinear") || !strcmp(op, "MatMulInteger") || !strcmp(op, "ConvInteger") ||
         !strcmp(op, "DynamicQuantizeMatMul") || !strcmp(op, "MatMulIntegerToFloat") ||
         !strcmp(op, "DynamicQuantizeLSTM");
}

static void print_vi(FILE *f, const ql_value_info *v, int json) {
  if (json) {
    fputs("{\"name\": ", f);
    cli_json_str(f, v->name);
    fprintf(f, ", \"type\": \"%s\", \"shape\": ", v->is_tensor ? ql_dtype_name((ql_dtype)v->elem_type) : "non-tensor");
    if (v->rank < 0) fputs("null", f);
    else {
      fputc('[', f);
      for (int i = 0; i < v->rank; i++) {
        if (i) fputs(", ", f);
        if (v->dims[i].param) cli_json_str(f, v->dims[i].param);
        else if (v->dims[i].value >= 0) fprintf(f, "%lld", (long long)v->dims[i].value);
        else fputs("null", f);
      }
      fputc(']', f);
    }
    fputc('}', f);
    return;
  }
  fprintf(f, "  %s: %s", v->name, v->is_tensor ? ql_dtype_name((ql_dtype)v->elem_type) : "non-tensor");
  if (v->rank >= 0) {
    fputc('[', f);
    for (int i = 0; i < v->rank; i++) {
      if (i) fputc(',', f);
      if (v->dims[i].param) fputs(v->dims[i].param, f);
      else if (v->dims[i].value >= 0) fprintf(f, "%lld", (long long)v->dims[i].value);
      else fputc('?', f);
    }
    fputc(']', f);
  }
  fputc('\n', f);
}

int ql_cmd_inspect(int argc, char **argv) {
  const char *path = NULL;
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!path && argv[i][0] != '-') path = argv[i];
    else {
      cli_error("usage: qlinear inspect MODEL [--json]");
      return 2;
    }
  }
  if (!path) {
    cli_error("usage: qlinear inspect MODEL [--json]");
    return 2;
  }
  ql_error err = {0};
  ql_model *m;
  if (ql_model_load_file(path, NULL, &m, &err)) {
    cli_error("%s", err.msg);
    return 1;
  }
  const ql_graph *g = m->graph;
  op_count *ops = calloc(g->n_nodes + 1, sizeof *ops);
  size_t nops = 0;
  int n_q = 0, n_dq = 0, n_qop = 0, n_dyn = 0, n_nbits = 0;
  for (size_t i = 0; i < g->n_nodes; i++) {
    const ql_node *n = g->nodes[i];
    const char *d = *ql_domain_canon(n->domain) ? n->domain : "ai.onnx";
    size_t k;
    for (k = 0; k < nops; k++)
      if (!strcmp(ops[k].op, n->op_type) && !strcmp(ops[k].domain, d)) break;
    if (k == nops) ops[nops++] = (op_count){d, n->op_type, 0};
    ops[k].count++;
    if (!strcmp(n->op_type, "QuantizeLinear")) n_q++;
    else if (!strcmp(n->op_type, "DequantizeLinear")) n_dq++;
    else if (!strcmp(n->op_type, "MatMulNBits")) n_nbits++;
    if (is_qoperator(n->op_type)) n_qop++;
    if (is_dynamic(n->op_type)) n_dyn++;
  }
  qsort(ops, nops, sizeof *ops, cmp_ops);
  uint64_t init_bytes = 0;
  for (size_t i = 0; i < g->n_inits; i++) init_bytes += ql_tensor_nbytes(g->inits[i]);
  char style[128] = "";
  if (n_qop) strcat(style, "QOperator,");
  if (n_dyn) strcat(style, "dynamic,");
  if (n_q && n_dq && !n_qop) strcat(style, "QDQ,");
  else if (n_dq && !n_qop && !n_dyn) strcat(style, "weight-only QDQ,");
  if (n_nbits) strcat(style, "weight-only MatMulNBits,");
  if (!*style) strcpy(style, "none,");
  style[strlen(style) - 1] = 0;
  size_t n_inputs = ql_graph_n_data_inputs(g);
  FILE *f = stdout;
  if (json) {
    fprintf(f, "{\"path\": ");
    cli_json_str(f, path);
    fprintf(f, ", \"ir_version\": %lld, \"producer\": ", (long long)m->ir_version);
    cli_json_str(f, m->producer_name ? m->producer_name : "");
    fputs(", \"opset_import\": {", f);
    for (size_t i = 0; i < m->n_opsets; i++) {
      fputs(i ? ", " : "", f);
      cli_json_str(f, *m->opsets[i].domain ? m->opsets[i].domain : "ai.onnx");
      fprintf(f, ": %lld", (long long)m->opsets[i].version);
    }
    fputs("}, \"inputs\": [", f);
    int first = 1;
    for (size_t i = 0; i < g->n_inputs; i++) {
      if (ql_graph_find_init(g, g->inputs[i].name)) continue;
      fputs(first ? "" : ", ", f);
      first = 0;
      print_vi(f, &g->inputs[i], 1);
    }
    fputs("], \"outputs\": [", f);
    for (size_t i = 0; i < g->n_outputs; i++) {
      fputs(i ? ", " : "", f);
      print_vi(f, &g->outputs[i], 1);
    }
    fprintf(f, "], \"nodes\": %zu, \"ops\": [", g->n_nodes);
    for (size_t k = 0; k < nops; k++) {
      fputs(k ? ", " : "", f);
      fputs("{\"domain\": ", f);
      cli_json_str(f, ops[k].domain);
      fputs(", \"op\": ", f);
      cli_json_str(f, ops[k].op);
      fprintf(f, ", \"count\": %d}", ops[k].count);
    }
    fprintf(f, "], \"quantization_style\": \"%s\", \"initializers\": %zu, \"initializer_bytes\": %llu, "
               "\"functions\": %zu, \"annotations\": %zu}\n",
            style, g->n_inits, (unsigned long long)init_bytes, m->n_functions, g->n_annotations);
  } else {
    fprintf(f, "model: %s\nIR version: %lld\nproducer: %s %s\nopset_import:", path, (long long)m->ir_version,
            m->producer_name ? m->producer_name : "", m->producer_version ? m->producer_version : "");
    for (size_t i = 0; i < m->n_opsets; i++)
      fprintf(f, " %s=%lld", *m->opsets[i].domain ? m->opsets[i].domain : "ai.onnx", (long long)m->opsets[i].version);
    fprintf(f, "\ninputs (%zu):\n", n_inputs);
    for (size_t i = 0; i < g->n_inputs; i++)
      if (!ql_graph_find_init(g, g->inputs[i].name)) print_vi(f, &g->inputs[i], 0);
    fprintf(f, "outputs (%zu):\n", g->n_outputs);
    for (size_t i = 0; i < g->n_outputs; i++) print_vi(f, &g->outputs[i], 0);
    fprintf(f, "nodes: %zu\nops by domain:\n", g->n_nodes);
    for (size_t k = 0; k < nops; k++) fprintf(f, "  %-14s %-28s %d\n", ops[k].domain, ops[k].op, ops[k].count);
    fprintf(f, "quantization style: %s\ninitializers: %zu (%llu bytes)\nmodel-local functions: %zu\n", style,
            g->n_inits, (unsigned long long)init_bytes, m->n_functions);
    fprintf(f, "quantization_annotation: %zu tensors annotated\n", g->n_annotations);
  }
  free(ops);
  ql_model_free(m);
  return 0;
}

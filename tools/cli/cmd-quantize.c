/* qlinear quantize IN OUT --calib DIR [options]: float model in, verified
 * quantized model out, with an account of where the accuracy went. */
#include "cli.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "quant/report.h"
#include "verify/verify.h"

#define MAX_LIST 256

static const char *k_usage =
    "usage: qlinear quantize IN OUT --calib DIR [--method minmax|entropy|percentile|mse] [--percentile P]\n"
    "         [--format qdq|qoperator] [--per-channel] [--activation-type u8|s8] [--weight-type s8|u8|s4|u4]\n"
    "         [--symmetric-activations] [--symmetric-weights] [--reduce-range] [--no-equalize]\n"
    "         [--bias-correction] [--exclude NODE...]\n"
    "         [--op-types OP...] [--dynamic] [--weight-only-int4 [--block-size B]] [--eval DIR]\n"
    "         [--max-samples N] [--target-sqnr DB [--target-samples N] [--target-keep float|int16]] [--report FILE.html] [--params-json FILE] [--json]\n"
    "         [--threads N]";

static int parse_type(const char *s, ql_dtype *t) {
  if (!strcmp(s, "u8")) *t = QL_UINT8;
  else if (!strcmp(s, "s8")) *t = QL_INT8;
  else if (!strcmp(s, "u4")) *t = QL_UINT4;
  else if (!strcmp(s, "s4")) *t = QL_INT4;
  else if (!strcmp(s, "u16")) *t = QL_UINT16;
  else if (!strcmp(s, "s16")) *t = QL_INT16;
  else return -1;
  return 0;
}

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

static void json_values(FILE *f, const ql_tensor *t) {
  fputc('[', f);
  for (int64_t i = 0; t && i < t->numel; i++) {
    if (t->dtype == QL_FLOAT) fprintf(f, "%s%.9g", i ? ", " : "", (double)((const float *)t->data)[i]);
    else fprintf(f, "%s%lld", i ? ", " : "", (long long)ql_load_i64(t->dtype, t->data, i));
  }
  fputc(']', f);
}

/* --params-json: every quantized tensor's scale and zero point, one object
 * per line, named after the float tensor (the layout
 * bench/quant_compare.py --fixture writes for ONNX Runtime's values):
 * activations from their QuantizeLinear, weights and biases from the
 * DequantizeLinear of their <name>_quantized initializer. */
static int write_params(const ql_model *m, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  const ql_graph *g = m->graph;
  int first = 1;
  fputs("[\n", f);
  for (size_t i = 0; i < g->n_nodes; i++) {
    const ql_node *n = g->nodes[i];
    int is_q = !strcmp(n->op_type, "QuantizeLinear"), is_dq = !strcmp(n->op_type, "DequantizeLinear");
    if ((!is_q && !is_dq) || n->n_inputs < 2) continue;
    const ql_tensor *sc = ql_graph_find_init(g, n->inputs[1]);
    const ql_tensor *zp = n->n_inputs > 2 ? ql_graph_find_init(g, n->inputs[2]) : NULL;
    const ql_tensor *x = is_dq ? ql_graph_find_init(g, n->inputs[0]) : NULL;
    if (!sc || (is_dq && (!x || !ends_with(n->inputs[0], "_quantized")))) continue;
    char name[1024];
    const char *in = n->inputs[0], *suf = is_q ? "_QuantizeLinear_Input" : "_quantized";
    snprintf(name, sizeof name, "%.*s", (int)(ends_with(in, suf) ? strlen(in) - strlen(suf) : strlen(in)), in);
    fprintf(f, "%s{\"tensor\": ", first ? "" : ",\n");
    cli_json_str(f, name);
    fprintf(f, ", \"kind\": \"%s\", \"scale\": ", is_q ? "activation" : x->dtype == QL_INT32 ? "bias" : "weight");
    json_values(f, sc);
    fputs(", \"zero_point\": ", f);
    json_values(f, zp);
    fputc('}', f);
    first = 0;
  }
  fputs("\n]\n", f);
  return fclose(f) ? -1 : 0;
}

static void print_report(const ql_qreport *r, int json, const char *out_path, const ql_vreport *vr, char **excluded,
                         size_t n_ex, int keep16) {
  FILE *f = stdout;
  if (json) {
    fprintf(f, "{\"output_model\": ");
    cli_json_str(f, out_path);
    fprintf(f, ", \"samples\": %zu, \"outputs\": [", r->n_samples);
    for (size_t j = 0; j < r->n_outputs; j++) {
      const ql_qoutput *o = &r->outputs[j];
      double d = ql_sqnr_db(o->signal, o->noise);
      fprintf(f, "%s{\"name\": ", j ? ", " : "");
      cli_json_str(f, o->name);
      fprintf(f, ", \"sqnr_db\": %.4f, \"max_abs_error\": %.6g", isinf(d) ? 999.0 : d, o->max_abs);
      if (o->top1_total) fprintf(f, ", \"top1_agreement\": %.6f", (double)o->top1_agree / o->top1_total);
      fputc('}', f);
    }
    fputs("], \"tensors\": [", f);
    for (size_t k = 0; k < r->n_tensors; k++) {
      const ql_qstat *s = &r->tensors[k];
      double d = ql_sqnr_db(s->signal, s->noise);
      fprintf(f, "%s{\"name\": ", k ? ", " : "");
      cli_json_str(f, s->name);
      fputs(", \"node\": ", f);
      cli_json_str(f, s->node);
      fprintf(f, ", \"op\": \"%s\", \"sqnr_db\": %.4f, \"max_abs_error\": %.6g, \"range\": [%.8g, %.8g]}", s->op_type,
              isinf(d) ? 999.0 : d, s->max_abs, s->rmin, s->rmax);
    }
    fprintf(f, "], \"kept_type\": \"%s\", \"kept_float\": [", keep16 ? "int16" : "float");
    for (size_t i = 0; i < n_ex; i++) {
      fputs(i ? ", " : "", f);
      cli_json_str(f, excluded[i]);
    }
    fprintf(f, "], \"verify\": {\"errors\": %zu, \"warnings\": %zu}}\n", vr ? vr->n_errors : 0,
            vr ? vr->n_warnings : 0);
    return;
  }
  fprintf(f, "wrote %s\naccuracy on %zu samples (quantized vs float):\n", out_path, r->n_samples);
  for (size_t j = 0; j < r->n_outputs; j++) {
    const ql_qoutput *o = &r->outputs[j];
    fprintf(f, "  output %-24s SQNR %7.2f dB  max abs error %.4g", o->name, ql_sqnr_db(o->signal, o->noise), o->max_abs);
    if (o->top1_total)
      fprintf(f, "  top-1 agreement %.2f%% (%zu/%zu)", 100.0 * o->top1_agree / o->top1_total, o->top1_agree,
              o->top1_total);
    fputc('\n', f);
  }
  /* the five worst tensors */
  int shown[5] = {-1, -1, -1, -1, -1};
  for (int w = 0; w < 5; w++) {
    double worst = INFINITY;
    for (size_t k = 0; k < r->n_tensors; k++) {
      int seen = 0;
      for (int i = 0; i < w; i++) seen |= shown[i] == (int)k;
      double d = ql_sqnr_db(r->tensors[k].signal, r->tensors[k].noise);
      if (!seen && d < worst) {
        worst = d;
        shown[w] = (int)k;
      }
    }
  }
  fprintf(f, "worst quantized tensors:\n");
  for (int w = 0; w < 5 && shown[w] >= 0; w++) {
    const ql_qstat *s = &r->tensors[shown[w]];
    fprintf(f, "  %-40s %-18s SQNR %7.2f dB  range [%.4g, %.4g]\n", s->name, s->op_type, ql_sqnr_db(s->signal, s->noise),
            s->rmin, s->rmax);
  }
  if (n_ex) {
    fprintf(f, "tensors kept in %s (--target-sqnr):", keep16 ? "int16" : "float");
    for (size_t i = 0; i < n_ex; i++) fprintf(f, " %s", excluded[i]);
    fputc('\n', f);
  }
  if (vr) fprintf(f, "verify --strict: %zu errors, %zu warnings\n", vr->n_errors, vr->n_warnings);
}

int ql_cmd_quantize(int argc, char **argv) {
  const char *in_path = NULL, *out_path = NULL, *calib_dir = NULL, *eval_dir = NULL, *report = NULL;
  const char *params_json = NULL;
  ql_quant_options o;
  ql_quant_options_default(&o);
  o.progress = 1;
  int json = 0, max_samples = 1000, target_samples = 8, dynamic = 0, int4 = 0, block = 32;
  double target = NAN;
  char *excl[MAX_LIST], *ops[MAX_LIST];
  size_t n_excl = 0, n_ops = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG                                     \
  if (!v) {                                          \
    cli_error("%s needs a value\n%s", a, k_usage); \
    return 2;                                        \
  }                                                  \
  i++;
    if (!strcmp(a, "--calib")) { NEED_ARG calib_dir = v; }
    else if (!strcmp(a, "--eval")) { NEED_ARG eval_dir = v; }
    else if (!strcmp(a, "--report")) { NEED_ARG report = v; }
    else if (!strcmp(a, "--params-json")) { NEED_ARG params_json = v; }
    else if (!strcmp(a, "--method")) {
      NEED_ARG
      if (!strcmp(v, "minmax")) o.method = QL_CALIB_MINMAX;
      else if (!strcmp(v, "entropy")) o.method = QL_CALIB_ENTROPY;
      else if (!strcmp(v, "percentile")) o.method = QL_CALIB_PERCENTILE;
      else if (!strcmp(v, "mse")) o.method = QL_CALIB_MSE;
      else { cli_error("--method: minmax, entropy, percentile or mse, not '%s'", v); return 2; }
    } else if (!strcmp(a, "--percentile")) {
      NEED_ARG
      o.percentile = atof(v);
      if (!(o.percentile > 0 && o.percentile <= 100)) { cli_error("--percentile must be in (0, 100]"); return 2; }
    } else if (!strcmp(a, "--format")) {
      NEED_ARG
      if (!strcmp(v, "qdq")) o.format = QL_QFORMAT_QDQ;
      else if (!strcmp(v, "qoperator")) o.format = QL_QFORMAT_QOPERATOR;
      else { cli_error("--format: qdq or qoperator, not '%s'", v); return 2; }
    } else if (!strcmp(a, "--activation-type")) {
      NEED_ARG
      if (parse_type(v, &o.activation_type) || (o.activation_type != QL_UINT8 && o.activation_type != QL_INT8)) {
        cli_error("--activation-type: u8 or s8, not '%s'", v);
        return 2;
      }
    } else if (!strcmp(a, "--weight-type")) {
      NEED_ARG
      if (parse_type(v, &o.weight_type)) { cli_error("--weight-type: s8, u8, s4 or u4, not '%s'", v); return 2; }
    } else if (!strcmp(a, "--per-channel")) o.per_channel = 1;
    else if (!strcmp(a, "--symmetric-activations")) o.symmetric_activations = 1;
    else if (!strcmp(a, "--symmetric-weights")) o.symmetric_weights = 1;
    else if (!strcmp(a, "--reduce-range")) o.reduce_range = 1;
    else if (!strcmp(a, "--no-equalize")) o.no_equalize = 1;
    else if (!strcmp(a, "--bias-correction")) o.bias_correction = 1;
    else if (!strcmp(a, "--dynamic")) dynamic = 1;
    else if (!strcmp(a, "--weight-only-int4")) int4 = 1;
    else if (!strcmp(a, "--json")) json = 1;
    else if (!strcmp(a, "--block-size")) {
      NEED_ARG
      if (cli_parse_int(v, &block) || block < 16 || (block & (block - 1))) {
        cli_error("--block-size must be a power of two >= 16");
        return 2;
      }
    } else if (!strcmp(a, "--max-samples")) {
      NEED_ARG
      if (cli_parse_int(v, &max_samples) || max_samples < 1) { cli_error("--max-samples must be positive"); return 2; }
    } else if (!strcmp(a, "--target-keep")) {
      NEED_ARG
      if (!strcmp(v, "float")) o.keep_int16 = 0;
      else if (!strcmp(v, "int16")) o.keep_int16 = 1;
      else { cli_error("--target-keep: float or int16, not '%s'", v); return 2; }
    } else if (!strcmp(a, "--target-samples")) {
      NEED_ARG
      if (cli_parse_int(v, &target_samples) || target_samples < 1) {
        cli_error("--target-samples must be positive");
        return 2;
      }
    } else if (!strcmp(a, "--threads")) {
      NEED_ARG
      if (cli_parse_int(v, &o.threads) || o.threads < 1) { cli_error("--threads must be positive"); return 2; }
    } else if (!strcmp(a, "--target-sqnr")) {
      NEED_ARG
      target = atof(v);
    } else if (!strcmp(a, "--exclude") || !strcmp(a, "--op-types")) {
      int is_ex = a[2] == 'e';
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
        if ((is_ex ? n_excl : n_ops) >= MAX_LIST - 1) { cli_error("too many names after %s", a); return 2; }
        if (is_ex) excl[n_excl++] = argv[++i];
        else ops[n_ops++] = argv[++i];
      }
    } else if (a[0] != '-' && !in_path) in_path = a;
    else if (a[0] != '-' && !out_path) out_path = a;
    else {
      cli_error("quantize: unexpected argument '%s'\n%s", a, k_usage);
      return 2;
    }
  }
  if (!in_path || !out_path || (!calib_dir && !dynamic && !int4)) {
    cli_error("%s", k_usage);
    return 2;
  }
  if (dynamic && int4) {
    cli_error("quantize: --dynamic and --weight-only-int4 exclude each other");
    return 2;
  }
  if (!int4 && (o.weight_type == QL_INT4 || o.weight_type == QL_UINT4)) {
    cli_error("quantize: 4-bit weights need --weight-only-int4 (MatMulNBits)");
    return 2;
  }
  o.exclude = (const char *const *)excl;
  o.n_exclude = n_excl;
  if (n_ops) {
    o.op_types = (const char *const *)ops;
    o.n_op_types = n_ops;
  }
  o.progress = !json;
  ql_error err = {0};
  ql_model *fm = NULL, *folded = NULL, *qm = NULL;
  ql_samples calib = {0}, eval = {0};
  ql_ranges ranges = {0};
  ql_qreport rep = {0};
  ql_vreport vr = {0};
  int rc = 1, have_vr = 0;
  char **kept = NULL; /* --target-sqnr: the tensors left in float */
  size_t n_kept = 0;
  if (ql_model_load_file(in_path, NULL, &fm, &err)) {
    cli_error("%s", err.msg);
    return 1;
  }
  size_t n_in = ql_graph_n_data_inputs(fm->graph);
  if ((calib_dir && ql_samples_load(calib_dir, n_in, (size_t)max_samples, &calib, &err)) ||
      (eval_dir && ql_samples_load(eval_dir, n_in, (size_t)max_samples, &eval, &err))) {
    cli_error("%s", err.msg);
    goto out;
  }
  const ql_samples *ev = eval_dir ? &eval : calib_dir ? &calib : NULL;
  if (dynamic || int4) {
    /* no calibration: weights are quantized from their values, activations at run time */
    o.source = fm;
    if (!(folded = ql_model_clone(fm)) || ql_fold_model(folded, &err) || ql_fuse_conv_bn(folded, &err) ||
        !(qm = ql_model_clone(folded)) ||
        (dynamic ? ql_quantize_dynamic(qm, &o, &err) : ql_quantize_nbits(qm, &o, block, &err)) ||
        (ev && ql_quant_evaluate(fm, qm, ev, o.threads, &rep, &err))) {
      cli_error("%s", err.msg[0] ? err.msg : "out of memory");
      goto out;
    }
    goto verify;
  }
  if (!json) fprintf(stderr, "qlinear: %zu calibration samples from %s\n", calib.n, calib_dir);
  if (ql_quant_prepare(fm, &calib, &o, &folded, &ranges, &err)) {
    cli_error("%s", err.msg);
    goto out;
  }
  if (!isnan(target)) {
    /* chosen on evenly spread calibration samples; the report below measures --eval */
    ql_samples probe;
    double got;
    ql_status st = ql_samples_spread(&calib, (size_t)target_samples, &probe, &err);
    if (!st) st = ql_quant_target_sqnr(folded, &ranges, &probe, &o, target, &kept, &got, &err);
    ql_samples_view_free(&probe);
    if (st) {
      cli_error("%s", err.msg);
      goto out;
    }
    for (n_kept = 0; kept && kept[n_kept]; n_kept++) {}
    o.keep_float = (const char *const *)kept;
    o.n_keep_float = n_kept;
    if (got < target && !json)
      fprintf(stderr, "qlinear: --target-sqnr %.2f dB not reached on the calibration samples (%.2f dB)\n", target, got);
  }
  if (ql_quant_apply(folded, &ranges, &calib, &o, &qm, &err) || ql_quant_evaluate(fm, qm, ev, o.threads, &rep, &err)) {
    cli_error("%s", err.msg);
    goto out;
  }
verify:;
  ql_verify_options vo = {.strict = 1};
  if (ql_verify_model(qm, &vo, &vr, &err)) {
    cli_error("%s", err.msg);
    goto out;
  }
  have_vr = 1;
  if (vr.n_errors) {
    for (size_t i = 0; i < vr.n; i++)
      cli_error("verify: %s node '%s' tensor '%s': %s", vr.items[i].rule, vr.items[i].node, vr.items[i].tensor,
                vr.items[i].message);
    cli_error("the quantized model does not pass verify --strict; not writing %s", out_path);
    goto out;
  }
  if (ql_model_save_file(qm, out_path, &err)) {
    cli_error("%s", err.msg);
    goto out;
  }
  char opts[4096];
  int len = snprintf(opts, sizeof opts, "method=%s format=%s per_channel=%d activation=%s weight=%s calib=%zu samples",
           dynamic ? "dynamic" : int4 ? "weight-only-int4" : o.method == QL_CALIB_MINMAX ? "minmax"
           : o.method == QL_CALIB_ENTROPY ? "entropy" : o.method == QL_CALIB_PERCENTILE ? "percentile" : "mse",
           o.format == QL_QFORMAT_QDQ ? "qdq" : "qoperator", o.per_channel, ql_dtype_name(o.activation_type),
           ql_dtype_name(o.weight_type), calib.n);
  if (n_kept && len > 0 && (size_t)len < sizeof opts)
    len += snprintf(opts + len, sizeof opts - (size_t)len, "; kept in %s (--target-sqnr %.4g): %zu tensors",
                    o.keep_int16 ? "int16" : "float", target, n_kept);
  for (size_t i = 0; i < n_kept && len > 0 && (size_t)len < sizeof opts; i++)
    len += snprintf(opts + len, sizeof opts - (size_t)len, "%s%s", i ? ", " : ": ", kept[i]);
  if (report && ql_qreport_write_html(&rep, report, in_path, opts, &err)) {
    cli_error("%s", err.msg);
    goto out;
  }
  if (params_json && write_params(qm, params_json)) {
    cli_error("cannot write '%s'", params_json);
    goto out;
  }
  print_report(&rep, json, out_path, &vr, kept, n_kept, o.keep_int16);
  rc = 0;
out:
  ql_strlist_free(kept);
  if (have_vr) ql_vreport_free(&vr);
  ql_qreport_free(&rep);
  ql_ranges_free(&ranges);
  ql_samples_free(&calib);
  ql_samples_free(&eval);
  ql_model_free(qm);
  ql_model_free(folded);
  ql_model_free(fm);
  return rc;
}

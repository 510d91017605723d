/* The public face of the verifier (include/qlinear.h). */
#include "verify.h"

struct ql_verify_report {
  ql_vreport r;
};

ql_status ql_model_verify(const ql_model *m, unsigned flags, ql_verify_report **out, ql_error *err) {
  if (!m || !out) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "NULL argument");
  *out = NULL;
  ql_verify_report *v = ql_calloc(1, sizeof *v);
  if (!v) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  ql_verify_options o = {.strict = (flags & QL_VERIFY_STRICT) != 0};
  ql_status st = ql_verify_model(m, &o, &v->r, err);
  if (st) {
    ql_verify_report_free(v);
    return st;
  }
  *out = v;
  return QL_OK;
}

size_t ql_verify_report_count(const ql_verify_report *r) { return r ? r->r.n : 0; }
size_t ql_verify_report_errors(const ql_verify_report *r) { return r ? r->r.n_errors : 0; }

ql_status ql_verify_report_get(const ql_verify_report *r, size_t i, const char **rule, int *is_error,
                               const char **node, const char **tensor, const char **message) {
  if (!r || i >= r->r.n) return QL_ERR_INVALID_ARGUMENT;
  const ql_vfinding *f = &r->r.items[i];
  if (rule) *rule = f->rule;
  if (is_error) *is_error = f->severity == QL_VERROR;
  if (node) *node = f->node;
  if (tensor) *tensor = f->tensor;
  if (message) *message = f->message;
  return QL_OK;
}

void ql_verify_report_free(ql_verify_report *r) {
  if (!r) return;
  ql_vreport_free(&r->r);
  ql_free(r);
}

ql_status ql_model_annotate(ql_model *m, size_t *n_written, ql_error *err) {
  size_t n = 0;
  if (!m) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "NULL model");
  ql_status st = ql_annotate_model(m, &n, err);
  if (n_written) *n_written = n;
  return st;
}

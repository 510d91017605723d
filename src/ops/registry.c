/* The op registry. Each src/ops/<family>.c defines a table
 * `const ql_op_def ql_ops_<family>[]` ending with an all-zero row; the build
 * generates ops-families.inc from the file names. */
#include "op.h"

#define QL_FAMILY(name) extern const ql_op_def ql_ops_##name[];
#include "ops-families.inc"
#undef QL_FAMILY

static const ql_op_def *const k_families[] = {
#define QL_FAMILY(name) ql_ops_##name,
#include "ops-families.inc"
#undef QL_FAMILY
    NULL};

const ql_op_def *ql_op_registry_at(size_t i) {
  for (size_t f = 0; k_families[f]; f++) {
    for (const ql_op_def *d = k_families[f]; d->op_type; d++) {
      if (i == 0) return d;
      i--;
    }
  }
  return NULL;
}

typedef struct {
  const char *domain, *op_type;
  int versions[16];
} schema_row;

static const schema_row k_schemas[] = {
#define QL_SCHEMA(d, op, ...) {d, op, {__VA_ARGS__}},
#include "schema-versions.inc"
#undef QL_SCHEMA
};

/* Effective schema version at `opset`: the highest since_version <= opset.
 * Ops outside ai.onnx that the table does not know (com.microsoft) have a
 * single version 1. Returns 0 when the op does not exist at that opset. */
static int effective_version(const char *dom, const char *op_type, int64_t opset, int *first) {
  for (size_t i = 0; i < sizeof k_schemas / sizeof *k_schemas; i++) {
    const schema_row *r = &k_schemas[i];
    if (strcmp(r->op_type, op_type) || strcmp(r->domain, dom)) continue;
    int eff = 0;
    *first = r->versions[0];
    for (int k = 0; k < 16 && r->versions[k]; k++)
      if (r->versions[k] <= opset) eff = r->versions[k];
    return eff;
  }
  *first = 1;
  return *dom && opset >= 1 ? 1 : 0;
}

int ql_op_schema_version(const char *domain, const char *op_type, int64_t opset) {
  int first;
  return effective_version(ql_domain_canon(domain), op_type, opset, &first);
}

ql_status ql_op_resolve(const char *domain, const char *op_type, int64_t opset, ql_op_resolution *out,
                        ql_error *err) {
  const char *dom = ql_domain_canon(domain);
  const char *shown = *dom ? dom : "ai.onnx";
  int first = 0;
  int eff = effective_version(dom, op_type, opset, &first);
  const ql_op_def *best = NULL;
  for (size_t f = 0; k_families[f]; f++)
    for (const ql_op_def *d = k_families[f]; d->op_type; d++) {
      if (strcmp(d->op_type, op_type) || strcmp(ql_domain_canon(d->domain), dom)) continue;
      best = d;
      if (eff >= d->min_impl && eff <= d->max_impl) {
        out->def = d;
        out->version = eff;
        return QL_OK;
      }
    }
  if (eff == 0 && best)
    return ql_errf(err, QL_ERR_INVALID_MODEL, "%s (%s) does not exist at opset %lld (introduced in opset %d)",
                   op_type, shown, (long long)opset, first);
  if (best)
    return ql_errf(err, QL_ERR_UNSUPPORTED, "%s (%s) opset %lld -> schema v%d: no implementation (have v%d-v%d)",
                   op_type, shown, (long long)opset, eff, best->min_impl, best->max_impl);
  return ql_errf(err, QL_ERR_UNSUPPORTED, "%s (%s) opset %lld: operator not implemented", op_type, shown,
                 (long long)opset);
}

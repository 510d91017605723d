/* Ops that move or describe data without arithmetic. */
#include "op.h"

static ql_status copy_to_output(ql_op_ctx *c, size_t i, const ql_tensor *x, int rank, const int64_t *dims) {
  ql_tensor *y = ql_op_output(c, i, x->dtype, rank, dims);
  if (!y) return c->err->code;
  if (x->dtype == QL_STRING) {
    for (int64_t k = 0; k < x->numel; k++)
      if (!(((char **)y->data)[k] = ql_strdup(((char **)x->data)[k] ? ((char **)x->data)[k] : "")))
        return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  } else if (x->numel) {
    memcpy(y->data, x->data, ql_tensor_nbytes(x));
  }
  return QL_OK;
}

static ql_status identity(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input 0 is required");
  return copy_to_output(c, 0, x, x->rank, x->dims);
}

static ql_status constant(ql_op_ctx *c) {
  const ql_node *n = c->node;
  const ql_attr *a = NULL;
  for (size_t i = 0; i < n->n_attrs; i++)
    if (n->attrs[i].type != QL_ATTR_UNDEFINED) a = &n->attrs[i];
  if (!a || n->n_attrs != 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "Constant needs exactly one value attribute");
  ql_tensor *y;
  int64_t d1;
  if (!strcmp(a->name, "value") && a->t) return copy_to_output(c, 0, a->t, a->t->rank, a->t->dims);
  if (!strcmp(a->name, "value_float") && a->type == QL_ATTR_FLOAT) {
    if (!(y = ql_op_output(c, 0, QL_FLOAT, 0, NULL))) return c->err->code;
    ((float *)y->data)[0] = a->f;
  } else if (!strcmp(a->name, "value_int") && a->type == QL_ATTR_INT) {
    if (!(y = ql_op_output(c, 0, QL_INT64, 0, NULL))) return c->err->code;
    ((int64_t *)y->data)[0] = a->i;
  } else if (!strcmp(a->name, "value_floats") && a->type == QL_ATTR_FLOATS) {
    d1 = (int64_t)a->n;
    if (!(y = ql_op_output(c, 0, QL_FLOAT, 1, &d1))) return c->err->code;
    if (a->n) memcpy(y->data, a->floats, a->n * sizeof(float));
  } else if (!strcmp(a->name, "value_ints") && a->type == QL_ATTR_INTS) {
    d1 = (int64_t)a->n;
    if (!(y = ql_op_output(c, 0, QL_INT64, 1, &d1))) return c->err->code;
    if (a->n) memcpy(y->data, a->ints, a->n * sizeof(int64_t));
  } else if (!strcmp(a->name, "value_string") && a->type == QL_ATTR_STRING) {
    if (!(y = ql_op_output(c, 0, QL_STRING, 0, NULL))) return c->err->code;
    if (!(((char **)y->data)[0] = ql_strdup(a->s))) return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  } else if (!strcmp(a->name, "value_strings") && a->type == QL_ATTR_STRINGS) {
    d1 = (int64_t)a->n;
    if (!(y = ql_op_output(c, 0, QL_STRING, 1, &d1))) return c->err->code;
    for (size_t i = 0; i < a->n; i++)
      if (!(((char **)y->data)[i] = ql_strdup(a->strings[i]))) return ql_op_fail(c, QL_ERR_OUT_OF_MEMORY, "out of memory");
  } else {
    return ql_op_fail(c, QL_ERR_UNSUPPORTED, "Constant attribute '%s' is not supported", a->name);
  }
  return QL_OK;
}

const ql_op_def ql_ops_shape_ops[] = {
    {"", "Identity", 1, 25, identity},
    {"", "Constant", 1, 25, constant},
    {0},
};

#ifndef QL_RUNTIME_H
#define QL_RUNTIME_H
#include "../ir/ir.h"

/* Replaces calls of model-local functions in g by their bodies. */
ql_status ql_inline_functions(const ql_model *m, ql_graph *g, ql_error *err);

#endif

#ifndef QL_RUNTIME_H
#define QL_RUNTIME_H
#include "../ir/ir.h"

/* Replaces calls of model-local functions in g by their bodies. */
ql_status ql_inline_functions(const ql_model *m, ql_graph *g, ql_error *err);

/* Called with every value a run produces (constants folded at creation are
 * not reported). Return nonzero to stop the run. The tensor is borrowed. */
typedef int (*ql_observer_fn)(void *ctx, const char *name, const ql_tensor *t);
ql_status ql_session_run_observed(ql_session *s, const ql_tensor *const *inputs, size_t n_inputs,
                                  ql_tensor **outputs, size_t n_outputs, ql_observer_fn fn, void *ctx,
                                  ql_error *err);

/* ql_session_run_into that also reports the wall time of every step of the
 * top-level graph, as it ran (fused nodes included; folded ones do not run).
 * For profiles (qlinear bench --profile). */
typedef void (*ql_step_time_fn)(void *ctx, const ql_node *node, double ms);
ql_status ql_session_run_into_timed(ql_session *s, const ql_tensor *const *inputs, size_t n_inputs,
                                    ql_tensor *const *outputs, size_t n_outputs, ql_step_time_fn fn, void *ctx,
                                    ql_error *err);

/* The constant a value of the top-level graph holds after folding (an
 * initializer or the output of a folded node), or NULL. */
const ql_tensor *ql_session_const(const ql_session *s, const char *name);

/* Bytes of the largest arena among the session's idle run states (tests). */
size_t ql_session_arena_bytes(ql_session *s);

#endif

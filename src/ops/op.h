/* The operator interface. An op is a pure function outputs = OP(inputs,
 * attrs): it reads its inputs, computes output shapes at run time, allocates
 * its outputs with ql_op_output and fills them. */
#ifndef QL_OP_H
#define QL_OP_H

#include "../ir/ir.h"

typedef struct ql_op_ctx ql_op_ctx;
typedef ql_status (*ql_op_run_fn)(ql_op_ctx *c);
struct ql_threadpool;

/* Once per node at session creation, after constant folding: an op may
 * precompute from its constant inputs (pack weights, fold zero points,
 * compute requantization multipliers). in[i] is the value when input i is a
 * constant, NULL when it is only known at run time. *state = NULL means
 * nothing was prepared; run() then sees c->state == NULL and must still work
 * (the reference path). A prepared state is read-only during runs, which may
 * be concurrent. */
typedef struct ql_op_prep {
  const ql_node *node;
  int version;
  size_t n_in;
  const ql_tensor *const *in;
  int threads;
  int reference_only;   /* the session asked for the reference ops only */
  int isa;              /* ql_isa (src/kernels/qgemm.h): QL_ISA_AUTO or a cap */
  ql_error *err;
} ql_op_prep;
typedef ql_status (*ql_op_prepare_fn)(const ql_op_prep *p, void **state);
typedef void (*ql_op_release_fn)(void *state);
/* A prepare for ops whose fast path needs only the session's ISA cap: the
 * state is an int (ql_isa, resolved), NULL in reference sessions; release
 * with ql_op_isa_release. */
ql_status ql_op_isa_prepare(const ql_op_prep *p, void **state);
void ql_op_isa_release(void *state);

struct ql_plan;
struct ql_frame;
struct ql_runcfg;

struct ql_op_ctx {
  const ql_node *node;
  int version;                  /* effective schema version (since_version) */
  size_t n_in;
  const ql_tensor *const *in;   /* in[i] NULL: omitted optional input */
  size_t n_out;
  ql_tensor **out;
  ql_error *err;
  int threads;
  uint64_t max_tensor_bytes;    /* ql_op_output refuses anything larger */
  void *state;                  /* from the op's prepare(), or NULL */
  struct ql_threadpool *pool;   /* NULL: run on the calling thread */
  struct ql_scratch *scratch_;  /* private: ql_op_scratch's memory (common/scratch.h) */
  /* private: subgraph execution */
  const struct ql_runcfg *cfg_;
  const struct ql_plan *const *subplans_;
  struct ql_frame *frame_;
};

/* One row of an op family table, e.g.
 *   {"", "QuantizeLinear", 10, 25, quantize_linear}
 * implements the ai.onnx schema versions 10..25 of QuantizeLinear. The list
 * of schema versions that exist comes from schema-versions.inc (generated
 * from the onnx package); a model whose opset maps to a schema version
 * outside [min_impl, max_impl] is refused, never run with another version. */
typedef struct ql_op_def {
  const char *domain;   /* "" = ai.onnx */
  const char *op_type;
  int min_impl, max_impl;
  ql_op_run_fn run;
  ql_op_prepare_fn prepare;   /* optional */
  ql_op_release_fn release;   /* frees what prepare made */
} ql_op_def;

/* The domain of ops that only qlinear's own graph rewrites create
 * (runtime/fuse.c); a session resolves it at version 1 without an import. */
#define QL_INTERNAL_DOMAIN "ai.qlinear.internal"

/* Newest ai.onnx opset whose schemas qlinear knows. */
#define QL_MAX_AI_ONNX_OPSET 27

static inline const ql_tensor *ql_op_in(const ql_op_ctx *c, size_t i) {
  return i < c->n_in ? c->in[i] : NULL;
}
/* Allocates output i (zero-filled). Returns NULL with c->err set on failure. */
ql_tensor *ql_op_output(ql_op_ctx *c, size_t i, ql_dtype dtype, int rank, const int64_t *dims);
/* As ql_op_output, for ops that write every element: a reused buffer is not
 * zeroed first (sanitizer builds fill it with 0xA5 bytes instead, so a missed
 * element shows up in the tests). */
ql_tensor *ql_op_output_nofill(ql_op_ctx *c, size_t i, ql_dtype dtype, int rank, const int64_t *dims);
/* Temporary memory for this call of the op (64-byte aligned, not zeroed),
 * valid until the op returns; several calls give disjoint blocks. It comes
 * from the run's state, so a run allocates nothing once a run with the same
 * shapes has completed. NULL with c->err set when out of memory. */
void *ql_op_scratch(ql_op_ctx *c, size_t bytes);
/* The block of pool thread `thread` (the index a ql_threadpool task is
 * given), at least `bytes`, for a task's temporaries: valid until the same
 * thread asks again or the op returns, so a task asks once for all it
 * needs. Safe to call from concurrent tasks; tasks that use it must not
 * nest (a nested call keeps the outer task's thread index). NULL when out
 * of memory; c->err is not set (tasks report through their job). */
void *ql_op_thread_scratch(ql_op_ctx *c, size_t thread, size_t bytes);
/* Error for this node: the runtime prefixes the node's name and op type. */
ql_status ql_op_fail(ql_op_ctx *c, ql_status code, const char *fmt, ...) QL_PRINTF(3, 4);
/* Runs the GRAPH attribute `attr` of this node with the given inputs (bound
 * to the subgraph's inputs in order); outputs are new tensors owned by the
 * caller. Outer-scope values are visible to the subgraph. */
ql_status ql_op_run_subgraph(ql_op_ctx *c, const char *attr, size_t n_in, const ql_tensor *const *in,
                             size_t n_out, ql_tensor **out);

/* ---- shared helpers for op implementations ---- */
/* numpy multidirectional broadcast of two shapes; -1 when incompatible */
int ql_broadcast_shape(int ra, const int64_t *a, int rb, const int64_t *b, int *rout, int64_t *out);
/* For output index o in shape (rank, dims), the element index in a tensor of
 * shape (ra, a) broadcast to it. */
int64_t ql_broadcast_index(int64_t o, int rank, const int64_t *dims, int ra, const int64_t *a);

#define QL_BC_MAX_IN 3

/* Walks an output shape and up to three inputs broadcast to it. The shape
 * is collapsed (size-1 dims dropped, dims that are contiguous for every
 * input merged) so the innermost run is as long as possible; its stride is
 * 0 (broadcast) or 1 for every input. */
typedef struct {
  int rank, n;
  int64_t dims[QL_MAX_RANK];
  int64_t st[QL_BC_MAX_IN][QL_MAX_RANK];
  int64_t numel;
} ql_bc_iter;

typedef void (*ql_bc_fn)(void *ctx, int64_t yo, const int64_t *xo, int64_t len, const int64_t *xs);

void ql_bc_init(ql_bc_iter *it, int n, const ql_tensor *const *in, int rank, const int64_t *dims);
/* Calls fn once per innermost run: output offset yo, input offsets xo, run
 * length len and the inputs' strides along it (0 or 1). */
void ql_bc_run(const ql_bc_iter *it, ql_bc_fn fn, void *ctx);
/* Normalizes axis into [0, rank); -1 when out of range. */
int ql_norm_axis(int64_t axis, int rank);
/* Reads an int64/int32 tensor as a list of int64 (for shapes, axes, ...). */
int ql_tensor_to_i64s(const ql_tensor *t, int64_t *out, size_t max);

/* registry */
typedef struct ql_op_resolution {
  const ql_op_def *def;
  int version;
} ql_op_resolution;
/* Finds the implementation of (domain, op_type) at the given opset;
 * QL_ERR_UNSUPPORTED with a message naming op, domain and version if none. */
ql_status ql_op_resolve(const char *domain, const char *op_type, int64_t opset, ql_op_resolution *out,
                        ql_error *err);
/* The schema version (since_version) an op has at an opset; 0 if none. */
int ql_op_schema_version(const char *domain, const char *op_type, int64_t opset);
/* Iterate all registered ops (for docs/tests). NULL at the end. */
const ql_op_def *ql_op_registry_at(size_t i);

#endif

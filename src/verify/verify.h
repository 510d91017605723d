/* Static checks of a model's quantization parameters (qlinear verify) and the
 * quantization_annotation writer (qlinear annotate). Internal to the library;
 * the CLI includes it directly.
 *
 * The verifier works on the IR only (it never runs the model): it collects,
 * for every quantization-aware node, which quantized tensor it reads or writes
 * with which (scale, zero point) operands ("declarations"), links tensors that
 * must share one meaning (Q -> DQ pairs, value-preserving ops), and then checks
 * each rule over declarations, groups and annotations. */
#ifndef QL_VERIFY_H
#define QL_VERIFY_H

#include "../common/strmap.h"
#include "../ir/ir.h"

typedef enum ql_vseverity { QL_VWARNING = 0, QL_VERROR = 1 } ql_vseverity;

typedef struct ql_vfinding {
  const char *rule;       /* rule id, one of ql_verify_rules */
  ql_vseverity severity;
  char *node;             /* node name, "#<index>" when unnamed, "" when not about a node */
  char *op_type;          /* "" when not about a node */
  char *tensor;           /* "" when not about a tensor */
  char *message;          /* what is wrong, with the values */
} ql_vfinding;

typedef struct ql_vreport {
  size_t n, cap;
  ql_vfinding *items;
  size_t n_errors, n_warnings;
  /* summary */
  size_t nodes;              /* nodes in the main graph */
  size_t quant_nodes;        /* nodes that read or write quantized tensors with parameters */
  size_t quantized_tensors;  /* distinct tensors with a (scale, zero point) meaning */
  size_t annotations;        /* quantization_annotation entries */
  size_t dynamic_params;     /* parameter operands computed at run time */
  int strict;
} ql_vreport;

typedef struct ql_verify_options {
  int strict; /* dynamic-params becomes an error; every quantized tensor must be annotated */
} ql_verify_options;

/* NULL-terminated list of rule ids, in documentation order. */
extern const char *const ql_verify_rules[];

/* Checks m and fills *out (caller frees with ql_vreport_free, also on error).
 * Returns QL_OK whether or not violations were found; an error status only
 * when the check itself could not run (out of memory). */
ql_status ql_verify_model(const ql_model *m, const ql_verify_options *opt, ql_vreport *out, ql_error *err);
void ql_vreport_free(ql_vreport *r);

/* Replaces the quantization_annotation entries of every quantized tensor of
 * the main graph (QDQ and QOperator) with SCALE_TENSOR / ZERO_POINT_TENSOR
 * names taken from the graph; annotations of other tensors are kept.
 * *n_written receives the number of tensors annotated. */
ql_status ql_annotate_model(ql_model *m, size_t *n_written, ql_error *err);

/* ------------------------------------------------------------------------
 * Internals shared by the files of src/verify. */

/* What is known about one tensor name of the graph. */
typedef struct vval {
  const char *name;
  int producer;              /* node index, -1 for none */
  int graph_input;           /* listed in graph.input */
  int is_static;             /* initializer or Constant output */
  const ql_tensor *value;    /* its value when static */
  ql_dtype dtype;            /* QL_UNDEFINED when unknown */
  int rank;                  /* -1 when unknown */
  int64_t dims[QL_MAX_RANK]; /* -1 for unknown dims */
  int uf;                    /* union-find parent (tensors that must share parameters) */
} vval;

enum { VD_ACT = 0, VD_WEIGHT = 1, VD_BIAS = 2 };

/* One node's statement "tensor T is quantized with (scale, zero point)". */
typedef struct vdecl {
  int node;
  const char *operand;  /* the operand's name in the op schema: "x", "y", "w", "B", ... */
  int tensor;           /* vval index of the quantized tensor */
  int scale, zp;        /* vval index, -1 when absent */
  int has_scale;        /* 0: an op with zero points only (ConvInteger, MatMulInteger) */
  int implicit;         /* int32 bias of a QOperator node: scale implied, no operands */
  int is_output;        /* the node writes the tensor */
  int per_axis_ok;      /* the op allows per-axis parameters for this operand */
  int64_t axis;         /* axis for per-axis parameters (unnormalized) */
  int64_t block;        /* block_size, 0 for none */
  int zp_from_input;    /* zero point given by an input (not default 0) */
} vdecl;

typedef struct vctx {
  const ql_model *m;
  const ql_graph *g;
  ql_verify_options opt;
  ql_vreport *rep;
  ql_strmap names;
  vval *vals;
  size_t n_vals, cap_vals;
  vdecl *decls;
  size_t n_decls, cap_decls;
  ql_tensor **owned; /* tensors made from Constant value_* attributes */
  size_t n_owned, cap_owned;
  int *version;      /* effective schema version per node, 0 when unknown */
  int oom;
  /* consumers: for value i, cons[cons_at[i] .. cons_at[i+1]) are node indices */
  int *cons_at, *cons;
} vctx;

/* vctx.c */
int vctx_init(vctx *c, const ql_model *m, const ql_verify_options *opt, ql_vreport *rep);
void vctx_free(vctx *c);
int vctx_find(const vctx *c, const char *name); /* -1 when unknown or "" */
const char *vnode_label(const vctx *c, int node, char *buf, size_t n);
void vreport(vctx *c, const char *rule, ql_vseverity sev, int node, const char *tensor, const char *fmt, ...)
    QL_PRINTF(6, 7);
int64_t vnumel(const vctx *c, int v);      /* -1 unknown */
int vrank(const vctx *c, int v);           /* -1 unknown */
int64_t vdim(const vctx *c, int v, int i); /* -1 unknown; negative i counts from the back */
int vdecl_add(vctx *c, const vdecl *d);
int vuf_find(vctx *c, int v);
void vuf_union(vctx *c, int a, int b);
/* formats a parameter value list ("0.5", "[0.5, 0.25, ...]") */
void vfmt_values(const ql_tensor *t, char *buf, size_t n);
int vis_quant_node(const ql_node *n);
/* float32/float16/bfloat16/float64: the unquantized side (float8/float4 are quantized types) */
int vis_real_float(ql_dtype t);
/* ops that pass quantized integer values through unchanged (QOperator form) */
int vis_value_preserving(const ql_node *n);
/* ops whose QDQ-form input and output parameters must be equal */
int vis_qdq_shared(const ql_node *n);

/* vdecl.c: collects declarations and checks param-type / param-shape */
void vcollect(vctx *c);

/* vrules.c */
void vcheck_values(vctx *c);
void vcheck_groups(vctx *c);
void vcheck_qdq_passthrough(vctx *c);
void vcheck_bias(vctx *c);
void vcheck_overflow(vctx *c);
void vcheck_annotations(vctx *c);
void vcheck_dynamic(vctx *c);
/* Compares the parameters of two declarations: 1 same meaning, 0 different
 * (why written), -1 cannot tell (dynamic or of different types). */
int vparams_equal(vctx *c, const vdecl *a, const vdecl *b, char *why, size_t n);
/* The declaration that defines tensor v's parameters (own, else its group's); NULL if none. */
const vdecl *vdecl_of(vctx *c, int v);
/* 1 when tensor v has a (scale, zero point) meaning of its own or inherited
 * through value-preserving ops: the tensors annotate writes and --strict wants annotated. */
int vquantized(vctx *c, int v);
/* links tensors that must share parameters (union-find); idempotent */
void vlink_groups(vctx *c);

#endif

/* The in-memory model: a faithful, owned copy of the ONNX graph that the
 * runtime, verifier and quantizer share. Values are referenced by name. */
#ifndef QL_IR_H
#define QL_IR_H

#include "../common/util.h"

typedef struct ql_graph ql_graph;

typedef enum ql_attr_type {
  QL_ATTR_UNDEFINED = 0, QL_ATTR_FLOAT = 1, QL_ATTR_INT = 2, QL_ATTR_STRING = 3,
  QL_ATTR_TENSOR = 4, QL_ATTR_GRAPH = 5, QL_ATTR_FLOATS = 6, QL_ATTR_INTS = 7,
  QL_ATTR_STRINGS = 8, QL_ATTR_TENSORS = 9, QL_ATTR_GRAPHS = 10,
  QL_ATTR_SPARSE_TENSOR = 11, QL_ATTR_SPARSE_TENSORS = 12, QL_ATTR_TYPE_PROTO = 13,
  QL_ATTR_TYPE_PROTOS = 14
} ql_attr_type;

typedef struct ql_attr {
  char *name;
  ql_attr_type type;
  char *ref_attr_name; /* inside functions: take the value from the caller */
  float f;
  int64_t i;
  char *s;        /* NUL-terminated copy; slen holds the real length */
  size_t slen;
  ql_tensor *t;
  ql_graph *g;
  size_t n;       /* element count of the list forms */
  float *floats;
  int64_t *ints;
  char **strings;
  ql_tensor **tensors;
  ql_graph **graphs;
} ql_attr;

typedef struct ql_node {
  char *name, *op_type, *domain, *doc;
  size_t n_inputs, n_outputs, n_attrs;
  char **inputs;  /* "" = omitted optional input */
  char **outputs;
  ql_attr *attrs;
} ql_node;

typedef struct ql_dim {
  int64_t value;  /* -1 when unknown or symbolic */
  char *param;    /* symbolic name or NULL */
} ql_dim;

typedef struct ql_value_info {
  char *name;
  int elem_type;  /* ql_dtype; 0 when not a tensor or unknown */
  int rank;       /* -1 when unknown */
  ql_dim *dims;
  int is_tensor;  /* 0 for sequence/map/optional types */
} ql_value_info;

typedef struct ql_kv {
  char *key, *value;
} ql_kv;

typedef struct ql_annotation {
  char *tensor_name;
  size_t n;
  ql_kv *params;  /* SCALE_TENSOR, ZERO_POINT_TENSOR -> tensor names */
} ql_annotation;

struct ql_graph {
  char *name, *doc;
  size_t n_nodes, cap_nodes;
  ql_node **nodes;
  size_t n_inits, cap_inits;
  ql_tensor **inits;  /* each has a name */
  size_t n_inputs, n_outputs, n_value_info;
  ql_value_info *inputs, *outputs, *value_info;
  size_t n_annotations;
  ql_annotation *annotations;
};

typedef struct ql_opset {
  char *domain;   /* "" for ai.onnx */
  int64_t version;
} ql_opset;

typedef struct ql_function {
  char *name, *domain;
  size_t n_inputs, n_outputs, n_attr_names, n_attr_defaults, n_nodes, n_opsets;
  char **inputs, **outputs, **attr_names;
  ql_attr *attr_defaults;
  ql_node **nodes;
  ql_opset *opsets;
} ql_function;

struct ql_model {
  int64_t ir_version, model_version;
  char *producer_name, *producer_version, *domain, *doc;
  size_t n_opsets, n_functions, n_metadata;
  ql_opset *opsets;
  ql_function *functions;
  ql_kv *metadata;
  ql_graph *graph;
  char *base_dir;  /* directory external data is confined to */
};

/* Canonical domain: "" and "ai.onnx" are the same domain. */
const char *ql_domain_canon(const char *d);
int64_t ql_model_opset(const ql_model *m, const char *domain); /* -1 if absent */

const ql_attr *ql_node_attr(const ql_node *n, const char *name);
int64_t ql_attr_int(const ql_node *n, const char *name, int64_t def);
float ql_attr_float(const ql_node *n, const char *name, float def);
const char *ql_attr_string(const ql_node *n, const char *name, const char *def);
/* Returns the list and its length in *count, or NULL (count 0) when absent. */
const int64_t *ql_attr_ints(const ql_node *n, const char *name, size_t *count);
const float *ql_attr_floats(const ql_node *n, const char *name, size_t *count);

/* construction (used by the loader, the quantizer and tests) */
ql_graph *ql_graph_new(void);
void ql_graph_free(ql_graph *g);
ql_node *ql_node_new(const char *op_type, const char *domain, const char *name);
void ql_node_free(ql_node *n);
int ql_node_add_input(ql_node *n, const char *name);
int ql_node_add_output(ql_node *n, const char *name);
ql_attr *ql_node_add_attr(ql_node *n, const char *name, ql_attr_type type);
int ql_graph_add_node(ql_graph *g, ql_node *n);      /* takes ownership */
int ql_graph_add_init(ql_graph *g, ql_tensor *t);    /* takes ownership */
const ql_tensor *ql_graph_find_init(const ql_graph *g, const char *name);
ql_tensor *ql_graph_find_init_mut(ql_graph *g, const char *name); /* the same, to modify it */
/* Graph inputs that are not initializers: what a caller binds. */
size_t ql_graph_n_data_inputs(const ql_graph *g);
void ql_attr_clear(ql_attr *a);
void ql_value_info_clear(ql_value_info *v);
void ql_function_clear(ql_function *f);
ql_model *ql_model_new(void);
ql_graph *ql_graph_clone(const ql_graph *g);   /* without annotations */
ql_node *ql_node_clone(const ql_node *n);
int ql_value_info_copy(ql_value_info *dst, const ql_value_info *src);

#endif

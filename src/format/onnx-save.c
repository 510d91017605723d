/* ql_model -> ModelProto bytes. The protobuf-c structs are built in a bump
 * arena that is dropped in one go after packing. */
#include "format.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct blk { struct blk *next; } blk;
typedef struct {
  blk *head;
  int failed;
  ql_status st; /* why it failed, when not out of memory */
  ql_error *err;
} arena;

static void *A(arena *a, size_t n) {
  if (a->failed) return NULL;
  blk *b = ql_calloc(1, sizeof(blk) + (n ? n : 1) + 16);
  if (!b) {
    a->failed = 1;
    return NULL;
  }
  b->next = a->head;
  a->head = b;
  return (char *)b + ((sizeof(blk) + 15) & ~(size_t)15);
}
static void arena_free(arena *a) {
  for (blk *b = a->head, *n; b; b = n) {
    n = b->next;
    ql_free(b);
  }
}
static char *S(arena *a, const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *r = A(a, n + 1);
  if (r) memcpy(r, s, n + 1);
  return r;
}
#define NEWV(a, T, n) ((T *)A(a, sizeof(T) * (size_t)(n)))
static void *arena_pb_alloc(void *ctx, size_t n) { return A(ctx, n); }
static void arena_pb_free(void *ctx, void *p) { (void)ctx, (void)p; }

static Onnx__GraphProto *save_graph(arena *a, const ql_graph *g);

/* Tensors are encoded with the shared encoder, then copied into the arena. */
static Onnx__TensorProto *save_tensor(arena *a, const ql_tensor *t) {
  Onnx__TensorProto *tmp;
  if (!t) { /* an attribute built in memory without its tensor */
    a->failed = 1;
    if (!a->st) a->st = ql_errf(a->err, QL_ERR_INVALID_ARGUMENT, "cannot save an attribute tensor that is missing");
    return NULL;
  }
  ql_status st = ql_tensor_to_pb(t, &tmp, a->err);
  if (st) {
    a->failed = 1;
    if (!a->st) a->st = st;
    return NULL;
  }
  Onnx__TensorProto *p = NEWV(a, Onnx__TensorProto, 1);
  if (p) {
    *p = *tmp;
    p->dims = NEWV(a, int64_t, tmp->n_dims + 1);
    if (p->dims) memcpy(p->dims, tmp->dims, sizeof(int64_t) * tmp->n_dims);
    p->name = S(a, tmp->name);
    p->raw_data.data = NULL;
    if (tmp->has_raw_data && (p->raw_data.data = A(a, tmp->raw_data.len)))
      memcpy(p->raw_data.data, tmp->raw_data.data, tmp->raw_data.len);
    p->string_data = NULL;
    if (tmp->n_string_data && (p->string_data = NEWV(a, ProtobufCBinaryData, tmp->n_string_data)))
      for (size_t i = 0; i < tmp->n_string_data; i++) {
        p->string_data[i].len = tmp->string_data[i].len;
        p->string_data[i].data = (uint8_t *)S(a, (const char *)tmp->string_data[i].data);
      }
  }
  ql_tensor_pb_free(tmp);
  return p;
}

static Onnx__AttributeProto *save_attr(arena *a, const ql_attr *at) {
  Onnx__AttributeProto *p = NEWV(a, Onnx__AttributeProto, 1);
  if (!p) return NULL;
  onnx__attribute_proto__init(p);
  p->name = S(a, at->name);
  p->ref_attr_name = S(a, at->ref_attr_name);
  p->has_type = 1;
  p->type = (Onnx__AttributeProto__AttributeType)at->type;
  switch (at->type) {
  case QL_ATTR_FLOAT: p->has_f = 1; p->f = at->f; break;
  case QL_ATTR_INT: p->has_i = 1; p->i = at->i; break;
  case QL_ATTR_STRING:
    p->has_s = 1;
    p->s.len = at->slen;
    if ((p->s.data = A(a, at->slen + 1)) && at->slen) memcpy(p->s.data, at->s, at->slen);
    break;
  case QL_ATTR_TENSOR: p->t = save_tensor(a, at->t); break;
  case QL_ATTR_GRAPH: p->g = save_graph(a, at->g); break;
  case QL_ATTR_FLOATS:
    p->n_floats = at->n;
    if ((p->floats = NEWV(a, float, at->n + 1)) && at->n) memcpy(p->floats, at->floats, sizeof(float) * at->n);
    break;
  case QL_ATTR_INTS:
    p->n_ints = at->n;
    if ((p->ints = NEWV(a, int64_t, at->n + 1)) && at->n) memcpy(p->ints, at->ints, sizeof(int64_t) * at->n);
    break;
  case QL_ATTR_STRINGS:
    p->n_strings = at->n;
    if ((p->strings = NEWV(a, ProtobufCBinaryData, at->n + 1)))
      for (size_t i = 0; i < at->n; i++) {
        p->strings[i].len = strlen(at->strings[i]);
        p->strings[i].data = (uint8_t *)S(a, at->strings[i]);
      }
    break;
  case QL_ATTR_TENSORS:
    p->n_tensors = at->n;
    if ((p->tensors = NEWV(a, Onnx__TensorProto *, at->n + 1)))
      for (size_t i = 0; i < at->n; i++) p->tensors[i] = save_tensor(a, at->tensors[i]);
    break;
  case QL_ATTR_GRAPHS:
    p->n_graphs = at->n;
    if ((p->graphs = NEWV(a, Onnx__GraphProto *, at->n + 1)))
      for (size_t i = 0; i < at->n; i++) p->graphs[i] = save_graph(a, at->graphs[i]);
    break;
  case QL_ATTR_SPARSE_TENSOR: case QL_ATTR_SPARSE_TENSORS: case QL_ATTR_TYPE_PROTO: case QL_ATTR_TYPE_PROTOS: {
    /* a->s holds the serialized fields (see onnx-load.c); the unpacked
     * message lives in the arena like everything else */
    ProtobufCAllocator al = {arena_pb_alloc, arena_pb_free, a};
    Onnx__AttributeProto *k = at->s ? onnx__attribute_proto__unpack(&al, at->slen, (const uint8_t *)at->s) : NULL;
    if (!k) {
      p->has_type = 0; /* built in memory without the value: dropped */
      break;
    }
    p->tp = k->tp;
    p->n_type_protos = k->n_type_protos;
    p->type_protos = k->type_protos;
    p->sparse_tensor = k->sparse_tensor;
    p->n_sparse_tensors = k->n_sparse_tensors;
    p->sparse_tensors = k->sparse_tensors;
    break;
  }
  default:
    p->has_type = 0; /* kinds we do not keep are dropped */
    break;
  }
  return p;
}

static char **save_strs(arena *a, char *const *s, size_t n) {
  char **r = NEWV(a, char *, n + 1);
  if (r)
    for (size_t i = 0; i < n; i++) r[i] = S(a, s[i]);
  return r;
}

static Onnx__NodeProto *save_node(arena *a, const ql_node *n) {
  Onnx__NodeProto *p = NEWV(a, Onnx__NodeProto, 1);
  if (!p) return NULL;
  onnx__node_proto__init(p);
  p->name = n->name && *n->name ? S(a, n->name) : NULL;
  p->op_type = S(a, n->op_type);
  p->domain = n->domain && *n->domain ? S(a, n->domain) : NULL;
  p->doc_string = S(a, n->doc);
  p->n_input = n->n_inputs;
  p->input = save_strs(a, n->inputs, n->n_inputs);
  p->n_output = n->n_outputs;
  p->output = save_strs(a, n->outputs, n->n_outputs);
  p->n_attribute = n->n_attrs;
  if ((p->attribute = NEWV(a, Onnx__AttributeProto *, n->n_attrs + 1)))
    for (size_t i = 0; i < n->n_attrs; i++) p->attribute[i] = save_attr(a, &n->attrs[i]);
  return p;
}

static Onnx__ValueInfoProto *save_vi(arena *a, const ql_value_info *v) {
  Onnx__ValueInfoProto *p = NEWV(a, Onnx__ValueInfoProto, 1);
  if (!p) return NULL;
  onnx__value_info_proto__init(p);
  p->name = S(a, v->name);
  if (!v->is_tensor) return p;
  Onnx__TypeProto *tp = NEWV(a, Onnx__TypeProto, 1);
  Onnx__TypeProto__Tensor *tt = NEWV(a, Onnx__TypeProto__Tensor, 1);
  if (!tp || !tt) return p;
  onnx__type_proto__init(tp);
  onnx__type_proto__tensor__init(tt);
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  tt->has_elem_type = 1;
  tt->elem_type = v->elem_type;
  p->type = tp;
  if (v->rank < 0) return p;
  Onnx__TensorShapeProto *sh = NEWV(a, Onnx__TensorShapeProto, 1);
  if (!sh) return p;
  onnx__tensor_shape_proto__init(sh);
  tt->shape = sh;
  sh->n_dim = (size_t)v->rank;
  if (!(sh->dim = NEWV(a, Onnx__TensorShapeProto__Dimension *, v->rank + 1))) return p;
  for (int i = 0; i < v->rank; i++) {
    Onnx__TensorShapeProto__Dimension *d = NEWV(a, Onnx__TensorShapeProto__Dimension, 1);
    if (!d) return p;
    onnx__tensor_shape_proto__dimension__init(d);
    if (v->dims[i].param) {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      d->dim_param = S(a, v->dims[i].param);
    } else if (v->dims[i].value >= 0) {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      d->dim_value = v->dims[i].value;
    }
    sh->dim[i] = d;
  }
  return p;
}

static Onnx__ValueInfoProto **save_vis(arena *a, const ql_value_info *v, size_t n) {
  Onnx__ValueInfoProto **r = NEWV(a, Onnx__ValueInfoProto *, n + 1);
  if (r)
    for (size_t i = 0; i < n; i++) r[i] = save_vi(a, &v[i]);
  return r;
}

static Onnx__StringStringEntryProto *save_kv(arena *a, const char *k, const char *v) {
  Onnx__StringStringEntryProto *e = NEWV(a, Onnx__StringStringEntryProto, 1);
  if (!e) return NULL;
  onnx__string_string_entry_proto__init(e);
  e->key = S(a, k);
  e->value = S(a, v);
  return e;
}

static Onnx__GraphProto *save_graph(arena *a, const ql_graph *g) {
  if (!g) return NULL; /* protobuf-c needs an initialized message or none */
  Onnx__GraphProto *p = NEWV(a, Onnx__GraphProto, 1);
  if (!p) return NULL;
  onnx__graph_proto__init(p);
  p->name = S(a, g->name);
  p->doc_string = S(a, g->doc);
  p->n_node = g->n_nodes;
  if ((p->node = NEWV(a, Onnx__NodeProto *, g->n_nodes + 1)))
    for (size_t i = 0; i < g->n_nodes; i++) p->node[i] = save_node(a, g->nodes[i]);
  p->n_initializer = g->n_inits;
  if ((p->initializer = NEWV(a, Onnx__TensorProto *, g->n_inits + 1)))
    for (size_t i = 0; i < g->n_inits; i++) p->initializer[i] = save_tensor(a, g->inits[i]);
  p->n_input = g->n_inputs;
  p->input = save_vis(a, g->inputs, g->n_inputs);
  p->n_output = g->n_outputs;
  p->output = save_vis(a, g->outputs, g->n_outputs);
  p->n_value_info = g->n_value_info;
  p->value_info = save_vis(a, g->value_info, g->n_value_info);
  p->n_quantization_annotation = g->n_annotations;
  if ((p->quantization_annotation = NEWV(a, Onnx__TensorAnnotation *, g->n_annotations + 1)))
    for (size_t i = 0; i < g->n_annotations; i++) {
      const ql_annotation *an = &g->annotations[i];
      Onnx__TensorAnnotation *ta = NEWV(a, Onnx__TensorAnnotation, 1);
      if (!ta) break;
      onnx__tensor_annotation__init(ta);
      ta->tensor_name = S(a, an->tensor_name);
      ta->n_quant_parameter_tensor_names = an->n;
      if ((ta->quant_parameter_tensor_names = NEWV(a, Onnx__StringStringEntryProto *, an->n + 1)))
        for (size_t k = 0; k < an->n; k++)
          ta->quant_parameter_tensor_names[k] = save_kv(a, an->params[k].key, an->params[k].value);
      p->quantization_annotation[i] = ta;
    }
  return p;
}

static Onnx__OperatorSetIdProto **save_opsets(arena *a, const ql_opset *o, size_t n) {
  Onnx__OperatorSetIdProto **r = NEWV(a, Onnx__OperatorSetIdProto *, n + 1);
  if (!r) return NULL;
  for (size_t i = 0; i < n; i++) {
    Onnx__OperatorSetIdProto *p = NEWV(a, Onnx__OperatorSetIdProto, 1);
    if (!p) return r;
    onnx__operator_set_id_proto__init(p);
    p->domain = S(a, o[i].domain);
    p->has_version = 1;
    p->version = o[i].version;
    r[i] = p;
  }
  return r;
}

static Onnx__FunctionProto *save_function(arena *a, const ql_function *f) {
  Onnx__FunctionProto *p = NEWV(a, Onnx__FunctionProto, 1);
  if (!p) return NULL;
  onnx__function_proto__init(p);
  p->name = S(a, f->name);
  p->domain = S(a, f->domain);
  p->n_input = f->n_inputs;
  p->input = save_strs(a, f->inputs, f->n_inputs);
  p->n_output = f->n_outputs;
  p->output = save_strs(a, f->outputs, f->n_outputs);
  p->n_attribute = f->n_attr_names;
  p->attribute = save_strs(a, f->attr_names, f->n_attr_names);
  p->n_attribute_proto = f->n_attr_defaults;
  if ((p->attribute_proto = NEWV(a, Onnx__AttributeProto *, f->n_attr_defaults + 1)))
    for (size_t i = 0; i < f->n_attr_defaults; i++) p->attribute_proto[i] = save_attr(a, &f->attr_defaults[i]);
  p->n_node = f->n_nodes;
  if ((p->node = NEWV(a, Onnx__NodeProto *, f->n_nodes + 1)))
    for (size_t i = 0; i < f->n_nodes; i++) p->node[i] = save_node(a, f->nodes[i]);
  p->n_opset_import = f->n_opsets;
  p->opset_import = save_opsets(a, f->opsets, f->n_opsets);
  return p;
}

ql_status ql_model_save_memory(const ql_model *m, uint8_t **out, size_t *out_len, ql_error *err) {
  arena a = {.err = err};
  *out = NULL;
  *out_len = 0;
  Onnx__ModelProto *p = NEWV(&a, Onnx__ModelProto, 1);
  if (p) {
    onnx__model_proto__init(p);
    p->has_ir_version = 1;
    p->ir_version = m->ir_version;
    p->has_model_version = m->model_version != 0;
    p->model_version = m->model_version;
    p->producer_name = S(&a, m->producer_name);
    p->producer_version = S(&a, m->producer_version);
    p->domain = S(&a, m->domain);
    p->doc_string = S(&a, m->doc);
    p->n_opset_import = m->n_opsets;
    p->opset_import = save_opsets(&a, m->opsets, m->n_opsets);
    p->n_metadata_props = m->n_metadata;
    if ((p->metadata_props = NEWV(&a, Onnx__StringStringEntryProto *, m->n_metadata + 1)))
      for (size_t i = 0; i < m->n_metadata; i++)
        p->metadata_props[i] = save_kv(&a, m->metadata[i].key, m->metadata[i].value);
    p->n_functions = m->n_functions;
    if ((p->functions = NEWV(&a, Onnx__FunctionProto *, m->n_functions + 1)))
      for (size_t i = 0; i < m->n_functions; i++) p->functions[i] = save_function(&a, &m->functions[i]);
    p->graph = save_graph(&a, m->graph);
  }
  ql_status st = QL_OK;
  if (a.failed || !p) {
    st = a.st && a.st != QL_ERR_OUT_OF_MEMORY ? a.st
                                             : ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory saving the model");
  } else {
    size_t n = onnx__model_proto__get_packed_size(p);
    uint8_t *b = ql_malloc(n ? n : 1);
    if (!b) st = ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory saving the model");
    else {
      onnx__model_proto__pack(p, b);
      *out = b;
      *out_len = n;
    }
  }
  arena_free(&a);
  return st;
}

ql_status ql_write_file_atomic(const char *path, const void *buf, size_t len, ql_error *err) {
  size_t pl = strlen(path);
  char *tmp = ql_malloc(pl + 16);
  if (!tmp) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  snprintf(tmp, pl + 16, "%s.tmpXXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    ql_status st = ql_errf(err, QL_ERR_IO, "cannot create a temporary file beside '%s': %s", path, strerror(errno));
    ql_free(tmp);
    return st;
  }
  /* mkstemp creates 0600; give the file the mode a plain open() would
   * (an existing target keeps its mode) */
  struct stat tst;
  mode_t mode = 0644;
  if (stat(path, &tst) == 0) mode = tst.st_mode & 07777;
  else {
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    unsigned um;
    while (f && fgets(line, sizeof line, f))
      if (sscanf(line, "Umask: %o", &um) == 1) mode = 0666 & ~(mode_t)um;
    if (f) fclose(f);
  }
  fchmod(fd, mode);
  const uint8_t *p = buf;
  size_t done = 0;
  int ok = 1;
  while (done < len) {
    ssize_t w = write(fd, p + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      ok = 0;
      break;
    }
    done += (size_t)w;
  }
  if (ok && fsync(fd)) ok = 0;
  if (close(fd)) ok = 0;
  if (ok && rename(tmp, path)) ok = 0;
  ql_status st = QL_OK;
  if (!ok) {
    st = ql_errf(err, QL_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    unlink(tmp);
  }
  ql_free(tmp);
  return st;
}

ql_status ql_model_save_file(const ql_model *m, const char *path, ql_error *err) {
  if (!m || !path) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "NULL argument");
  uint8_t *b;
  size_t n;
  ql_status st = ql_model_save_memory(m, &b, &n, err);
  if (st) return st;
  st = ql_write_file_atomic(path, b, n, err);
  ql_free(b);
  return st;
}

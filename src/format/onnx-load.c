/* ModelProto -> ql_model. Every string and list is copied into the IR so the
 * protobuf-c message can be freed right after. */
#include "format.h"
#include <libgen.h>
#include <limits.h>

typedef struct {
  ql_load_ctx *c;
  uint64_t nodes;
} loader;

static ql_status oom(loader *L) {
  return ql_errf(L->c->err, QL_ERR_OUT_OF_MEMORY, "out of memory while loading the model");
}

static char *dup_or_empty(const char *s) { return ql_strdup(s ? s : ""); }

static ql_status load_graph(loader *L, const Onnx__GraphProto *gp, uint32_t depth, ql_graph **out);

static ql_status load_value_info(loader *L, const Onnx__ValueInfoProto *vp, ql_value_info *v) {
  memset(v, 0, sizeof *v);
  v->rank = -1;
  if (!(v->name = dup_or_empty(vp->name))) return oom(L);
  const Onnx__TypeProto *tp = vp->type;
  if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) return QL_OK;
  v->is_tensor = 1;
  v->elem_type = tp->tensor_type->elem_type;
  /* consumers index type tables with it */
  if (v->elem_type < 0 || v->elem_type >= QL_DTYPE_COUNT)
    return ql_errf(L->c->err, v->elem_type < 0 ? QL_ERR_INVALID_MODEL : QL_ERR_UNSUPPORTED,
                   "value '%.64s': elem_type %d is not a known ONNX data type", v->name, v->elem_type);
  const Onnx__TensorShapeProto *sh = tp->tensor_type->shape;
  if (!sh) return QL_OK;
  if (sh->n_dim > L->c->lim.max_rank)
    return ql_errf(L->c->err, QL_ERR_LIMIT, "value '%.64s': rank %zu exceeds the limit of %u", v->name,
                   sh->n_dim, L->c->lim.max_rank);
  if (!(v->dims = ql_calloc(sh->n_dim ? sh->n_dim : 1, sizeof *v->dims))) return oom(L);
  v->rank = (int)sh->n_dim;
  for (size_t i = 0; i < sh->n_dim; i++) {
    const Onnx__TensorShapeProto__Dimension *d = sh->dim[i];
    v->dims[i].value = -1;
    if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0)
      v->dims[i].value = d->dim_value;
    else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param &&
             !(v->dims[i].param = ql_strdup(d->dim_param)))
      return oom(L);
  }
  return QL_OK;
}

static ql_status load_vis(loader *L, Onnx__ValueInfoProto **src, size_t n, ql_value_info **dst, size_t *nd) {
  if (!n) return QL_OK;
  if (!(*dst = ql_calloc(n, sizeof **dst))) return oom(L);
  for (size_t i = 0; i < n; i++) {
    *nd = i + 1;
    ql_status st = load_value_info(L, src[i], &(*dst)[i]);
    if (st) return st;
  }
  return QL_OK;
}

static ql_status load_attr(loader *L, const Onnx__AttributeProto *ap, uint32_t depth, ql_attr *a) {
  memset(a, 0, sizeof *a);
  if (!(a->name = dup_or_empty(ap->name))) return oom(L);
  if (ap->ref_attr_name && !(a->ref_attr_name = ql_strdup(ap->ref_attr_name))) return oom(L);
  int type = ap->has_type ? (int)ap->type : 0;
  if (!type) { /* IR < 2: infer from the field that is set */
    if (ap->n_floats) type = QL_ATTR_FLOATS;
    else if (ap->n_ints) type = QL_ATTR_INTS;
    else if (ap->n_strings) type = QL_ATTR_STRINGS;
    else if (ap->n_tensors) type = QL_ATTR_TENSORS;
    else if (ap->n_graphs) type = QL_ATTR_GRAPHS;
    else if (ap->t) type = QL_ATTR_TENSOR;
    else if (ap->g) type = QL_ATTR_GRAPH;
    else if (ap->has_s) type = QL_ATTR_STRING;
    else if (ap->has_i) type = QL_ATTR_INT;
    else if (ap->has_f) type = QL_ATTR_FLOAT;
  }
  a->type = (ql_attr_type)type;
  ql_status st = QL_OK;
  switch (type) {
  case QL_ATTR_FLOAT: a->f = ap->f; break;
  case QL_ATTR_INT: a->i = ap->i; break;
  case QL_ATTR_STRING:
    if (!(a->s = ql_strndup((const char *)ap->s.data, ap->s.len))) return oom(L);
    a->slen = ap->s.len;
    break;
  case QL_ATTR_TENSOR:
    if (!ap->t) return ql_errf(L->c->err, QL_ERR_INVALID_MODEL, "attribute '%.64s' of type TENSOR has no tensor", a->name);
    st = ql_tensor_from_pb(L->c, ap->t, &a->t);
    break;
  case QL_ATTR_GRAPH:
    if (!ap->g) return ql_errf(L->c->err, QL_ERR_INVALID_MODEL, "attribute '%.64s' of type GRAPH has no graph", a->name);
    st = load_graph(L, ap->g, depth + 1, &a->g);
    break;
  case QL_ATTR_FLOATS:
    a->n = ap->n_floats;
    if (!(a->floats = ql_malloc(sizeof(float) * (a->n ? a->n : 1)))) return oom(L);
    if (a->n) memcpy(a->floats, ap->floats, sizeof(float) * a->n);
    break;
  case QL_ATTR_INTS:
    a->n = ap->n_ints;
    if (!(a->ints = ql_malloc(sizeof(int64_t) * (a->n ? a->n : 1)))) return oom(L);
    if (a->n) memcpy(a->ints, ap->ints, sizeof(int64_t) * a->n);
    break;
  case QL_ATTR_STRINGS:
    if (!(a->strings = ql_calloc(ap->n_strings ? ap->n_strings : 1, sizeof(char *)))) return oom(L);
    for (size_t i = 0; i < ap->n_strings; i++) {
      a->n = i + 1;
      if (!(a->strings[i] = ql_strndup((const char *)ap->strings[i].data, ap->strings[i].len))) return oom(L);
    }
    break;
  case QL_ATTR_TENSORS:
    if (!(a->tensors = ql_calloc(ap->n_tensors ? ap->n_tensors : 1, sizeof(ql_tensor *)))) return oom(L);
    for (size_t i = 0; i < ap->n_tensors && !st; i++) {
      a->n = i + 1;
      st = ql_tensor_from_pb(L->c, ap->tensors[i], &a->tensors[i]);
    }
    break;
  case QL_ATTR_GRAPHS:
    if (!(a->graphs = ql_calloc(ap->n_graphs ? ap->n_graphs : 1, sizeof(ql_graph *)))) return oom(L);
    for (size_t i = 0; i < ap->n_graphs && !st; i++) {
      a->n = i + 1;
      st = load_graph(L, ap->graphs[i], depth + 1, &a->graphs[i]);
    }
    break;
  case QL_ATTR_SPARSE_TENSOR: case QL_ATTR_SPARSE_TENSORS: case QL_ATTR_TYPE_PROTO: case QL_ATTR_TYPE_PROTOS: {
    /* The IR does not model these kinds; a->s keeps them as a serialized
     * AttributeProto holding only those fields, so that saving writes them
     * back unchanged (onnx-save.c). */
    Onnx__AttributeProto keep;
    onnx__attribute_proto__init(&keep);
    keep.tp = ap->tp;
    keep.n_type_protos = ap->n_type_protos;
    keep.type_protos = ap->type_protos;
    keep.sparse_tensor = ap->sparse_tensor;
    keep.n_sparse_tensors = ap->n_sparse_tensors;
    keep.sparse_tensors = ap->sparse_tensors;
    size_t len = onnx__attribute_proto__get_packed_size(&keep);
    if (!(a->s = ql_malloc(len + 1))) return oom(L);
    a->slen = onnx__attribute_proto__pack(&keep, (uint8_t *)a->s);
    a->s[a->slen] = 0;
    break;
  }
  default:
    break; /* unknown kinds: kept by name only */
  }
  if (st && depth == 0) ql_err_prefix(L->c->err, "attribute '%.64s'", a->name);
  return st;
}

static ql_status load_node(loader *L, const Onnx__NodeProto *np, uint32_t depth, ql_node **out) {
  *out = NULL;
  if (++L->nodes > L->c->lim.max_nodes)
    return ql_errf(L->c->err, QL_ERR_LIMIT, "the model has more than %llu nodes",
                   (unsigned long long)L->c->lim.max_nodes);
  if (!np->op_type || !*np->op_type)
    return ql_errf(L->c->err, QL_ERR_INVALID_MODEL, "node '%.64s' has no op_type", np->name ? np->name : "");
  ql_node *n = ql_node_new(np->op_type, np->domain, np->name);
  if (!n) return oom(L);
  *out = n;
  if (np->doc_string && !(n->doc = ql_strdup(np->doc_string))) return oom(L);
  for (size_t i = 0; i < np->n_input; i++)
    if (ql_node_add_input(n, np->input[i])) return oom(L);
  for (size_t i = 0; i < np->n_output; i++)
    if (ql_node_add_output(n, np->output[i])) return oom(L);
  if (np->n_attribute) {
    if (!(n->attrs = ql_calloc(np->n_attribute, sizeof *n->attrs))) return oom(L);
    for (size_t i = 0; i < np->n_attribute; i++) {
      n->n_attrs = i + 1;
      ql_status st = load_attr(L, np->attribute[i], depth, &n->attrs[i]);
      /* only the outermost node names the path: one prefix per nesting
       * level would push the cause out of the 512-byte message */
      if (st && depth == 0) ql_err_prefix(L->c->err, "node '%.64s' (%.64s)", n->name, n->op_type);
      if (st) return st;
    }
  }
  return QL_OK;
}

static ql_status load_graph(loader *L, const Onnx__GraphProto *gp, uint32_t depth, ql_graph **out) {
  *out = NULL;
  if (depth > L->c->lim.max_depth)
    return ql_errf(L->c->err, QL_ERR_LIMIT, "subgraphs nested deeper than the limit of %u", L->c->lim.max_depth);
  ql_graph *g = ql_graph_new();
  if (!g) return oom(L);
  *out = g;
  if (!(g->name = dup_or_empty(gp->name))) return oom(L);
  if (gp->doc_string && !(g->doc = ql_strdup(gp->doc_string))) return oom(L);
  ql_status st;
  for (size_t i = 0; i < gp->n_node; i++) {
    ql_node *n;
    st = load_node(L, gp->node[i], depth, &n);
    if (n && ql_graph_add_node(g, n)) {
      ql_node_free(n);
      return oom(L);
    }
    if (st) return st;
  }
  for (size_t i = 0; i < gp->n_initializer; i++) {
    ql_tensor *t;
    if ((st = ql_tensor_from_pb(L->c, gp->initializer[i], &t))) {
      ql_err_prefix(L->c->err, "initializer");
      return st;
    }
    if (!t->name) {
      ql_tensor_free(t);
      return ql_errf(L->c->err, QL_ERR_INVALID_MODEL, "initializer %zu has no name", i);
    }
    if (ql_graph_add_init(g, t)) {
      ql_tensor_free(t);
      return oom(L);
    }
  }
  if (gp->n_sparse_initializer)
    return ql_errf(L->c->err, QL_ERR_UNSUPPORTED, "sparse initializers are not supported");
  if ((st = load_vis(L, gp->input, gp->n_input, &g->inputs, &g->n_inputs))) return st;
  if ((st = load_vis(L, gp->output, gp->n_output, &g->outputs, &g->n_outputs))) return st;
  if ((st = load_vis(L, gp->value_info, gp->n_value_info, &g->value_info, &g->n_value_info))) return st;
  if (gp->n_quantization_annotation) {
    if (!(g->annotations = ql_calloc(gp->n_quantization_annotation, sizeof *g->annotations))) return oom(L);
    for (size_t i = 0; i < gp->n_quantization_annotation; i++) {
      const Onnx__TensorAnnotation *ta = gp->quantization_annotation[i];
      ql_annotation *a = &g->annotations[i];
      g->n_annotations = i + 1;
      if (!(a->tensor_name = dup_or_empty(ta->tensor_name))) return oom(L);
      if (ta->n_quant_parameter_tensor_names &&
          !(a->params = ql_calloc(ta->n_quant_parameter_tensor_names, sizeof *a->params)))
        return oom(L);
      for (size_t k = 0; k < ta->n_quant_parameter_tensor_names; k++) {
        a->n = k + 1;
        const Onnx__StringStringEntryProto *e = ta->quant_parameter_tensor_names[k];
        if (!(a->params[k].key = dup_or_empty(e->key)) || !(a->params[k].value = dup_or_empty(e->value)))
          return oom(L);
      }
    }
  }
  return QL_OK;
}

static ql_status load_opsets(loader *L, Onnx__OperatorSetIdProto **src, size_t n, ql_opset **dst, size_t *nd) {
  if (!n) return QL_OK;
  if (!(*dst = ql_calloc(n, sizeof **dst))) return oom(L);
  for (size_t i = 0; i < n; i++) {
    *nd = i + 1;
    if (!((*dst)[i].domain = dup_or_empty(src[i]->domain))) return oom(L);
    (*dst)[i].version = src[i]->version;
  }
  return QL_OK;
}

static ql_status load_function(loader *L, const Onnx__FunctionProto *fp, ql_function *f) {
  if (!(f->name = dup_or_empty(fp->name)) || !(f->domain = dup_or_empty(fp->domain))) return oom(L);
  if (!(f->inputs = ql_calloc(fp->n_input + 1, sizeof(char *))) ||
      !(f->outputs = ql_calloc(fp->n_output + 1, sizeof(char *))) ||
      !(f->attr_names = ql_calloc(fp->n_attribute + 1, sizeof(char *))) ||
      !(f->attr_defaults = ql_calloc(fp->n_attribute_proto + 1, sizeof(ql_attr))) ||
      !(f->nodes = ql_calloc(fp->n_node + 1, sizeof(ql_node *))))
    return oom(L);
  for (size_t i = 0; i < fp->n_input; i++, f->n_inputs++)
    if (!(f->inputs[i] = dup_or_empty(fp->input[i]))) return oom(L);
  for (size_t i = 0; i < fp->n_output; i++, f->n_outputs++)
    if (!(f->outputs[i] = dup_or_empty(fp->output[i]))) return oom(L);
  for (size_t i = 0; i < fp->n_attribute; i++, f->n_attr_names++)
    if (!(f->attr_names[i] = dup_or_empty(fp->attribute[i]))) return oom(L);
  ql_status st;
  for (size_t i = 0; i < fp->n_attribute_proto; i++) {
    f->n_attr_defaults = i + 1;
    if ((st = load_attr(L, fp->attribute_proto[i], 0, &f->attr_defaults[i]))) return st;
  }
  for (size_t i = 0; i < fp->n_node; i++) {
    st = load_node(L, fp->node[i], 0, &f->nodes[i]);
    if (f->nodes[i]) f->n_nodes = i + 1;
    if (st) {
      ql_err_prefix(L->c->err, "function '%.64s'", f->name);
      return st;
    }
  }
  return load_opsets(L, fp->opset_import, fp->n_opset_import, &f->opsets, &f->n_opsets);
}

static ql_status load_model(loader *L, const Onnx__ModelProto *mp, ql_model *m) {
  m->ir_version = mp->ir_version;
  m->model_version = mp->model_version;
  if ((mp->producer_name && !(m->producer_name = ql_strdup(mp->producer_name))) ||
      (mp->producer_version && !(m->producer_version = ql_strdup(mp->producer_version))) ||
      (mp->domain && !(m->domain = ql_strdup(mp->domain))) ||
      (mp->doc_string && !(m->doc = ql_strdup(mp->doc_string))))
    return oom(L);
  ql_status st = load_opsets(L, mp->opset_import, mp->n_opset_import, &m->opsets, &m->n_opsets);
  if (st) return st;
  if (mp->n_metadata_props) {
    if (!(m->metadata = ql_calloc(mp->n_metadata_props, sizeof *m->metadata))) return oom(L);
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
      m->n_metadata = i + 1;
      if (!(m->metadata[i].key = dup_or_empty(mp->metadata_props[i]->key)) ||
          !(m->metadata[i].value = dup_or_empty(mp->metadata_props[i]->value)))
        return oom(L);
    }
  }
  if (mp->n_functions) {
    if (!(m->functions = ql_calloc(mp->n_functions, sizeof *m->functions))) return oom(L);
    for (size_t i = 0; i < mp->n_functions; i++) {
      m->n_functions = i + 1;
      if ((st = load_function(L, mp->functions[i], &m->functions[i]))) return st;
    }
  }
  if (!mp->graph) return ql_errf(L->c->err, QL_ERR_INVALID_MODEL, "the model has no graph");
  if (mp->ir_version < 3 && mp->ir_version != 0)
    return ql_errf(L->c->err, QL_ERR_UNSUPPORTED, "IR version %lld is older than 3 (no opset_import)",
                   (long long)mp->ir_version);
  if ((st = load_graph(L, mp->graph, 0, &m->graph))) return st;
  return ql_graph_check(m->graph, L->c->err);
}

ql_status ql_model_load_memory(const void *buf, size_t len, const char *base_dir, const ql_limits *limits,
                               ql_model **out, ql_error *err) {
  if (!out || (!buf && len)) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "NULL argument");
  *out = NULL;
  ql_load_ctx c = {.base_dir = base_dir, .err = err};
  ql_limits_fill(&c.lim, limits);
  if (len == 0) return ql_errf(err, QL_ERR_INVALID_MODEL, "the model is empty (0 bytes)");
  if (len > c.lim.max_file_bytes)
    return ql_errf(err, QL_ERR_LIMIT, "the model is %zu bytes, over the limit of %llu", len,
                   (unsigned long long)c.lim.max_file_bytes);
  ql_status st = ql_pb_check_depth(buf, len, &c.lim, err);
  if (st) return st;
  int pb_oom = 0;
  ProtobufCAllocator al = ql_pb_allocator_flag(&pb_oom);
  Onnx__ModelProto *mp = onnx__model_proto__unpack(&al, len, buf);
  if (!mp && pb_oom) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory decoding the model");
  if (!mp)
    return ql_errf(err, QL_ERR_INVALID_MODEL,
                   "not a valid ONNX model: protobuf decoding failed (a field has the wrong wire type, or a "
                   "packed field or string is malformed)");
  ql_model *m = ql_model_new();
  loader L = {.c = &c};
  if (!m) st = oom(&L);
  else if (base_dir && !(m->base_dir = ql_strdup(base_dir))) st = oom(&L);
  else st = load_model(&L, mp, m);
  onnx__model_proto__free_unpacked(mp, &al);
  if (st) {
    ql_model_free(m);
    return st;
  }
  *out = m;
  return QL_OK;
}

ql_status ql_model_load_file(const char *path, const ql_limits *limits, ql_model **out, ql_error *err) {
  if (!path || !out) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "NULL argument");
  *out = NULL;
  ql_limits lim;
  ql_limits_fill(&lim, limits);
  uint8_t *buf;
  size_t len;
  ql_status st = ql_read_file(path, lim.max_file_bytes, &buf, &len, err);
  if (st) return st;
  char dir[PATH_MAX];
  if ((size_t)snprintf(dir, sizeof dir, "%s", path) >= sizeof dir) {
    ql_free(buf);
    return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "model path is longer than %d bytes", PATH_MAX - 1);
  }
  st = ql_model_load_memory(buf, len, dirname(dir), &lim, out, err);
  ql_free(buf);
  if (st) ql_err_prefix(err, "%s", path);
  return st;
}

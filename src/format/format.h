/* The ONNX wire format: protobuf-c structs <-> the IR. */
#ifndef QL_FORMAT_H
#define QL_FORMAT_H

#include "../ir/ir.h"
#include "onnx.pb-c.h"

typedef struct ql_load_ctx {
  ql_limits lim;
  const char *base_dir;   /* NULL: external data forbidden */
  uint64_t total_bytes;   /* initializer bytes so far */
  ql_error *err;
} ql_load_ctx;

void ql_limits_fill(ql_limits *out, const ql_limits *in);
extern ProtobufCAllocator ql_pb_allocator;
/* The same allocator, setting *oom when an allocation fails. */
ProtobufCAllocator ql_pb_allocator_flag(int *oom);

/* TensorProto -> tensor (decodes every storage form, external data too). */
ql_status ql_tensor_from_pb(ql_load_ctx *c, const Onnx__TensorProto *p, ql_tensor **out);
/* Structural rules of a loaded graph (SSA, every name defined, no cycle),
 * subgraphs included; outer is NULL for the main graph. */
ql_status ql_graph_check(const ql_graph *g, ql_error *err);
/* tensor -> TensorProto (raw_data, little-endian, sub-byte types packed).
 * Free with ql_tensor_pb_free. */
ql_status ql_tensor_to_pb(const ql_tensor *t, Onnx__TensorProto **out, ql_error *err);
void ql_tensor_pb_free(Onnx__TensorProto *p);

/* Pre-checks the wire structure, the nesting depth and the node count of the
 * bytes before protobuf-c recurses into them. */
ql_status ql_pb_check_depth(const uint8_t *buf, size_t len, const ql_limits *lim, ql_error *err);
ql_status ql_pb_check_tensor(const uint8_t *buf, size_t len, ql_error *err);

/* Read a whole file, bounded by max_bytes. */
ql_status ql_read_file(const char *path, uint64_t max_bytes, uint8_t **buf, size_t *len, ql_error *err);

ql_status ql_model_save_memory(const ql_model *m, uint8_t **out, size_t *len, ql_error *err);
/* Writes to a temporary file in the same directory, then renames. */
ql_status ql_write_file_atomic(const char *path, const void *buf, size_t len, ql_error *err);

#endif

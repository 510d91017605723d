/* A tiny protobuf writer for tests: builds ONNX messages byte by byte so a
 * test can say exactly what is on the wire, hostile forms included (wrong
 * wire types, lengths that lie, nesting no encoder would produce). Header
 * only; test files include it. Allocation failures abort the test binary
 * (plain malloc, never the library's allocator, so fault injection does not
 * reach it). */
#ifndef QL_TEST_PB_BUILD_H
#define QL_TEST_PB_BUILD_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct pb {
  uint8_t *p;
  size_t n, cap;
} pb;

static inline void pb_put(pb *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    size_t c = b->cap ? b->cap : 64;
    while (c < b->n + n) c *= 2;
    b->p = realloc(b->p, c);
    if (!b->p) abort();
    b->cap = c;
  }
  if (n) memcpy(b->p + b->n, d, n);
  b->n += n;
}
static inline void pb_varint(pb *b, uint64_t v) {
  uint8_t t[10];
  size_t n = 0;
  do {
    t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  pb_put(b, t, n);
}
static inline void pb_key(pb *b, unsigned field, unsigned wt) { pb_varint(b, ((uint64_t)field << 3) | wt); }
static inline void pb_int(pb *b, unsigned field, int64_t v) {
  pb_key(b, field, 0);
  pb_varint(b, (uint64_t)v);
}
static inline void pb_f32(pb *b, unsigned field, float f) {
  pb_key(b, field, 5);
  pb_put(b, &f, 4);
}
static inline void pb_bytes(pb *b, unsigned field, const void *d, size_t n) {
  pb_key(b, field, 2);
  pb_varint(b, n);
  pb_put(b, d, n);
}
static inline void pb_str(pb *b, unsigned field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
/* Appends child as a length-delimited field and frees it. */
static inline void pb_msg(pb *b, unsigned field, pb *child) {
  pb_bytes(b, field, child->p, child->n);
  free(child->p);
  memset(child, 0, sizeof *child);
}
static inline void pb_free(pb *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* ---- ONNX messages (field numbers from onnx.proto) */

/* TensorProto with dims and raw_data (raw may be NULL: no data field). */
static inline pb pb_tensor_raw(const char *name, int dtype, int rank, const int64_t *dims, const void *raw,
                               size_t raw_len) {
  pb t = {0};
  for (int i = 0; i < rank; i++) pb_int(&t, 1, dims[i]);
  pb_int(&t, 2, dtype);
  if (name) pb_str(&t, 8, name);
  if (raw) pb_bytes(&t, 9, raw, raw_len);
  return t;
}

/* TypeProto.tensor of a ValueInfoProto; rank < 0: no shape. */
static inline pb pb_value_info(const char *name, int elem, int rank, const int64_t *dims) {
  pb shape = {0}, tt = {0}, tp = {0}, vi = {0};
  pb_int(&tt, 1, elem);
  if (rank >= 0) {
    for (int i = 0; i < rank; i++) {
      pb d = {0};
      pb_int(&d, 1, dims[i]);
      pb_msg(&shape, 1, &d);
    }
    pb_msg(&tt, 2, &shape);
  }
  pb_msg(&tp, 1, &tt);
  pb_str(&vi, 1, name);
  pb_msg(&vi, 2, &tp);
  return vi;
}

/* NodeProto; inputs/outputs NULL-terminated lists; attrs may be NULL. */
static inline pb pb_node(const char *op, const char *name, const char *const *in, const char *const *out,
                         pb *attrs, int n_attrs) {
  pb n = {0};
  for (; in && *in; in++) pb_str(&n, 1, *in);
  for (; out && *out; out++) pb_str(&n, 2, *out);
  if (name) pb_str(&n, 3, name);
  pb_str(&n, 4, op);
  for (int i = 0; i < n_attrs; i++) pb_msg(&n, 5, &attrs[i]);
  return n;
}

static inline pb pb_attr_graph(const char *name, pb *graph) {
  pb a = {0};
  pb_str(&a, 1, name);
  pb_msg(&a, 6, graph);
  pb_int(&a, 20, 5); /* GRAPH */
  return a;
}

/* ModelProto around a GraphProto: IR 8, ai.onnx opset `opset`. */
static inline pb pb_model(pb *graph, int64_t opset) {
  pb m = {0}, os = {0};
  pb_int(&m, 1, 8);
  pb_str(&m, 2, "qlinear-test");
  if (graph) pb_msg(&m, 7, graph);
  pb_str(&os, 1, "");
  pb_int(&os, 2, opset);
  pb_msg(&m, 8, &os);
  return m;
}

/* A graph "x -> Identity -> y" plus, when init is not NULL, one initializer
 * `w` described by the given tensor message (consumed), output as "w_out"
 * through a second Identity so that it is used. */
static inline pb pb_graph_with_init(pb *init) {
  pb g = {0};
  static const char *const in1[] = {"x", NULL}, *const out1[] = {"y", NULL};
  static const char *const in2[] = {"w", NULL}, *const out2[] = {"w_out", NULL};
  pb n1 = pb_node("Identity", "id_x", in1, out1, NULL, 0);
  pb_msg(&g, 1, &n1);
  if (init) {
    pb n2 = pb_node("Identity", "id_w", in2, out2, NULL, 0);
    pb_msg(&g, 1, &n2);
  }
  pb_str(&g, 2, "g");
  if (init) pb_msg(&g, 5, init);
  int64_t d = 2;
  pb vx = pb_value_info("x", 1, 1, &d), vy = pb_value_info("y", 1, 1, &d);
  pb_msg(&g, 11, &vx);
  pb_msg(&g, 12, &vy);
  if (init) {
    pb vw = pb_value_info("w_out", 1, -1, NULL);
    pb_msg(&g, 12, &vw);
  }
  return g;
}

#endif

/* protobuf-c unpacks nested messages recursively with no depth bound, so a
 * hostile model with deeply nested subgraphs or types could exhaust the
 * stack. This walker follows only the recursive paths of the ONNX schema,
 * iteratively, and rejects the bytes before protobuf-c sees them. Messages
 * off those paths (TensorProto, TensorShapeProto, ...) nest a bounded number
 * of levels by the schema itself, so skipping them is safe.
 *
 * It also counts NodeProtos: an empty node costs 2 bytes in the file but a
 * few hundred in protobuf-c's structs, so the node limit has to be enforced
 * before unpacking, not after. */
#include "format.h"

enum { M_NONE, M_MODEL, M_GRAPH, M_NODE, M_ATTR, M_VI, M_TYPE, M_SEQ, M_MAP, M_OPT, M_FUNC, M_TRAIN, M_TENSOR };

static int child(int msg, uint32_t field) {
  switch (msg) {
  case M_MODEL: return field == 7 ? M_GRAPH : field == 25 ? M_FUNC : field == 20 ? M_TRAIN : M_NONE;
  case M_TRAIN: return (field == 1 || field == 2) ? M_GRAPH : M_NONE;
  case M_GRAPH: return field == 1 ? M_NODE : (field >= 11 && field <= 13) ? M_VI : M_NONE;
  case M_NODE: return field == 5 ? M_ATTR : M_NONE;
  case M_FUNC: return field == 7 ? M_NODE : field == 11 ? M_ATTR : field == 12 ? M_VI : M_NONE;
  case M_ATTR: return (field == 6 || field == 11) ? M_GRAPH : (field == 14 || field == 15) ? M_TYPE : M_NONE;
  case M_VI: return field == 2 ? M_TYPE : M_NONE;
  case M_TYPE: return field == 4 ? M_SEQ : field == 5 ? M_MAP : field == 9 ? M_OPT : M_NONE;
  case M_SEQ: case M_OPT: return field == 1 ? M_TYPE : M_NONE;
  case M_MAP: return field == 2 ? M_TYPE : M_NONE;
  default: return M_NONE;
  }
}

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t r = 0;
  for (int s = 0; s < 70; s += 7) {
    if (*p >= end) return -1;
    uint8_t b = *(*p)++;
    r |= (uint64_t)(b & 0x7f) << (s < 64 ? s : 63);
    if (!(b & 0x80)) {
      *v = r;
      return 0;
    }
  }
  return -1;
}

static ql_status walk(const uint8_t *buf, size_t len, int root, uint32_t max_graph_depth, uint64_t max_nodes,
                      ql_error *err) {
  uint64_t nodes = 0;
  /* a graph nesting costs 3 message levels, a type nesting 2 */
  uint64_t max = (uint64_t)max_graph_depth * 3 + 12;
  struct frame { const uint8_t *end; int msg; } st[256];
  if (max > 255) max = 255;
  int top = 0;
  const uint8_t *p = buf;
  st[0].end = buf + len;
  st[0].msg = root;
  for (;;) {
    while (top > 0 && p == st[top].end) top--;
    if (p == st[top].end) return QL_OK;
    uint64_t key, v;
    if (varint(&p, st[top].end, &key)) goto bad;
    uint32_t field = (uint32_t)(key >> 3), wt = key & 7;
    if (field == 0) goto bad;
    switch (wt) {
    case 0: if (varint(&p, st[top].end, &v)) goto bad; break;
    case 1: if (st[top].end - p < 8) goto bad; p += 8; break;
    case 5: if (st[top].end - p < 4) goto bad; p += 4; break;
    case 2: {
      if (varint(&p, st[top].end, &v) || v > (uint64_t)(st[top].end - p)) goto bad;
      int c = child(st[top].msg, field);
      if (c == M_NONE) {
        p += v;
      } else {
        if ((uint32_t)top + 1 >= max)
          return ql_errf(err, QL_ERR_LIMIT,
                         "model nesting (subgraphs or types) is deeper than the limit of %u graph levels",
                         max_graph_depth);
        if (c == M_NODE && ++nodes > max_nodes)
          return ql_errf(err, QL_ERR_LIMIT, "the model has more than %llu nodes", (unsigned long long)max_nodes);
        top++;
        st[top].end = p + v;
        st[top].msg = c;
      }
      break;
    }
    default: goto bad;
    }
  }
bad:
  return ql_errf(err, QL_ERR_INVALID_MODEL,
                 "not a valid ONNX protobuf: bad field key, wire type or length at byte %zu",
                 (size_t)(p - buf));
}

ql_status ql_pb_check_depth(const uint8_t *buf, size_t len, const ql_limits *lim, ql_error *err) {
  return walk(buf, len, M_MODEL, lim->max_depth, lim->max_nodes, err);
}

ql_status ql_pb_check_tensor(const uint8_t *buf, size_t len, ql_error *err) {
  return walk(buf, len, M_TENSOR, 1, 0, err);
}

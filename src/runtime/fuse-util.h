/* Name maps and small graph queries shared by the fusions (fuse.c,
 * fuse-dynamic.c). Internal to the runtime. */
#ifndef QL_RUNTIME_FUSE_UTIL_H
#define QL_RUNTIME_FUSE_UTIL_H

#include "../common/strmap.h"
#include "../ir/ir.h"

/* (Re)builds, for graph g, prod: value -> index of the node making it, and
 * readers: value -> number of readers, where a graph output and every value
 * a nested graph reads (outer-scope capture) count as readers. Both maps are
 * freed first; their keys borrow the nodes' strings. *nested (may be NULL)
 * is set when some node has a subgraph. */
ql_status ql_fuse_build_maps(const ql_graph *g, ql_strmap *prod, ql_strmap *readers, int *nested);

/* Frees both maps and leaves them empty. */
void ql_fuse_maps_clear(ql_strmap *prod, ql_strmap *readers);

/* The number of readers of name (0 when unknown). */
int ql_fuse_readers(const ql_strmap *readers, const char *name);

/* The index of the node making name in g; -1 for none or the empty name. */
int ql_fuse_producer_index(const ql_strmap *prod, const char *name);

/* The node making name; NULL for a graph input, initializer or "". */
ql_node *ql_fuse_producer(const ql_graph *g, const ql_strmap *prod, const char *name);

/* n is the default-domain op `op` (n may be NULL). */
int ql_fuse_is_op(const ql_node *n, const char *op);

/* Input i of n, "" when n has fewer inputs. */
const char *ql_fuse_in_name(const ql_node *n, size_t i);

/* The value of an initializer or Constant(value=tensor); NULL otherwise. */
const ql_tensor *ql_fuse_const_value(const ql_graph *g, const ql_strmap *prod, const char *name);

#endif

/* A small persistent pthread pool for data-parallel loops over 2-D tile
 * grids (pthreadpool's compute_2d_tiled). Results are deterministic as long
 * as each tile writes its own outputs: which thread runs a tile never
 * matters, only that each tile runs exactly once. */
#ifndef QL_RUNTIME_THREADPOOL_H
#define QL_RUNTIME_THREADPOOL_H

#include "qlinear.h"
#include <stddef.h>

typedef struct ql_threadpool ql_threadpool;

/* fn(ctx, thread, i0, j0, ni, nj) computes the tile [i0, i0+ni) x
 * [j0, j0+nj). thread, in [0, ql_threadpool_size(pool)), names the pool
 * thread running it (0: the caller) so that a task can use that thread's
 * scratch (ql_op_thread_scratch): no two tasks with the same thread index
 * ever run at once (pthreadpool's "with_thread" variants). */
typedef void (*ql_task_2d_fn)(void *ctx, size_t thread, size_t i0, size_t j0, size_t ni, size_t nj);

/* n_threads counts the caller, which works too: n_threads - 1 workers are
 * started. n_threads <= 1 gives a pool that runs everything inline. */
ql_status ql_threadpool_create(int n_threads, ql_threadpool **out, ql_error *err);
void ql_threadpool_free(ql_threadpool *pool); /* NULL ok; joins the workers */
int ql_threadpool_size(const ql_threadpool *pool); /* 1 for NULL */

/* Runs fn over the tiles of [0, range_i) x [0, range_j) (tile_i x tile_j,
 * the last ones clipped) and returns when all are done. pool may be NULL
 * (inline). Calls from inside a task, or concurrent calls on one pool from
 * several threads, are safe: a nested call runs inline and concurrent ones
 * take turns. */
void ql_threadpool_parallel_for_2d(ql_threadpool *pool, ql_task_2d_fn fn, void *ctx, size_t range_i,
                                   size_t range_j, size_t tile_i, size_t tile_j);

#endif

/* Scratch memory for the ops of a run (see ql_op_scratch in ops/op.h).
 *
 * A run state owns one ql_scratch. Op-level blocks come from a bump region
 * used as a stack: the runtime marks it before an op and releases to the
 * mark after, so nested ops (an If/Loop body inside its op) stack on top of
 * their caller's blocks. A request that does not fit the region is served
 * from the heap and freed at the release; the region is then regrown, while
 * no op holds a block, to the most the run has needed at once. Each pool
 * thread also has one block of its own that tasks reuse; at the same idle
 * points every thread's block grows to the largest any thread has needed,
 * since which thread takes which task varies. So once a run with
 * the same shapes has completed, later runs allocate nothing, as with the
 * value arena. */
#ifndef QL_SCRATCH_H
#define QL_SCRATCH_H

#include <stddef.h>

typedef struct ql_scratch_spill ql_scratch_spill;
typedef struct ql_scratch_block {
  void *p;
  size_t cap;
} ql_scratch_block;

typedef struct ql_scratch {
  unsigned char *base;
  size_t cap, used;
  size_t live;          /* used + the spilled blocks' bytes */
  size_t want;          /* the most live has been: the region's next size */
  ql_scratch_spill *spill; /* heap blocks, newest first */
  size_t n_threads;
  ql_scratch_block *thr;   /* n_threads */
} ql_scratch;

typedef struct ql_scratch_mark {
  size_t used, live;
  ql_scratch_spill *spill;
} ql_scratch_mark;

/* n_threads: the size of the pool the run's tasks use (>= 1). 0 or -1. */
int ql_scratch_init(ql_scratch *s, size_t n_threads);
void ql_scratch_free(ql_scratch *s);
ql_scratch_mark ql_scratch_begin(const ql_scratch *s);
void ql_scratch_release(ql_scratch *s, ql_scratch_mark m);
/* 64-byte aligned, valid until the release of a mark taken before; as with
 * ql_malloc_aligned, 64 bytes past the end may be read. NULL when out of
 * memory. */
void *ql_scratch_get(ql_scratch *s, size_t bytes);
/* Thread `thread`'s block, at least `bytes`; the previous contents are
 * lost when it grows. NULL when out of memory or thread is out of range. */
void *ql_scratch_thread(ql_scratch *s, size_t thread, size_t bytes);

#endif

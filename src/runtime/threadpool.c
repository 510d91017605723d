/* Persistent workers sleep on a condition variable between jobs; a job is a
 * tile grid cut into one contiguous share per thread. Each thread works
 * through its own share first, then takes what is left of the others' (each
 * share is an atomic counter, so a thread slowed by another process on a
 * shared core does not hold the others back). Own shares first keep a thread
 * on the same rows from call to call and op to op, so the lines it writes and
 * reads stay in its core's caches (128x768x768 MatMulInteger on 2 threads:
 * 0.037-0.045 -> 0.031-0.034 ms against one counter for all tiles, whose tiles
 * went to either thread from call to call). The caller takes tiles too and
 * then waits only for the workers that joined the job: a worker that wakes
 * after the caller has closed the job (all tiles taken) skips it, so a
 * descheduled worker on a busy machine never makes the caller wait for its
 * wake-up. A worker that finishes a job polls for the next one for about half
 * a millisecond before it sleeps: the ops of one run, and often the runs
 * themselves, follow each other closely, and a futex wake-up on a busy VM took
 * longer than a small op (measured: a 128x768x768 MatMulInteger on 2 threads
 * went from 0.17 to 0.06 ms with 0.6 ms of polling instead of 20 us). ONNX
 * Runtime's and pthreadpool's workers spin likewise. */
#include "threadpool.h"
#include "../common/util.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct worker_arg {
  struct ql_threadpool *pool;
  size_t index;
} worker_arg;

struct ql_threadpool {
  int n_threads;
  pthread_t *workers;
  struct worker_arg *args;
  int n_started;
  pthread_mutex_t call_lock; /* one job at a time */
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  uint64_t generation; /* bumped per job, under lock */
  atomic_uint_fast64_t gen_seen; /* generation, also published for spinning workers */
  int stop;
  int open;            /* the current job still accepts workers, under lock */
  atomic_int joined;   /* workers inside the current job; changed under lock, polled without */
  /* the current job */
  ql_task_2d_fn fn;
  void *ctx;
  size_t range_i, range_j, tile_i, tile_j, tiles_j, n_tiles;
  struct share *shares; /* n_threads of them */
};

/* The tiles [next, end) of one thread's share not yet taken; a line each,
 * as every thread takes from every share. */
typedef struct share {
  _Alignas(64) atomic_size_t next;
  size_t end;
} share;

/* Set while this thread runs tiles of a job: a nested call then runs inline,
 * keeping the thread index it has in the outer job. */
static _Thread_local int t_in_task;
static _Thread_local const ql_threadpool *t_pool; /* the pool of that job */
static _Thread_local size_t t_thread;

static void run_tiles(ql_threadpool *p, size_t thread) {
  const size_t n = (size_t)p->n_threads;
  for (size_t k = 0; k < n; k++) {
    share *sh = &p->shares[(thread + k) % n];
    for (;;) {
      size_t t = atomic_fetch_add_explicit(&sh->next, 1, memory_order_relaxed);
      if (t >= sh->end) break;
      size_t i0 = (t / p->tiles_j) * p->tile_i, j0 = (t % p->tiles_j) * p->tile_j;
      size_t ni = p->range_i - i0 < p->tile_i ? p->range_i - i0 : p->tile_i;
      size_t nj = p->range_j - j0 < p->tile_j ? p->range_j - j0 : p->tile_j;
      p->fn(p->ctx, thread, i0, j0, ni, nj);
    }
  }
}

#define QL_POOL_SPIN 25000 /* pause instructions: about 0.5 ms on Sapphire Rapids */

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Polls (without the lock) until a job after `seen` is published; the
 * caller re-checks under the lock, so a miss only means sleeping. */
static void spin_for_job(ql_threadpool *p, uint64_t seen) {
  for (int i = 0; i < QL_POOL_SPIN; i++) {
    if (atomic_load_explicit(&p->gen_seen, memory_order_relaxed) != seen) return;
    cpu_relax();
  }
}

static void *worker_main(void *arg) {
  ql_threadpool *p = ((worker_arg *)arg)->pool;
  const size_t index = ((worker_arg *)arg)->index;
  uint64_t seen = 0;
  t_in_task = 1; /* anything a task calls on a pool runs inline */
  t_pool = p;
  t_thread = index;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
    if (p->stop) break;
    seen = p->generation;
    if (p->open) {
      atomic_fetch_add(&p->joined, 1);
      pthread_mutex_unlock(&p->lock);
      run_tiles(p, index);
      pthread_mutex_lock(&p->lock);
      if (atomic_fetch_sub(&p->joined, 1) == 1) pthread_cond_signal(&p->done);
    }
    /* a worker that woke too late for this job polls too: sleeping at once
     * made it late for every other job (a futex wake-up per two runs) */
    if (!p->stop && p->generation == seen) {
      pthread_mutex_unlock(&p->lock);
      spin_for_job(p, seen);
      pthread_mutex_lock(&p->lock);
    }
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

ql_status ql_threadpool_create(int n_threads, ql_threadpool **out, ql_error *err) {
  *out = NULL;
  if (n_threads < 1) n_threads = 1;
  ql_threadpool *p = ql_calloc(1, sizeof *p);
  if (!p) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory creating a thread pool");
  p->n_threads = n_threads;
  pthread_mutex_init(&p->call_lock, NULL);
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  atomic_init(&p->gen_seen, 0);
  atomic_init(&p->joined, 0);
  p->shares = ql_malloc_aligned((size_t)n_threads * sizeof *p->shares);
  if (!p->shares) {
    ql_threadpool_free(p);
    return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory creating a thread pool");
  }
  for (int i = 0; i < n_threads; i++) atomic_init(&p->shares[i].next, 0);
  if (n_threads > 1) {
    p->workers = ql_calloc((size_t)n_threads - 1, sizeof *p->workers);
    p->args = ql_calloc((size_t)n_threads - 1, sizeof *p->args);
    if (!p->workers || !p->args) {
      ql_threadpool_free(p);
      return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory creating a thread pool");
    }
    for (int i = 0; i < n_threads - 1; i++) {
      p->args[i] = (worker_arg){p, (size_t)i + 1};
      if (pthread_create(&p->workers[i], NULL, worker_main, &p->args[i]) != 0) {
        ql_threadpool_free(p);
        return ql_errf(err, QL_ERR_INTERNAL, "cannot start thread %d of %d", i + 2, n_threads);
      }
      p->n_started++;
    }
  }
  *out = p;
  return QL_OK;
}

void ql_threadpool_free(ql_threadpool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->stop = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i], NULL);
  ql_free(p->workers);
  ql_free(p->args);
  ql_free_aligned(p->shares);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->lock);
  pthread_mutex_destroy(&p->call_lock);
  ql_free(p);
}

int ql_threadpool_size(const ql_threadpool *p) { return p ? p->n_threads : 1; }

static void run_inline(ql_task_2d_fn fn, void *ctx, size_t thread, size_t ri, size_t rj, size_t ti, size_t tj) {
  for (size_t i = 0; i < ri; i += ti)
    for (size_t j = 0; j < rj; j += tj) fn(ctx, thread, i, j, ri - i < ti ? ri - i : ti, rj - j < tj ? rj - j : tj);
}

void ql_threadpool_parallel_for_2d(ql_threadpool *p, ql_task_2d_fn fn, void *ctx, size_t range_i,
                                   size_t range_j, size_t tile_i, size_t tile_j) {
  if (range_i == 0 || range_j == 0) return;
  if (tile_i == 0) tile_i = 1;
  if (tile_j == 0) tile_j = 1;
  size_t tiles_i = (range_i + tile_i - 1) / tile_i, tiles_j = (range_j + tile_j - 1) / tile_j;
  if (!p || p->n_started == 0 || t_in_task || tiles_i * tiles_j == 1) {
    /* inside a task of this pool: that task's thread; else the caller's 0 */
    run_inline(fn, ctx, t_in_task && t_pool == p ? t_thread : 0, range_i, range_j, tile_i, tile_j);
    return;
  }
  pthread_mutex_lock(&p->call_lock);
  pthread_mutex_lock(&p->lock);
  p->fn = fn;
  p->ctx = ctx;
  p->range_i = range_i;
  p->range_j = range_j;
  p->tile_i = tile_i;
  p->tile_j = tile_j;
  p->tiles_j = tiles_j;
  p->n_tiles = tiles_i * tiles_j;
  const size_t n = (size_t)p->n_threads;
  for (size_t t = 0, q = p->n_tiles / n, r = p->n_tiles % n; t < n; t++) {
    atomic_store_explicit(&p->shares[t].next, t * q + (t < r ? t : r), memory_order_relaxed);
    p->shares[t].end = (t + 1) * q + (t + 1 < r ? t + 1 : r);
  }
  p->open = 1;
  p->generation++;
  atomic_store_explicit(&p->gen_seen, p->generation, memory_order_relaxed);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  t_in_task = 1;
  t_pool = p;
  t_thread = 0;
  run_tiles(p, 0);
  t_in_task = 0;
  t_pool = NULL;
  pthread_mutex_lock(&p->lock);
  p->open = 0; /* every tile is taken: late wakers skip this job */
  pthread_mutex_unlock(&p->lock);
  /* the workers still inside are on their last tiles: poll before sleeping,
   * as a futex wake-up on this VM costs more than a small tile (it was 1.5
   * context switches per run of a 0.04 ms MatMulInteger on 2 threads) */
  for (int i = 0; i < QL_POOL_SPIN / 10 && atomic_load_explicit(&p->joined, memory_order_acquire) > 0; i++)
    cpu_relax();
  pthread_mutex_lock(&p->lock);
  while (atomic_load(&p->joined) > 0) pthread_cond_wait(&p->done, &p->lock);
  pthread_mutex_unlock(&p->lock);
  pthread_mutex_unlock(&p->call_lock);
}

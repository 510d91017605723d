#include "scratch.h"
#include "util.h"

struct ql_scratch_spill {
  ql_scratch_spill *next;
  /* the block follows, 64-byte aligned by ql_malloc_aligned's contract */
};
#define SPILL_HDR 64

/* A block's size: whole cache lines, and 64 bytes past the end that a
 * kernel may read (whole vectors), as ql_malloc_aligned guarantees; 0 on
 * overflow. */
static size_t block_bytes(size_t n) { return n > SIZE_MAX - 127 ? 0 : (n + 127) & ~(size_t)63; }

int ql_scratch_init(ql_scratch *s, size_t n_threads) {
  memset(s, 0, sizeof *s);
  if (n_threads < 1) n_threads = 1;
  if (!(s->thr = ql_calloc(n_threads, sizeof *s->thr))) return -1;
  s->n_threads = n_threads;
  return 0;
}

static void drop_spills(ql_scratch *s, const ql_scratch_spill *keep) {
  while (s->spill && s->spill != keep) {
    ql_scratch_spill *sp = s->spill;
    s->spill = sp->next;
    ql_free_aligned(sp);
  }
}

void ql_scratch_free(ql_scratch *s) {
  if (!s) return;
  drop_spills(s, NULL);
  QL_ASAN_UNPOISON(s->base, s->cap);
  ql_free_aligned(s->base);
  for (size_t t = 0; t < s->n_threads; t++) {
    QL_ASAN_UNPOISON(s->thr[t].p, s->thr[t].cap);
    ql_free_aligned(s->thr[t].p);
  }
  ql_free(s->thr);
  memset(s, 0, sizeof *s);
}

ql_scratch_mark ql_scratch_begin(const ql_scratch *s) { return (ql_scratch_mark){s->used, s->live, s->spill}; }

void ql_scratch_release(ql_scratch *s, ql_scratch_mark m) {
  drop_spills(s, m.spill);
  if (s->base) QL_ASAN_POISON(s->base + m.used, s->used - m.used); /* no region yet: nothing was taken from it */
  s->used = m.used;
  s->live = m.live;
  if (s->used != 0) return;
  if (s->want > s->cap) {
    /* nothing is held: grow to the peak; on failure the next run spills again */
    unsigned char *b = ql_malloc_aligned(s->want);
    if (b) {
      QL_ASAN_UNPOISON(s->base, s->cap);
      ql_free_aligned(s->base);
      s->base = b;
      s->cap = s->want;
      QL_ASAN_POISON(s->base, s->cap);
    }
  }
  /* Which pool thread takes which task varies from run to run, so every
   * thread's block grows to the largest any of them needed: a later run
   * that hands the big task to another thread then allocates nothing. */
  size_t most = 0;
  for (size_t t = 0; t < s->n_threads; t++)
    if (s->thr[t].cap > most) most = s->thr[t].cap;
  for (size_t t = 0; t < s->n_threads; t++) {
    ql_scratch_block *bl = &s->thr[t];
    if (bl->cap == most) continue;
    void *p = ql_malloc_aligned(most);
    if (!p) return;
    QL_ASAN_UNPOISON(bl->p, bl->cap);
    ql_free_aligned(bl->p);
    bl->p = p;
    bl->cap = most;
    QL_ASAN_POISON(bl->p, bl->cap);
  }
}

void *ql_scratch_get(ql_scratch *s, size_t bytes) {
  size_t b = block_bytes(bytes);
  if (!b || s->live > SIZE_MAX - b) return NULL;
  s->live += b;
  if (s->live > s->want) s->want = s->live;
  if (b <= s->cap - s->used) {
    void *p = s->base + s->used;
    s->used += b;
    QL_ASAN_UNPOISON(p, bytes + 64);
    return p;
  }
  ql_scratch_spill *sp = b <= SIZE_MAX - SPILL_HDR ? ql_malloc_aligned(SPILL_HDR + b) : NULL;
  if (!sp) {
    s->live -= b;
    return NULL;
  }
  sp->next = s->spill;
  s->spill = sp;
  return (unsigned char *)sp + SPILL_HDR;
}

void *ql_scratch_thread(ql_scratch *s, size_t thread, size_t bytes) {
  if (thread >= s->n_threads) return NULL;
  ql_scratch_block *bl = &s->thr[thread];
  size_t b = block_bytes(bytes);
  if (!b) return NULL;
  if (b > bl->cap) {
    QL_ASAN_UNPOISON(bl->p, bl->cap);
    ql_free_aligned(bl->p);
    bl->cap = 0;
    if (!(bl->p = ql_malloc_aligned(b))) return NULL;
    bl->cap = b;
  }
  /* only the bytes asked for are addressable, so ASan sees an overrun */
  QL_ASAN_UNPOISON(bl->p, bytes + 64);
  QL_ASAN_POISON((unsigned char *)bl->p + bytes + 64, bl->cap - bytes - 64);
  return bl->p;
}

#include "strmap.h"
#include "util.h"

static size_t hash(const char *s) {
  size_t h = 1469598103934665603ull;
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
  return h;
}

static int rehash(ql_strmap *m, size_t cap) {
  const char **k = ql_calloc(cap, sizeof *k);
  int *v = ql_calloc(cap, sizeof *v);
  if (!k || !v) {
    ql_free(k);
    ql_free(v);
    return -1;
  }
  for (size_t i = 0; i < m->cap; i++)
    if (m->keys[i]) {
      size_t j = hash(m->keys[i]) & (cap - 1);
      while (k[j]) j = (j + 1) & (cap - 1);
      k[j] = m->keys[i];
      v[j] = m->vals[i];
    }
  ql_free(m->keys);
  ql_free(m->vals);
  m->keys = k;
  m->vals = v;
  m->cap = cap;
  return 0;
}

int ql_strmap_put(ql_strmap *m, const char *key, int val) {
  if ((m->n + 1) * 2 > m->cap && rehash(m, m->cap ? m->cap * 2 : 64)) return -1;
  size_t j = hash(key) & (m->cap - 1);
  while (m->keys[j]) {
    if (!strcmp(m->keys[j], key)) {
      m->vals[j] = val;
      return 0;
    }
    j = (j + 1) & (m->cap - 1);
  }
  m->keys[j] = key;
  m->vals[j] = val;
  m->n++;
  return 0;
}

int ql_strmap_get(const ql_strmap *m, const char *key) {
  if (!m->cap) return -1;
  size_t j = hash(key) & (m->cap - 1);
  while (m->keys[j]) {
    if (!strcmp(m->keys[j], key)) return m->vals[j];
    j = (j + 1) & (m->cap - 1);
  }
  return -1;
}

void ql_strmap_free(ql_strmap *m) {
  ql_free(m->keys);
  ql_free(m->vals);
  memset(m, 0, sizeof *m);
}

/* A string -> int map (open addressing); keys are borrowed, not copied. */
#ifndef QL_STRMAP_H
#define QL_STRMAP_H
#include <stddef.h>

typedef struct ql_strmap {
  size_t cap, n;
  const char **keys;
  int *vals;
} ql_strmap;

int ql_strmap_put(ql_strmap *m, const char *key, int val); /* 0 ok, -1 oom */
int ql_strmap_get(const ql_strmap *m, const char *key);    /* -1 if absent */
void ql_strmap_free(ql_strmap *m);
#endif

#include "util.h"
#include <stdlib.h>
#include <sys/mman.h>

size_t ql_tensor_nbytes(const ql_tensor *t) {
  return (size_t)t->numel * ql_dtype_size(t->dtype);
}

static ql_tensor *alloc_header(ql_dtype dtype, int rank, const int64_t *dims, ql_error *err) {
  if (rank < 0 || rank > QL_MAX_RANK) {
    ql_errf(err, QL_ERR_LIMIT, "tensor rank %d exceeds the maximum of %d", rank, QL_MAX_RANK);
    return NULL;
  }
  if (ql_dtype_size(dtype) == 0) {
    ql_errf(err, QL_ERR_UNSUPPORTED, "tensor element type %d (%s) is not supported", (int)dtype,
            ql_dtype_name(dtype));
    return NULL;
  }
  int64_t n = ql_dims_numel(rank, dims);
  if (n < 0) {
    ql_errf(err, QL_ERR_INVALID_MODEL, "tensor dims are negative or their product overflows");
    return NULL;
  }
  size_t bytes;
  if (ql_mul_overflow_size((size_t)n, ql_dtype_size(dtype), &bytes)) {
    ql_errf(err, QL_ERR_LIMIT, "tensor byte size overflows");
    return NULL;
  }
  ql_tensor *t = ql_calloc(1, sizeof *t);
  if (!t) {
    ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory allocating a tensor");
    return NULL;
  }
  t->dtype = dtype;
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
  t->numel = n;
  return t;
}

ql_tensor *ql_tensor_new(ql_dtype dtype, int rank, const int64_t *dims, ql_error *err) {
  ql_tensor *t = alloc_header(dtype, rank, dims, err);
  if (!t) return NULL;
  size_t bytes = ql_tensor_nbytes(t);
  /* 64-byte aligned so kernels (AMX tile loads) can read rows in place */
  t->data = ql_malloc_aligned(bytes ? bytes : 1);
  if (t->data) memset(t->data, 0, bytes ? bytes : 1);
  if (!t->data) {
    ql_free(t);
    ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory allocating %zu tensor bytes", bytes);
    return NULL;
  }
  t->flags_ = QL_TENSOR_OWNS_DATA;
  return t;
}

ql_tensor *ql_tensor_wrap(ql_dtype dtype, int rank, const int64_t *dims, void *data, ql_error *err) {
  ql_tensor *t = alloc_header(dtype, rank, dims, err);
  if (t) t->data = data;
  return t;
}

ql_status ql_tensor_create(ql_dtype dtype, int rank, const int64_t *dims, ql_tensor **out,
                           ql_error *err) {
  if (!out) return ql_errf(err, QL_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = ql_tensor_new(dtype, rank, dims, err);
  return *out ? QL_OK : (err ? err->code : QL_ERR_OUT_OF_MEMORY);
}

void ql_tensor_free(ql_tensor *t) {
  /* an arena tensor is reused by the next run, not freed (session.c) */
  if (!t || (t->flags_ & QL_TENSOR_ARENA)) return;
  if (t->dtype == QL_STRING && (t->flags_ & QL_TENSOR_OWNS_DATA) && t->data) {
    char **s = t->data;
    for (int64_t i = 0; i < t->numel; i++) ql_free(s[i]);
  }
  if (t->flags_ & QL_TENSOR_MAPPED) munmap(t->map_base_, t->map_len_);
  else if (t->flags_ & QL_TENSOR_OWNS_DATA) ql_free_aligned(t->data);
  ql_free(t->name);
  ql_free(t);
}

ql_status ql_tensor_clone(const ql_tensor *src, ql_tensor **out, ql_error *err) {
  *out = NULL;
  ql_tensor *t = ql_tensor_new(src->dtype, src->rank, src->dims, err);
  if (!t) return err ? err->code : QL_ERR_OUT_OF_MEMORY;
  if (src->name && !(t->name = ql_strdup(src->name))) goto oom;
  if (src->dtype == QL_STRING) {
    char **d = t->data, *const *s = src->data;
    for (int64_t i = 0; i < src->numel; i++)
      if (!(d[i] = ql_strdup(s[i] ? s[i] : ""))) goto oom;
  } else if (src->numel) {
    memcpy(t->data, src->data, ql_tensor_nbytes(src));
  }
  *out = t;
  return QL_OK;
oom:
  ql_tensor_free(t);
  return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory cloning a tensor");
}

double ql_tensor_get_f64(const ql_tensor *t, int64_t i) {
  if (!t || i < 0 || i >= t->numel || t->dtype == QL_STRING) return 0;
  return ql_load_f64(t->dtype, t->data, i);
}

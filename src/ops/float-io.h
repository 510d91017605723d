/* Float tensors for the reference float kernels (Conv, ConvTranspose,
 * MatMul, Gemm). Inputs of type float, float16 or bfloat16 are read as
 * float32 (exact), products are summed in double (so the reference is more
 * accurate than any float32 kernel and independent of summation order in
 * practice) and each result is rounded once to the output type. */
#ifndef QL_FLOAT_IO_H
#define QL_FLOAT_IO_H

#include "op.h"

static inline int ql_float_io_type(ql_dtype t) {
  return t == QL_FLOAT || t == QL_FLOAT16 || t == QL_BFLOAT16;
}

/* A float32 copy of t (caller frees with ql_free), NULL when out of memory. */
static inline float *ql_float_copy(const ql_tensor *t) {
  float *f = ql_malloc((size_t)t->numel * sizeof *f + 1);
  if (!f) return NULL;
  if (t->dtype == QL_FLOAT) {
    if (t->numel) memcpy(f, t->data, (size_t)t->numel * sizeof *f);
  } else {
    for (int64_t i = 0; i < t->numel; i++) f[i] = (float)ql_load_f64(t->dtype, t->data, i);
  }
  return f;
}

#endif

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

/* Element i of t as float32. */
static inline float ql_float_at(const ql_tensor *t, int64_t i) {
  return t->dtype == QL_FLOAT ? ((const float *)t->data)[i] : (float)ql_load_f64(t->dtype, t->data, i);
}

/* A float32 copy of t in the op's scratch (ql_op_scratch: not freed, valid
 * until the op returns); NULL with c->err set when out of memory. */
static inline float *ql_float_scratch(ql_op_ctx *c, const ql_tensor *t) {
  float *f = ql_op_scratch(c, (size_t)t->numel * sizeof *f);
  if (!f) return NULL;
  if (t->dtype == QL_FLOAT) {
    if (t->numel) memcpy(f, t->data, (size_t)t->numel * sizeof *f);
  } else {
    for (int64_t i = 0; i < t->numel; i++) f[i] = (float)ql_load_f64(t->dtype, t->data, i);
  }
  return f;
}

#endif

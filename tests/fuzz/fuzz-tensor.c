/* Target 4: one serialized TensorProto (the .pb files of ONNX tests). */
#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ql_error err;
  ql_tensor *t = NULL;
  if (ql_tensor_load_pb_memory(data, size, &t, &err) != QL_OK) return 0;
  /* touch every element the way callers do */
  double acc = 0;
  if (t->dtype != QL_STRING)
    for (int64_t i = 0; i < t->numel && i < 4096; i++) acc += ql_tensor_get_f64(t, i);
  (void)acc;
  ql_tensor_free(t);
  return 0;
}

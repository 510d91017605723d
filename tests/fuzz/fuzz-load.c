/* Target 1: ModelProto bytes -> ql_model -> save -> load again. Any crash,
 * sanitizer report or leak is a bug; an error status is the expected result
 * for almost every input. The save/reload leg checks that whatever we accept
 * we can also write back and read again. */
#include "fuzz-common.h"
#include "format/format.h"
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ql_error err;
  ql_model *m = NULL;
  if (ql_model_load_memory(data, size, NULL, &k_fuzz_limits, &m, &err) != QL_OK) return 0;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (ql_model_save_memory(m, &buf, &len, &err) == QL_OK) {
    ql_model *m2 = NULL;
    if (ql_model_load_memory(buf, len, NULL, &k_fuzz_limits, &m2, &err) != QL_OK) abort();
    ql_model_free(m2);
    free(buf);
  }
  ql_model_free(m);
  return 0;
}

/* Target 3: load + verify (plain and strict) + read every finding + annotate
 * + save + reload. The verifier walks quantization parameters of whatever
 * graph the loader accepted, so it sees every odd-but-loadable model. */
#include "fuzz-common.h"
#include "format/format.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ql_error err;
  ql_model *m = NULL;
  if (ql_model_load_memory(data, size, NULL, &k_fuzz_limits, &m, &err) != QL_OK) return 0;
  for (unsigned flags = 0; flags <= QL_VERIFY_STRICT; flags++) {
    ql_verify_report *r = NULL;
    if (ql_model_verify(m, flags, &r, &err) == QL_OK) {
      size_t n = ql_verify_report_count(r), len = 0;
      for (size_t i = 0; i < n; i++) {
        const char *rule, *node, *tensor, *msg;
        int is_error;
        if (ql_verify_report_get(r, i, &rule, &is_error, &node, &tensor, &msg) == QL_OK)
          len += strlen(rule ? rule : "") + strlen(node ? node : "") + strlen(tensor ? tensor : "") +
                 strlen(msg ? msg : "");
      }
      (void)len;
      (void)ql_verify_report_errors(r);
    }
    ql_verify_report_free(r);
  }
  size_t written = 0;
  if (ql_model_annotate(m, &written, &err) == QL_OK) {
    uint8_t *buf = NULL;
    size_t blen = 0;
    if (ql_model_save_memory(m, &buf, &blen, &err) == QL_OK) {
      ql_model *m2 = NULL;
      if (ql_model_load_memory(buf, blen, NULL, &k_fuzz_limits, &m2, &err) != QL_OK) abort();
      ql_model_free(m2);
      free(buf);
    }
  }
  ql_model_free(m);
  return 0;
}

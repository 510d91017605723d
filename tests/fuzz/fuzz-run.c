/* Target 2: load + session create + one run with small inputs. Inputs get
 * their declared shape with unknown/symbolic dims set to 1 (2 for a second
 * variant chosen by the last byte), capped so that a model cannot make the
 * harness itself allocate much. Errors are expected; crashes, sanitizer
 * reports and leaks are bugs. */
#include "fuzz-common.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ql_error err;
  ql_model *m = NULL;
  if (ql_model_load_memory(data, size, NULL, &k_fuzz_limits, &m, &err) != QL_OK) return 0;
  ql_session *s = NULL;
  /* legitimate work on huge tensors (a window size read from the input, say) is
   * only slow, not a finding: a 64 MiB cap keeps the runs short */
  ql_session_options opt = {.threads = 1, .max_tensor_bytes = 64u << 20};
  /* the reference ops, or (one input in two) the fast paths and fusions */
  opt.reference_only = !(size && (data[size - 1] & 2));
  ql_status st = ql_session_create(m, &opt, &s, &err);
  ql_model_free(m);
  if (st != QL_OK) return 0;
  size_t ni = ql_session_input_count(s), no = ql_session_output_count(s);
  if (ni > 64 || no > 64) {
    ql_session_free(s);
    return 0;
  }
  ql_tensor *in[64] = {0}, *out[64] = {0};
  int64_t fill = size ? 1 + (data[size - 1] & 1) : 1;
  int ok = 1;
  for (size_t i = 0; i < ni && ok; i++) {
    int rank;
    int64_t dims[QL_MAX_RANK];
    ql_dtype dt = ql_session_input_info(s, i, &rank, dims);
    if (rank < 0) rank = 1, dims[0] = -1;
    int64_t numel = 1;
    for (int d = 0; d < rank; d++) {
      if (dims[d] < 0) dims[d] = fill;
      if (dims[d] > 4096 || (numel *= dims[d]) > 65536) ok = 0;
    }
    if (!ok || dt == QL_UNDEFINED || dt == QL_STRING || ql_tensor_create(dt, rank, dims, &in[i], &err)) {
      ok = 0;
      break;
    }
    /* deterministic, input-dependent content */
    uint8_t *b = in[i]->data;
    size_t nb = (size_t)in[i]->numel * ql_dtype_size(dt);
    for (size_t k = 0; k < nb; k++) b[k] = size ? data[(k * 31 + i) % size] : 0;
    if (dt == QL_BOOL)
      for (size_t k = 0; k < nb; k++) b[k] &= 1;
    if (dt == QL_INT4 || dt == QL_UINT4 || dt == QL_INT2 || dt == QL_UINT2 || dt == QL_FLOAT4E2M1)
      memset(b, 0, nb); /* unpacked sub-byte values must be in range */
    if (dt == QL_FLOAT) { /* keep float inputs finite */
      float *f = in[i]->data;
      for (int64_t k = 0; k < in[i]->numel; k++) f[k] = (float)(b[k * 4] & 0x3f) / 8.0f - 4.0f;
    }
  }
  if (ok) ql_session_run(s, (const ql_tensor *const *)in, ni, out, no, &err);
  for (size_t i = 0; i < ni; i++) ql_tensor_free(in[i]);
  for (size_t j = 0; j < no; j++) ql_tensor_free(out[j]);
  ql_session_free(s);
  return 0;
}

/* Helpers shared by op implementations. */
#include "op.h"

int ql_broadcast_shape(int ra, const int64_t *a, int rb, const int64_t *b, int *rout, int64_t *out) {
  int r = ra > rb ? ra : rb;
  if (r > QL_MAX_RANK) return -1;
  for (int i = 0; i < r; i++) {
    int64_t da = i - (r - ra) >= 0 ? a[i - (r - ra)] : 1;
    int64_t db = i - (r - rb) >= 0 ? b[i - (r - rb)] : 1;
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else return -1;
  }
  *rout = r;
  return 0;
}

int64_t ql_broadcast_index(int64_t o, int rank, const int64_t *dims, int ra, const int64_t *a) {
  int64_t idx = 0, stride = 1;
  for (int i = rank - 1; i >= 0; i--) {
    int64_t coord = dims[i] ? o % dims[i] : 0;
    o = dims[i] ? o / dims[i] : 0;
    int j = i - (rank - ra);
    if (j >= 0) {
      if (a[j] != 1) idx += coord * stride;
      stride *= a[j];
    }
  }
  return idx;
}

static void bcast_strides(int rank, int r, const int64_t *d, int64_t *st) {
  int64_t stride = 1;
  for (int i = rank - 1; i >= 0; i--) {
    int j = i - (rank - r);
    st[i] = j >= 0 && d[j] != 1 ? stride : 0;
    if (j >= 0) stride *= d[j];
  }
}

void ql_bcast2_init(ql_bcast2 *it, int rank, const int64_t *dims, int ra, const int64_t *a, int rb, const int64_t *b) {
  memset(it, 0, sizeof *it);
  it->rank = rank;
  for (int i = 0; i < rank; i++) it->dims[i] = dims[i];
  bcast_strides(rank, ra, a, it->sa);
  bcast_strides(rank, rb, b, it->sb);
}

int ql_norm_axis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) return -1;
  return (int)(axis < 0 ? axis + rank : axis);
}

int ql_tensor_to_i64s(const ql_tensor *t, int64_t *out, size_t max) {
  if (!t || (t->dtype != QL_INT64 && t->dtype != QL_INT32) || (size_t)t->numel > max) return -1;
  for (int64_t i = 0; i < t->numel; i++) out[i] = ql_load_i64(t->dtype, t->data, i);
  return (int)t->numel;
}

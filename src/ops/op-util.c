/* Helpers shared by op implementations. */
#include "op.h"
#include "../kernels/qgemm.h"

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

void ql_bc_init(ql_bc_iter *it, int n, const ql_tensor *const *in, int rank, const int64_t *dims) {
  int64_t st[QL_BC_MAX_IN][QL_MAX_RANK];
  for (int k = 0; k < n; k++) {
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
      int j = i - (rank - in[k]->rank);
      if (j < 0 || in[k]->dims[j] == 1) {
        st[k][i] = 0;
      } else {
        st[k][i] = s;
        s *= in[k]->dims[j];
      }
    }
  }
  it->n = n;
  it->rank = 0;
  it->numel = ql_dims_numel(rank, dims);
  for (int i = 0; i < rank; i++) {
    if (dims[i] == 1) continue;
    int r = it->rank;
    int merge = r > 0;
    for (int k = 0; merge && k < n; k++) merge = it->st[k][r - 1] == st[k][i] * dims[i];
    if (merge) {
      it->dims[r - 1] *= dims[i];
      for (int k = 0; k < n; k++) it->st[k][r - 1] = st[k][i];
    } else {
      it->dims[r] = dims[i];
      for (int k = 0; k < n; k++) it->st[k][r] = st[k][i];
      it->rank++;
    }
  }
  if (it->rank == 0) {
    it->rank = 1;
    it->dims[0] = 1;
    for (int k = 0; k < n; k++) it->st[k][0] = 0;
  }
}

void ql_bc_run(const ql_bc_iter *it, ql_bc_fn fn, void *ctx) {
  if (it->numel <= 0) return;
  int r = it->rank;
  int64_t inner = it->dims[r - 1], outer = it->numel / inner;
  int64_t cnt[QL_MAX_RANK] = {0}, off[QL_BC_MAX_IN] = {0}, xs[QL_BC_MAX_IN];
  for (int k = 0; k < it->n; k++) xs[k] = it->st[k][r - 1];
  for (int64_t o = 0; o < outer; o++) {
    fn(ctx, o * inner, off, inner, xs);
    for (int d = r - 2; d >= 0; d--) {
      for (int k = 0; k < it->n; k++) off[k] += it->st[k][d];
      if (++cnt[d] < it->dims[d]) break;
      for (int k = 0; k < it->n; k++) off[k] -= it->st[k][d] * it->dims[d];
      cnt[d] = 0;
    }
  }
}

ql_status ql_op_isa_prepare(const ql_op_prep *p, void **state) {
  *state = NULL;
  if (p->reference_only) return QL_OK;
  int *isa = ql_malloc(sizeof *isa);
  if (!isa) return ql_errf(p->err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  *isa = p->isa == QL_ISA_AUTO ? (int)ql_isa_best() : p->isa;
  *state = isa;
  return QL_OK;
}

void ql_op_isa_release(void *state) { ql_free(state); }

int ql_norm_axis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) return -1;
  return (int)(axis < 0 ? axis + rank : axis);
}

int ql_tensor_to_i64s(const ql_tensor *t, int64_t *out, size_t max) {
  if (!t || (t->dtype != QL_INT64 && t->dtype != QL_INT32) || (size_t)t->numel > max) return -1;
  for (int64_t i = 0; i < t->numel; i++) out[i] = ql_load_i64(t->dtype, t->data, i);
  return (int)t->numel;
}

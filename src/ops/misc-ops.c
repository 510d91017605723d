/* Assorted reference ops: Einsum, NonMaxSuppression, DepthToSpace,
 * SpaceToDepth, Det, CenterCropPad, LRN, MeanVarianceNormalization.
 * Float math runs in double and is rounded once to the output type. */
#include "xops-util.h"

#define END QL_UNDEFINED

static const ql_dtype k_float3[] = {QL_FLOAT16, QL_FLOAT, QL_DOUBLE, END};

/* float16/float/double, plus bfloat16 from schema version `bf16_from` on */
static int float_type_ok(ql_op_ctx *c, ql_dtype t, int bf16_from) {
  return xo_type_in(t, k_float3) || (t == QL_BFLOAT16 && c->version >= bf16_from);
}

static ql_status bad_type(ql_op_ctx *c, const char *what, ql_dtype t) {
  return ql_op_fail(c, QL_ERR_INVALID_MODEL, "%s has type %s, which schema version %d does not allow", what,
                    ql_dtype_name(t), c->version);
}

static int std_type(ql_dtype t, int with_bf16) {
  static const ql_dtype k[] = {QL_UINT8,  QL_UINT16, QL_UINT32, QL_UINT64, QL_INT8,      QL_INT16,
                               QL_INT32,  QL_INT64,  QL_FLOAT16, QL_FLOAT, QL_DOUBLE,    QL_STRING,
                               QL_BOOL,   QL_COMPLEX64, QL_COMPLEX128, END};
  return xo_type_in(t, k) || (with_bf16 && t == QL_BFLOAT16);
}

/* ================================================================ Einsum */

#define EIN_LETTERS 52 /* a-z, A-Z; ellipsis dims get ids EIN_LETTERS.. */
#define EIN_IDS (EIN_LETTERS + QL_MAX_RANK)
#define EIN_MAX_WORK ((int64_t)1 << 34)

static int ein_letter(char ch) {
  if (ch >= 'a' && ch <= 'z') return ch - 'a';
  if (ch >= 'A' && ch <= 'Z') return 26 + ch - 'A';
  return -1;
}

/* ASCII order of label ids: upper case precedes lower case. */
static int ein_ascii(int id) { return id < 26 ? 'a' + id : 'A' + id - 26; }

/* Parses one term (spaces ignored) into label ids. Returns the number of
 * letters, or -1 on a syntax error; *has_ell tells whether the term had an
 * ellipsis and *ell_pos how many letters precede it. */
static int ein_term(const char *s, size_t len, int *ids, int max, int *has_ell, int *ell_pos) {
  int n = 0;
  *has_ell = 0;
  *ell_pos = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    if (ch == ' ') continue;
    if (ch == '.') {
      if (*has_ell || i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.') return -1;
      *has_ell = 1;
      *ell_pos = n;
      i += 2;
      continue;
    }
    int id = ein_letter(ch);
    if (id < 0 || n >= max) return -1;
    ids[n++] = id;
  }
  return n;
}

static ql_status einsum(ql_op_ctx *c) {
  const char *eq = ql_attr_string(c->node, "equation", NULL);
  if (!eq) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute equation is required");
  size_t nin = c->n_in;
  if (nin < 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "Einsum needs at least one input");
  static const ql_dtype kt[] = {QL_UINT8, QL_UINT16, QL_UINT32,  QL_UINT64, QL_INT8,   QL_INT16,
                                QL_INT32, QL_INT64,  QL_FLOAT16, QL_FLOAT,  QL_DOUBLE, END};
  for (size_t i = 0; i < nin; i++) {
    const ql_tensor *x = ql_op_in(c, i);
    if (!x) return xo_missing(c, (int)i);
    if (!xo_type_in(x->dtype, kt)) return bad_type(c, "input", x->dtype);
    if (x->dtype != ql_op_in(c, 0)->dtype) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "inputs differ in type");
  }
  ql_dtype t = ql_op_in(c, 0)->dtype;
  const char *arrow = strstr(eq, "->");
  size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
  /* per input: axis -> label id; ellipsis position and length */
  int axis_id[64][QL_MAX_RANK], ell_at[64], ell_len[64];
  if (nin > 64) return ql_op_fail(c, QL_ERR_LIMIT, "Einsum with %zu inputs is not supported", nin);
  int64_t size[EIN_IDS];
  int count[EIN_IDS] = {0}, ell_rank = 0;
  for (int i = 0; i < EIN_IDS; i++) size[i] = -1;
  const char *p = eq;
  for (size_t i = 0; i < nin; i++) {
    const char *end = memchr(p, ',', lhs_len - (size_t)(p - eq));
    size_t len = end ? (size_t)(end - p) : lhs_len - (size_t)(p - eq);
    if (!end && i + 1 < nin) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "equation has fewer terms than inputs");
    if (end && i + 1 == nin) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "equation has more terms than inputs");
    const ql_tensor *x = ql_op_in(c, i);
    int ids[QL_MAX_RANK + 1], has_ell, ell_pos;
    int n = ein_term(p, len, ids, QL_MAX_RANK + 1, &has_ell, &ell_pos);
    if (n < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "cannot parse term %zu of the equation", i);
    int er = x->rank - n;
    if ((!has_ell && er != 0) || er < 0)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "term %zu has %d labels for an input of rank %d", i, n, x->rank);
    ell_at[i] = has_ell ? ell_pos : 0;
    ell_len[i] = er;
    if (er > ell_rank) ell_rank = er;
    for (int a = 0, k = 0; a < x->rank; a++) axis_id[i][a] = (a >= ell_at[i] && a < ell_at[i] + er) ? -1 : ids[k++];
    p = end ? end + 1 : p + len;
  }
  /* ellipsis dims align to the right (numpy broadcasting): the e-th of an
   * input's er ellipsis dims is ellipsis id ell_rank - er + e */
  for (size_t i = 0; i < nin; i++) {
    const ql_tensor *x = ql_op_in(c, i);
    for (int a = 0; a < x->rank; a++) {
      int id = axis_id[i][a];
      if (id < 0) {
        id = axis_id[i][a] = EIN_LETTERS + ell_rank - ell_len[i] + (a - ell_at[i]);
        int64_t d = x->dims[a];
        if (size[id] < 0 || size[id] == 1) size[id] = d;
        else if (d != 1 && d != size[id])
          return ql_op_fail(c, QL_ERR_INVALID_MODEL, "ellipsis dims cannot be broadcast (%lld vs %lld)",
                            (long long)d, (long long)size[id]);
      } else {
        if (size[id] >= 0 && size[id] != x->dims[a])
          return ql_op_fail(c, QL_ERR_INVALID_MODEL, "label '%c' has sizes %lld and %lld", ein_ascii(id),
                            (long long)size[id], (long long)x->dims[a]);
        size[id] = x->dims[a];
        count[id]++;
      }
    }
  }
  for (int e = 0; e < ell_rank; e++)
    if (size[EIN_LETTERS + e] < 0) size[EIN_LETTERS + e] = 1;
  /* output labels */
  int out_ids[EIN_IDS], nout = 0, is_out[EIN_IDS] = {0};
  if (arrow) {
    int ids[QL_MAX_RANK + 1], has_ell, ell_pos;
    const char *rhs = arrow + 2;
    int n = ein_term(rhs, strlen(rhs), ids, QL_MAX_RANK + 1, &has_ell, &ell_pos);
    if (n < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "cannot parse the right-hand side of the equation");
    for (int k = 0; k <= n; k++) {
      if (has_ell && k == ell_pos)
        for (int e = 0; e < ell_rank; e++) out_ids[nout++] = EIN_LETTERS + e;
      if (k == n) break;
      if (size[ids[k]] < 0 || count[ids[k]] == 0)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output label '%c' is not in any input", ein_ascii(ids[k]));
      if (is_out[ids[k]]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output label '%c' repeats", ein_ascii(ids[k]));
      is_out[ids[k]] = 1;
      out_ids[nout++] = ids[k];
    }
    if (!has_ell && ell_rank > 0)
      for (int e = 0; e < ell_rank; e++) is_out[EIN_LETTERS + e] = 0; /* summed */
    for (int k = 0; k < nout; k++) is_out[out_ids[k]] = 1;
  } else {
    /* implicit: ellipsis dims first, then labels seen exactly once, in ASCII order */
    for (int e = 0; e < ell_rank; e++) out_ids[nout++] = EIN_LETTERS + e;
    for (int id = 26; id < 52; id++)
      if (count[id] == 1) out_ids[nout++] = id;
    for (int id = 0; id < 26; id++)
      if (count[id] == 1) out_ids[nout++] = id;
    for (int k = 0; k < nout; k++) is_out[out_ids[k]] = 1;
  }
  if (nout > QL_MAX_RANK) return ql_op_fail(c, QL_ERR_LIMIT, "output rank %d exceeds %d", nout, QL_MAX_RANK);
  /* loop order: output ids, then the summed ones */
  int loop[EIN_IDS], nloop = 0;
  for (int k = 0; k < nout; k++) loop[nloop++] = out_ids[k];
  for (int id = 0; id < EIN_IDS; id++)
    if (size[id] >= 0 && !is_out[id]) loop[nloop++] = id;
  int64_t dims[QL_MAX_RANK], work = 1;
  for (int k = 0; k < nout; k++) dims[k] = size[out_ids[k]];
  for (int k = 0; k < nloop; k++)
    if (ql_mul_overflow_i64(work, size[loop[k]], &work) || work > EIN_MAX_WORK)
      return ql_op_fail(c, QL_ERR_LIMIT, "Einsum needs more than %lld multiply-adds", (long long)EIN_MAX_WORK);
  if (xo_check_out(c, t, nout, dims)) return c->err->code;
  ql_tensor *y = ql_op_output(c, 0, t, nout, dims);
  if (!y) return c->err->code;
  if (work == 0) return QL_OK;
  /* per input and loop position: element stride (sum over axes with that
   * label, 0 for broadcast size-1 ellipsis dims) */
  int64_t lstride[64][EIN_IDS];
  memset(lstride, 0, sizeof(int64_t) * EIN_IDS * nin);
  for (size_t i = 0; i < nin; i++) {
    const ql_tensor *x = ql_op_in(c, i);
    int64_t s = 1;
    for (int a = x->rank - 1; a >= 0; a--) {
      int id = axis_id[i][a];
      if (!(x->dims[a] == 1 && size[id] != 1)) {
        for (int k = 0; k < nloop; k++)
          if (loop[k] == id) lstride[i][k] += s;
      }
      s *= x->dims[a];
    }
  }
  int64_t inner = work / (y->numel ? y->numel : 1), cnt[EIN_IDS] = {0}, off[64] = {0};
  int isf = ql_dtype_is_float(t);
  for (int64_t o = 0; o < y->numel; o++) {
    double accf = 0;
    uint64_t acci = 0;
    for (int64_t r = 0; r < inner; r++) {
      if (isf) {
        double prod = 1;
        for (size_t i = 0; i < nin; i++) prod *= ql_load_f64(t, ql_op_in(c, i)->data, off[i]);
        accf += prod;
      } else {
        uint64_t prod = 1;
        for (size_t i = 0; i < nin; i++) prod *= (uint64_t)ql_load_i64(t, ql_op_in(c, i)->data, off[i]);
        acci += prod;
      }
      /* advance the odometer (last loop id fastest) and the input offsets */
      for (int k = nloop - 1; k >= 0; k--) {
        for (size_t i = 0; i < nin; i++) off[i] += lstride[i][k];
        if (++cnt[k] < size[loop[k]]) break;
        for (size_t i = 0; i < nin; i++) off[i] -= lstride[i][k] * size[loop[k]];
        cnt[k] = 0;
      }
    }
    if (isf) ql_store_f64(t, y->data, o, accf);
    else ql_store_i64(t, y->data, o, (int64_t)acci);
  }
  return QL_OK;
}

/* ================================================================ NonMaxSuppression */

typedef struct nms_ctx {
  const float *s;
} nms_ctx;

/* descending score, ties by lower box index (the stable sort keeps it) */
static int nms_cmp(const void *vc, int64_t a, int64_t b) {
  const float *s = ((const nms_ctx *)vc)->s;
  return s[a] > s[b] ? -1 : s[a] < s[b];
}

/* Intersection over union of two boxes, in float32 as the reference does;
 * 1 when box a suppresses box b (IOU strictly above the threshold). */
static int nms_suppress(const float *a, const float *b, int center, float thr) {
  float ax0, ax1, ay0, ay1, bx0, bx1, by0, by1;
  if (center) {
    ax0 = a[0] - a[2] / 2, ax1 = a[0] + a[2] / 2, ay0 = a[1] - a[3] / 2, ay1 = a[1] + a[3] / 2;
    bx0 = b[0] - b[2] / 2, bx1 = b[0] + b[2] / 2, by0 = b[1] - b[3] / 2, by1 = b[1] + b[3] / 2;
  } else {
    /* [y1, x1, y2, x2] with either corner order */
    ax0 = fminf(a[1], a[3]), ax1 = fmaxf(a[1], a[3]), ay0 = fminf(a[0], a[2]), ay1 = fmaxf(a[0], a[2]);
    bx0 = fminf(b[1], b[3]), bx1 = fmaxf(b[1], b[3]), by0 = fminf(b[0], b[2]), by1 = fmaxf(b[0], b[2]);
  }
  float ix0 = fmaxf(ax0, bx0), ix1 = fminf(ax1, bx1);
  if (!(ix1 > ix0)) return 0;
  float iy0 = fmaxf(ay0, by0), iy1 = fminf(ay1, by1);
  if (!(iy1 > iy0)) return 0;
  float inter = (ix1 - ix0) * (iy1 - iy0);
  if (!(inter > 0)) return 0;
  float area_a = (ax1 - ax0) * (ay1 - ay0), area_b = (bx1 - bx0) * (by1 - by0);
  float uni = area_a + area_b - inter;
  if (!(area_a > 0) || !(area_b > 0) || !(uni > 0)) return 0;
  return inter / uni > thr;
}

static ql_status non_max_suppression(ql_op_ctx *c) {
  const ql_tensor *boxes = ql_op_in(c, 0), *scores = ql_op_in(c, 1), *mt = ql_op_in(c, 2), *it = ql_op_in(c, 3),
                  *st = ql_op_in(c, 4);
  if (!boxes) return xo_missing(c, 0);
  if (!scores) return xo_missing(c, 1);
  if (boxes->dtype != QL_FLOAT || scores->dtype != QL_FLOAT)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "boxes and scores must be float32");
  if (boxes->rank != 3 || boxes->dims[2] != 4)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "boxes must have shape [num_batches, spatial_dimension, 4]");
  if (scores->rank != 3 || scores->dims[0] != boxes->dims[0] || scores->dims[2] != boxes->dims[1])
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "scores must have shape [num_batches, num_classes, spatial_dimension]");
  int64_t center = ql_attr_int(c->node, "center_point_box", 0);
  if (center != 0 && center != 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "center_point_box must be 0 or 1");
  /* omitted or empty thresholds keep their defaults (0 boxes, IOU 0, no score filter) */
  int64_t max_out = 0;
  if (mt && mt->numel) {
    if (mt->dtype != QL_INT64)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "max_output_boxes_per_class must be int64");
    max_out = ((const int64_t *)mt->data)[0];
    if (max_out < 0) max_out = 0;
  }
  float iou = 0, sthr = 0;
  int has_sthr = 0;
  if (it && it->numel) {
    if (it->dtype != QL_FLOAT) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "iou_threshold must be float32");
    iou = ((const float *)it->data)[0];
  }
  if (st && st->numel) {
    if (st->dtype != QL_FLOAT) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "score_threshold must be float32");
    sthr = ((const float *)st->data)[0];
    has_sthr = 1;
  }
  int64_t B = boxes->dims[0], C = scores->dims[1], N = boxes->dims[1];
  /* at most one row per (batch, class, box): bounded by scores' size */
  int64_t cap = scores->numel, nsel = 0;
  int64_t *sel, *idx;
  if (!(sel = ql_op_scratch(c, sizeof(int64_t) * 3 * (size_t)cap)) ||
      !(idx = ql_op_scratch(c, sizeof(int64_t) * 3 * (size_t)N)))
    return c->err->code;
  int64_t *tmp = idx + N, *kept = idx + 2 * N;
  const float *bv = boxes->data, *sv = scores->data;
  for (int64_t b = 0; b < B; b++) {
    for (int64_t cl = 0; cl < C; cl++) {
      const float *s = sv + (b * C + cl) * N;
      int64_t n = 0;
      for (int64_t i = 0; i < N; i++)
        if (!has_sthr || s[i] > sthr) idx[n++] = i;
      nms_ctx nc = {s};
      xo_sort_idx(idx, tmp, n, nms_cmp, &nc);
      int64_t nk = 0;
      for (int64_t j = 0; j < n && nk < max_out; j++) {
        const float *cand = bv + (b * N + idx[j]) * 4;
        int keep = 1;
        for (int64_t q = 0; q < nk && keep; q++)
          if (nms_suppress(cand, bv + (b * N + kept[q]) * 4, (int)center, iou)) keep = 0;
        if (!keep) continue;
        kept[nk++] = idx[j];
        sel[3 * nsel] = b, sel[3 * nsel + 1] = cl, sel[3 * nsel + 2] = idx[j];
        nsel++;
      }
    }
  }
  int64_t dims[2] = {nsel, 3};
  ql_tensor *y = ql_op_output(c, 0, QL_INT64, 2, dims);
  if (!y) return c->err->code;
  if (nsel) memcpy(y->data, sel, sizeof(int64_t) * 3 * (size_t)nsel);
  return QL_OK;
}

/* ================================================================ DepthToSpace, SpaceToDepth */

static ql_status depth_space(ql_op_ctx *c, int to_space) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return xo_missing(c, 0);
  if (!std_type(x->dtype, c->version >= 13)) return bad_type(c, "input", x->dtype);
  if (x->rank != 4) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "input must be 4-D (has rank %d)", x->rank);
  if (!ql_node_attr(c->node, "blocksize")) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute blocksize is required");
  int64_t bs = ql_attr_int(c->node, "blocksize", 0), bb;
  if (bs <= 0 || ql_mul_overflow_i64(bs, bs, &bb))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "blocksize %lld is invalid", (long long)bs);
  int crd = 0;
  if (to_space && c->version >= 11) {
    const char *mode = ql_attr_string(c->node, "mode", "DCR");
    if (!strcmp(mode, "CRD")) crd = 1;
    else if (strcmp(mode, "DCR")) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "mode must be DCR or CRD, not '%s'", mode);
  }
  int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], d[4];
  if (to_space) {
    if (C % bb)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "channels (%lld) are not divisible by blocksize^2", (long long)C);
    d[0] = N, d[1] = C / bb;
    if (ql_mul_overflow_i64(H, bs, &d[2]) || ql_mul_overflow_i64(W, bs, &d[3]))
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output dims overflow");
  } else {
    if (H % bs || W % bs)
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "H (%lld) and W (%lld) must be divisible by blocksize %lld",
                        (long long)H, (long long)W, (long long)bs);
    d[0] = N, d[2] = H / bs, d[3] = W / bs;
    if (ql_mul_overflow_i64(C, bb, &d[1])) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "output dims overflow");
  }
  ql_tensor *y = ql_op_output(c, 0, x->dtype, 4, d);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  /* walk the "space" side (h, w of the big image) and find the depth index */
  int64_t Cs = to_space ? d[1] : C, Hs = to_space ? d[2] : H, Ws = to_space ? d[3] : W; /* space side dims */
  int64_t Cd = to_space ? C : d[1], Hd = Hs / bs, Wd = Ws / bs;                         /* depth side dims */
  for (int64_t n = 0; n < N; n++)
    for (int64_t ch = 0; ch < Cs; ch++)
      for (int64_t h = 0; h < Hs; h++)
        for (int64_t w = 0; w < Ws; w++) {
          int64_t i = h % bs, j = w % bs;
          int64_t dc = crd ? (ch * bs + i) * bs + j : (i * bs + j) * Cs + ch;
          int64_t sp = ((n * Cs + ch) * Hs + h) * Ws + w, dp = ((n * Cd + dc) * Hd + h / bs) * Wd + w / bs;
          int bad = to_space ? xo_copy1(x->dtype, y->data, sp, x->data, dp) : xo_copy1(x->dtype, y->data, dp, x->data, sp);
          if (bad) return xo_oom(c);
        }
  return QL_OK;
}

static ql_status depth_to_space(ql_op_ctx *c) { return depth_space(c, 1); }
static ql_status space_to_depth(ql_op_ctx *c) { return depth_space(c, 0); }

/* ================================================================ Det */

static ql_status det(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return xo_missing(c, 0);
  if (!float_type_ok(c, x->dtype, 22)) return bad_type(c, "X", x->dtype);
  if (x->rank < 2 || x->dims[x->rank - 1] != x->dims[x->rank - 2])
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X must have shape [*, M, M]");
  int64_t M = x->dims[x->rank - 1];
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank - 2, x->dims);
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  int64_t mm = M * M; /* M*M <= numel when y is not empty */
  double *a = ql_op_scratch(c, sizeof(double) * (size_t)mm);
  if (!a) return c->err->code;
  for (int64_t b = 0; b < y->numel; b++) {
    for (int64_t i = 0; i < mm; i++) a[i] = ql_load_f64(x->dtype, x->data, b * mm + i);
    /* LU with partial pivoting, as LAPACK getrf does for numpy.linalg.det */
    double d = 1;
    for (int64_t k = 0; k < M && d != 0; k++) {
      int64_t p = k;
      for (int64_t i = k + 1; i < M; i++)
        if (fabs(a[i * M + k]) > fabs(a[p * M + k])) p = i;
      if (a[p * M + k] == 0) {
        d = 0;
        break;
      }
      if (p != k) {
        for (int64_t j = 0; j < M; j++) {
          double t = a[k * M + j];
          a[k * M + j] = a[p * M + j];
          a[p * M + j] = t;
        }
        d = -d;
      }
      double piv = a[k * M + k];
      d *= piv;
      for (int64_t i = k + 1; i < M; i++) {
        double f = a[i * M + k] / piv;
        for (int64_t j = k + 1; j < M; j++) a[i * M + j] -= f * a[k * M + j];
      }
    }
    ql_store_f64(x->dtype, y->data, b, d);
  }
  return QL_OK;
}

/* ================================================================ CenterCropPad */

static ql_status center_crop_pad(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0), *sh = ql_op_in(c, 1);
  if (!x) return xo_missing(c, 0);
  if (!sh) return xo_missing(c, 1);
  if (!std_type(x->dtype, 1)) return bad_type(c, "input_data", x->dtype);
  if ((sh->dtype != QL_INT64 && sh->dtype != QL_INT32) || sh->rank != 1)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "shape must be a 1-D int64 or int32 tensor");
  int r = x->rank, axes[QL_MAX_RANK], na;
  size_t cnt = 0;
  const int64_t *av = ql_attr_ints(c->node, "axes", &cnt);
  if (av) {
    if (cnt > (size_t)r) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axes has more entries than the input rank");
    na = (int)cnt;
    for (int i = 0; i < na; i++) {
      if ((axes[i] = ql_norm_axis(av[i], r)) < 0)
        return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)av[i], r);
      for (int j = 0; j < i; j++)
        if (axes[j] == axes[i]) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %d repeats", axes[i]);
    }
  } else {
    na = r;
    for (int i = 0; i < r; i++) axes[i] = i;
  }
  if (sh->numel != na)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "shape has %lld entries for %d axes", (long long)sh->numel, na);
  int64_t dims[QL_MAX_RANK], off[QL_MAX_RANK] = {0}; /* off: input index = output index + off */
  memcpy(dims, x->dims, sizeof dims);
  for (int i = 0; i < na; i++) {
    int64_t s = ql_load_i64(sh->dtype, sh->data, i), a = axes[i], dim = x->dims[a];
    if (s < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "shape[%d] = %lld is negative", i, (long long)s);
    dims[a] = s;
    /* crop starts at floor((dim - s) / 2); padding puts the odd pixel on the right */
    off[a] = s <= dim ? (dim - s) / 2 : -((s - dim) / 2);
  }
  if (xo_check_out(c, x->dtype, r, dims)) return c->err->code;
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, dims);
  if (!y) return c->err->code;
  if (y->numel && x->numel) {
    int64_t cntr[QL_MAX_RANK] = {0}, xst[QL_MAX_RANK];
    for (int d = 0; d < r; d++) xst[d] = xo_prod(x->dims, d + 1, r);
    for (int64_t o = 0; o < y->numel; o++) {
      int64_t xi = 0, in = 1;
      for (int d = 0; d < r && in; d++) {
        int64_t v = cntr[d] + off[d];
        if (v < 0 || v >= x->dims[d]) in = 0;
        else xi += v * xst[d];
      }
      if (in && xo_copy1(x->dtype, y->data, o, x->data, xi)) return xo_oom(c);
      for (int d = r - 1; d >= 0; d--) {
        if (++cntr[d] < dims[d]) break;
        cntr[d] = 0;
      }
    }
  }
  return xo_fill_empty_strings(y) ? xo_oom(c) : QL_OK;
}

/* ================================================================ LRN */

static ql_status lrn(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return xo_missing(c, 0);
  if (!float_type_ok(c, x->dtype, 13)) return bad_type(c, "X", x->dtype);
  if (x->rank < 2) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "X must have rank >= 2 (N x C x ...)");
  if (!ql_node_attr(c->node, "size")) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attribute size is required");
  int64_t size = ql_attr_int(c->node, "size", 0);
  if (size < 1) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "size must be positive (is %lld)", (long long)size);
  double alpha = ql_attr_float(c->node, "alpha", 0.0001f), beta = ql_attr_float(c->node, "beta", 0.75f),
         bias = ql_attr_float(c->node, "bias", 1.0f);
  ql_tensor *y = ql_op_output(c, 0, x->dtype, x->rank, x->dims);
  if (!y) return c->err->code;
  if (x->numel == 0) return QL_OK;
  int64_t N = x->dims[0], C = x->dims[1], inner = x->numel / (N * C);
  int64_t lo = (size - 1) / 2, hi = size / 2; /* floor((size-1)/2), ceil((size-1)/2) */
  for (int64_t n = 0; n < N; n++)
    for (int64_t ch = 0; ch < C; ch++) {
      int64_t c0 = ch - lo < 0 ? 0 : ch - lo, c1 = ch > C - 1 - hi ? C - 1 : ch + hi;
      for (int64_t i = 0; i < inner; i++) {
        double sq = 0;
        for (int64_t k = c0; k <= c1; k++) {
          double v = ql_load_f64(x->dtype, x->data, (n * C + k) * inner + i);
          sq += v * v;
        }
        int64_t p = (n * C + ch) * inner + i;
        double v = ql_load_f64(x->dtype, x->data, p);
        ql_store_f64(y->dtype, y->data, p, v / pow(bias + alpha / (double)size * sq, beta));
      }
    }
  return QL_OK;
}

/* ================================================================ MeanVarianceNormalization */

/* The function body of the spec: (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9),
 * the means taken over `axes`. */
static ql_status mvn(ql_op_ctx *c) {
  const ql_tensor *x = ql_op_in(c, 0);
  if (!x) return xo_missing(c, 0);
  if (!float_type_ok(c, x->dtype, 13)) return bad_type(c, "X", x->dtype);
  int r = x->rank, red[QL_MAX_RANK] = {0};
  size_t cnt = 0;
  const int64_t *av = ql_attr_ints(c->node, "axes", &cnt);
  static const int64_t def_axes[3] = {0, 2, 3};
  if (!av) av = def_axes, cnt = 3;
  for (size_t i = 0; i < cnt; i++) {
    int a = ql_norm_axis(av[i], r);
    if (a < 0) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d", (long long)av[i], r);
    red[a] = 1;
  }
  ql_tensor *y = ql_op_output(c, 0, x->dtype, r, x->dims);
  if (!y) return c->err->code;
  if (x->numel == 0) return QL_OK;
  /* group id of each element = its index in the kept dims */
  int64_t groups = 1, per;
  for (int d = 0; d < r; d++)
    if (!red[d]) groups *= x->dims[d];
  per = x->numel / groups;
  double *sum = ql_op_scratch(c, (size_t)groups * 2 * sizeof(double));
  if (!sum) return c->err->code;
  memset(sum, 0, (size_t)groups * 2 * sizeof(double));
  int64_t cntr[QL_MAX_RANK];
  for (int pass = 0; pass < 2; pass++) {
    memset(cntr, 0, sizeof cntr);
    for (int64_t i = 0; i < x->numel; i++) {
      int64_t g = 0;
      for (int d = 0; d < r; d++)
        if (!red[d]) g = g * x->dims[d] + cntr[d];
      double v = ql_load_f64(x->dtype, x->data, i);
      if (pass == 0) {
        sum[2 * g] += v;
        sum[2 * g + 1] += v * v;
      } else {
        double mean = sum[2 * g] / (double)per, var = sum[2 * g + 1] / (double)per - mean * mean;
        ql_store_f64(y->dtype, y->data, i, (v - mean) / (sqrt(var) + 1e-9));
      }
      for (int d = r - 1; d >= 0; d--) {
        if (++cntr[d] < x->dims[d]) break;
        cntr[d] = 0;
      }
    }
  }
  return QL_OK;
}

const ql_op_def ql_ops_misc_ops[] = {
    {"", "Einsum", 12, 12, einsum},
    {"", "NonMaxSuppression", 10, 11, non_max_suppression},
    {"", "DepthToSpace", 1, 13, depth_to_space},
    {"", "SpaceToDepth", 1, 13, space_to_depth},
    {"", "Det", 11, 22, det},
    {"", "CenterCropPad", 18, 18, center_crop_pad},
    {"", "LRN", 1, 13, lrn},
    {"", "MeanVarianceNormalization", 9, 13, mvn},
    {0},
};

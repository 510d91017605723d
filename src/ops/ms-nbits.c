/* ONNX Runtime com.microsoft MatMulNBits: weight-only 2/4/8-bit quantized
 * MatMul (float A, blocked integer B with per-block scales). */
#include "op.h"
#include "../kernels/nbits.h"
#include <math.h>
#include <string.h>

static float ldf(ql_dtype t, const void *p, int64_t i) {
  return t == QL_FLOAT16 ? ql_f16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static void stf(ql_dtype t, void *p, int64_t i, float v) {
  if (t == QL_FLOAT16) ((uint16_t *)p)[i] = ql_f32_to_f16(v);
  else ((float *)p)[i] = v;
}

/* float -> int8 as ORT's vector code does it (cvtps then saturating packs):
 * NaN and out-of-range values saturate, NaN to -128. */
static int8_t sat_i8(float v) {
  if (!(v >= -128.0f)) return -128;
  if (v > 127.0f) return 127;
  return (int8_t)nearbyintf(v);
}

static uint32_t get_bits(const uint8_t *p, int64_t idx, int bits) {
  int64_t bit = idx * bits;
  return (p[bit >> 3] >> (bit & 7)) & ((1u << bits) - 1);
}

/* Weight-only quantized MatMul. B holds column n of the K x N weight as
 * row n, blocks of block_size along K, elements packed LSB first;
 * W[k][n] = (q - zp) * scale in float32. Each output is one float32 FMA
 * chain over k in order, then + bias: a fixed order that the fast kernels
 * (src/kernels/nbits.h, which states the definition) reproduce bit for bit
 * by giving each SIMD lane one output column. ORT also accumulates in
 * float32, in its own blocked order. accuracy_level 4 is emulated (see
 * below); levels 1-3 compute like 0. */
static ql_status matmul_nbits(ql_op_ctx *c) {
  const ql_tensor *a = ql_op_in(c, 0), *b = ql_op_in(c, 1), *sc = ql_op_in(c, 2), *zp = ql_op_in(c, 3),
                  *gidx = ql_op_in(c, 4), *bias = ql_op_in(c, 5);
  const ql_node *nd = c->node;
  const ql_attr *ka = ql_node_attr(nd, "K"), *na = ql_node_attr(nd, "N"), *bsa = ql_node_attr(nd, "block_size");
  if (!ka || !na || !bsa) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "attributes K, N and block_size are required");
  int64_t K = ka->i, N = na->i, bsz = bsa->i, bits = ql_attr_int(nd, "bits", 4);
  if (!a || !b || !sc) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "A, B and scales are required");
  if (gidx) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "g_idx is not supported");
  if (ql_attr_int(nd, "weight_prepacked", 0)) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "prepacked weights are not supported");
  if (bits != 2 && bits != 4 && bits != 8) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "bits=%lld is not supported (2, 4, 8)", (long long)bits);
  if (K < 1 || N < 1 || bsz < 16 || bsz > (1 << 24) || (bsz & (bsz - 1)) || K > ((int64_t)1 << 40) || N > ((int64_t)1 << 40))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "invalid K=%lld, N=%lld or block_size=%lld", (long long)K, (long long)N, (long long)bsz);
  if (a->dtype != QL_FLOAT && a->dtype != QL_FLOAT16) return ql_op_fail(c, QL_ERR_UNSUPPORTED, "A must be float32 or float16");
  if (sc->dtype != a->dtype) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "scales must have A's type");
  if (a->rank < 1 || a->dims[a->rank - 1] != K) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "A's last dimension must be K=%lld", (long long)K);
  int64_t kblocks = (K + bsz - 1) / bsz, blob = bsz * bits / 8, nkb, nbytes;
  if (ql_mul_overflow_i64(N, kblocks, &nkb) || ql_mul_overflow_i64(nkb, blob, &nbytes))
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "K, N and block_size describe a weight too large");
  if (b->dtype != QL_UINT8 || b->numel != nbytes)
    return ql_op_fail(c, QL_ERR_INVALID_MODEL, "B must be uint8 [N, k_blocks, blob] = [%lld, %lld, %lld]", (long long)N,
                      (long long)kblocks, (long long)blob);
  if (sc->numel != nkb) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "scales must have N*k_blocks=%lld elements", (long long)(N * kblocks));
  int64_t zrow = (kblocks * bits + 7) / 8;
  int zp_packed = 0;
  if (zp) {
    if (zp->dtype == QL_UINT8) {
      zp_packed = 1;
      if (zp->numel / zrow != N || zp->numel % zrow) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "packed zero_points must have %lld elements", (long long)(N * zrow));
    } else if (zp->dtype == a->dtype) {
      if (zp->numel != nkb) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "zero_points must have %lld elements", (long long)(N * kblocks));
    } else {
      return ql_op_fail(c, QL_ERR_INVALID_MODEL, "zero_points must be uint8 or A's type");
    }
  }
  if (bias && (bias->dtype != a->dtype || bias->numel != N)) return ql_op_fail(c, QL_ERR_INVALID_MODEL, "bias must have N elements of A's type");
  int64_t dims[QL_MAX_RANK];
  memcpy(dims, a->dims, sizeof(int64_t) * (size_t)a->rank);
  dims[a->rank - 1] = N;
  ql_tensor *y = ql_op_output_nofill(c, 0, a->dtype, a->rank, dims); /* every path writes every element */
  if (!y) return c->err->code;
  if (y->numel == 0) return QL_OK;
  int64_t rows = a->numel / K;
  const int acc4 = ql_attr_int(nd, "accuracy_level", 0) == 4;
  if (c->state && a->dtype == QL_FLOAT) {
    const ql_nbits_packed *pb = c->state;
    const int int8_mode = acc4 && (!zp || zp_packed);
    if (pb->k == K && pb->n == N && pb->bs == bsz && (pb->mode == QL_NBITS_INT8) == int8_mode) {
      const size_t wsb = ql_nbits_workspace_size(pb, rows);
      if (wsb == SIZE_MAX) return ql_op_fail(c, QL_ERR_LIMIT, "A too large");
      void *ws = ql_op_scratch(c, wsb);
      return ws ? ql_nbits_run(pb, a->data, rows, bias ? bias->data : NULL, y->data, ws, c->pool, c->err) : c->err->code;
    }
  }
  size_t wbytes;
  if (ql_mul_overflow_size((size_t)K, sizeof(float), &wbytes)) return ql_op_fail(c, QL_ERR_LIMIT, "K too large");
  float *w = ql_op_scratch(c, wbytes);
  if (!w) return c->err->code;
  const uint8_t *bd = b->data;
  float zdef = (float)(1 << (bits - 1));
  /* accuracy_level 4 (int8 compute, 4/8-bit weights, uint8 or no zero
   * points): ORT quantizes each block of A symmetrically to int8 (scale =
   * max|a| / 127, round half to even) and sums integer block dot products
   * scaled by a_scale * b_scale. We do the same so results stay within
   * float tolerance of ORT's. Other combinations use the float path. */
  int int8_path = acc4 && (bits == 4 || bits == 8) && a->dtype == QL_FLOAT && (!zp || zp_packed);
  float *ascale = NULL;
  int8_t *aq = NULL;
  if (int8_path) {
    size_t na;
    if (ql_mul_overflow_size((size_t)rows, (size_t)(kblocks * bsz), &na))
      return ql_op_fail(c, QL_ERR_LIMIT, "A too large");
    if (!(aq = ql_op_scratch(c, na)) || !(ascale = ql_op_scratch(c, sizeof(float) * (size_t)(rows * kblocks))))
      return c->err->code;
    const float *ad = a->data;
    for (int64_t r = 0; r < rows; r++)
      for (int64_t kb = 0; kb < kblocks; kb++) {
        float amax = 0.0f;
        for (int64_t j = 0; j < bsz && kb * bsz + j < K; j++) amax = fmaxf(amax, fabsf(ad[r * K + kb * bsz + j]));
        float s = amax / 127.0f, inv = amax != 0.0f ? 127.0f / amax : 0.0f;
        ascale[r * kblocks + kb] = s;
        for (int64_t j = 0; j < bsz; j++)
          aq[(r * kblocks + kb) * bsz + j] = kb * bsz + j < K ? sat_i8(ad[r * K + kb * bsz + j] * inv) : 0;
      }
  }
  for (int64_t n = 0; n < N; n++) {
    if (int8_path) {
      for (int64_t r = 0; r < rows; r++) {
        float acc = 0.0f;
        for (int64_t kb = 0; kb < kblocks; kb++) {
          int32_t z = zp ? (int32_t)get_bits((const uint8_t *)zp->data + n * zrow, kb, (int)bits) : 1 << (bits - 1);
          const uint8_t *blk = bd + (n * kblocks + kb) * blob;
          /* wrapping int32 (real blocks never come near it) */
          uint32_t dot = 0;
          for (int64_t j = 0; j < bsz; j++)
            dot += (uint32_t)(aq[(r * kblocks + kb) * bsz + j] * ((int32_t)get_bits(blk, j, (int)bits) - z));
          acc = fmaf((float)(int32_t)dot, ascale[r * kblocks + kb] * ((const float *)sc->data)[n * kblocks + kb], acc);
        }
        if (bias) acc += ((const float *)bias->data)[n];
        ((float *)y->data)[r * N + n] = acc;
      }
      continue;
    }
    /* dequantize column n of W once, then dot it with every row of A */
    for (int64_t kb = 0; kb < kblocks; kb++) {
      float s = ldf(sc->dtype, sc->data, n * kblocks + kb);
      float z = zdef;
      if (zp) z = zp_packed ? (float)get_bits((const uint8_t *)zp->data + n * zrow, kb, (int)bits) : ldf(zp->dtype, zp->data, n * kblocks + kb);
      const uint8_t *blk = bd + (n * kblocks + kb) * blob;
      for (int64_t j = 0; j < bsz && kb * bsz + j < K; j++) w[kb * bsz + j] = ((float)get_bits(blk, j, (int)bits) - z) * s;
    }
    for (int64_t r = 0; r < rows; r++) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; k++) acc = fmaf(ldf(a->dtype, a->data, r * K + k), w[k], acc);
      if (bias) acc = acc + ldf(bias->dtype, bias->data, n);
      stf(a->dtype, y->data, r * N + n, acc);
    }
  }
  return QL_OK;
}

/* ---- fast path (src/kernels/nbits.h), packed at session creation ----
 * Taken for 4-bit weights with B, scales and zero points constant, float32
 * scales (so float32 A), no g_idx; float16, 2/8 bits and g_idx run the
 * reference. The run function still does every input check first. */
static void nbits_release(void *state) { ql_nbits_packed_free(state); }

static ql_status nbits_prepare(const ql_op_prep *p, void **state) {
  *state = NULL;
  const ql_node *nd = p->node;
  const ql_tensor *b = p->n_in > 1 ? p->in[1] : NULL, *sc = p->n_in > 2 ? p->in[2] : NULL,
                  *zp = p->n_in > 3 ? p->in[3] : NULL;
  int zp_given = nd->n_inputs > 3 && nd->inputs[3][0], gidx_given = nd->n_inputs > 4 && nd->inputs[4][0];
  const ql_attr *ka = ql_node_attr(nd, "K"), *na = ql_node_attr(nd, "N"), *bsa = ql_node_attr(nd, "block_size");
  if (p->reference_only || !b || !sc || (zp_given && !zp) || gidx_given || !ka || !na || !bsa) return QL_OK;
  if (ql_attr_int(nd, "bits", 4) != 4 || ql_attr_int(nd, "weight_prepacked", 0)) return QL_OK;
  const int64_t K = ka->i, N = na->i, bsz = bsa->i;
  if (K < 1 || N < 1 || bsz < 16 || bsz > (1 << 24) || (bsz & (bsz - 1)) || K > ((int64_t)1 << 30) ||
      N > ((int64_t)1 << 30))
    return QL_OK;
  const int64_t kblocks = (K + bsz - 1) / bsz;
  if (b->dtype != QL_UINT8 || b->numel != N * kblocks * (bsz / 2) || sc->dtype != QL_FLOAT || sc->numel != N * kblocks)
    return QL_OK;
  const uint8_t *zu = NULL;
  const float *zf = NULL;
  if (zp) {
    if (zp->dtype == QL_UINT8 && zp->numel == N * ((kblocks + 1) / 2)) zu = zp->data;
    else if (zp->dtype == QL_FLOAT && zp->numel == N * kblocks) zf = zp->data;
    else return QL_OK;
  }
  const ql_nbits_mode mode = ql_attr_int(nd, "accuracy_level", 0) == 4 && !zf ? QL_NBITS_INT8 : QL_NBITS_F32;
  ql_nbits_packed *pb;
  ql_status st = ql_nbits_pack(b->data, sc->data, zu, zf, K, N, bsz, mode, (ql_isa)p->isa, &pb, p->err);
  if (st) return st == QL_ERR_OUT_OF_MEMORY ? st : QL_OK; /* anything else: the reference */
  *state = pb;
  return QL_OK;
}

const ql_op_def ql_ops_ms_nbits[] = {
    {"com.microsoft", "MatMulNBits", 1, 1, matmul_nbits, nbits_prepare, nbits_release},
    {0},
};

/* TensorProto decoding and encoding. All lengths from the file are checked
 * against the element count before any byte is copied. */
#include "format.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* allocator_data, when set, points at an int that records a failed
 * allocation: protobuf-c returns NULL for both bad bytes and no memory. */
static void *pb_alloc(void *ctx, size_t n) {
  void *p = ql_malloc(n);
  if (!p && ctx) *(int *)ctx = 1;
  return p;
}
static void pb_free(void *ctx, void *p) { (void)ctx; ql_free(p); }
ProtobufCAllocator ql_pb_allocator = {pb_alloc, pb_free, NULL};
ProtobufCAllocator ql_pb_allocator_flag(int *oom) { return (ProtobufCAllocator){pb_alloc, pb_free, oom}; }

void ql_limits_fill(ql_limits *o, const ql_limits *in) {
  ql_limits d = {4ull << 30, 2ull << 30, 8ull << 30, 1000000, 16, QL_MAX_RANK};
  if (in) {
    if (in->max_file_bytes) d.max_file_bytes = in->max_file_bytes;
    if (in->max_tensor_bytes) d.max_tensor_bytes = in->max_tensor_bytes;
    if (in->max_total_bytes) d.max_total_bytes = in->max_total_bytes;
    if (in->max_nodes) d.max_nodes = in->max_nodes;
    if (in->max_depth) d.max_depth = in->max_depth;
    if (in->max_rank && in->max_rank < QL_MAX_RANK) d.max_rank = in->max_rank;
  }
  *o = d;
}

static int is_packed_type(ql_dtype t, int *per_byte) {
  switch (t) {
  case QL_UINT4: case QL_INT4: case QL_FLOAT4E2M1: *per_byte = 2; return 1;
  case QL_UINT2: case QL_INT2: *per_byte = 4; return 1;
  default: *per_byte = 1; return 0;
  }
}

/* Bytes of the ONNX serialized (raw_data) form of n elements. */
static size_t raw_size(ql_dtype t, int64_t n) {
  int per;
  if (is_packed_type(t, &per)) return (size_t)((n + per - 1) / per);
  return (size_t)n * ql_dtype_size(t);
}

static void unpack_bits(ql_dtype t, const uint8_t *src, int64_t n, uint8_t *dst) {
  int per;
  is_packed_type(t, &per);
  int bits = 8 / per;
  int sgn = (t == QL_INT4 || t == QL_INT2);
  for (int64_t i = 0; i < n; i++) {
    unsigned v = (src[i / per] >> ((i % per) * bits)) & ((1u << bits) - 1);
    if (sgn && (v & (1u << (bits - 1)))) v |= ~0u << bits;
    dst[i] = (uint8_t)v;
  }
}

static void pack_bits(ql_dtype t, const uint8_t *src, int64_t n, uint8_t *dst) {
  int per;
  is_packed_type(t, &per);
  int bits = 8 / per;
  memset(dst, 0, (size_t)((n + per - 1) / per));
  for (int64_t i = 0; i < n; i++)
    dst[i / per] |= (uint8_t)((src[i] & ((1u << bits) - 1)) << ((i % per) * bits));
}

/* Copies raw little-endian bytes into t->data (x86 and every target we build
 * for is little-endian; the static assert below keeps it that way). */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "qlinear assumes a little-endian host");

static void from_raw(ql_tensor *t, const uint8_t *raw) {
  int per;
  if (is_packed_type(t->dtype, &per)) unpack_bits(t->dtype, raw, t->numel, t->data);
  else if (t->numel) memcpy(t->data, raw, ql_tensor_nbytes(t));
}

static ql_status external_open(ql_load_ctx *c, const Onnx__TensorProto *p, const char *tname,
                               const uint8_t **bytes, size_t want, void **map_base,
                               size_t *map_len) {
  const char *loc = NULL;
  int64_t off = 0, len = -1;
  for (size_t i = 0; i < p->n_external_data; i++) {
    const Onnx__StringStringEntryProto *e = p->external_data[i];
    if (!e->key || !e->value) continue;
    char *end;
    if (!strcmp(e->key, "location")) loc = e->value;
    else if (!strcmp(e->key, "offset") || !strcmp(e->key, "length")) {
      errno = 0;
      long long v = strtoll(e->value, &end, 10);
      if (errno || *end || end == e->value || v < 0)
        return ql_errf(c->err, QL_ERR_INVALID_MODEL,
                       "tensor '%.64s': external data %s '%.32s' is not a non-negative integer", tname,
                       e->key, e->value);
      if (!strcmp(e->key, "offset")) off = v;
      else len = v;
    }
  }
  if (!loc || !*loc)
    return ql_errf(c->err, QL_ERR_INVALID_MODEL, "tensor '%.64s': external data without a location", tname);
  if (!c->base_dir)
    return ql_errf(c->err, QL_ERR_INVALID_MODEL,
                   "tensor '%.64s': external data '%.64s' but the model was loaded from memory", tname, loc);
  /* Confinement: relative, no '..' component, and the resolved path must stay
   * inside the model's directory (this also defeats symlink escapes). */
  if (loc[0] == '/' || loc[0] == '\\' || strchr(loc, ':'))
    return ql_errf(c->err, QL_ERR_INVALID_MODEL,
                   "tensor '%.64s': external data location '%.64s' is absolute; it must be relative to the model's directory",
                   tname, loc);
  for (const char *s = loc; *s;) {
    const char *e = s + strcspn(s, "/\\");
    if (e - s == 2 && s[0] == '.' && s[1] == '.')
      return ql_errf(c->err, QL_ERR_INVALID_MODEL,
                     "tensor '%.64s': external data location '%.64s' contains '..'; it must stay inside the model's directory",
                     tname, loc);
    s = *e ? e + 1 : e;
  }
  char path[PATH_MAX], real_base[PATH_MAX], real[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", c->base_dir, loc) >= sizeof path)
    return ql_errf(c->err, QL_ERR_INVALID_MODEL, "tensor '%.64s': external data path too long", tname);
  if (!realpath(c->base_dir, real_base) || !realpath(path, real))
    return ql_errf(c->err, QL_ERR_IO, "tensor '%.64s': external data file '%.64s' cannot be opened: %s", tname,
                   loc, strerror(errno));
  size_t bl = strlen(real_base);
  if (!strcmp(real, real_base))
    return ql_errf(c->err, QL_ERR_INVALID_MODEL, "tensor '%.64s': external data '%.64s' is not a regular file", tname,
                   loc);
  if (strncmp(real, real_base, bl) || (real[bl] != '/' && !(bl == 1 && real_base[0] == '/')))
    return ql_errf(c->err, QL_ERR_INVALID_MODEL,
                   "tensor '%.64s': external data '%.64s' resolves outside the model's directory", tname, loc);
  /* O_NONBLOCK: a FIFO planted in the model's directory must not hang the
   * open; O_NOFOLLOW: `real` has no symlink left, so one appearing now is a
   * race and is refused. */
  int fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0)
    return ql_errf(c->err, QL_ERR_IO, "tensor '%.64s': cannot open external data '%.64s': %s", tname, loc,
                   strerror(errno));
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return ql_errf(c->err, QL_ERR_INVALID_MODEL, "tensor '%.64s': external data '%.64s' is not a regular file",
                   tname, loc);
  }
  /* A directory swapped for a symlink between realpath and open would go
   * unnoticed by O_NOFOLLOW (it only guards the last component): check what
   * was really opened. */
  char fdpath[64], opened[PATH_MAX];
  snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
  ssize_t ol = readlink(fdpath, opened, sizeof opened - 1);
  if (ol > 0) {
    opened[ol] = 0;
    if (strcmp(opened, real)) {
      close(fd);
      return ql_errf(c->err, QL_ERR_INVALID_MODEL,
                     "tensor '%.64s': external data '%.64s' changed while it was being opened", tname, loc);
    }
  }
  if (len < 0) len = st.st_size - off;
  if (off > st.st_size || len > st.st_size - off || (size_t)len != want) {
    close(fd);
    return ql_errf(c->err, QL_ERR_INVALID_MODEL,
                   "tensor '%.64s': external data '%.64s' offset %lld length %lld does not fit the file (%lld bytes) "
                   "or the %zu bytes the dims need",
                   tname, loc, (long long)off, (long long)len, (long long)st.st_size, want);
  }
  if (want == 0) {
    close(fd);
    *bytes = (const uint8_t *)"";
    *map_base = NULL;
    *map_len = 0;
    return QL_OK;
  }
  long pg = sysconf(_SC_PAGESIZE);
  int64_t aoff = off - off % pg;
  size_t mlen = (size_t)(off - aoff) + want;
  void *m = mmap(NULL, mlen, PROT_READ, MAP_PRIVATE, fd, aoff);
  close(fd);
  if (m == MAP_FAILED)
    return ql_errf(c->err, QL_ERR_IO, "tensor '%.64s': cannot map external data '%.64s': %s", tname, loc,
                   strerror(errno));
  *map_base = m;
  *map_len = mlen;
  *bytes = (const uint8_t *)m + (off - aoff);
  return QL_OK;
}

ql_status ql_tensor_from_pb(ql_load_ctx *c, const Onnx__TensorProto *p, ql_tensor **out) {
  *out = NULL;
  const char *tname = p->name ? p->name : "";
  ql_dtype dt = (ql_dtype)p->data_type;
  if (!p->has_data_type || dt <= QL_UNDEFINED || dt >= QL_DTYPE_COUNT || dt == QL_COMPLEX64 ||
      dt == QL_COMPLEX128)
    return ql_errf(c->err, p->has_data_type && dt > 0 && dt < QL_DTYPE_COUNT ? QL_ERR_UNSUPPORTED : QL_ERR_INVALID_MODEL,
                   "tensor '%.64s': data_type %d is %s", tname, (int)p->data_type,
                   (dt == QL_COMPLEX64 || dt == QL_COMPLEX128) ? "not supported" : "not a valid ONNX type");
  if (p->n_dims > c->lim.max_rank)
    return ql_errf(c->err, QL_ERR_LIMIT, "tensor '%.64s': rank %zu exceeds the limit of %u", tname, p->n_dims,
                   c->lim.max_rank);
  if (p->segment)
    return ql_errf(c->err, QL_ERR_UNSUPPORTED, "tensor '%.64s': segmented tensors are not supported", tname);
  for (size_t i = 0; i < p->n_dims; i++)
    if (p->dims[i] < 0)
      return ql_errf(c->err, QL_ERR_INVALID_MODEL, "tensor '%.64s': dim %zu is negative (%lld)", tname, i,
                     (long long)p->dims[i]);
  int64_t n = ql_dims_numel((int)p->n_dims, p->dims);
  size_t bytes;
  if (n < 0 || ql_mul_overflow_size((size_t)n, ql_dtype_size(dt), &bytes) || bytes > c->lim.max_tensor_bytes)
    return ql_errf(c->err, QL_ERR_LIMIT,
                   "tensor '%.64s': dims product overflows or exceeds the tensor size limit of %llu bytes", tname,
                   (unsigned long long)c->lim.max_tensor_bytes);
  if (bytes > c->lim.max_total_bytes - c->total_bytes)
    return ql_errf(c->err, QL_ERR_LIMIT, "tensor '%.64s': total tensor bytes exceed the limit of %llu", tname,
                   (unsigned long long)c->lim.max_total_bytes);
  int external = p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  ql_tensor *t;
  int per;
  /* External data of a type whose memory layout equals its file layout is
   * mapped, not copied. */
  if (external && dt != QL_STRING && !is_packed_type(dt, &per)) {
    const uint8_t *b;
    void *mb;
    size_t ml;
    ql_status st = external_open(c, p, tname, &b, raw_size(dt, n), &mb, &ml);
    if (st) return st;
    /* Kernels may load initializers with aligned vector loads: an offset
     * that is not a multiple of 64 gets an aligned copy instead of the map. */
    if (mb && ((uintptr_t)b & 63)) {
      t = ql_tensor_new(dt, (int)p->n_dims, p->dims, c->err);
      if (t) memcpy(t->data, b, bytes);
      munmap(mb, ml);
      if (!t) return c->err ? c->err->code : QL_ERR_OUT_OF_MEMORY;
      goto named;
    }
    t = ql_tensor_wrap(dt, (int)p->n_dims, p->dims, (void *)b, c->err);
    if (!t) {
      if (mb) munmap(mb, ml);
      return c->err ? c->err->code : QL_ERR_OUT_OF_MEMORY;
    }
    if (mb) {
      t->flags_ = QL_TENSOR_MAPPED;
      t->map_base_ = mb;
      t->map_len_ = ml;
    }
    goto named;
  }
  size_t want = raw_size(dt, n);
  /* The values must be in the file before memory is allocated for them: a
   * 14-byte TensorProto must not make us allocate (and zero) a gigabyte. */
  if (!external) {
    int per_b;
    size_t have;
    if (dt == QL_STRING) have = p->n_string_data == (size_t)n ? want : 0;
    else if (p->has_raw_data) have = p->raw_data.len;
    else switch (dt) {
      case QL_FLOAT: have = p->n_float_data == (size_t)n ? want : 0; break;
      case QL_DOUBLE: have = p->n_double_data == (size_t)n ? want : 0; break;
      case QL_INT64: have = p->n_int64_data == (size_t)n ? want : 0; break;
      case QL_UINT32: case QL_UINT64: have = p->n_uint64_data == (size_t)n ? want : 0; break;
      default:
        have = p->n_int32_data == (is_packed_type(dt, &per_b) ? want : (size_t)n) ? want : 0;
        break;
      }
    if (have != want && !(dt == QL_STRING && n == 0)) {
      if (p->has_raw_data && dt != QL_STRING)
        return ql_errf(c->err, QL_ERR_INVALID_MODEL,
                       "tensor '%.64s': raw_data has %zu bytes but dims and data_type %s need %zu", tname,
                       p->raw_data.len, ql_dtype_name(dt), want);
      return ql_errf(c->err, QL_ERR_INVALID_MODEL,
                     "tensor '%.64s': holds a different number of values than its dims (%lld elements of %s) need",
                     tname, (long long)n, ql_dtype_name(dt));
    }
  }
  /* external (packed types here): the file is checked before allocating */
  const uint8_t *eb = NULL;
  void *emb = NULL;
  size_t eml = 0;
  if (external) {
    if (dt == QL_STRING)
      return ql_errf(c->err, QL_ERR_INVALID_MODEL, "tensor '%.64s': string tensors cannot be external", tname);
    ql_status st = external_open(c, p, tname, &eb, want, &emb, &eml);
    if (st) return st;
  }
  t = ql_tensor_new(dt, (int)p->n_dims, p->dims, c->err);
  if (!t) {
    if (emb) munmap(emb, eml);
    return c->err ? c->err->code : QL_ERR_OUT_OF_MEMORY;
  }
  if (external) {
    from_raw(t, eb);
    if (emb) munmap(emb, eml);
  } else if (dt == QL_STRING) {
    if (p->n_string_data != (size_t)n) goto bad_count;
    char **s = t->data;
    for (int64_t i = 0; i < n; i++)
      if (!(s[i] = ql_strndup((const char *)p->string_data[i].data, p->string_data[i].len))) goto oom;
  } else if (p->has_raw_data) {
    if (p->raw_data.len != want) {
      ql_errf(c->err, QL_ERR_INVALID_MODEL,
              "tensor '%.64s': raw_data has %zu bytes but dims and data_type %s need %zu", tname,
              p->raw_data.len, ql_dtype_name(dt), want);
      ql_tensor_free(t);
      return QL_ERR_INVALID_MODEL;
    }
    from_raw(t, p->raw_data.data);
  } else {
    switch (dt) {
    case QL_FLOAT:
      if (p->n_float_data != (size_t)n) goto bad_count;
      if (n) memcpy(t->data, p->float_data, (size_t)n * 4);
      break;
    case QL_DOUBLE:
      if (p->n_double_data != (size_t)n) goto bad_count;
      if (n) memcpy(t->data, p->double_data, (size_t)n * 8);
      break;
    case QL_INT64:
      if (p->n_int64_data != (size_t)n) goto bad_count;
      if (n) memcpy(t->data, p->int64_data, (size_t)n * 8);
      break;
    case QL_UINT32: case QL_UINT64:
      if (p->n_uint64_data != (size_t)n) goto bad_count;
      for (int64_t i = 0; i < n; i++) ql_store_i64(dt, t->data, i, (int64_t)p->uint64_data[i]);
      break;
    default:
      if (is_packed_type(dt, &per)) {
        /* one packed byte per int32 entry */
        if (p->n_int32_data != want) goto bad_count;
        uint8_t *tmp = ql_malloc(want ? want : 1);
        if (!tmp) goto oom;
        for (size_t i = 0; i < want; i++) tmp[i] = (uint8_t)p->int32_data[i];
        unpack_bits(dt, tmp, n, t->data);
        ql_free(tmp);
      } else {
        if (p->n_int32_data != (size_t)n) goto bad_count;
        for (int64_t i = 0; i < n; i++) {
          int32_t v = p->int32_data[i];
          switch (ql_dtype_size(dt)) {
          case 1: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
          case 2: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
          default: ((int32_t *)t->data)[i] = v; break;
          }
        }
      }
      break;
    }
  }
named:
  c->total_bytes += bytes;
  if (p->name && !(t->name = ql_strdup(p->name))) goto oom;
  *out = t;
  return QL_OK;
bad_count:
  ql_tensor_free(t);
  return ql_errf(c->err, QL_ERR_INVALID_MODEL,
                 "tensor '%.64s': holds a different number of values than its dims (%lld elements of %s) need",
                 tname, (long long)n, ql_dtype_name(dt));
oom:
  ql_tensor_free(t);
  return ql_errf(c->err, QL_ERR_OUT_OF_MEMORY, "tensor '%.64s': out of memory", tname);
}

void ql_tensor_pb_free(Onnx__TensorProto *p) {
  if (!p) return;
  ql_free(p->dims);
  ql_free(p->name);
  ql_free(p->raw_data.data);
  if (p->string_data)
    for (size_t i = 0; i < p->n_string_data; i++) ql_free(p->string_data[i].data);
  ql_free(p->string_data);
  ql_free(p);
}

ql_status ql_tensor_to_pb(const ql_tensor *t, Onnx__TensorProto **out, ql_error *err) {
  Onnx__TensorProto *p = ql_calloc(1, sizeof *p);
  *out = NULL;
  if (!p) goto oom;
  onnx__tensor_proto__init(p);
  p->has_data_type = 1;
  p->data_type = (int32_t)t->dtype;
  p->n_dims = (size_t)t->rank;
  if (!(p->dims = ql_malloc(sizeof(int64_t) * (size_t)(t->rank ? t->rank : 1)))) goto oom;
  for (int i = 0; i < t->rank; i++) p->dims[i] = t->dims[i];
  if (t->name && !(p->name = ql_strdup(t->name))) goto oom;
  if (t->dtype == QL_STRING) {
    p->n_string_data = (size_t)t->numel;
    if (!(p->string_data = ql_calloc((size_t)t->numel ? (size_t)t->numel : 1, sizeof *p->string_data))) goto oom;
    char *const *s = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
      const char *v = s[i] ? s[i] : "";
      p->string_data[i].len = strlen(v);
      if (!(p->string_data[i].data = (uint8_t *)ql_strdup(v))) goto oom;
    }
  } else {
    size_t rs = raw_size(t->dtype, t->numel);
    p->has_raw_data = 1;
    p->raw_data.len = rs;
    if (!(p->raw_data.data = ql_malloc(rs ? rs : 1))) goto oom;
    int per;
    if (is_packed_type(t->dtype, &per)) pack_bits(t->dtype, t->data, t->numel, p->raw_data.data);
    else if (rs) memcpy(p->raw_data.data, t->data, rs);
  }
  *out = p;
  return QL_OK;
oom:
  ql_tensor_pb_free(p);
  return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory serializing a tensor");
}

ql_status ql_read_file(const char *path, uint64_t max_bytes, uint8_t **buf, size_t *len, ql_error *err) {
  *buf = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang us */
  if (fd < 0) return ql_errf(err, QL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return ql_errf(err, QL_ERR_IO, "'%s' is not a regular file", path);
  }
  if ((uint64_t)st.st_size > max_bytes) {
    close(fd);
    return ql_errf(err, QL_ERR_LIMIT, "'%s' is %lld bytes, over the limit of %llu", path,
                   (long long)st.st_size, (unsigned long long)max_bytes);
  }
  size_t n = (size_t)st.st_size, got = 0;
  uint8_t *b = ql_malloc(n ? n : 1);
  if (!b) {
    close(fd);
    return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
  }
  while (got < n) {
    ssize_t r = read(fd, b + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      close(fd);
      ql_free(b);
      return ql_errf(err, QL_ERR_IO, "short read on '%s'", path);
    }
    got += (size_t)r;
  }
  close(fd);
  *buf = b;
  *len = n;
  return QL_OK;
}

ql_status ql_tensor_load_pb_memory(const void *buf, size_t len, ql_tensor **out, ql_error *err) {
  *out = NULL;
  ql_status st = ql_pb_check_tensor(buf, len, err);
  if (st) return st;
  int oom = 0;
  ProtobufCAllocator al = ql_pb_allocator_flag(&oom);
  Onnx__TensorProto *p = onnx__tensor_proto__unpack(&al, len, buf);
  if (!p && oom) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory decoding a TensorProto");
  if (!p) return ql_errf(err, QL_ERR_INVALID_MODEL, "not a valid TensorProto (protobuf decoding failed)");
  ql_load_ctx c = {.err = err};
  ql_limits_fill(&c.lim, NULL);
  st = ql_tensor_from_pb(&c, p, out);
  onnx__tensor_proto__free_unpacked(p, &ql_pb_allocator);
  return st;
}

ql_status ql_tensor_load_pb(const char *path, ql_tensor **out, ql_error *err) {
  uint8_t *b;
  size_t n;
  *out = NULL;
  ql_status st = ql_read_file(path, 4ull << 30, &b, &n, err);
  if (st) return st;
  st = ql_tensor_load_pb_memory(b, n, out, err);
  ql_free(b);
  if (st) ql_err_prefix(err, "%s", path);
  return st;
}

ql_status ql_tensor_save_pb(const ql_tensor *t, const char *path, ql_error *err) {
  Onnx__TensorProto *p;
  ql_status st = ql_tensor_to_pb(t, &p, err);
  if (st) return st;
  size_t n = onnx__tensor_proto__get_packed_size(p);
  uint8_t *b = ql_malloc(n ? n : 1);
  if (!b) {
    ql_tensor_pb_free(p);
    return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  }
  onnx__tensor_proto__pack(p, b);
  ql_tensor_pb_free(p);
  FILE *f = fopen(path, "wb");
  if (!f) {
    ql_free(b);
    return ql_errf(err, QL_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  }
  int ok = fwrite(b, 1, n, f) == n;
  ok &= fclose(f) == 0;
  ql_free(b);
  if (!ok) {
    remove(path);
    return ql_errf(err, QL_ERR_IO, "error writing '%s'", path);
  }
  return QL_OK;
}

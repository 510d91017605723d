/* The model loader against hostile and broken input: every case must end in
 * a clear error (status code and message checked), never a crash, a read out
 * of bounds or a leak (run under ASan/LSan too). And the positive side:
 * load -> save -> load keeps the graph and every tensor byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/format.h"
#include "ir/ir.h"
#include "pb-build.h"

#define NODE_DIR QL_SHARED_DIR "/onnx-node-tests/node"

/* ------------------------------------------------------------ helpers */

static ql_status load_pb(const pb *m, const ql_limits *lim, ql_error *err) {
  ql_model *model = NULL;
  memset(err, 0, sizeof *err);
  ql_status st = ql_model_load_memory(m->p, m->n, NULL, lim, &model, err);
  if (st == QL_OK) assert_non_null(model);
  else assert_null(model);
  ql_model_free(model);
  return st;
}

#define EXPECT_ERR(st, err, code, sub)                                                                \
  do {                                                                                                \
    ql_status st_ = (st);                                                                             \
    if (st_ != (code) || !strstr((err).msg, (sub)))                                                   \
      fail_msg("expected status %d with '%s', got %d: %s", (int)(code), (sub), (int)st_, (err).msg); \
  } while (0)

/* Model with one initializer given as a ready TensorProto message. */
static ql_status load_with_init(pb init, const ql_limits *lim, ql_error *err) {
  pb g = pb_graph_with_init(&init);
  pb m = pb_model(&g, 13);
  ql_status st = load_pb(&m, lim, err);
  pb_free(&m);
  return st;
}

static char g_tmp[64];

static void write_file(const char *dir, const char *name, const void *d, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(d, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static void rm_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st)) return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char sub[1024];
      snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
      rm_tree(sub);
    }
    if (d) closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

static int setup_tmp(void **state) {
  (void)state;
  strcpy(g_tmp, "/tmp/ql-loader-XXXXXX");
  return mkdtemp(g_tmp) ? 0 : -1;
}
static int teardown_tmp(void **state) {
  (void)state;
  rm_tree(g_tmp);
  return 0;
}

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(sz ? (size_t)sz : 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
  fclose(f);
  *n = (size_t)sz;
  return b;
}

/* ------------------------------------------------------------ empty, truncated, wire */

static void test_empty_file(void **state) {
  (void)state;
  write_file(g_tmp, "empty.onnx", "", 0);
  char path[256];
  snprintf(path, sizeof path, "%s/empty.onnx", g_tmp);
  ql_error err = {0};
  ql_model *m = NULL;
  EXPECT_ERR(ql_model_load_file(path, NULL, &m, &err), err, QL_ERR_INVALID_MODEL, "empty (0 bytes)");
  assert_null(m);
  /* and from memory */
  EXPECT_ERR(ql_model_load_memory("", 0, NULL, NULL, &m, &err), err, QL_ERR_INVALID_MODEL, "empty");
  /* a file that is not there, a directory */
  snprintf(path, sizeof path, "%s/missing.onnx", g_tmp);
  EXPECT_ERR(ql_model_load_file(path, NULL, &m, &err), err, QL_ERR_IO, "cannot open");
  EXPECT_ERR(ql_model_load_file(g_tmp, NULL, &m, &err), err, QL_ERR_IO, "not a regular file");
}

/* Every prefix of a valid model must give an error or a valid model. */
static void check_prefixes(const uint8_t *b, size_t n, size_t step) {
  for (size_t len = 0; len < n; len += (len < 4096 ? 1 : step)) {
    ql_error err = {0};
    ql_model *m = NULL;
    ql_status st = ql_model_load_memory(b, len, NULL, NULL, &m, &err);
    if (st == QL_OK) {
      assert_non_null(m);
      ql_model_free(m);
    } else {
      assert_null(m);
      assert_true(st == QL_ERR_INVALID_MODEL || st == QL_ERR_UNSUPPORTED);
      assert_true(strlen(err.msg) > 10);
    }
  }
}

static void test_truncated_every_prefix(void **state) {
  (void)state;
  const char *files[] = {NODE_DIR "/test_qlinearconv/model.onnx", NODE_DIR "/test_if_seq/model.onnx",
                         NODE_DIR "/test_dequantizelinear_int4/model.onnx", QL_SHARED_DIR "/models/mnist-float.onnx"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    size_t n;
    uint8_t *b = read_all(files[i], &n);
    if (!b) {
      print_message("skip %s (not found)\n", files[i]);
      continue;
    }
    check_prefixes(b, n, 1); /* every prefix length */
    free(b);
  }
  /* a real quantized model of 1 MB: every prefix up to 4 KiB, then every 997th */
  size_t n;
  uint8_t *b = read_all(QL_SHARED_DIR "/models/nanodet-plus-int8.onnx", &n);
  if (b) {
    check_prefixes(b, n, 997);
    free(b);
  }
  /* an in-test model with an initializer too */
  float w[4] = {1, 2, 3, 4};
  int64_t d = 4;
  pb init = pb_tensor_raw("w", 1, 1, &d, w, sizeof w);
  pb g = pb_graph_with_init(&init);
  pb m = pb_model(&g, 13);
  check_prefixes(m.p, m.n, 1);
  ql_error err;
  assert_int_equal(load_pb(&m, NULL, &err), QL_OK);
  pb_free(&m);
}

static void test_truncated_tensor_pb(void **state) {
  (void)state;
  size_t n;
  uint8_t *b = read_all(NODE_DIR "/test_qlinearmatmul_2D_uint8_float32/test_data_set_0/input_0.pb", &n);
  if (!b) skip();
  for (size_t len = 0; len < n; len++) {
    ql_error err = {0};
    ql_tensor *t = NULL;
    ql_status st = ql_tensor_load_pb_memory(b, len, &t, &err);
    if (st == QL_OK) ql_tensor_free(t);
    else assert_null(t), assert_true(strlen(err.msg) > 10);
  }
  ql_tensor *t = NULL;
  ql_error err;
  assert_int_equal(ql_tensor_load_pb_memory(b, n, &t, &err), QL_OK);
  ql_tensor_free(t);
  free(b);
}

static void test_wrong_wire_type(void **state) {
  (void)state;
  ql_error err;
  /* ModelProto.graph (7) sent as a varint */
  pb m = {0};
  pb_int(&m, 1, 8);
  pb_int(&m, 7, 1);
  EXPECT_ERR(load_pb(&m, NULL, &err), err, QL_ERR_INVALID_MODEL, "protobuf decoding failed");
  pb_free(&m);
  /* NodeProto.op_type (4) sent as fixed32 inside a real graph */
  pb node = {0}, g = {0};
  pb_str(&node, 1, "x");
  pb_f32(&node, 4, 1.0f);
  pb_msg(&g, 1, &node);
  m = pb_model(&g, 13);
  EXPECT_ERR(load_pb(&m, NULL, &err), err, QL_ERR_INVALID_MODEL, "protobuf decoding failed");
  pb_free(&m);
  /* wire types 3/4 (groups), 6 and 7 do not exist in ONNX */
  for (unsigned wt = 3; wt <= 7; wt++) {
    if (wt == 5) continue;
    pb_int(&m, 1, 8);
    pb_key(&m, 2, wt);
    pb_varint(&m, 0);
    EXPECT_ERR(load_pb(&m, NULL, &err), err, QL_ERR_INVALID_MODEL, "bad field key, wire type or length");
    pb_free(&m);
  }
  /* field number 0 */
  uint8_t zero_field[] = {0x02, 0x00};
  ql_model *mm = NULL;
  EXPECT_ERR(ql_model_load_memory(zero_field, sizeof zero_field, NULL, NULL, &mm, &err), err,
             QL_ERR_INVALID_MODEL, "bad field key");
  /* a length that runs past the end of the enclosing message */
  pb_int(&m, 1, 8);
  pb_key(&m, 7, 2);
  pb_varint(&m, 1000);
  pb_str(&m, 2, "x");
  EXPECT_ERR(load_pb(&m, NULL, &err), err, QL_ERR_INVALID_MODEL, "length at byte");
  pb_free(&m);
  /* an 11-byte varint */
  uint8_t longv[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  EXPECT_ERR(ql_model_load_memory(longv, sizeof longv, NULL, NULL, &mm, &err), err, QL_ERR_INVALID_MODEL,
             "not a valid ONNX protobuf");
  /* random bytes */
  uint8_t rnd[512];
  uint32_t s = 12345;
  for (int round = 0; round < 200; round++) {
    for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (uint8_t)((s = s * 1103515245u + 12345u) >> 16);
    ql_status st = ql_model_load_memory(rnd, sizeof rnd, NULL, NULL, &mm, &err);
    assert_int_not_equal(st, QL_OK);
    assert_null(mm);
  }
  /* no graph at all */
  pb nog = pb_model(NULL, 13);
  EXPECT_ERR(load_pb(&nog, NULL, &err), err, QL_ERR_INVALID_MODEL, "has no graph");
  pb_free(&nog);
}

/* ------------------------------------------------------------ tensors */

static void test_dims_overflow(void **state) {
  (void)state;
  ql_error err;
  int64_t big[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 2, big, "", 0), NULL, &err), err, QL_ERR_LIMIT,
             "dims product overflows");
  int64_t huge[3] = {INT64_MAX, 2, 2};
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 3, huge, "", 0), NULL, &err), err, QL_ERR_LIMIT, "overflows");
  /* fits in int64 but not in the 2 GiB default tensor limit */
  int64_t large[2] = {1 << 20, 1 << 20};
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 2, large, "", 0), NULL, &err), err, QL_ERR_LIMIT,
             "tensor size limit");
  /* element count times element size overflows size_t */
  int64_t m62[1] = {(int64_t)1 << 62};
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 11, 1, m62, "", 0), NULL, &err), err, QL_ERR_LIMIT, "overflows");
}

static void test_negative_dims(void **state) {
  (void)state;
  ql_error err;
  int64_t d[2] = {2, -3};
  float f[6] = {0};
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 2, d, f, sizeof f), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "dim 1 is negative (-3)");
  int64_t m[1] = {INT64_MIN};
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 1, m, f, 4), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "negative");
}

static void test_raw_data_size(void **state) {
  (void)state;
  ql_error err;
  int64_t d[2] = {2, 3};
  float f[7] = {0};
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 2, d, f, 5 * 4), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "raw_data has 20 bytes but dims and data_type float32 need 24");
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 2, d, f, 7 * 4), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "raw_data has 28 bytes");
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 2, d, f, 24 - 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "raw_data has 23 bytes");
  /* int4: 5 elements need 3 packed bytes */
  int64_t d5 = 5;
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 22, 1, &d5, "\x11\x22", 2), NULL, &err), err,
             QL_ERR_INVALID_MODEL, "need 3");
  assert_int_equal(load_with_init(pb_tensor_raw("w", 22, 1, &d5, "\x11\x22\x03", 3), NULL, &err), QL_OK);
  /* no data at all for a non-empty tensor */
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 2, d, NULL, 0), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "different number of values");
  /* exact size loads */
  assert_int_equal(load_with_init(pb_tensor_raw("w", 1, 2, d, f, 24), NULL, &err), QL_OK);
}

static void test_typed_data_counts(void **state) {
  (void)state;
  ql_error err;
  int64_t d = 3;
  /* int8 in int32_data: 2 values for 3 elements */
  pb t = pb_tensor_raw("w", 3, 1, &d, NULL, 0);
  pb packed = {0};
  pb_varint(&packed, 1);
  pb_varint(&packed, (uint64_t)-1);
  pb_msg(&t, 5, &packed);
  EXPECT_ERR(load_with_init(t, NULL, &err), err, QL_ERR_INVALID_MODEL,
             "different number of values than its dims (3 elements of int8)");
  /* the same unpacked, 4 values */
  t = pb_tensor_raw("w", 3, 1, &d, NULL, 0);
  for (int i = 0; i < 4; i++) pb_int(&t, 5, i);
  EXPECT_ERR(load_with_init(t, NULL, &err), err, QL_ERR_INVALID_MODEL, "different number of values");
  /* float_data short */
  t = pb_tensor_raw("w", 1, 1, &d, NULL, 0);
  pb_f32(&t, 4, 1.0f);
  EXPECT_ERR(load_with_init(t, NULL, &err), err, QL_ERR_INVALID_MODEL, "different number of values");
  /* int64_data long */
  t = pb_tensor_raw("w", 7, 1, &d, NULL, 0);
  for (int i = 0; i < 5; i++) pb_int(&t, 7, i);
  EXPECT_ERR(load_with_init(t, NULL, &err), err, QL_ERR_INVALID_MODEL, "different number of values");
  /* uint4 in int32_data: one packed byte per entry, 3 elements need 2 */
  t = pb_tensor_raw("w", 21, 1, &d, NULL, 0);
  pb_int(&t, 5, 0x21);
  EXPECT_ERR(load_with_init(t, NULL, &err), err, QL_ERR_INVALID_MODEL, "different number of values");
  /* strings: 2 for 3 */
  t = pb_tensor_raw("w", 8, 1, &d, NULL, 0);
  pb_str(&t, 6, "a");
  pb_str(&t, 6, "b");
  EXPECT_ERR(load_with_init(t, NULL, &err), err, QL_ERR_INVALID_MODEL, "different number of values");
  /* 1 GiB of dims and no data: refused before anything is allocated (found
   * by fuzz-tensor: a 14-byte .pb made the loader allocate and zero 1 GiB) */
  int64_t big = (int64_t)1 << 28;
  uint8_t bomb[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0x00, 0x10, 0x01, 0x42, 0x04, 'l', 'i', 'K', 'e'};
  ql_tensor *bt = NULL;
  EXPECT_ERR(ql_tensor_load_pb_memory(bomb, sizeof bomb, &bt, &err), err, QL_ERR_INVALID_MODEL,
             "268435455 elements");
  ql_fault_inject_set(0);
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 1, &big, NULL, 0), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "different number of values");
  assert_true(ql_fault_inject_set(0) < 200); /* a handful of small allocations, not a tensor */
  /* exact counts load */
  t = pb_tensor_raw("w", 3, 1, &d, NULL, 0);
  for (int i = 0; i < 3; i++) pb_int(&t, 5, i - 1);
  assert_int_equal(load_with_init(t, NULL, &err), QL_OK);
}

static void test_bad_data_type(void **state) {
  (void)state;
  ql_error err;
  int64_t d = 1;
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 0, 1, &d, "", 0), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "not a valid ONNX type");
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 99, 1, &d, "", 0), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "not a valid ONNX type");
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", -5, 1, &d, "", 0), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "not a valid ONNX type");
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 14, 1, &d, "12345678", 8), NULL, &err), err, QL_ERR_UNSUPPORTED,
             "not supported");
  /* no name */
  float f = 1;
  EXPECT_ERR(load_with_init(pb_tensor_raw(NULL, 1, 1, &d, &f, 4), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "has no name");
  /* a value_info with an element type that does not exist */
  pb g = pb_graph_with_init(NULL);
  pb vi = pb_value_info("bad", 1234, -1, NULL);
  pb_msg(&g, 13, &vi);
  pb m = pb_model(&g, 13);
  EXPECT_ERR(load_pb(&m, NULL, &err), err, QL_ERR_UNSUPPORTED, "elem_type 1234 is not a known ONNX data type");
  pb_free(&m);
}

/* ------------------------------------------------------------ external data */

static pb ext_tensor(const char *loc, const char *offset, const char *length, int64_t n) {
  pb t = pb_tensor_raw("w", 1, 1, &n, NULL, 0);
  const char *kv[3][2] = {{"location", loc}, {"offset", offset}, {"length", length}};
  for (int i = 0; i < 3; i++) {
    if (!kv[i][1]) continue;
    pb e = {0};
    pb_str(&e, 1, kv[i][0]);
    pb_str(&e, 2, kv[i][1]);
    pb_msg(&t, 13, &e);
  }
  pb_int(&t, 14, 1); /* EXTERNAL */
  return t;
}

/* Writes a model with the given external tensor into dir/model.onnx and loads it. */
static ql_status load_ext(const char *dir, pb t, ql_model **out, ql_error *err) {
  pb g = pb_graph_with_init(&t);
  pb m = pb_model(&g, 13);
  write_file(dir, "model.onnx", m.p, m.n);
  pb_free(&m);
  char path[512];
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  ql_model *mm = NULL;
  memset(err, 0, sizeof *err);
  ql_status st = ql_model_load_file(path, NULL, &mm, err);
  if (out) *out = mm;
  else ql_model_free(mm);
  return st;
}

static void test_external_data(void **state) {
  (void)state;
  ql_error err;
  char sub[256], path[512];
  snprintf(sub, sizeof sub, "%s/model", g_tmp);
  assert_int_equal(mkdir(sub, 0700), 0);
  /* data: 8 KiB of floats i*0.5 */
  float data[2048];
  for (int i = 0; i < 2048; i++) data[i] = (float)i * 0.5f;
  write_file(sub, "w.bin", data, sizeof data);
  write_file(g_tmp, "outside.bin", data, sizeof data);

  /* valid: mapped (offset 4096) and copied (offset 4: not 64-aligned) */
  const char *offs[] = {"0", "4096", "4", NULL};
  for (int k = 0; offs[k]; k++) {
    ql_model *m = NULL;
    assert_int_equal(load_ext(sub, ext_tensor("w.bin", offs[k], "32", 8), &m, &err), QL_OK);
    const ql_tensor *t = ql_graph_find_init(m->graph, "w");
    assert_non_null(t);
    long off = atol(offs[k]) / 4;
    for (int i = 0; i < 8; i++) assert_true(((float *)t->data)[i] == (float)(off + i) * 0.5f);
    assert_int_equal(((uintptr_t)t->data) & 15, 0);
    ql_model_free(m);
  }
  /* length omitted: the rest of the file must be exactly what dims need */
  assert_int_equal(load_ext(sub, ext_tensor("w.bin", "4096", NULL, 1024), NULL, &err), QL_OK);
  EXPECT_ERR(load_ext(sub, ext_tensor("w.bin", "4096", NULL, 1000), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "does not fit");

  /* attacks */
  EXPECT_ERR(load_ext(sub, ext_tensor("/etc/passwd", NULL, NULL, 4), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "is absolute");
  EXPECT_ERR(load_ext(sub, ext_tensor("../outside.bin", NULL, NULL, 2048), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "contains '..'");
  EXPECT_ERR(load_ext(sub, ext_tensor("x/../../outside.bin", NULL, NULL, 2048), NULL, &err), err,
             QL_ERR_INVALID_MODEL, "contains '..'");
  EXPECT_ERR(load_ext(sub, ext_tensor("..\\outside.bin", NULL, NULL, 2048), NULL, &err), err,
             QL_ERR_INVALID_MODEL, "contains '..'");
  EXPECT_ERR(load_ext(sub, ext_tensor("C:\\x.bin", NULL, NULL, 4), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "is absolute");
  snprintf(path, sizeof path, "%s/passwd", sub);
  assert_int_equal(symlink("/etc/passwd", path), 0);
  EXPECT_ERR(load_ext(sub, ext_tensor("passwd", "0", "4", 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "resolves outside the model's directory");
  snprintf(path, sizeof path, "%s/up", sub);
  assert_int_equal(symlink("..", path), 0);
  EXPECT_ERR(load_ext(sub, ext_tensor("up/outside.bin", "0", "4", 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "resolves outside the model's directory");
  snprintf(path, sizeof path, "%s/etc", sub);
  assert_int_equal(symlink("/etc", path), 0);
  EXPECT_ERR(load_ext(sub, ext_tensor("etc/passwd", "0", "4", 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "resolves outside the model's directory");
  /* a sibling directory whose name starts like the model's directory */
  char sib[256];
  snprintf(sib, sizeof sib, "%s/model2", g_tmp);
  assert_int_equal(mkdir(sib, 0700), 0);
  write_file(sib, "w.bin", data, 16);
  snprintf(path, sizeof path, "%s/sib", sub);
  assert_int_equal(symlink("../model2/w.bin", path), 0);
  EXPECT_ERR(load_ext(sub, ext_tensor("sib", "0", "16", 4), NULL, &err), err, QL_ERR_INVALID_MODEL, "outside");
  /* offset and length */
  EXPECT_ERR(load_ext(sub, ext_tensor("w.bin", "8192", "4", 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "does not fit the file (8192 bytes)");
  EXPECT_ERR(load_ext(sub, ext_tensor("w.bin", "8190", "4", 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "does not fit");
  EXPECT_ERR(load_ext(sub, ext_tensor("w.bin", "4611686018427387904", "4", 1), NULL, &err), err,
             QL_ERR_INVALID_MODEL, "does not fit");
  EXPECT_ERR(load_ext(sub, ext_tensor("w.bin", "0", "9223372036854775807", 1), NULL, &err), err,
             QL_ERR_INVALID_MODEL, "does not fit");
  EXPECT_ERR(load_ext(sub, ext_tensor("w.bin", "0", "8", 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "or the 4 bytes the dims need");
  EXPECT_ERR(load_ext(sub, ext_tensor("w.bin", "-1", "4", 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "offset '-1' is not a non-negative integer");
  EXPECT_ERR(load_ext(sub, ext_tensor("w.bin", "12abc", "4", 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "not a non-negative integer");
  EXPECT_ERR(load_ext(sub, ext_tensor("w.bin", "99999999999999999999999", "4", 1), NULL, &err), err,
             QL_ERR_INVALID_MODEL, "not a non-negative integer");
  /* missing location, missing file, a directory, a FIFO (must not block) */
  EXPECT_ERR(load_ext(sub, ext_tensor(NULL, "0", "4", 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "without a location");
  EXPECT_ERR(load_ext(sub, ext_tensor("nope.bin", "0", "4", 1), NULL, &err), err, QL_ERR_IO, "cannot be opened");
  assert_int_equal(mkdir(strcat(strcpy(path, sub), "/dir"), 0700), 0);
  EXPECT_ERR(load_ext(sub, ext_tensor("dir", "0", "4", 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "not a regular file");
  snprintf(path, sizeof path, "%s/fifo", sub);
  assert_int_equal(mkfifo(path, 0600), 0);
  EXPECT_ERR(load_ext(sub, ext_tensor("fifo", "0", "4", 1), NULL, &err), err, QL_ERR_INVALID_MODEL,
             "not a regular file");
  /* from memory without a base directory: external data is refused */
  pb t = ext_tensor("w.bin", "0", "32", 8);
  pb g = pb_graph_with_init(&t);
  pb m = pb_model(&g, 13);
  EXPECT_ERR(load_pb(&m, NULL, &err), err, QL_ERR_INVALID_MODEL, "loaded from memory");
  pb_free(&m);
  /* the outside file was never modified */
  size_t n;
  snprintf(path, sizeof path, "%s/outside.bin", g_tmp);
  uint8_t *b = read_all(path, &n);
  assert_int_equal(n, sizeof data);
  assert_memory_equal(b, data, sizeof data);
  free(b);
}

/* ------------------------------------------------------------ nesting and limits */

/* A model whose main graph holds an If nested `levels` deep. */
static pb nested_if_model(int levels) {
  pb inner = {0};
  {
    static const char *const in[] = {"c", NULL}, *const out[] = {"r0", NULL};
    pb n = pb_node("Identity", NULL, in, out, NULL, 0);
    pb_msg(&inner, 1, &n);
    pb vo = pb_value_info("r0", 9, 0, NULL);
    pb_msg(&inner, 12, &vo);
  }
  pb leaf = {0}; /* else_branch is always the leaf: the size stays linear */
  pb_put(&leaf, inner.p, inner.n);
  for (int i = 0; i < levels; i++) {
    char out[32], sub_out[32];
    snprintf(out, sizeof out, "r%d", i + 1);
    snprintf(sub_out, sizeof sub_out, "r%d", i);
    pb copy = {0};
    pb_put(&copy, leaf.p, leaf.n);
    pb attrs[2] = {pb_attr_graph("then_branch", &inner), pb_attr_graph("else_branch", &copy)};
    const char *in[] = {"c", NULL}, *outs[] = {out, NULL};
    pb n = pb_node("If", NULL, in, outs, attrs, 2);
    pb g = {0};
    pb_msg(&g, 1, &n);
    pb vo = pb_value_info(out, 9, 0, NULL);
    pb_msg(&g, 12, &vo);
    inner = g;
    (void)sub_out;
  }
  pb_free(&leaf);
  pb vi = pb_value_info("c", 9, 0, NULL);
  pb_msg(&inner, 11, &vi);
  return pb_model(&inner, 13);
}

static void test_deep_nesting(void **state) {
  (void)state;
  ql_error err;
  pb m = nested_if_model(3);
  assert_int_equal(load_pb(&m, NULL, &err), QL_OK);
  ql_limits lim = {.max_depth = 3};
  assert_int_equal(load_pb(&m, &lim, &err), QL_OK);
  lim.max_depth = 2;
  EXPECT_ERR(load_pb(&m, &lim, &err), err, QL_ERR_LIMIT, "nested deeper than the limit of 2");
  pb_free(&m);
  m = nested_if_model(17); /* default limit 16 */
  EXPECT_ERR(load_pb(&m, NULL, &err), err, QL_ERR_LIMIT, "limit of 16");
  pb_free(&m);
  /* far deeper: the pre-walk must stop it before protobuf-c recurses */
  m = nested_if_model(1000);
  EXPECT_ERR(load_pb(&m, NULL, &err), err, QL_ERR_LIMIT, "deeper than the limit of 16 graph levels");
  pb_free(&m);
  /* deeply nested sequence types in a value_info */
  pb t = {0}, tt = {0};
  pb_int(&tt, 1, 1);
  pb_msg(&t, 1, &tt);
  for (int i = 0; i < 5000; i++) {
    pb seq = {0}, outer = {0};
    pb_msg(&seq, 1, &t);
    pb_msg(&outer, 4, &seq);
    t = outer;
  }
  pb vi = {0};
  pb_str(&vi, 1, "deep");
  pb_msg(&vi, 2, &t);
  pb g = pb_graph_with_init(NULL);
  pb_msg(&g, 13, &vi);
  m = pb_model(&g, 13);
  EXPECT_ERR(load_pb(&m, NULL, &err), err, QL_ERR_LIMIT, "nesting (subgraphs or types)");
  pb_free(&m);
  /* raw bytes: 100,000 nested graph.node / node.attribute / attribute.g
   * openings with exact lengths (4-byte padded varints, 5 bytes a level) */
  size_t levels = 100000;
  pb raw = {0};
  pb_key(&raw, 7, 2);
  pb_varint(&raw, 5 * levels);
  static const unsigned fields[3] = {1, 5, 6};
  for (size_t i = 0; i < levels; i++) {
    uint32_t left = (uint32_t)(5 * (levels - i - 1));
    uint8_t v4[4] = {(uint8_t)((left & 0x7f) | 0x80), (uint8_t)(((left >> 7) & 0x7f) | 0x80),
                     (uint8_t)(((left >> 14) & 0x7f) | 0x80), (uint8_t)(left >> 21)};
    pb_key(&raw, fields[i % 3], 2);
    pb_put(&raw, v4, 4);
  }
  ql_model *mm = NULL;
  EXPECT_ERR(ql_model_load_memory(raw.p, raw.n, NULL, NULL, &mm, &err), err, QL_ERR_LIMIT,
             "deeper than the limit of 16 graph levels");
  assert_null(mm);
  pb_free(&raw);
}

static void test_limits(void **state) {
  (void)state;
  ql_error err;
  float f[64] = {0};
  int64_t d16 = 16;
  /* max_file_bytes */
  pb g = pb_graph_with_init(NULL);
  pb m = pb_model(&g, 13);
  ql_limits lim = {.max_file_bytes = m.n - 1};
  EXPECT_ERR(load_pb(&m, &lim, &err), err, QL_ERR_LIMIT, "over the limit of");
  lim.max_file_bytes = m.n;
  if (load_pb(&m, &lim, &err)) fail_msg("%s", err.msg);
  write_file(g_tmp, "small.onnx", m.p, m.n);
  char path[256];
  snprintf(path, sizeof path, "%s/small.onnx", g_tmp);
  ql_model *mm = NULL;
  lim.max_file_bytes = 10;
  EXPECT_ERR(ql_model_load_file(path, &lim, &mm, &err), err, QL_ERR_LIMIT, "over the limit of 10");
  pb_free(&m);
  /* max_tensor_bytes: 16 floats = 64 bytes */
  lim = (ql_limits){.max_tensor_bytes = 63};
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 1, &d16, f, 64), &lim, &err), err, QL_ERR_LIMIT,
             "tensor size limit of 63 bytes");
  lim.max_tensor_bytes = 64;
  assert_int_equal(load_with_init(pb_tensor_raw("w", 1, 1, &d16, f, 64), &lim, &err), QL_OK);
  /* max_total_bytes: two initializers of 64 bytes (one in a Constant node) */
  lim = (ql_limits){.max_total_bytes = 100};
  pb init = pb_tensor_raw("w", 1, 1, &d16, f, 64);
  g = pb_graph_with_init(&init);
  pb at = {0}, val = pb_tensor_raw("c", 1, 1, &d16, f, 64);
  pb_str(&at, 1, "value");
  pb_msg(&at, 5, &val);
  pb_int(&at, 20, 4);
  static const char *const cout[] = {"cv", NULL};
  pb cn = pb_node("Constant", "const", NULL, cout, &at, 1);
  pb_msg(&g, 1, &cn);
  m = pb_model(&g, 13);
  EXPECT_ERR(load_pb(&m, &lim, &err), err, QL_ERR_LIMIT, "total tensor bytes exceed the limit of 100");
  lim.max_total_bytes = 128;
  assert_int_equal(load_pb(&m, &lim, &err), QL_OK);
  /* max_nodes: that graph has 3 nodes */
  lim = (ql_limits){.max_nodes = 2};
  EXPECT_ERR(load_pb(&m, &lim, &err), err, QL_ERR_LIMIT, "more than 2 nodes");
  lim.max_nodes = 3;
  assert_int_equal(load_pb(&m, &lim, &err), QL_OK);
  pb_free(&m);
  /* max_rank: rank-3 initializer and rank-3 value_info */
  int64_t d3[3] = {1, 2, 2};
  lim = (ql_limits){.max_rank = 2};
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 3, d3, f, 16), &lim, &err), err, QL_ERR_LIMIT,
             "rank 3 exceeds the limit of 2");
  g = pb_graph_with_init(NULL);
  pb vi = pb_value_info("v3", 1, 3, d3);
  pb_msg(&g, 13, &vi);
  m = pb_model(&g, 13);
  EXPECT_ERR(load_pb(&m, &lim, &err), err, QL_ERR_LIMIT, "rank 3 exceeds the limit of 2");
  assert_int_equal(load_pb(&m, NULL, &err), QL_OK);
  pb_free(&m);
  /* rank 9 is over QL_MAX_RANK whatever the limits say */
  int64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  lim = (ql_limits){.max_rank = 100};
  EXPECT_ERR(load_with_init(pb_tensor_raw("w", 1, 9, d9, f, 4), &lim, &err), err, QL_ERR_LIMIT,
             "rank 9 exceeds the limit of 8");
  /* max_depth is covered by test_deep_nesting */
}

/* ------------------------------------------------------------ graph structure */

static pb two_node_graph(const char *a_in, const char *a_out, const char *b_in, const char *b_out, const char *gout) {
  pb g = {0};
  const char *i1[] = {a_in, NULL}, *o1[] = {a_out, NULL}, *i2[] = {b_in, NULL}, *o2[] = {b_out, NULL};
  pb n1 = pb_node("Relu", "A", i1, o1, NULL, 0), n2 = pb_node("Relu", "B", i2, o2, NULL, 0);
  pb_msg(&g, 1, &n1);
  pb_msg(&g, 1, &n2);
  pb_str(&g, 2, "g");
  int64_t d = 2;
  pb vx = pb_value_info("x", 1, 1, &d), vy = pb_value_info(gout, 1, 1, &d);
  pb_msg(&g, 11, &vx);
  pb_msg(&g, 12, &vy);
  return g;
}

static void test_graph_structure(void **state) {
  (void)state;
  ql_error err;
  struct {
    const char *a_in, *a_out, *b_in, *b_out, *gout;
    ql_status st;
    const char *msg;
  } cases[] = {
      {"x", "t", "t", "y", "y", QL_OK, ""},
      {"t", "u", "x", "t", "u", QL_OK, ""}, /* unsorted but acyclic: accepted */
      {"nowhere", "t", "t", "y", "y", QL_ERR_INVALID_MODEL, "reads 'nowhere', which is not a graph input"},
      {"x", "t", "t", "t", "t", QL_ERR_INVALID_MODEL, "value 't' is produced by node 'B' (Relu) but is already"},
      {"x", "x", "x", "y", "y", QL_ERR_INVALID_MODEL, "already a graph input"},
      {"u", "t", "t", "u", "u", QL_ERR_INVALID_MODEL, "is part of a cycle"},
      {"t", "t", "x", "y", "y", QL_ERR_INVALID_MODEL, "is part of a cycle"}, /* self loop */
      {"x", "t", "t", "y", "z", QL_ERR_INVALID_MODEL, "output 'z' is not produced by any node"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pb g = two_node_graph(cases[i].a_in, cases[i].a_out, cases[i].b_in, cases[i].b_out, cases[i].gout);
    pb m = pb_model(&g, 13);
    ql_status st = load_pb(&m, NULL, &err);
    if (cases[i].st == QL_OK) assert_int_equal(st, QL_OK);
    else EXPECT_ERR(st, err, cases[i].st, cases[i].msg);
    pb_free(&m);
  }
  /* duplicate initializer */
  float f = 1;
  int64_t d = 1;
  pb i1 = pb_tensor_raw("w", 1, 1, &d, &f, 4), i2 = pb_tensor_raw("w", 1, 1, &d, &f, 4);
  pb g = pb_graph_with_init(&i1);
  pb_msg(&g, 5, &i2);
  pb m = pb_model(&g, 13);
  EXPECT_ERR(load_pb(&m, NULL, &err), err, QL_ERR_INVALID_MODEL, "initializer 'w' is defined twice");
  pb_free(&m);
  /* a subgraph reading a value produced after the If by a node that consumes
   * the If's output: a cycle through the subgraph */
  pb sub = {0};
  {
    static const char *const in[] = {"late", NULL}, *const out[] = {"s", NULL};
    pb n = pb_node("Identity", NULL, in, out, NULL, 0);
    pb_msg(&sub, 1, &n);
    pb vo = pb_value_info("s", 1, -1, NULL);
    pb_msg(&sub, 12, &vo);
  }
  pb copy = {0};
  pb_put(&copy, sub.p, sub.n);
  pb attrs[2] = {pb_attr_graph("then_branch", &sub), pb_attr_graph("else_branch", &copy)};
  static const char *const ifin[] = {"c", NULL}, *const ifout[] = {"r", NULL};
  static const char *const lin[] = {"r", NULL}, *const lout[] = {"late", NULL};
  pb nif = pb_node("If", "if", ifin, ifout, attrs, 2), nl = pb_node("Identity", "after", lin, lout, NULL, 0);
  g = (pb){0};
  pb_msg(&g, 1, &nif);
  pb_msg(&g, 1, &nl);
  pb vc = pb_value_info("c", 9, 0, NULL), vl = pb_value_info("late", 1, -1, NULL);
  pb_msg(&g, 11, &vc);
  pb_msg(&g, 12, &vl);
  m = pb_model(&g, 13);
  EXPECT_ERR(load_pb(&m, NULL, &err), err, QL_ERR_INVALID_MODEL, "cycle");
  pb_free(&m);
  /* a subgraph reading a name defined nowhere */
  m = nested_if_model(2);
  assert_int_equal(load_pb(&m, NULL, &err), QL_OK);
  pb_free(&m);
}

/* ------------------------------------------------------------ round trip */

static void cmp_tensor(const ql_tensor *a, const ql_tensor *b) {
  assert_int_equal(a->dtype, b->dtype);
  assert_int_equal(a->rank, b->rank);
  for (int i = 0; i < a->rank; i++) assert_int_equal(a->dims[i], b->dims[i]);
  assert_string_equal(a->name ? a->name : "", b->name ? b->name : "");
  if (a->dtype == QL_STRING) {
    for (int64_t i = 0; i < a->numel; i++) assert_string_equal(((char **)a->data)[i], ((char **)b->data)[i]);
  } else if (a->numel) {
    assert_memory_equal(a->data, b->data, ql_tensor_nbytes(a));
  }
}

static void cmp_graph(const ql_graph *a, const ql_graph *b);

static void cmp_attr(const ql_attr *a, const ql_attr *b) {
  assert_string_equal(a->name, b->name);
  assert_int_equal(a->type, b->type);
  switch (a->type) {
  case QL_ATTR_FLOAT: assert_memory_equal(&a->f, &b->f, sizeof a->f); break;
  case QL_ATTR_INT: assert_int_equal(a->i, b->i); break;
  case QL_ATTR_STRING:
    assert_int_equal(a->slen, b->slen);
    assert_memory_equal(a->s, b->s, a->slen);
    break;
  case QL_ATTR_TENSOR: cmp_tensor(a->t, b->t); break;
  case QL_ATTR_GRAPH: cmp_graph(a->g, b->g); break;
  case QL_ATTR_FLOATS:
    assert_int_equal(a->n, b->n);
    if (a->n) assert_memory_equal(a->floats, b->floats, a->n * sizeof(float));
    break;
  case QL_ATTR_INTS:
    assert_int_equal(a->n, b->n);
    if (a->n) assert_memory_equal(a->ints, b->ints, a->n * sizeof(int64_t));
    break;
  case QL_ATTR_STRINGS:
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) assert_string_equal(a->strings[i], b->strings[i]);
    break;
  case QL_ATTR_TENSORS:
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) cmp_tensor(a->tensors[i], b->tensors[i]);
    break;
  case QL_ATTR_GRAPHS:
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) cmp_graph(a->graphs[i], b->graphs[i]);
    break;
  default: break;
  }
}

static void cmp_vi(const ql_value_info *a, const ql_value_info *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(a[i].name, b[i].name);
    assert_int_equal(a[i].is_tensor, b[i].is_tensor);
    if (!a[i].is_tensor) continue;
    assert_int_equal(a[i].elem_type, b[i].elem_type);
    assert_int_equal(a[i].rank, b[i].rank);
    for (int k = 0; k < a[i].rank; k++) {
      assert_int_equal(a[i].dims[k].value, b[i].dims[k].value);
      assert_string_equal(a[i].dims[k].param ? a[i].dims[k].param : "", b[i].dims[k].param ? b[i].dims[k].param : "");
    }
  }
}

static void cmp_graph(const ql_graph *a, const ql_graph *b) {
  assert_string_equal(a->name, b->name);
  assert_int_equal(a->n_nodes, b->n_nodes);
  for (size_t i = 0; i < a->n_nodes; i++) {
    const ql_node *x = a->nodes[i], *y = b->nodes[i];
    assert_string_equal(x->op_type, y->op_type);
    assert_string_equal(ql_domain_canon(x->domain), ql_domain_canon(y->domain));
    assert_string_equal(x->name ? x->name : "", y->name ? y->name : "");
    assert_int_equal(x->n_inputs, y->n_inputs);
    for (size_t k = 0; k < x->n_inputs; k++) assert_string_equal(x->inputs[k], y->inputs[k]);
    assert_int_equal(x->n_outputs, y->n_outputs);
    for (size_t k = 0; k < x->n_outputs; k++) assert_string_equal(x->outputs[k], y->outputs[k]);
    assert_int_equal(x->n_attrs, y->n_attrs);
    for (size_t k = 0; k < x->n_attrs; k++) cmp_attr(&x->attrs[k], &y->attrs[k]);
  }
  assert_int_equal(a->n_inits, b->n_inits);
  for (size_t i = 0; i < a->n_inits; i++) cmp_tensor(a->inits[i], b->inits[i]);
  assert_int_equal(a->n_inputs, b->n_inputs);
  cmp_vi(a->inputs, b->inputs, a->n_inputs);
  assert_int_equal(a->n_outputs, b->n_outputs);
  cmp_vi(a->outputs, b->outputs, a->n_outputs);
  assert_int_equal(a->n_value_info, b->n_value_info);
  cmp_vi(a->value_info, b->value_info, a->n_value_info);
  assert_int_equal(a->n_annotations, b->n_annotations);
}

static void roundtrip_file(const char *path) {
  ql_error err = {0};
  ql_model *a = NULL, *b = NULL;
  if (ql_model_load_file(path, NULL, &a, &err)) fail_msg("%s: %s", path, err.msg);
  char out[256];
  snprintf(out, sizeof out, "%s/rt.onnx", g_tmp);
  if (ql_model_save_file(a, out, &err)) fail_msg("save %s: %s", path, err.msg);
  if (ql_model_load_file(out, NULL, &b, &err)) fail_msg("reload %s: %s", path, err.msg);
  /* QL_RESAVE_DIR=dir keeps the saved copies for the ONNX Runtime check
   * (tests/data/roundtrip/ort_check.py) */
  const char *keep = getenv("QL_RESAVE_DIR");
  if (keep) {
    const char *nd = strstr(path, "/node/");
    const char *base = strrchr(path, '/') + 1;
    char label[256], kp[1024];
    if (nd) snprintf(label, sizeof label, "%.*s.onnx", (int)strcspn(nd + 6, "/"), nd + 6);
    else snprintf(label, sizeof label, "%s", base);
    snprintf(kp, sizeof kp, "%s/%s", keep, label);
    if (ql_model_save_file(a, kp, &err)) fail_msg("%s: %s", kp, err.msg);
  }
  assert_int_equal(a->ir_version, b->ir_version);
  assert_int_equal(a->n_opsets, b->n_opsets);
  for (size_t i = 0; i < a->n_opsets; i++) {
    assert_string_equal(a->opsets[i].domain, b->opsets[i].domain);
    assert_int_equal(a->opsets[i].version, b->opsets[i].version);
  }
  assert_int_equal(a->n_functions, b->n_functions);
  assert_int_equal(a->n_metadata, b->n_metadata);
  cmp_graph(a->graph, b->graph);
  /* saving the reloaded model gives the same bytes: the encoding is stable */
  uint8_t *b1 = NULL, *b2 = NULL;
  size_t n1, n2;
  assert_int_equal(ql_model_save_memory(a, &b1, &n1, &err), QL_OK);
  assert_int_equal(ql_model_save_memory(b, &b2, &n2, &err), QL_OK);
  assert_int_equal(n1, n2);
  assert_memory_equal(b1, b2, n1);
  ql_free(b1);
  ql_free(b2);
  ql_model_free(a);
  ql_model_free(b);
}

static void test_roundtrip_models(void **state) {
  (void)state;
  int n = 0;
  DIR *d = opendir(QL_SHARED_DIR "/models");
  if (!d) skip();
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 6 || strcmp(e->d_name + l - 5, ".onnx")) continue;
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s", QL_SHARED_DIR, e->d_name);
    roundtrip_file(path);
    n++;
  }
  closedir(d);
  print_message("round trip: %d shared models\n", n);
  assert_true(n >= 8);
}

static void test_roundtrip_quant_node_tests(void **state) {
  (void)state;
  FILE *f = fopen(QL_SHARED_DIR "/onnx-node-tests/QUANT_TESTS.txt", "r");
  if (!f) skip();
  char line[1024];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    line[strcspn(line, "\t \n")] = 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/model.onnx", NODE_DIR, line);
    if (access(path, R_OK)) continue; /* listed in QUANT_TESTS.txt but not shipped */
    roundtrip_file(path);
    n++;
  }
  fclose(f);
  /* subgraphs, sequences and functions too */
  const char *more[] = {"test_if_seq", "test_loop11", "test_scan9_sum", "test_if_opt", "test_range_float_type_positive_delta_expanded"};
  for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/model.onnx", NODE_DIR, more[i]);
    if (access(path, R_OK) == 0) roundtrip_file(path), n++;
  }
  print_message("round trip: %d quantization node-test models\n", n);
  assert_true(n >= 45);
}

/* The loader is not only for quantized models: every node test. */
static void test_roundtrip_all_node_tests(void **state) {
  (void)state;
  DIR *d = opendir(NODE_DIR);
  if (!d) skip();
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/model.onnx", NODE_DIR, e->d_name);
    if (access(path, R_OK)) continue;
    roundtrip_file(path);
    n++;
  }
  closedir(d);
  print_message("round trip: %d node-test models\n", n);
  assert_true(n >= 1700);
}

/* A saved copy runs exactly like the original: same outputs, bit for bit,
 * on the node tests' own inputs (only for models our ops can run). */
static int run_dir(const char *model_path, const char *data, ql_tensor **out, size_t *n_out) {
  ql_error err;
  ql_model *m = NULL;
  ql_session *s = NULL;
  if (ql_model_load_file(model_path, NULL, &m, &err)) fail_msg("%s: %s", model_path, err.msg);
  ql_status st = ql_session_create(m, NULL, &s, &err);
  ql_model_free(m);
  if (st) return -1;
  size_t ni = ql_session_input_count(s);
  ql_tensor *in[16] = {0};
  int rc = ni <= 16 ? 0 : -1;
  for (size_t i = 0; i < ni && !rc; i++) {
    char p[1200];
    snprintf(p, sizeof p, "%s/input_%zu.pb", data, i);
    if (ql_tensor_load_pb(p, &in[i], &err)) rc = -1;
  }
  *n_out = ql_session_output_count(s);
  if (!rc && (*n_out > 16 || ql_session_run(s, (const ql_tensor *const *)in, ni, out, *n_out, &err))) rc = -1;
  for (size_t i = 0; i < ni && i < 16; i++) ql_tensor_free(in[i]);
  ql_session_free(s);
  return rc;
}

static void test_roundtrip_runs_the_same(void **state) {
  (void)state;
  FILE *f = fopen(QL_SHARED_DIR "/onnx-node-tests/QUANT_TESTS.txt", "r");
  if (!f) skip();
  char line[1024];
  int ran = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    line[strcspn(line, "\t \n")] = 0;
    char path[1200], data[1200], saved[256];
    snprintf(path, sizeof path, "%s/%s/model.onnx", NODE_DIR, line);
    snprintf(data, sizeof data, "%s/%s/test_data_set_0", NODE_DIR, line);
    if (access(path, R_OK)) continue;
    ql_tensor *a[16] = {0}, *b[16] = {0};
    size_t na = 0, nb = 0;
    if (run_dir(path, data, a, &na)) continue; /* an op we do not run yet */
    ql_error err;
    ql_model *m = NULL;
    assert_int_equal(ql_model_load_file(path, NULL, &m, &err), QL_OK);
    snprintf(saved, sizeof saved, "%s/saved.onnx", g_tmp);
    assert_int_equal(ql_model_save_file(m, saved, &err), QL_OK);
    ql_model_free(m);
    if (run_dir(saved, data, b, &nb)) fail_msg("%s: the saved copy does not run", line);
    assert_int_equal(na, nb);
    for (size_t j = 0; j < na; j++) {
      cmp_tensor(a[j], b[j]);
      ql_tensor_free(a[j]);
      ql_tensor_free(b[j]);
    }
    ran++;
  }
  fclose(f);
  print_message("saved copies ran identically: %d quantization node tests\n", ran);
  assert_true(ran >= 20);
}

/* err may be NULL: the status alone must still be right. */
static void test_null_err(void **state) {
  (void)state;
  DIR *d = opendir(QL_TEST_DATA "/hostile");
  if (!d) skip();
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 6 || strcmp(e->d_name + l - 5, ".onnx")) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/hostile/%s", QL_TEST_DATA, e->d_name);
    ql_error err;
    ql_model *a = NULL, *b = NULL;
    ql_status with = ql_model_load_file(path, NULL, &a, &err);
    ql_status without = ql_model_load_file(path, NULL, &b, NULL);
    if (with != without) fail_msg("%s: status %d with an error struct, %d without", e->d_name, with, without);
    ql_model_free(a);
    ql_model_free(b);
    n++;
  }
  closedir(d);
  assert_true(n >= 50);
}

static void test_save_errors(void **state) {
  (void)state;
  ql_error err;
  ql_model *m = NULL;
  assert_int_equal(ql_model_load_file(NODE_DIR "/test_quantizelinear/model.onnx", NULL, &m, &err), QL_OK);
  EXPECT_ERR(ql_model_save_file(m, "/nonexistent-dir/x.onnx", &err), err, QL_ERR_IO, "temporary file");
  EXPECT_ERR(ql_model_save_file(NULL, "/tmp/x.onnx", &err), err, QL_ERR_INVALID_ARGUMENT, "NULL");
  /* the atomic write leaves nothing but the target */
  char path[256];
  snprintf(path, sizeof path, "%s/atomic", g_tmp);
  assert_int_equal(mkdir(path, 0700), 0);
  strcat(path, "/m.onnx");
  assert_int_equal(ql_model_save_file(m, path, &err), QL_OK);
  assert_int_equal(ql_model_save_file(m, path, &err), QL_OK);
  *strrchr(path, '/') = 0;
  DIR *d = opendir(path);
  int files = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') files++;
  closedir(d);
  assert_int_equal(files, 1);
  /* the saved file has the mode a plain create would give, not mkstemp's 0600 */
  mode_t um = umask(022);
  umask(um);
  strcat(path, "/m.onnx");
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0666 & ~um);
  ql_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_file),
      cmocka_unit_test(test_truncated_every_prefix),
      cmocka_unit_test(test_truncated_tensor_pb),
      cmocka_unit_test(test_wrong_wire_type),
      cmocka_unit_test(test_dims_overflow),
      cmocka_unit_test(test_negative_dims),
      cmocka_unit_test(test_raw_data_size),
      cmocka_unit_test(test_typed_data_counts),
      cmocka_unit_test(test_bad_data_type),
      cmocka_unit_test(test_external_data),
      cmocka_unit_test(test_deep_nesting),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_graph_structure),
      cmocka_unit_test(test_roundtrip_models),
      cmocka_unit_test(test_roundtrip_quant_node_tests),
      cmocka_unit_test(test_roundtrip_all_node_tests),
      cmocka_unit_test(test_roundtrip_runs_the_same),
      cmocka_unit_test(test_null_err),
      cmocka_unit_test(test_save_errors),
  };
  return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}

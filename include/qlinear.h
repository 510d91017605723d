/*
 * qlinear: load, verify, quantize and run quantized ONNX models on the CPU.
 *
 * One public header. Conventions:
 *  - every call that can fail returns ql_status and takes a `ql_error *err`
 *    (may be NULL) as its last argument; the message is written into the
 *    caller's struct, there is no global error state;
 *  - every create/load has a matching free, and free(NULL) is a no-op;
 *  - a session is independent of the model it was created from: the model
 *    may be freed right after ql_session_create.
 */
#ifndef QLINEAR_H
#define QLINEAR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QL_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------- status */
typedef enum ql_status {
  QL_OK = 0,
  QL_ERR_INVALID_ARGUMENT,  /* the caller passed something wrong */
  QL_ERR_INVALID_MODEL,     /* the model breaks an ONNX rule */
  QL_ERR_UNSUPPORTED,       /* valid, but qlinear does not implement it */
  QL_ERR_UNSUPPORTED_HARDWARE,
  QL_ERR_OUT_OF_MEMORY,
  QL_ERR_IO,
  QL_ERR_INVALID_STATE,
  QL_ERR_LIMIT,             /* a configured safety limit was exceeded */
  QL_ERR_INTERNAL
} ql_status;

typedef struct ql_error {
  ql_status code;
  char msg[512];
} ql_error;

const char *ql_status_str(ql_status s);

/* ---------------------------------------------------------------- tensors */
/* Element types, numbered as ONNX TensorProto.DataType. */
typedef enum ql_dtype {
  QL_UNDEFINED = 0, QL_FLOAT = 1, QL_UINT8 = 2, QL_INT8 = 3, QL_UINT16 = 4,
  QL_INT16 = 5, QL_INT32 = 6, QL_INT64 = 7, QL_STRING = 8, QL_BOOL = 9,
  QL_FLOAT16 = 10, QL_DOUBLE = 11, QL_UINT32 = 12, QL_UINT64 = 13,
  QL_COMPLEX64 = 14, QL_COMPLEX128 = 15, QL_BFLOAT16 = 16,
  QL_FLOAT8E4M3FN = 17, QL_FLOAT8E4M3FNUZ = 18, QL_FLOAT8E5M2 = 19,
  QL_FLOAT8E5M2FNUZ = 20, QL_UINT4 = 21, QL_INT4 = 22, QL_FLOAT4E2M1 = 23,
  QL_FLOAT8E8M0 = 24, QL_UINT2 = 25, QL_INT2 = 26,
  QL_DTYPE_COUNT
} ql_dtype;

#define QL_MAX_RANK 8

/*
 * A dense, row-major tensor in host memory. Sub-byte types (4-bit, 2-bit,
 * float4) are held unpacked, one element per byte (signed types sign-extended);
 * float16/bfloat16/float8 are held as their bit patterns. STRING tensors hold
 * `char *` per element (each owned by the tensor).
 */
typedef struct ql_tensor {
  ql_dtype dtype;
  int rank;
  int64_t dims[QL_MAX_RANK];
  int64_t numel;
  void *data;
  char *name;        /* may be NULL */
  /* private */
  uint32_t flags_;
  size_t map_len_;
  void *map_base_;
} ql_tensor;

const char *ql_dtype_name(ql_dtype t);
/* Bytes per element in memory (1 for sub-byte types, 0 for unknown). */
size_t ql_dtype_size(ql_dtype t);

/* A zero-filled tensor. */
ql_status ql_tensor_create(ql_dtype dtype, int rank, const int64_t *dims,
                           ql_tensor **out, ql_error *err);
void ql_tensor_free(ql_tensor *t);
ql_status ql_tensor_clone(const ql_tensor *src, ql_tensor **out, ql_error *err);
/* Read/write one serialized TensorProto (the .pb files of ONNX tests). */
ql_status ql_tensor_load_pb(const char *path, ql_tensor **out, ql_error *err);
ql_status ql_tensor_load_pb_memory(const void *buf, size_t len, ql_tensor **out,
                                   ql_error *err);
ql_status ql_tensor_save_pb(const ql_tensor *t, const char *path, ql_error *err);
/* Element i as double (works for every numeric type, float8/4 included). */
double ql_tensor_get_f64(const ql_tensor *t, int64_t i);

/* ---------------------------------------------------------------- limits */
/* Safety limits for untrusted models; 0 means "use the default". */
typedef struct ql_limits {
  uint64_t max_file_bytes;     /* default 4 GiB */
  uint64_t max_tensor_bytes;   /* one tensor; default 2 GiB */
  uint64_t max_total_bytes;    /* all initializers; default 8 GiB */
  uint64_t max_nodes;          /* default 1,000,000 */
  uint32_t max_depth;          /* subgraph nesting, default 16 */
  uint32_t max_rank;           /* default QL_MAX_RANK */
} ql_limits;

/* ---------------------------------------------------------------- models */
typedef struct ql_model ql_model;

ql_status ql_model_load_file(const char *path, const ql_limits *limits,
                             ql_model **out, ql_error *err);
/* base_dir: where external data may be read from; NULL forbids external data. */
ql_status ql_model_load_memory(const void *buf, size_t len, const char *base_dir,
                               const ql_limits *limits, ql_model **out,
                               ql_error *err);
/* Writes to a temporary file beside `path` and renames it into place, so a
 * failure never leaves a partial file. All tensors are written inline. */
ql_status ql_model_save_file(const ql_model *m, const char *path, ql_error *err);
void ql_model_free(ql_model *m);

/* ---------------------------------------------------------------- sessions */
typedef struct ql_session ql_session;

typedef struct ql_session_options {
  int threads;            /* 0 = 1 */
  int reference_only;     /* 1: run the portable reference ops only */
  const char *isa;        /* NULL: best available; "scalar", "avx2", "avx512vnni", "amx" */
  uint64_t max_tensor_bytes; /* cap on any tensor a run creates; 0 = 4 GiB */
} ql_session_options;

ql_status ql_session_create(const ql_model *m, const ql_session_options *opt,
                            ql_session **out, ql_error *err);
size_t ql_session_input_count(const ql_session *s);
size_t ql_session_output_count(const ql_session *s);
const char *ql_session_input_name(const ql_session *s, size_t i);
const char *ql_session_output_name(const ql_session *s, size_t i);
/* Declared shape of input i: rank (or -1 when unknown) and dims, with -1 for
 * symbolic dimensions. Returns the element type. */
ql_dtype ql_session_input_info(const ql_session *s, size_t i, int *rank,
                               int64_t dims[QL_MAX_RANK]);
/*
 * Runs the graph. inputs[i] binds graph input i (initializers excluded),
 * n_inputs must equal ql_session_input_count. On success outputs[j] receives a
 * new tensor owned by the caller (free with ql_tensor_free). A session may be
 * run from several threads at once.
 */
ql_status ql_session_run(ql_session *s, const ql_tensor *const *inputs,
                         size_t n_inputs, ql_tensor **outputs, size_t n_outputs,
                         ql_error *err);
/*
 * Like ql_session_run, but writes into output tensors the caller made
 * (pre-bound outputs, as ONNX Runtime's IO binding): outputs[j] stays owned
 * by the caller and must already have the element type and shape graph
 * output j gets in this run, else the run fails with
 * QL_ERR_INVALID_ARGUMENT naming the output and both shapes. The ops write
 * straight into outputs[j]->data (no copy, no allocation); after a failure
 * its contents are unspecified. Bound tensors must not overlap each other
 * or an input; string outputs cannot be bound. A session reuses its
 * intermediate buffers from run to run, so once a run with the same input
 * shapes has completed, a run_into allocates nothing itself.
 */
ql_status ql_session_run_into(ql_session *s, const ql_tensor *const *inputs,
                              size_t n_inputs, ql_tensor *const *outputs,
                              size_t n_outputs, ql_error *err);
void ql_session_free(ql_session *s);

/* ---------------------------------------------------------------- verify */
/* Static checks of quantization parameters (docs/verify.md lists the rules).
 * Returns QL_OK whether or not violations were found; read them from the
 * report. QL_VERIFY_STRICT: every quantized tensor must be annotated and
 * parameters computed at run time (other than by DynamicQuantizeLinear) are
 * errors. */
typedef struct ql_verify_report ql_verify_report;
#define QL_VERIFY_STRICT 1u
ql_status ql_model_verify(const ql_model *m, unsigned flags, ql_verify_report **out, ql_error *err);
size_t ql_verify_report_count(const ql_verify_report *r);
size_t ql_verify_report_errors(const ql_verify_report *r);
/* Finding i; the strings belong to the report. */
ql_status ql_verify_report_get(const ql_verify_report *r, size_t i, const char **rule, int *is_error,
                               const char **node, const char **tensor, const char **message);
void ql_verify_report_free(ql_verify_report *r);
/*
 * Static quantization (docs/quantize.md): calibrates on the samples in
 * calib_dir (one subdirectory per sample holding input_N.pb or input_N.npy,
 * the layout `qlinear quantize --calib` reads; at most 1000 are used) and
 * returns a new model owned by the caller. Scales and zero points follow
 * ONNX Runtime's quantization tool; the result passes
 * ql_model_verify(QL_VERIFY_STRICT), or the call fails naming the first
 * finding. opt may be NULL (MinMax, QDQ, per tensor, one thread).
 */
typedef enum ql_quantize_method {
  QL_QUANTIZE_MINMAX = 0,
  QL_QUANTIZE_ENTROPY,
  QL_QUANTIZE_PERCENTILE, /* 99.999th percentile */
  QL_QUANTIZE_MSE         /* qlinear's own: least expected squared error per activation */
} ql_quantize_method;
typedef struct ql_quantize_options {
  ql_quantize_method method;
  int qoperator;          /* 1: QLinearConv/QLinearMatMul/com.microsoft QLinear* instead of QDQ */
  int per_channel;        /* per-output-channel weights (and channel equalization) */
  int bias_correction;
  double target_sqnr_db;  /* > 0: keep the tensors that cost the most out of int8 until every
                             output reaches this SQNR on (up to 8 of) the calibration samples */
  int keep_int16;         /* with target_sqnr_db: those tensors in int16 rather than float */
  int threads;            /* 0 = 1 */
} ql_quantize_options;
ql_status ql_quantize_static(const ql_model *in, const char *calib_dir, const ql_quantize_options *opt,
                             ql_model **out, ql_error *err);

/* Writes GraphProto.quantization_annotation for every quantized tensor of m;
 * *n_written gets the count. Save with ql_model_save_file. */
ql_status ql_model_annotate(ql_model *m, size_t *n_written, ql_error *err);

/* ---------------------------------------------------------------- allocation */
/* Test hook (SQLite-style fault injection): fail the n-th allocation from now
 * on (1 = the next one); 0 disables. Returns the number of allocations made
 * since the last call. Process-wide; for tests only. */
uint64_t ql_fault_inject_set(uint64_t fail_at);

#ifdef __cplusplus
}
#endif
#endif

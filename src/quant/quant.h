/* The quantizer: float model + calibration samples -> quantized model.
 * Scale/zero-point rules follow ONNX Runtime's quantization tool
 * (SPEC.md section 6) so that the same ranges give the same parameters. */
#ifndef QL_QUANT_H
#define QL_QUANT_H

#include "../ir/ir.h"
#include "../runtime/runtime.h"

/* MSE is qlinear's own (not an ONNX Runtime method): per tensor, the range
 * that minimizes the expected squared quantization error on the calibration
 * histogram (clipping vs rounding), see calibrate.c. */
typedef enum { QL_CALIB_MINMAX, QL_CALIB_ENTROPY, QL_CALIB_PERCENTILE, QL_CALIB_MSE } ql_calib_method;
typedef enum { QL_QFORMAT_QDQ, QL_QFORMAT_QOPERATOR } ql_qformat;

typedef struct ql_quant_options {
  ql_calib_method method;
  double percentile;          /* default 99.999 */
  ql_qformat format;
  int per_channel;
  ql_dtype activation_type;   /* QL_UINT8 or QL_INT8 (default QL_INT8, as quantize_static) */
  ql_dtype weight_type;       /* QL_INT8, QL_UINT8, QL_INT4, QL_UINT4 */
  int symmetric_activations;
  int symmetric_weights;      /* -1: default (symmetric for signed weight types) */
  int reduce_range;
  const char *const *exclude; /* node names kept in float */
  size_t n_exclude;
  const char *const *keep_float; /* activations and weights left in float (--target-sqnr) */
  size_t n_keep_float;
  int keep_int16;             /* ... or quantized to int16 instead (com.microsoft Q/DQ below opset 21): the
                                 model stays integer-only; a Conv/Gemm/MatMul reading one keeps a float bias */
  const char *const *op_types;/* NULL: the default set */
  size_t n_op_types;
  const ql_model *source;     /* dynamic: the model before constant folding (ORT's MatMulConstBOnly
                                 leaves MatMul alone when B is computed, even from constants) */
  int no_equalize;            /* no channel equalization between Convs (ql_equalize_channels) */
  int bias_correction;        /* shift int32 biases by the measured per-channel mean error (biascorr.c) */
  int progress;               /* progress bar on stderr */
  int threads;
} ql_quant_options;

void ql_quant_options_default(ql_quant_options *o);

/* A calibration set: each sample binds every graph input, in order. Samples
 * from ql_samples_load stay on disk and are read one at a time (memory does
 * not grow with the sample count); a caller may instead fill `inputs`. */
typedef struct ql_samples {
  size_t n, n_inputs;
  ql_tensor ***inputs; /* in memory: inputs[i][k]; NULL when read from disk */
  char **paths;        /* on disk: a sample directory, or a single-input file */
} ql_samples;

/* Lists DIR/<sample>/input_N.pb (or .npy) for every subdirectory, sorted by
 * name; a DIR that directly holds input_N files is one sample; for
 * single-input models a DIR of .pb/.npy files is one sample per file.
 * Nothing is read yet beyond checking that the files exist. */
ql_status ql_samples_load(const char *dir, size_t n_inputs, size_t max_samples, ql_samples *out, ql_error *err);
void ql_samples_free(ql_samples *s);
/* The n_inputs tensors of sample i (read from disk, or borrowed from
 * `inputs`); give them back with ql_samples_release. */
ql_status ql_samples_get(const ql_samples *s, size_t i, ql_tensor **in, ql_error *err);
void ql_samples_release(const ql_samples *s, ql_tensor **in);
/* Runs sample i through session s with fn observing every value the run
 * produces (and, with observe_inputs, the graph inputs, which no node
 * produces); the sample and the outputs are freed before it returns. */
ql_status ql_samples_run_observed(ql_session *s, const ql_samples *smp, size_t i, int observe_inputs,
                                  ql_observer_fn fn, void *ctx, ql_error *err);
/* A view of up to n samples of s, evenly spread; it borrows s's samples
 * (free it with ql_samples_view_free, not ql_samples_free). */
ql_status ql_samples_spread(const ql_samples *s, size_t n, ql_samples *view, ql_error *err);
void ql_samples_view_free(ql_samples *view);
/* Step `done` (1..n) of a long job on stderr: a bar on a terminal, else a line every 10%. */
void ql_progress(const char *label, size_t done, size_t n);
/* Reads a .npy file (little-endian f4/f8/i1/u1/i4/i8, C order). */
ql_status ql_npy_load(const char *path, ql_tensor **out, ql_error *err);

/* Per-tensor real ranges gathered over the calibration set. */
typedef struct ql_range {
  char *name;
  float rmin, rmax;        /* final range (after the method) */
  float obs_min, obs_max;  /* observed extremes */
  int seen_float;          /* a float32 tensor was observed under this name */
  int rank;                /* rank of the observed tensor */
  int folded_const;        /* a constant the float graph computes (folded by qlinear), not a calibrated tensor */
  /* histogram for entropy/percentile and for the report */
  size_t nbins;
  double *hist;
  double hist_lo, hist_hi;
  double zeros;            /* exact zeros seen (MSE: representable without error) */
} ql_range;

typedef struct ql_ranges {
  size_t n;
  ql_range *r;
} ql_ranges;

const ql_range *ql_ranges_find(const ql_ranges *rs, const char *name);
void ql_ranges_free(ql_ranges *rs);

/* Runs the float model over the samples and collects ranges of `names`. */
ql_status ql_calibrate(const ql_model *m, const ql_samples *samples, const char *const *names, size_t n_names,
                       const ql_quant_options *o, ql_ranges *out, ql_error *err);

/* ORT's get_qmin_qmax_for_qType and compute_scale_zp. */
void ql_qrange(ql_dtype t, int symmetric, int reduce_range, int64_t *qmin, int64_t *qmax);
void ql_compute_scale_zp(float rmin, float rmax, int64_t qmin, int64_t qmax, int symmetric, float *scale,
                         int64_t *zp);
/* q = clip(RNE(x / scale) + zp, full range of t) in float32, as ORT's quantize_nparray. */
int64_t ql_quantize_value(float x, float scale, int64_t zp, ql_dtype t);

/* The whole job. `ranges` may be NULL (it is then computed); the result owns
 * its tensors. */
ql_status ql_quantize_model(const ql_model *in, const ql_samples *calib, const ql_quant_options *o,
                            ql_model **out, ql_error *err);

/* The two halves of ql_quantize_model, so that several quantizations
 * (e.g. the --target-sqnr search) share one calibration: */
ql_status ql_quant_prepare(const ql_model *in, const ql_samples *calib, const ql_quant_options *o, ql_model **folded,
                           ql_ranges *ranges, ql_error *err);
ql_status ql_quant_apply(const ql_model *folded, const ql_ranges *ranges, const ql_samples *calib,
                         const ql_quant_options *o, ql_model **out, ql_error *err);
/* Empirical bias correction of a QDQ model made from `folded`: the int32
 * bias of each Conv/Gemm is shifted so that, over the samples, the mean of
 * each output channel as the quantized model computes it (after its
 * QuantizeLinear) equals the float model's (clipped to the same range). */
ql_status ql_bias_correct(const ql_model *folded, ql_model *qm, const ql_samples *calib, int threads, int progress,
                          ql_error *err);
/* Accuracy-driven mixed precision (mixed.c): the activations and weights to
 * leave in float (set as o->keep_float) so that every output of the quantized
 * model reaches `target_db` of SQNR against `folded` on `probe`. Each
 * quantized tensor's share of the output noise is measured once (that tensor
 * alone quantized), the largest shares of the worst output are kept in float
 * until the sum of the rest predicts the target, and the prediction is then
 * checked by running the mixed model, adding more while it falls short.
 * *kept (a NULL-terminated array of strings, free with ql_strlist_free) may
 * fall short of the target when every tensor is already float: *got_db
 * says what was reached. */
ql_status ql_quant_target_sqnr(const ql_model *folded, const ql_ranges *ranges, const ql_samples *probe,
                               const ql_quant_options *o, double target_db, char ***kept, double *got_db,
                               ql_error *err);
void ql_strlist_free(char **l);
ql_model *ql_model_clone(const ql_model *m);
void ql_graph_drop_init_inputs(ql_graph *g);

/* Raises the ai.onnx opset of m to `target` (Q/DQ need 10, per-axis DQ 13),
 * rewriting the nodes whose schema changed in between (attributes that
 * became inputs, Softmax axis semantics). QL_ERR_UNSUPPORTED, with m
 * unchanged, when a node cannot be converted. ranges gives tensor ranks. */
ql_status ql_upgrade_opset(ql_model *m, int64_t target, const ql_ranges *ranges, ql_error *err);

/* Other formats, applied to a folded float model: */
ql_status ql_quantize_dynamic(ql_model *m, const ql_quant_options *o, ql_error *err);
ql_status ql_quantize_nbits(ql_model *m, const ql_quant_options *o, int block_size, ql_error *err);

/* Constant folding at the IR level: nodes whose inputs are all constant are
 * replaced by initializers (Constant nodes too). */
ql_status ql_fold_model(ql_model *m, ql_error *err);
/* Folds each inference BatchNormalization that follows a Conv into the
 * Conv's weight and bias (the Conv then writes the normalization's output). */
ql_status ql_fuse_conv_bn(ql_model *m, ql_error *err);
/* Scales the channels a Conv writes, where they reach other Convs only
 * through Relu, LeakyRelu and MaxPool, so that they share one range over the
 * calibration set; exact in float. See prep.c. */
ql_status ql_equalize_channels(ql_model *m, const ql_samples *calib, int threads, ql_error *err);

#endif

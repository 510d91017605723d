/* Accuracy of a quantized model next to its float source. */
#ifndef QL_QUANT_REPORT_H
#define QL_QUANT_REPORT_H
#include "quant.h"

typedef struct ql_qstat {
  char *name;      /* tensor name in the float model */
  char *qname;     /* the name holding its dequantized value in the quantized model */
  char *qqname;    /* its QuantizeLinear output: what a fused integer op writes when the DQ is gone */
  float scale, zp; /* to dequantize qqname (per-tensor parameters) */
  char *node;      /* producing node in the float model ("" for graph inputs) */
  char *op_type;
  double signal, noise, max_abs;
  float rmin, rmax;       /* chosen range (from the parameters) */
  float obs_min, obs_max; /* calibration extremes */
  double hist[64];        /* float values over [obs_min, obs_max] */
  float clip_lo, clip_hi; /* the tensor only feeds a Relu/Clip: compared after it (its range is the
                             activation's, so the Q clips and that is not an error) */
  int order;              /* position in the graph */
} ql_qstat;

typedef struct ql_qoutput {
  char *name;
  double signal, noise, max_abs;
  size_t top1_agree, top1_total; /* classifier-like outputs ([N, C], C > 1) */
} ql_qoutput;

typedef struct ql_qreport {
  size_t n_samples;
  size_t n_outputs, n_tensors;
  ql_qoutput *outputs;
  ql_qstat *tensors;
} ql_qreport;

double ql_sqnr_db(double signal, double noise);
/* Runs both models over `eval`; per output and per quantized tensor errors. */
ql_status ql_quant_evaluate(const ql_model *fm, const ql_model *qm, const ql_samples *eval, int threads,
                            ql_qreport *out, ql_error *err);
void ql_qreport_free(ql_qreport *r);
/* One self-contained HTML file (inline SVG, no scripts). */
ql_status ql_qreport_write_html(const ql_qreport *r, const char *path, const char *title, const char *options,
                                ql_error *err);
#endif

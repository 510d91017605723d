/* Quantization parameters exactly as ONNX Runtime's tool computes them
 * (onnxruntime/quantization/quant_utils.py of ONNX Runtime 1.32, the
 * reference bench/quant_compare.py runs against), so that equal ranges give
 * equal scales and zero points. */
#include "quant.h"
#include <float.h>
#include <math.h>

void ql_qrange(ql_dtype t, int symmetric, int reduce_range, int64_t *qmin, int64_t *qmax) {
  /* get_qmin_qmax_for_qType: reduce_range wins, then symmetric, then full */
  if (reduce_range) {
    switch (t) {
    case QL_UINT8: *qmin = 0; *qmax = 127; return;
    case QL_INT8: *qmin = -64; *qmax = 64; return;
    case QL_UINT16: *qmin = 0; *qmax = 32767; return;
    case QL_INT16: *qmin = -16384; *qmax = 16384; return;
    case QL_UINT4: *qmin = 0; *qmax = 7; return;
    case QL_INT4: *qmin = -4; *qmax = 3; return;
    default: break;
    }
  }
  /* ONNX_INT_TYPE_SYMMETRIC_RANGE has only the signed 8/16-bit types (older
   * releases also narrowed u8 to [0, 254]); unsigned and 4-bit types keep
   * their full range */
  if (symmetric) {
    switch (t) {
    case QL_INT8: *qmin = -127; *qmax = 127; return;
    case QL_INT16: *qmin = -32767; *qmax = 32767; return;
    default: break;
    }
  }
  ql_dtype_int_range(t, qmin, qmax);
}

void ql_compute_scale_zp(float rmin, float rmax, int64_t qmin, int64_t qmax, int symmetric, float *scale,
                         int64_t *zp) {
  if (rmin > 0) rmin = 0;
  if (rmax < 0) rmax = 0;
  if (symmetric) {
    float a = fabsf(rmin) > fabsf(rmax) ? fabsf(rmin) : fabsf(rmax);
    rmin = -a;
    rmax = a;
  }
  /* "Promote before subtraction": the range is taken in float64 from the
   * float32 ends, divided in float64, and only the result is rounded to
   * float32 */
  double s = ((double)rmax - (double)rmin) / ((double)qmax - (double)qmin);
  if (s < FLT_MIN) {
    *scale = 1.0f;
    *zp = 0;
    return;
  }
  if (symmetric) *zp = (int64_t)nearbyint(((double)qmin + (double)qmax) / 2.0);
  else *zp = (int64_t)nearbyint((double)qmin - (double)rmin / s);
  *scale = (float)s;
}

int64_t ql_quantize_value(float x, float scale, int64_t zp, ql_dtype t) {
  int64_t lo, hi;
  ql_dtype_int_range(t, &lo, &hi);
  float q = nearbyintf(x / scale) + (float)zp;
  if (!(q >= (float)lo)) return lo; /* NaN goes to lo */
  if (q > (float)hi) return hi;
  return (int64_t)q;
}

/* Graph rewrites a session applies to its private copy of the graph when it
 * may use the fast ops (not reference_only). */
#ifndef QL_RUNTIME_FUSE_H
#define QL_RUNTIME_FUSE_H

#include "../ir/ir.h"

/*
 * QDQ fusion (as ONNX Runtime's QDQ transformer): in the top-level graph,
 *   Q( Conv( DQ(x), DQ(w), DQ(bias) ) )            -> QLinearConv
 *   Q( Relu( Conv( DQ(x), DQ(w), DQ(bias) ) ) )    -> QLinearConv, clamped at y_zp
 *   Q( MatMul( DQ(a), DQ(b) ) )                    -> QLinearMatMul
 * when every scale and zero point is a constant (initializer or Constant),
 * w/b are constants (or QuantizeLinear of constants, folded later), the
 * activations are per tensor int8/uint8 with float32 scales, the bias is
 * int32 with zero point 0 and scale x_scale * w_scale, and the removed float
 * values (Conv/Relu/MatMul outputs) have no other reader. The DQ nodes stay
 * while something else reads them. The fused node computes in integers, so
 * it can differ from the float QDQ graph by one quantization step where the
 * float sum lands on a rounding tie (docs/performance.md).
 */
ql_status ql_fuse_qdq(const ql_model *m, ql_graph *g, ql_error *err);

/* Dynamic-quantization fusion (fuse-dynamic.c): DynamicQuantizeLinear ->
 * MatMulInteger -> Cast -> Mul chains (as quantize_dynamic writes them) become
 * one node that gives the same bits as the chain. */
ql_status ql_fuse_dynamic(const ql_model *m, ql_graph *g, ql_error *err);

/* The attribute a fused Conv -> Relu -> Q sets on its QLinearConv: the
 * output is clamped below at y_zero_point (Relu before quantization). */
#define QL_FUSED_RELU_ATTR "_qlinear_fused_relu"

#endif

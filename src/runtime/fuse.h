/* Graph rewrites a session applies to its private copy of the graph when it
 * may use the fast ops (not reference_only). */
#ifndef QL_RUNTIME_FUSE_H
#define QL_RUNTIME_FUSE_H

#include "../ir/ir.h"

/*
 * QDQ fusion (as ONNX Runtime's QDQ transformer), in the top-level graph.
 * First, exact rewrites that move a per-tensor QuantizeLinear towards the
 * producers of its float input, repeated until nothing changes:
 *   Q( Concat/Transpose/Reshape/Flatten/Squeeze/Unsqueeze/Identity/Resize-nearest(v...) )
 *        -> the same op on Q(v...)  (Q is elementwise; those ops only copy)
 *   Q( MaxPool(v) ) -> MaxPool( Q(v) )  (Q is monotone; no window wholly in the padding)
 *   Q( DQ(x) ) with the same scale and zero point -> x  (exact for 8 bits)
 *   Shape( DQ(x) ) -> Shape(x)
 * Then:
 *   Q( Conv( DQ(x), DQ(w), DQ(bias) ) )                 -> QLinearConv
 *   Q( Relu( Conv( DQ(x), DQ(w), DQ(bias) ) ) )         -> QLinearConv, clamped at y_zp
 *   Q( LeakyRelu( Conv( DQ(x), DQ(w), DQ(bias) ) ) )    -> QLinearConv, QL_FUSED_LEAKY_ATTR
 *   Q( MatMul( DQ(a), DQ(b) ) )                         -> QLinearMatMul
 *   Q( Gemm( DQ(a), DQ(w), DQ(bias) ) ), transA 0        -> com.microsoft QGemm
 *   Q( Add/Mul( DQ(a), DQ(b) ) )                        -> com.microsoft QLinearAdd/QLinearMul
 *   Q( AveragePool/GlobalAveragePool( DQ(x) ) )         -> com.microsoft QLinearAveragePool/
 *                                                          QLinearGlobalAveragePool (ORT's arithmetic)
 *   Q( LeakyRelu/Relu( DQ(x) ) )                        -> com.microsoft QLinearLeakyRelu (exact table)
 *   Q( DQ(x) ) with other 8-bit parameters              -> the same, alpha 1 (a requantize)
 *   Q( U( DQ(x) ) ), U an elementwise float op (Sigmoid, Tanh, Clip, HardSwish, ... QL_LOOKUP_OPS)
 *                                                       -> QL_INTERNAL_DOMAIN QLinearLookup: a table
 *                                                          made by running U itself on the 256 values
 * and last, a Concat of 8-bit values at one scale/zero point of which some
 * are requantizations Q(DQ(a)) -> com.microsoft QLinearConcat (exact table).
 * when every scale and zero point is a constant (initializer or Constant),
 * w/b are constants (or QuantizeLinear of constants, folded later), the
 * activations are per tensor int8/uint8 with float32 scales, and the removed
 * float values have no other reader. A bias that is not int32 at scale
 * x_scale * w_scale (any constant DQ input, e.g. int8 with its own scale,
 * or a QuantizeLinear of a float constant) is requantized here to int32 at
 * that scale, rounding half to even (exact when the ratio of the scales is
 * an integer, as with power-of-two scales). The DQ nodes stay while
 * something else reads them. The fused node computes in integers, so it can
 * differ from the float QDQ graph by one quantization step where the float
 * sum lands on a rounding tie (docs/performance.md).
 */
ql_status ql_fuse_qdq(const ql_model *m, ql_graph *g, ql_error *err);

/* Dynamic-quantization fusion (fuse-dynamic.c): DynamicQuantizeLinear ->
 * MatMulInteger -> Cast -> Mul chains (as quantize_dynamic writes them) become
 * one node that gives the same bits as the chain. */
ql_status ql_fuse_dynamic(const ql_model *m, ql_graph *g, ql_error *err);

/* The attribute a fused Conv -> Relu -> Q sets on its QLinearConv: the
 * output is clamped below at y_zero_point (Relu before quantization). */
#define QL_FUSED_RELU_ATTR "_qlinear_fused_relu"

/* The float attribute a fused Conv -> LeakyRelu -> Q sets on its
 * QLinearConv (the LeakyRelu's alpha): v = acc * multiplier in float32,
 * v * alpha when v < 0, then rounded and saturated as usual. */
#define QL_FUSED_LEAKY_ATTR "_qlinear_fused_leaky_alpha"

#endif

#!/usr/bin/env python3
"""Generates the com.microsoft quantization op fixtures in tests/data/msq.

Each case is a one-node model plus test_data_set_0/{input_N,output_N}.pb with
outputs computed by ONNX Runtime (CPU EP, graph optimizations disabled, one
thread). Run from anywhere:  python3 tests/data/msq/gen.py [--big OUTDIR]
--big writes larger, exhaustive variants (not committed) for local checks.
Needs numpy, onnx, onnxruntime (fixtures were made with onnxruntime 1.32).
"""
import os, shutil, sys
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
BIG = '--big' in sys.argv
OUT = sys.argv[sys.argv.index('--big') + 1] if BIG else HERE
f32 = np.float32
NP2T = {np.dtype(k): v for k, v in [('float32', TensorProto.FLOAT), ('uint8', TensorProto.UINT8),
        ('int8', TensorProto.INT8), ('int32', TensorProto.INT32), ('bool', TensorProto.BOOL),
        ('uint16', TensorProto.UINT16), ('int16', TensorProto.INT16), ('float16', TensorProto.FLOAT16)]}
rng = np.random.default_rng(20240611)
written = []


def case(name, op, inputs, attrs=None, out_types=None, consts=(), sub_byte=None):
    """inputs: list of np arrays (None = omitted optional input). consts: indices
    stored as initializers instead of graph inputs. sub_byte: {index: onnx type}
    for int4/uint4 inputs given as unpacked int8/uint8 arrays."""
    attrs = attrs or {}
    sub_byte = sub_byte or {}
    names, vis, feeds, inits = [], [], [], []
    for i, a in enumerate(inputs):
        if a is None:
            names.append('')
            continue
        a = np.asarray(a)
        n = 'x%d' % i
        names.append(n)
        if i in sub_byte:  # 4-bit tensors are always initializers (numpy cannot feed them)
            inits.append(helper.make_tensor(n, sub_byte[i], a.shape, a.flatten().tolist()))
            continue
        if i in consts:
            inits.append(numpy_helper.from_array(a, n))
        else:
            vis.append(helper.make_tensor_value_info(n, NP2T[a.dtype], a.shape))
            feeds.append((n, a, numpy_helper.from_array(a, n)))
    if out_types is None:
        out_types = [NP2T[np.asarray(inputs[0]).dtype]]
    outs = ['y%d' % i for i in range(len(out_types))]
    node = helper.make_node(op, names, outs, domain='com.microsoft', **attrs)
    ovi = [helper.make_tensor_value_info(o, t, None) for o, t in zip(outs, out_types)]
    g = helper.make_graph([node], name, vis, ovi, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 21), helper.make_opsetid('com.microsoft', 1)])
    m.ir_version = 10
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(m.SerializeToString(), so, providers=['CPUExecutionProvider'])
    res = s.run(None, {n: a for n, a, _ in feeds})
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, 'test_data_set_0'))
    onnx.save(m, os.path.join(d, 'model.onnx'))
    for i, (n, a, t) in enumerate(feeds):
        with open(os.path.join(d, 'test_data_set_0', 'input_%d.pb' % i), 'wb') as f:
            f.write(t.SerializeToString())
    for i, r in enumerate(res):
        with open(os.path.join(d, 'test_data_set_0', 'output_%d.pb' % i), 'wb') as f:
            f.write(numpy_helper.from_array(r, outs[i]).SerializeToString())
    written.append(name)
    return res


def qrand(dt, shape):
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dt)


def scale(lo=0.002, hi=0.2):
    return f32(rng.uniform(lo, hi))


def zp(dt):
    info = np.iinfo(dt)
    return dt(rng.integers(info.min, info.max + 1))


QT = [(np.uint8, 'u8'), (np.int8, 's8')]


def all_bytes(dt, n=1):
    info = np.iinfo(dt)
    return np.tile(np.arange(info.min, info.max + 1), n).astype(dt)


# ----------------------------------------------------------------- binary ops
def gen_binary():
    shapes = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((2, 3, 4), (2, 3, 1)), ((1,), (3, 5)), ((), (7,)),
              ((3, 1), (1, 4)), ((2, 1, 3), (4, 1)), ((5,), ()), ((2, 3), (2, 3)), ((40,), (40,))]
    reps = 6 if BIG else 1
    for op in ('QLinearAdd', 'QLinearMul'):
        for dt, tn in QT:
            for k, (sa, sb) in enumerate(shapes):
                for r in range(reps):
                    if BIG:
                        sa2 = tuple(d * 3 if d > 1 else d for d in sa)
                        sb2 = tuple(d * 3 if d > 1 else d for d in sb)
                    else:
                        sa2, sb2 = sa, sb
                    ysc = scale(0.0005, 0.01) if op == 'QLinearMul' else scale()
                    ins = [qrand(dt, sa2), scale(), zp(dt), qrand(dt, sb2), scale(), zp(dt), ysc, zp(dt)]
                    case('%s_%s_%d%s' % (op.lower(), tn, k, '_%d' % r if BIG else ''), op, ins,
                         consts=(1, 2, 4, 5) if k == 9 else ())
        # every pair of byte values, several scale sets (exhaustive rounding check)
        for dt, tn in QT:
            for r in range(8 if BIG else 1):
                a = all_bytes(dt).repeat(256) if BIG else all_bytes(dt)
                b = all_bytes(dt, 256) if BIG else qrand(dt, (256,))
                ysc = scale(0.0005, 0.01) if op == 'QLinearMul' else scale()
                case('%s_%s_allbytes%s' % (op.lower(), tn, '_%d' % r if BIG else ''), op,
                     [a, scale(), zp(dt), b, scale(), zp(dt), ysc, zp(dt)])


def gen_binary_bcast():
    """A value per channel against whole planes, both ways round, with plane
    sizes that are not multiples of 8 (the vector path and its tail)."""
    shapes = [((1, 8, 5, 7), (1, 8, 1, 1)), ((1, 6, 1, 1), (1, 6, 3, 9)), ((2, 4, 17), (2, 4, 1))]
    for op in ('QLinearAdd', 'QLinearMul'):
        for dt, tn in QT:
            for k, (sa, sb) in enumerate(shapes):
                ysc = scale(0.0005, 0.01) if op == 'QLinearMul' else scale()
                ins = [qrand(dt, sa), scale(), zp(dt), qrand(dt, sb), scale(), zp(dt), ysc, zp(dt)]
                case('%s_%s_bcast_%d' % (op.lower(), tn, k), op, ins)


# ------------------------------------------------------------ lookup-table ops
def gen_lookup():
    reps = 20 if BIG else 2
    for dt, tn in QT:
        for r in range(reps):
            x = all_bytes(dt).reshape(4, 64)
            case('qlinearsigmoid_%s_%d' % (tn, r), 'QLinearSigmoid',
                 [x, scale(0.01, 0.2), zp(dt), f32(1 / 256) if r == 0 else scale(0.002, 0.01), zp(dt)])
            case('qlinearleakyrelu_%s_%d' % (tn, r), 'QLinearLeakyRelu',
                 [x, scale(), zp(dt), scale(), zp(dt)], attrs={'alpha': float(rng.uniform(0.01, 0.5))})
        case('qlinearsigmoid_%s_nozp' % tn, 'QLinearSigmoid', [all_bytes(dt), scale(0.01, 0.1), None, f32(1 / 256), None])
        case('qlinearleakyrelu_%s_default' % tn, 'QLinearLeakyRelu', [all_bytes(dt), scale(), zp(dt), scale(), zp(dt)],
             consts=(1, 2, 3, 4))


def gen_softmax():
    reps = 10 if BIG else 1
    for dt, tn in QT:
        for r in range(reps):
            for shape, axis, opset in [((3, 10), -1, 13), ((2, 3, 5), 1, 13), ((2, 3, 5), 1, 12), ((4, 6), None, 13),
                                       ((2, 3, 4), None, 12), ((2, 2, 3, 2), 0, 12), ((1, 300), -1, 13)]:
                attrs = {'opset': opset}
                if axis is not None:
                    attrs['axis'] = axis
                yzp = dt(0) if dt == np.uint8 else dt(-128)
                case('qlinearsoftmax_%s_%s_%s_%d%s' % (tn, 'x'.join(map(str, shape)), 'n' if axis is None else axis, opset,
                                                      '_%d' % r if BIG else ''), 'QLinearSoftmax',
                     [qrand(dt, shape), scale(0.01, 0.3), zp(dt), f32(1 / 256), yzp], attrs=attrs)


def gen_concat():
    for dt, tn in QT:
        for r in range(5 if BIG else 1):
            a, b, cc = qrand(dt, (2, 3, 4)), qrand(dt, (2, 5, 4)), qrand(dt, (2, 1, 4))
            ys, yz = scale(), zp(dt)
            case('qlinearconcat_%s_axis1%s' % (tn, '_%d' % r if BIG else ''), 'QLinearConcat',
                 [ys, yz, a, scale(), zp(dt), b, ys, yz, cc, scale(), zp(dt)], attrs={'axis': 1},
                 out_types=[NP2T[np.dtype(dt)]])
            case('qlinearconcat_%s_axisneg%s' % (tn, '_%d' % r if BIG else ''), 'QLinearConcat',
                 [ys, yz, qrand(dt, (3, 2)), scale(), zp(dt), qrand(dt, (3, 5)), scale(), zp(dt)], attrs={'axis': -1},
                 consts=(0, 1, 3, 4), out_types=[NP2T[np.dtype(dt)]])
        case('qlinearconcat_%s_allbytes' % tn, 'QLinearConcat',
             [scale(), zp(dt), all_bytes(dt).reshape(16, 16), scale(), zp(dt), all_bytes(dt).reshape(16, 16), scale(), zp(dt)],
             attrs={'axis': 0}, out_types=[NP2T[np.dtype(dt)]])


def gen_where():
    for dt, tn in QT:
        for r in range(5 if BIG else 1):
            for k, (sc, sx, sy) in enumerate([((2, 3, 4), (2, 3, 4), (2, 3, 4)), ((3, 1), (1, 4), (3, 4)),
                                              ((4,), (2, 3, 1), ()), ((2, 256), (256,), (2, 1))]):
                cond = rng.integers(0, 2, size=sc).astype(bool)
                x = all_bytes(dt) if sx == (256,) else qrand(dt, sx)
                zs, zz = scale(), zp(dt)
                ins = [cond, x, scale(), zp(dt), qrand(dt, sy), scale(), zp(dt), zs, zz]
                if k == 1:
                    ins[5], ins[6] = zs, zz  # Y already in Z's parameters: copied
                case('qlinearwhere_%s_%d%s' % (tn, k, '_%d' % r if BIG else ''), 'QLinearWhere', ins,
                     out_types=[NP2T[np.dtype(dt)]])


def gen_pool():
    for dt, tn in QT:
        for r in range(5 if BIG else 1):
            sfx = '_%d' % r if BIG else ''
            case('qlinearglobalaveragepool_%s_nchw%s' % (tn, sfx), 'QLinearGlobalAveragePool',
                 [qrand(dt, (2, 3, 5, 7)), scale(), zp(dt), scale(), zp(dt)], attrs={'channels_last': 0})
            case('qlinearglobalaveragepool_%s_nhwc%s' % (tn, sfx), 'QLinearGlobalAveragePool',
                 [qrand(dt, (2, 5, 7, 11)), scale(), zp(dt), scale(), zp(dt)], attrs={'channels_last': 1})
            case('qlinearglobalaveragepool_%s_1d%s' % (tn, sfx), 'QLinearGlobalAveragePool',
                 [qrand(dt, (1, 4, 9)), scale(), zp(dt), scale(), zp(dt)])
            pools = [((1, 2, 6, 6), dict(kernel_shape=[2, 2], strides=[2, 2])),
                     ((1, 3, 5, 5), dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])),
                     ((1, 3, 5, 5), dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)),
                     ((1, 2, 7, 6), dict(kernel_shape=[3, 2], strides=[2, 2], ceil_mode=1)),
                     ((1, 2, 6, 5), dict(kernel_shape=[3, 3], auto_pad='SAME_UPPER')),
                     ((1, 2, 6, 5), dict(kernel_shape=[2, 3], strides=[2, 1], auto_pad='SAME_LOWER')),
                     ((2, 3, 9), dict(kernel_shape=[4], strides=[2], pads=[1, 2])),
                     ((1, 2, 4, 4, 4), dict(kernel_shape=[2, 2, 3], strides=[1, 2, 1], pads=[0, 1, 1, 1, 0, 1])),
                     ((1, 3, 4, 5), dict(kernel_shape=[4, 5])),  # whole image: ORT's global path
                     ((1, 2, 5, 5), dict(kernel_shape=[2, 2], auto_pad='VALID', strides=[2, 2]))]
            for k, (shape, attrs) in enumerate(pools):
                for cl in (0, 1):
                    xshape = shape if not cl else (shape[0],) + shape[2:] + (shape[1],)
                    a = dict(attrs)
                    a['channels_last'] = cl
                    ins = [qrand(dt, xshape), scale(), zp(dt), scale(), zp(dt)]
                    case('qlinearaveragepool_%s_%d%s%s' % (tn, k, '_nhwc' if cl else '', sfx), 'QLinearAveragePool', ins,
                         attrs=a)


# ---------------------------------------------------- com.microsoft Q / DQ
def gen_qdq():
    reps = 5 if BIG else 1
    n = 2000 if BIG else 60
    for r in range(reps):
        sfx = '_%d' % r if BIG else ''
        for dt, tn, ot in [(np.uint8, 'u8', TensorProto.UINT8), (np.int8, 's8', TensorProto.INT8),
                           (np.uint16, 'u16', TensorProto.UINT16), (np.int16, 's16', TensorProto.INT16)]:
            x = (rng.standard_normal(n) * 40).astype(f32)
            x[:6] = [0.5 * 0.25, -0.5 * 0.25, 1.5 * 0.25, 2.5 * 0.25, 1e9, -1e9]
            s = f32(0.25) if not BIG else scale(0.01, 1)
            case('ms_quantizelinear_%s%s' % (tn, sfx), 'QuantizeLinear', [x, s, zp(dt)], out_types=[ot])
            xq = qrand(dt, (3, 4, 5))
            case('ms_dequantizelinear_%s%s' % (tn, sfx), 'DequantizeLinear', [xq, scale(), zp(dt)],
                 out_types=[TensorProto.FLOAT])
            # per-axis, explicit axis and the default axis (1)
            x3 = (rng.standard_normal((2, 3, 4)) * 20).astype(f32)
            case('ms_quantizelinear_%s_axis2%s' % (tn, sfx), 'QuantizeLinear',
                 [x3, rng.uniform(0.05, 0.5, 4).astype(f32), qrand(dt, (4,))], attrs={'axis': 2}, out_types=[ot])
            case('ms_quantizelinear_%s_axisdefault%s' % (tn, sfx), 'QuantizeLinear',
                 [x3, rng.uniform(0.05, 0.5, 3).astype(f32), qrand(dt, (3,))], out_types=[ot])
            case('ms_dequantizelinear_%s_axis0%s' % (tn, sfx), 'DequantizeLinear',
                 [qrand(dt, (3, 4)), rng.uniform(0.05, 0.5, 3).astype(f32), qrand(dt, (3,))], attrs={'axis': 0},
                 out_types=[TensorProto.FLOAT])
        case('ms_quantizelinear_nozp%s' % sfx, 'QuantizeLinear', [(rng.standard_normal(20) * 30).astype(f32), scale(0.1, 1)],
             out_types=[TensorProto.UINT8])
        case('ms_dequantizelinear_i32%s' % sfx, 'DequantizeLinear',
             [rng.integers(-100000, 100000, 12).astype(np.int32), scale(), np.int32(0)], out_types=[TensorProto.FLOAT])
        case('ms_quantizelinear_f16%s' % sfx, 'QuantizeLinear',
             [(rng.standard_normal(40) * 10).astype(np.float16), np.float16(0.3), np.int8(-3)], out_types=[TensorProto.INT8])
        case('ms_dequantizelinear_f16%s' % sfx, 'DequantizeLinear',
             [qrand(np.uint8, (20,)), np.float16(0.0123), np.uint8(100)], out_types=[TensorProto.FLOAT16])
        # 4-bit: unpacked int8/uint8 arrays written as INT4/UINT4 tensors
        for t, tn, lo, hi in [(TensorProto.INT4, 's4', -8, 7), (TensorProto.UINT4, 'u4', 0, 15)]:
            npdt = np.int8 if lo < 0 else np.uint8
            # (QuantizeLinear to 4 bits is not generated: ORT's Python API cannot return int4 arrays)
            z = npdt(rng.integers(lo, hi + 1))
            xq = rng.integers(lo, hi + 1, size=(3, 5)).astype(npdt)
            case('ms_dequantizelinear_%s%s' % (tn, sfx), 'DequantizeLinear', [xq, f32(0.7), np.array(z)],
                 out_types=[TensorProto.FLOAT], sub_byte={0: t, 2: t})



# ------------------------------------------------------------ matrix ops
def gen_qgemm():
    combos = [(np.uint8, np.uint8, 'u8u8'), (np.uint8, np.int8, 'u8s8'), (np.int8, np.int8, 's8s8')]
    cfgs = [dict(M=3, K=5, N=4), dict(M=4, K=7, N=3, transA=1), dict(M=2, K=9, N=5, transB=1),
            dict(M=5, K=6, N=4, transA=1, transB=1, alpha=0.75)]
    for r in range(5 if BIG else 1):
        sfx = '_%d' % r if BIG else ''
        for at, bt, tn in combos:
            for k, cfg in enumerate(cfgs):
                M, K, N = cfg['M'], cfg['K'], cfg['N']
                if BIG:
                    M, K, N = M * 5, K * 20, N * 7
                attrs = {a: cfg[a] for a in ('transA', 'transB', 'alpha') if a in cfg}
                A = qrand(at, (K, M) if cfg.get('transA') else (M, K))
                B = qrand(bt, (N, K) if cfg.get('transB') else (K, N))
                percol = k % 2 == 1
                bs = rng.uniform(0.001, 0.05, N).astype(f32) if percol else scale(0.001, 0.05)
                bz = qrand(bt, (N,)) if percol else zp(bt)
                if bt == np.int8 and percol:
                    bz = np.zeros(N, np.int8)
                Cb = [None, rng.integers(-5000, 5000, (N,)).astype(np.int32), np.array(777, np.int32),
                      rng.integers(-5000, 5000, (M, N)).astype(np.int32)][k]
                ins = [A, scale(0.005, 0.05), zp(at), B, bs, bz, Cb]
                case('qgemm_%s_%d_float%s' % (tn, k, sfx), 'QGemm', ins, attrs=attrs, out_types=[TensorProto.FLOAT])
                yt = at
                case('qgemm_%s_%d_quant%s' % (tn, k, sfx), 'QGemm', ins + [scale(0.5, 4) * (K / 5), zp(yt)], attrs=attrs,
                     out_types=[NP2T[np.dtype(yt)]])


def gen_matmul_int_float():
    combos = [(np.uint8, np.uint8, 'u8u8'), (np.uint8, np.int8, 'u8s8'), (np.int8, np.int8, 's8s8')]
    shapes = [((3, 5), (5, 4)), ((2, 3, 6), (6, 5)), ((7,), (7, 3)), ((2, 1, 3, 4), (3, 4, 2))]
    for r in range(4 if BIG else 1):
        sfx = '_%d' % r if BIG else ''
        for at, bt, tn in combos:
            for k, (sa, sb) in enumerate(shapes):
                N = sb[-1]
                percol = k % 2 == 0
                bs = rng.uniform(0.001, 0.05, N).astype(f32) if percol else scale(0.001, 0.05)
                bz = (qrand(bt, (N,)) if percol else zp(bt)) if k != 2 else None
                bias = rng.standard_normal(N).astype(f32) if k in (0, 3) else None
                case('matmulintegertofloat_%s_%d%s' % (tn, k, sfx), 'MatMulIntegerToFloat',
                     [qrand(at, sa), qrand(bt, sb), scale(0.005, 0.05), bs, zp(at) if k != 2 else None, bz, bias],
                     out_types=[TensorProto.FLOAT])
                if at != np.uint8:
                    continue
                A = (rng.standard_normal(sa) * (k + 1)).astype(f32)
                if k == 1:
                    A = np.abs(A)  # min > 0: ORT widens the range to include 0
                case('dynamicquantizematmul_%s_%d%s' % (tn[2:], k, sfx), 'DynamicQuantizeMatMul',
                     [A, qrand(bt, sb), bs, bz, bias], out_types=[TensorProto.FLOAT])
        case('dynamicquantizematmul_zeros%s' % sfx, 'DynamicQuantizeMatMul',
             [np.zeros((2, 4), f32), qrand(np.int8, (4, 3)), scale(), None, rng.standard_normal(3).astype(f32)],
             out_types=[TensorProto.FLOAT])


def pack_bits(vals, bits):
    """vals: uint array, last axis packed LSB-first into bytes (padded)."""
    per = 8 // bits
    n = vals.shape[-1]
    nb = (n * bits + 7) // 8
    out = np.zeros(vals.shape[:-1] + (nb,), np.uint8)
    for j in range(n):
        out[..., j // per] |= (vals[..., j].astype(np.uint8) << ((j % per) * bits)).astype(np.uint8)
    return out


def gen_matmulnbits():
    cfgs = [(4, 16, 32, 8, 'packed'), (4, 32, 50, 6, 'none'), (4, 64, 128, 5, 'float'), (4, 128, 200, 3, 'packed'),
            (8, 32, 40, 4, 'packed'), (2, 16, 40, 4, 'packed'), (4, 16, 48, 7, 'float_bias'), (8, 16, 20, 3, 'none')]
    for r in range(3 if BIG else 1):
        sfx = '_%d' % r if BIG else ''
        for k, (bits, bsz, K, N, zmode) in enumerate(cfgs):
            kb = (K + bsz - 1) // bsz
            q = rng.integers(0, 2 ** bits, size=(N, kb, bsz)).astype(np.uint8)
            B = pack_bits(q, bits)  # (N, kb, blob)
            scales = rng.uniform(0.005, 0.05, N * kb).astype(f32)
            zps = None
            if zmode == 'packed':
                zps = pack_bits(rng.integers(0, 2 ** bits, size=(N, kb)).astype(np.uint8), bits).reshape(-1)
            elif zmode.startswith('float'):
                zps = rng.uniform(0, 2 ** bits - 1, N * kb).astype(f32)
            bias = rng.standard_normal(N).astype(f32) if zmode.endswith('bias') or k == 3 else None
            A = rng.standard_normal((2, 3, K) if k % 2 else (4, K)).astype(f32)
            ins = [A, B, scales, zps, None, bias]
            if bias is None:
                ins = ins[:4]
            for lvl in (0, 4):
                case('matmulnbits_b%d_bs%d_k%d_%s%s%s' % (bits, bsz, K, zmode, '_acc4' if lvl else '', sfx), 'MatMulNBits',
                     ins, attrs=dict(K=K, N=N, bits=bits, block_size=bsz, accuracy_level=lvl), consts=(1, 2, 3, 5),
                     out_types=[TensorProto.FLOAT])
        case('matmulnbits_f16%s' % sfx, 'MatMulNBits',
             [rng.standard_normal((3, 64)).astype(np.float16), pack_bits(rng.integers(0, 16, (5, 2, 32)).astype(np.uint8), 4),
              rng.uniform(0.005, 0.05, 10).astype(np.float16)], attrs=dict(K=64, N=5, bits=4, block_size=32),
             consts=(1, 2), out_types=[TensorProto.FLOAT16])
        case('matmulintegertofloat_f16%s' % sfx, 'MatMulIntegerToFloat',
             [qrand(np.uint8, (3, 5)), qrand(np.int8, (5, 4)), np.float16(0.02), np.float16(0.03), np.uint8(3), None,
              rng.standard_normal(4).astype(np.float16)], out_types=[TensorProto.FLOAT16])



def gen_qlinearconv():
    combos = [(np.uint8, np.uint8, 'u8u8'), (np.uint8, np.int8, 'u8s8'), (np.int8, np.int8, 's8s8')]
    cfgs = [((1, 3, 6, 6), (4, 3, 3, 3), dict()),
            ((2, 4, 7, 5), (6, 2, 3, 2), dict(group=2, pads=[1, 0, 1, 1], strides=[2, 1])),
            ((1, 4, 6, 6), (4, 1, 3, 3), dict(group=4, pads=[1, 1, 1, 1])),  # depthwise
            ((1, 2, 9), (3, 2, 3), dict(dilations=[2], strides=[2])),
            ((1, 3, 5, 5), (2, 3, 1, 1), dict()),
            ((1, 2, 6, 5), (3, 2, 2, 3), dict(auto_pad='SAME_UPPER'))]
    for r in range(4 if BIG else 1):
        sfx = '_%d' % r if BIG else ''
        for xt, wt, tn in combos:
            for k, (xs, wsh, attrs) in enumerate(cfgs):
                if BIG:
                    xs = xs[:2] + tuple(d * 2 for d in xs[2:])
                M = wsh[0]
                percol = k % 2 == 0
                wscale = rng.uniform(0.001, 0.02, M).astype(f32) if percol else scale(0.001, 0.02)
                wzp = (np.full(M, zp(wt) if wt == np.uint8 else 0, wt)) if percol else (zp(wt) if wt == np.uint8 else wt(0))
                bias = rng.integers(-3000, 3000, M).astype(np.int32) if k % 3 != 1 else None
                X = qrand(xt, xs)
                W = qrand(wt, wsh)
                ksz = int(np.prod(wsh[1:]))
                ins = [X, scale(0.01, 0.05), zp(xt), W, wscale, wzp, scale(0.002, 0.01) * ksz ** 0.5, zp(xt), bias]
                if bias is None:
                    ins = ins[:8]
                for cl in (0, 1):
                    a = dict(attrs)
                    if cl:
                        a['channels_last'] = 1
                        ins = [np.ascontiguousarray(np.moveaxis(X, 1, -1))] + ins[1:]
                    case('qlinearconv_%s_%d%s%s' % (tn, k, '_nhwc' if cl else '', sfx), 'QLinearConv', ins, attrs=a,
                         consts=(3, 4, 5, 8), out_types=[NP2T[np.dtype(xt)]])


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    only = [a for a in sys.argv[1:] if a.startswith('gen_')]
    for fn in only or [k for k in list(globals()) if k.startswith('gen_')]:
        globals()[fn]()
    print('%d cases written to %s' % (len(written), OUT))

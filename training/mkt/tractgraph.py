"""An int8 graph shaped for tract's integer products (the quantize stage's ``--pointwise-matmul``).

tract runs a quantized 1x1 convolution (QLinearConv) as one integer product per image row: it
merges the two spatial axes only for two-input float products, so a 12x12 feature map becomes
twelve products with n = 12 instead of one with n = 144, and each is slow (``moodkiosk bench
--profile``: ``c_shape:192,12,12``). Rewriting the convolution as a reshape to one spatial axis
and a MatMulInteger is not enough: tract's axis tracking pushes the reshape through the product
and folds the axes back. An identity Gather stops that (tract moves an axis change through a
Gather only when the change lies before the gathered axis), and the product then runs over all
positions (``c_shape:96,2304``). The Gather runs over the channel axis, in front of the merged
one: tract copies each channel's H*W values as one block (over the positions it copied value by
value, 0.9 ms of the model's 12 ms per face; over the channels 0.13 ms).

Each 1x1, stride 1, group 1 QLinearConv with zero points 0 (symmetric activations and weights)
becomes: Reshape [N, C, H*W] -> Gather(axis 1, identity) -> MatMulInteger(W[Cout, C], x) ->
+ bias (int32) -> Cast float -> * (x_scale * w_scale) -> Reshape [N, Cout, H, W], followed by
QuantizeLinear(y_scale, 0) unless the output only fed a DequantizeLinear (which is dropped: the
float result goes on as it is, without the output's int8 rounding). onnxruntime runs the result
too, so its accuracy is scored the same way as the QOperator model's.

The quantize step behind each float depthwise convolution (``--depthwise-cast``,
:func:`depthwise_quantize_as_cast`): tract runs ``QuantizeLinear`` as a scalar loop with a
branchy round-half-to-even per value (1.85 ms of a face on an AVX2 host, the largest cost
outside the products), while a ``Cast`` is one plain conversion. The depthwise convolution is
linear and its ReLU6 output is never negative, so its ``Conv -> Clip(0, 6) -> QuantizeLinear(s)``
becomes ``Conv(W / s, b / s + 1/2) -> Clip(0, min(6 / s + 1/2, 127.49)) -> Cast(int8)``: the
Cast truncates toward zero, which on values >= 0 shifted by a half is rounding (ties up instead
of to even: the same int8 value except on exact ties).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pointwise_as_matmul(src: Path, dst: Path) -> int:
    """Rewrite `src`'s 1x1 QLinearConvs as described above into `dst`; returns how many."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper, shape_inference

    m = shape_inference.infer_shapes(onnx.load(str(src)))
    g = m.graph
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(g.value_info) + list(g.input) + list(g.output)}
    inits = {i.name: i for i in g.initializer}

    def arr(name: str) -> np.ndarray:
        return numpy_helper.to_array(inits[name])

    def attr(n, name, default):
        return next((helper.get_attribute_value(a) for a in n.attribute if a.name == name), default)

    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    nodes, replaced, dropped, count = list(g.node), {}, set(), 0
    for n in nodes:
        if n.op_type != "QLinearConv":
            continue
        x, xs, xz, w, ws, wz, ys, yz = n.input[:8]
        b = n.input[8] if len(n.input) > 8 and n.input[8] else None
        if w not in inits or list(arr(w).shape[2:]) != [1, 1] or attr(n, "group", 1) != 1:
            continue
        if any(s != 1 for s in attr(n, "strides", [1, 1])) or any(attr(n, "pads", [0, 0, 0, 0])):
            continue
        if any(z not in inits or arr(z).any() for z in (xz, wz, yz)):
            continue
        xsh, ysh = shapes.get(x), shapes.get(n.output[0])
        if not xsh or not ysh or len(xsh) != 4 or not all(xsh) or not all(ysh):
            continue
        (nb, c, h, wd), co = xsh, ysh[1]
        count += 1
        p = f"pointwise{count}_"

        def const(name: str, a: np.ndarray) -> str:
            g.initializer.append(numpy_helper.from_array(a, p + name))
            return p + name

        cons = consumers.get(n.output[0], [])
        to_float = len(cons) == 1 and cons[0].op_type == "DequantizeLinear"
        out = cons[0].output[0] if to_float else p + "y"
        bias = arr(b) if b else np.zeros(co, np.int32)
        new = [
            helper.make_node("Reshape", [x, const("shape_in", np.array([nb, c, h * wd], np.int64))], [p + "flat"],
                             name=p + "flatten"),
            helper.make_node("Gather", [p + "flat", const("channels", np.arange(c, dtype=np.int64))],
                             [p + "x"], name=p + "keep_flat", axis=1),
            helper.make_node("MatMulInteger", [const("w", arr(w).reshape(co, c)), p + "x"], [p + "acc"],
                             name=p + "matmul"),
            helper.make_node("Add", [p + "acc", const("b", bias.reshape(co, 1).astype(np.int32))], [p + "acc_b"],
                             name=p + "bias"),
            helper.make_node("Cast", [p + "acc_b"], [p + "f"], name=p + "cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "f", const("scale", np.array(float(arr(xs)) * float(arr(ws)), np.float32))],
                             [p + "scaled"], name=p + "scale"),
            helper.make_node("Reshape", [p + "scaled", const("shape_out", np.array([nb, co, h, wd], np.int64))],
                             [out], name=p + "unflatten"),
        ]
        if to_float:
            dropped.add(cons[0].name)
        else:
            new.append(helper.make_node("QuantizeLinear", [out, ys, yz], [n.output[0]], name=p + "quantize"))
        replaced[n.name] = new
    kept = [k for n in nodes if n.name not in dropped for k in replaced.get(n.name, [n])]
    del g.node[:]
    g.node.extend(kept)
    del g.value_info[:]
    _save_pruned(m, dst)
    return count


def _save_pruned(m, dst: Path) -> None:
    """Drop the initializers no node reads any more, check the model and write it to `dst`."""
    import onnx

    g = m.graph
    used = {i for n in g.node for i in n.input}
    kept = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))


def depthwise_quantize_as_cast(src: Path, dst: Path) -> int:
    """Rewrite each float depthwise ``Conv -> Clip(0, hi) -> QuantizeLinear(s, 0)`` of `src` as
    described above into `dst`; returns how many."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def arr(name: str):
        return numpy_helper.to_array(inits[name]) if name in inits else None

    def const(name: str, a: np.ndarray) -> str:
        g.initializer.append(numpy_helper.from_array(a, name))
        return name

    count = 0
    for q in list(g.node):
        if q.op_type != "QuantizeLinear" or len(q.input) < 3:
            continue
        x, scale, zero = q.input[:3]
        s, z = arr(scale), arr(zero)
        clip = producer.get(x)
        if s is None or z is None or s.size != 1 or z.dtype != np.int8 or z.any() or clip is None:
            continue
        if clip.op_type != "Clip" or len(clip.input) < 3 or len(consumers.get(x, [])) != 1:
            continue
        conv = producer.get(clip.input[0])
        if conv is None or conv.op_type != "Conv" or len(conv.input) < 3 or \
                len(consumers.get(clip.input[0], [])) != 1:
            continue
        group = next((helper.get_attribute_value(a) for a in conv.attribute if a.name == "group"), 1)
        w, b, lo, hi = arr(conv.input[1]), arr(conv.input[2]), arr(clip.input[1]), arr(clip.input[2])
        if group == 1 or w is None or b is None or lo is None or hi is None or float(lo) != 0.0:
            continue
        s = float(s)
        p = f"depthwise_cast{count}_"
        conv.input[1] = const(p + "w", (w / s).astype(np.float32))
        conv.input[2] = const(p + "b", (b / s + 0.5).astype(np.float32))
        clip.input[1] = const(p + "lo", np.array(0.0, np.float32))
        clip.input[2] = const(p + "hi", np.array(min(float(hi) / s + 0.5, 127.49), np.float32))
        cast = helper.make_node("Cast", [x], list(q.output), name=p + "cast", to=TensorProto.INT8)
        at = list(g.node).index(q)
        g.node.remove(q)
        g.node.insert(at, cast)
        count += 1
    _save_pruned(m, dst)
    return count

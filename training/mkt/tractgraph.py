"""An int8 graph shaped for tract's integer products (the quantize stage's ``--pointwise-one-row``,
``--relu6-saturation`` and ``--depthwise-cast``).

tract runs a quantized 1x1 convolution (QLinearConv) as one integer product per image row: it
merges the two spatial axes only for two-input float products, so a 12x12 feature map becomes
twelve products with n = 12 instead of one with n = 144, and each is slow (``moodkiosk bench
--profile``: ``c_shape:192,12,12``). Giving the convolution a map of one row, [N, C, 1, H*W],
turns the twelve products into one (``c_shape:96,2304``), with the requantization still fused
into tract's product kernel (``... >>> scale >>> scalarAdd >>> scalarMin >>> scalarMax >>>
store``, int8 out). The reshape alone is not enough: tract's axis tracking pushes it through the
convolution and folds the axes back. An identity Gather stops that (tract moves an axis change
through a Gather only when the change lies before the gathered axis); it runs over the channel
axis, in front of the merged one, so tract copies each channel's H*W values as one block.

Each 1x1, stride 1, group 1 QLinearConv with zero points 0 (symmetric activations and weights)
becomes: Reshape [N, C, 1, H*W] -> Gather(axis 1, identity) -> the same QLinearConv -> Reshape
[N, Cout, H, W] (:func:`pointwise_one_row`). An earlier form, MatMulInteger with the bias, the
int32 -> float Cast and the scale as separate operators, ran the same products but paid for
those steps outside the kernel.

The expansions' ReLU6 (``--relu6-saturation``, :func:`relu6_as_saturation`): the expansion's
``QLinearConv -> DequantizeLinear -> Clip(0, hi)`` in front of each float depthwise convolution
becomes ``QLinearConv(y_scale s', y_zero_point -128) -> DequantizeLinear`` with ``s' = min(hi,
127 s) / 255``: the int8 saturation at -128 is the clip's lower bound (0), the one at 127 its
upper one (or the calibrated range's, as before), the Clip goes, and the positive half gets all
256 levels (with blocks 1-14 int8: same label as fp32 on 99.63% of the test set against 99.57% with the symmetric
output; onnxruntime).

The quantize step behind each float depthwise convolution (``--depthwise-cast``,
:func:`depthwise_quantize_as_cast`): tract runs ``QuantizeLinear`` as a scalar loop with a
branchy round-half-to-even per value (4 ns per value on x86, the largest cost outside the
products), while a ``Cast`` from float is 1.8 ns. The depthwise convolution is linear and its
ReLU6 output is never negative, so its ``Conv -> Clip(0, 6) -> QuantizeLinear(s)`` becomes
``Conv(W / s, b / s + 1/2) -> Clip(0, min(6 / s + 1/2, 127.49)) -> Cast(int8)``: the Cast
truncates toward zero, which on values >= 0 shifted by a half is rounding (ties up instead of to
even: the same int8 value except on exact ties).

onnxruntime runs the result too, so its accuracy is scored the same way as the QOperator
model's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _graph_index(g):
    """Initializer arrays, each value's producer node and its consumer nodes."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    return inits, producer, consumers


def _attr(n, name: str, default):
    from onnx import helper

    return next((helper.get_attribute_value(a) for a in n.attribute if a.name == name), default)


def _const(g, name: str, a: np.ndarray) -> str:
    from onnx import numpy_helper

    g.initializer.append(numpy_helper.from_array(a, name))
    return name


def pointwise_one_row(src: Path, dst: Path) -> int:
    """Give `src`'s 1x1 QLinearConvs a one-row input as described above, into `dst`; returns
    how many."""
    import onnx
    from onnx import helper, shape_inference

    m = shape_inference.infer_shapes(onnx.load(str(src)))
    g = m.graph
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(g.value_info) + list(g.input) + list(g.output)}
    inits, _, _ = _graph_index(g)
    kept, count = [], 0
    for n in list(g.node):
        x, w = n.input[0], n.input[3] if len(n.input) > 3 else ""
        xsh, ysh = shapes.get(x), shapes.get(n.output[0])
        if n.op_type != "QLinearConv" or w not in inits or list(inits[w].shape[2:]) != [1, 1] or \
                _attr(n, "group", 1) != 1 or any(s != 1 for s in _attr(n, "strides", [1, 1])) or \
                any(_attr(n, "pads", [0, 0, 0, 0])) or \
                any(z not in inits or inits[z].any() for z in (n.input[2], n.input[5], n.input[7])) or \
                not xsh or not ysh or len(xsh) != 4 or not all(xsh) or not all(ysh):
            kept.append(n)
            continue
        (nb, c, h, wd), co = xsh, ysh[1]
        count += 1
        p = f"pointwise{count}_"
        conv = helper.make_node("QLinearConv", [p + "x"] + list(n.input[1:]), [p + "y"], name=p + "conv")
        conv.attribute.extend(a for a in n.attribute if a.name != "pads")
        kept += [
            helper.make_node("Reshape", [x, _const(g, p + "shape_in", np.array([nb, c, 1, h * wd], np.int64))],
                             [p + "row"], name=p + "to_row"),
            helper.make_node("Gather", [p + "row", _const(g, p + "channels", np.arange(c, dtype=np.int64))],
                             [p + "x"], name=p + "keep_row", axis=1),
            conv,
            helper.make_node("Reshape", [p + "y", _const(g, p + "shape_out", np.array([nb, co, h, wd], np.int64))],
                             list(n.output), name=p + "to_map"),
        ]
    del g.node[:]
    g.node.extend(kept)
    del g.value_info[:]
    _save_pruned(m, dst)
    return count


def relu6_as_saturation(src: Path, dst: Path) -> int:
    """Rewrite each ``QLinearConv(y_scale s, y_zero_point 0) -> [Reshape ->] DequantizeLinear ->
    Clip(0, hi)`` of `src` whose clip feeds a float depthwise convolution as described above,
    into `dst`; returns how many."""
    import onnx

    m = onnx.load(str(src))
    g = m.graph
    inits, producer, consumers = _graph_index(g)

    def only_consumer(name: str):
        c = consumers.get(name, [])
        return c[0] if len(c) == 1 else None

    count = 0
    for dq in list(g.node):
        if dq.op_type != "DequantizeLinear" or len(dq.input) < 3:
            continue
        clip = only_consumer(dq.output[0])
        conv = only_consumer(clip.output[0]) if clip is not None and clip.op_type == "Clip" else None
        if conv is None or conv.op_type != "Conv" or _attr(conv, "group", 1) == 1:
            continue
        q = producer.get(dq.input[0])
        if q is not None and q.op_type == "Reshape" and len(consumers.get(q.output[0], [])) == 1:
            q = producer.get(q.input[0])  # pointwise_one_row's
        lo, hi = (inits.get(i) for i in clip.input[1:3]) if len(clip.input) >= 3 else (None, None)
        z = inits.get(dq.input[2])
        if q is None or q.op_type != "QLinearConv" or q.input[6] != dq.input[1] or q.input[7] != dq.input[2] or \
                lo is None or hi is None or float(lo) != 0.0 or z is None or z.dtype != np.int8 or z.any() or \
                len(consumers.get(q.output[0], [])) != 1:
            continue
        p = f"relu6_{count}_"
        scale = min(float(hi), 127 * float(inits[dq.input[1]])) / 255
        q.input[6] = dq.input[1] = _const(g, p + "scale", np.array(scale, np.float32))
        q.input[7] = dq.input[2] = _const(g, p + "zero_point", np.array(-128, np.int8))
        dq.output[0] = clip.output[0]
        g.node.remove(clip)
        count += 1
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
    from onnx import TensorProto, helper

    m = onnx.load(str(src))
    g = m.graph
    inits, producer, consumers = _graph_index(g)
    count = 0
    for q in list(g.node):
        if q.op_type != "QuantizeLinear" or len(q.input) < 3:
            continue
        x, scale, zero = q.input[:3]
        s, z = inits.get(scale), inits.get(zero)
        clip = producer.get(x)
        if s is None or z is None or s.size != 1 or z.dtype != np.int8 or z.any() or clip is None:
            continue
        if clip.op_type != "Clip" or len(clip.input) < 3 or len(consumers.get(x, [])) != 1:
            continue
        conv = producer.get(clip.input[0])
        if conv is None or conv.op_type != "Conv" or len(conv.input) < 3 or \
                len(consumers.get(clip.input[0], [])) != 1:
            continue
        w, b, lo, hi = (inits.get(i) for i in (conv.input[1], conv.input[2], clip.input[1], clip.input[2]))
        if _attr(conv, "group", 1) == 1 or w is None or b is None or lo is None or hi is None or float(lo) != 0.0:
            continue
        s = float(s)
        p = f"depthwise_cast{count}_"
        conv.input[1] = _const(g, p + "w", (w / s).astype(np.float32))
        conv.input[2] = _const(g, p + "b", (b / s + 0.5).astype(np.float32))
        clip.input[1] = _const(g, p + "lo", np.array(0.0, np.float32))
        clip.input[2] = _const(g, p + "hi", np.array(min(float(hi) / s + 0.5, 127.49), np.float32))
        cast = helper.make_node("Cast", [x], list(q.output), name=p + "cast", to=TensorProto.INT8)
        at = list(g.node).index(q)
        g.node.remove(q)
        g.node.insert(at, cast)
        count += 1
    _save_pruned(m, dst)
    return count

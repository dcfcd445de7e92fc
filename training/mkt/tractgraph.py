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
    used = {i for n in kept for i in n.input}
    inits_kept = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(inits_kept)
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))
    return count

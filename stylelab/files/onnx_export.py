"""ONNX out: a transformation network written as an ONNX file that runs where ONNX runs.

The file follows the ONNX model zoo's convention for style networks, so it
drops into whatever already runs those (onnxruntime, onnxruntime-web in a
browser, onnxruntime-mobile):

* one input, ``input``: float32 ``(N, 3, H, W)``, RGB in 0..255, any N, H, W;
* one output, ``output``: float32 ``(N, 3, H * factor, W * factor)``, RGB in
  0..255 (not clipped: clip when making an image);
* the graph is :meth:`stylelab.nets.transform.TransformNet.apply` node for
  node -- the layout's pixel map in, each stage's pad, conv, norm and ReLU,
  the residual additions, the output map, and the crop back to the input's
  size times the factor (a side that is not a multiple of the network's
  stride comes out a few pixels larger and is cropped, top-left aligned).

How each of the network's choices becomes ONNX:

==========================  ===============================================
stylelab                    ONNX (opset 17)
==========================  ===============================================
conv, reflection padding    ``Pad`` (mode reflect) then ``Conv`` (no pads)
conv, zero padding          ``Conv`` with ``pads``
conv, TensorFlow's SAME     ``Conv`` with ``auto_pad = SAME_UPPER`` (the
                            extra row and column at the end, as TF has it)
filters (F, K, K, C)        ``W`` (F, C, K, K)
transposed conv             ``ConvTranspose``, ``W`` (C_in, C_out, K, K),
(C_in, K, K, C_out)         the same pads and output padding
nearest x2 upsampling       ``Resize`` nearest, scales (1, 1, 2, 2),
                            asymmetric coordinates, floor
instance norm               ``InstanceNormalization`` (same epsilon)
affine norm (batch norm     ``Mul`` and ``Add`` by (1, C, 1, 1) constants
at test time)
residual block              the two convs, then ``Add`` of the input (cropped
                            by ``Slice`` when the block's convs are unpadded)
==========================  ===============================================

Written by hand with :class:`stylelab.files.protobuf.Writer`: the fields of
``onnx.proto`` this needs are listed in :mod:`stylelab.files.onnx`. The
network's spec (architecture and options) goes in the file's
``metadata_props``, and its weights keep stylelab's names (``conv1.w``,
``res1.1.w``...), so stylelab reads its own files back
(:func:`stylelab.files.onnx_nets.read_onnx_stylelab`).
"""

import json

import numpy as np

from .. import __version__
from ..backend import to_numpy
from ..layers.residual import SHAVE
from ..nets.transform import stage_params
from .atomic import write_atomically
from .limits import check_finite
from .protobuf import Writer

SPEC_KEY = "stylelab_spec"      # the network's spec, as JSON, in metadata_props
OPSET = 17
IR_VERSION = 8                  # the IR that opset 17 came with
FLOAT, INT64 = 1, 7             # TensorProto.DataType
ATTR_FLOAT, ATTR_INT, ATTR_STRING, ATTR_INTS = 1, 2, 3, 7


class Graph:
    """An ONNX graph being written: constants, nodes, one input and one output."""

    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def const(self, name, value, dtype=np.float32):
        """An initializer; returns its name."""
        value = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        t = Writer().ints(1, value.shape).int(2, FLOAT if dtype == np.float32 else INT64)
        t.raw(8, name).raw(9, value.astype(value.dtype.newbyteorder("<")).tobytes())
        self.initializers.append(t)
        return name

    def node(self, op, inputs, name=None, out=None, **attrs):
        """Append a node of one output (named `out`, or after the node); returns its name."""
        self.count += 1
        out = out or f"{name or op.lower()}_{self.count}"
        n = Writer()
        for i in inputs:
            n.raw(1, i)
        n.raw(2, out).raw(3, out).raw(4, op)
        for key, value in attrs.items():
            a = Writer().raw(1, key)
            if isinstance(value, float):
                a.float(2, value).int(20, ATTR_FLOAT)
            elif isinstance(value, int):
                a.int(3, value).int(20, ATTR_INT)
            elif isinstance(value, str):
                a.raw(4, value).int(20, ATTR_STRING)
            else:
                a.ints(8, value).int(20, ATTR_INTS)
            n.raw(5, a)
        self.nodes.append(n)
        return out

    def model(self, x, y, doc, metadata):
        """The ``ModelProto`` bytes, `x` and `y` named ``input`` and ``output``."""
        g = Writer()
        for n in self.nodes:
            g.raw(1, n)
        g.raw(2, "stylelab")
        for t in self.initializers:
            g.raw(5, t)
        for number, name in ((11, x), (12, y)):
            dims = Writer()
            for axis in ("N", 3, "H", "W"):
                dims.raw(1, Writer().int(1, axis) if isinstance(axis, int)
                         else Writer().raw(2, axis))
            tensor = Writer().int(1, FLOAT).raw(2, dims)
            g.raw(number, Writer().raw(1, name).raw(2, Writer().raw(1, tensor)))
        m = Writer().int(1, IR_VERSION).raw(2, "stylelab").raw(3, __version__).raw(6, doc)
        m.raw(7, g).raw(8, Writer().raw(1, "").int(2, OPSET))
        for key, value in metadata.items():
            m.raw(14, Writer().raw(1, key).raw(2, str(value)))
        return m.bytes()


def _np(a):
    return to_numpy(a).astype(np.float32)


def _channels(values):
    """Per-channel constants broadcast over (N, C, H, W)."""
    return np.asarray(values, np.float32).reshape(1, -1, 1, 1)


class _Exporter:
    def __init__(self, net):
        self.net, self.g, self.layout = net, Graph(), net.layout
        self.opts = net.options

    def conv(self, h, name, w, b, stride, padding):
        """A conv stage's conv with the given padding: "reflect", "zeros", "tf" or "valid"."""
        g, k = self.g, int(w.shape[1])
        p = k // 2
        wn = g.const(f"{name}.w", _np(w).transpose(0, 3, 1, 2))
        bn = g.const(f"{name}.b", _np(b))
        attrs = dict(kernel_shape=[k, k], strides=[stride, stride])
        if padding == "reflect" and p:
            pads = g.const(f"{name}.pads", [0, 0, p, p, 0, 0, p, p], np.int64)
            h = g.node("Pad", [h, pads], name=f"{name}.pad", mode="reflect")
        elif padding == "zeros":
            attrs["pads"] = [p, p, p, p]
        elif padding == "tf":
            attrs["auto_pad"] = "SAME_UPPER"
        return g.node("Conv", [h, wn, bn], name=f"{name}.conv", **attrs)

    def norm(self, h, name, gamma, beta):
        g, kind = self.g, self.opts["norm"]
        if kind == "instance":
            return g.node("InstanceNormalization",
                          [h, g.const(f"{name}.gamma", _np(gamma)),
                           g.const(f"{name}.beta", _np(beta))],
                          name=f"{name}.norm", epsilon=float(self.opts["norm_eps"]))
        h = g.node("Mul", [h, g.const(f"{name}.gamma", _channels(_np(gamma)))],
                   name=f"{name}.scale")
        return g.node("Add", [h, g.const(f"{name}.beta", _channels(_np(beta)))],
                      name=f"{name}.shift")

    def stage(self, h, stage):
        g, p = self.g, stage_params(self.net.params, stage.name)
        name = stage.name
        if stage.kind == "res":
            return self.residual(h, name, p)
        if stage.kind == "up" and self.opts["upsample"] == "transpose":
            pads, extra = self.layout.transpose_padding((1, 2, 2, 1))   # 2H is even
            top, bottom, left, right = (pads,) * 4 if np.isscalar(pads) else pads
            h = g.node("ConvTranspose",
                       [h, g.const(f"{name}.w", _np(p["w"]).transpose(0, 3, 1, 2)),
                        g.const(f"{name}.b", _np(p["b"]))],
                       name=f"{name}.convT", kernel_shape=[3, 3], strides=[2, 2],
                       pads=[top, left, bottom, right], output_padding=[extra, extra])
        else:
            if stage.kind == "up":
                scales = g.const(f"{name}.scales", [1, 1, 2, 2])
                h = g.node("Resize", [h, "", scales], name=f"{name}.up", mode="nearest",
                           coordinate_transformation_mode="asymmetric", nearest_mode="floor")
            h = self.conv(h, name, p["w"], p["b"], stage.stride, self.layout.padding)
        if "gamma" in p:
            h = self.norm(h, name, p["gamma"], p["beta"])
        if not stage.last:
            return g.node("Relu", [h], name=f"{name}.relu")
        scale, shift = self.layout.output_map(self.opts["output"])
        if self.opts["output"] == "tanh":
            h = g.node("Tanh", [h], name=f"{name}.tanh")
        h = g.node("Mul", [h, g.const(f"{name}.out_scale", np.float32(scale))], name="out_scale")
        return g.node("Add", [h, g.const(f"{name}.out_shift", np.float32(shift))],
                      name="out_shift")

    def residual(self, x, name, p):
        g, padding = self.g, self.layout.residual_padding()
        h = self.conv(x, f"{name}.1", p["w1"], p["b1"], 1, padding)
        h = self.norm(h, f"{name}.1", p["gamma1"], p["beta1"])
        h = g.node("Relu", [h], name=f"{name}.relu")
        h = self.conv(h, f"{name}.2", p["w2"], p["b2"], 1, padding)
        h = self.norm(h, f"{name}.2", p["gamma2"], p["beta2"])
        if padding == "valid":                      # the shortcut loses what the convs did
            x = g.node("Slice", [x, g.const(f"{name}.crop_start", [SHAVE, SHAVE], np.int64),
                                 g.const(f"{name}.crop_end", [-SHAVE, -SHAVE], np.int64),
                                 g.const(f"{name}.crop_axes", [2, 3], np.int64)],
                       name=f"{name}.crop")
        return g.node("Add", [x, h], name=f"{name}.add")

    def pixels_in(self, x):
        """RGB 0..255 -> what the first conv takes (the layout's map of RGB in [0, 1])."""
        g, lay = self.g, self.layout
        if getattr(lay, "pixels", False):
            if lay.channel_order == "BGR":
                x = g.node("Gather", [x, g.const("bgr", [2, 1, 0], np.int64)], name="to_bgr",
                           axis=1)
            std = np.asarray(lay.std)
            scale, shift = lay.input_scale / 255.0 / std, np.asarray(lay.mean) / std
        else:
            scale, shift = np.full(3, 1 / 255.0), np.zeros(3)
        x = g.node("Mul", [x, g.const("in_scale", _channels(scale))], name="in_scale")
        x = g.node("Sub", [x, g.const("in_shift", _channels(shift))], name="in_shift")
        if lay.input_pad:
            p = lay.input_pad
            x = g.node("Pad", [x, g.const("input_pad", [0, 0, p, p, 0, 0, p, p], np.int64)],
                       name="input_pad", mode="reflect")
        return x

    def pixels_out(self, y):
        """The output map's result -> RGB 0..255 (the layout's map back, times 255)."""
        g, lay = self.g, self.layout
        if getattr(lay, "pixels", False):
            std = np.asarray(lay.std)
            scale, shift = 255.0 * std / lay.input_scale, 255.0 * np.asarray(lay.mean) / \
                lay.input_scale
        else:
            scale, shift = np.full(3, 255.0), np.zeros(3)
        y = g.node("Mul", [y, g.const("back_scale", _channels(scale))], name="back_scale")
        y = g.node("Add", [y, g.const("back_shift", _channels(shift))], name="back_shift")
        if getattr(lay, "pixels", False) and lay.channel_order == "BGR":
            y = g.node("Gather", [y, g.const("rgb", [2, 1, 0], np.int64)], name="to_rgb",
                       axis=1)
        return y

    def crop(self, y, x):
        """Crop the output to the input's size times the factor (what ``apply`` does)."""
        g, factor = self.g, self.net.factor
        size = g.node("Shape", [x], name="input_shape")
        size = g.node("Slice", [size, g.const("hw_start", [2], np.int64),
                                g.const("hw_end", [4], np.int64)], name="input_hw")
        size = g.node("Mul", [size, g.const("factor", [int(factor)], np.int64)], name="output_hw")
        return g.node("Slice", [y, g.const("zeros2", [0, 0], np.int64), size,
                                g.const("hw_axes", [2, 3], np.int64)], out="output")

    def run(self):
        h = self.pixels_in("input")
        for stage in self.net.stages:
            h = self.stage(h, stage)
        return self.crop(self.pixels_out(h), "input")


def export_onnx(net, path, meta=None):
    """Write a transformation network (style or super-resolution) as an ONNX file, atomically.

    Parameters
    ----------
    net : TransformNet
        Taking a picture (3 channels): a style or super-resolution network,
        stylelab's own or a published one.
    path : str
        The ``.onnx`` file to write.
    meta : dict, optional
        Recorded in the file's ``metadata_props`` (where the network came
        from, its licence, its style).

    Returns
    -------
    int
        The file's size in bytes.
    """
    if net.in_channels != 3:
        raise ValueError(f"this network takes {net.in_channels} channels of VGG features, not a "
                         f"picture (a decoder): only networks that take a picture are exported")
    factor = net.factor
    if factor != int(factor):
        raise ValueError(f"{net.arch}: the output is {factor} times the input; ONNX export "
                         f"needs a whole factor")
    check_finite(net.params, f"the network to write to {path}")
    exporter = _Exporter(net)
    exporter.run()
    doc = (f"stylelab {net.arch}: RGB 0..255 in, (N, 3, H, W); RGB 0..255 out, "
           f"(N, 3, {'' if factor == 1 else f'{int(factor)} * '}H, "
           f"{'' if factor == 1 else f'{int(factor)} * '}W); clip to 0..255 for an image")
    metadata = {k: v for k, v in (meta or {}).items()
                if k in ("task", "source", "source_format", "style_name", "licence",
                         "loss_network", "published_as") and v is not None}
    metadata.update({k: v for k, v in net.spec.items()})
    # How stylelab reads its own file back (stylelab.files.onnx_nets.read_onnx_stylelab).
    metadata[SPEC_KEY] = json.dumps({k: list(v) if isinstance(v, tuple) else v
                                     for k, v in net.spec.items()})
    data = exporter.g.model("input", "output", doc, metadata)

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    write_atomically(path, write)
    return len(data)

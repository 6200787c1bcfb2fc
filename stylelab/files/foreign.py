"""Published style networks from other frameworks, read without those frameworks, as data.

Four sources, each Johnson et al.'s network with its own conventions
(:data:`stylelab.files.layouts.SOURCES`):

=============  =========================================  ===================================
format         what it is                                 read by
=============  =========================================  ===================================
deeplearnjs    a folder: ``manifest.json`` + one raw       :func:`read_deeplearnjs`
               little-endian float32 file per variable;
               lengstrom/fast-style-transfer's TensorFlow
               networks as deeplearn.js and ml5.js load
               them
pytorch        a ``.pth`` / ``.model`` state dict of       :func:`~stylelab.files.pytorch_examples.read_pytorch_examples`
               pytorch/examples' ``TransformerNet``
onnx           the same network in an ``.onnx`` file       :func:`stylelab.files.onnx_nets.read_onnx_transformer`
               (the ONNX model zoo's fast_neural_style)
torch7         a ``.t7`` checkpoint of                     :func:`stylelab.files.torch7_models.read_johnson_t7`
               jcjohnson/fast-neural-style
stylelab       stylelab's own model file (``.h5``)         :func:`stylelab.files.model_file.load_model`
=============  =========================================  ===================================

:func:`sniff` tells them apart by their bytes (a folder by its manifest);
:func:`read_network` reads any of them into a
:class:`~stylelab.nets.transform.TransformNet`. Every file is untrusted: no
code runs, a manifest may name only plain files inside its own folder,
every size is checked against the file's before anything is read, and NaN
or infinite weights are refused.
"""

import hashlib
import json
import os
import re
import stat

import numpy as np

from ..backend import asarray
from .layouts import SOURCES, transform_net
from .convert import sha256_of
from .limits import check_finite, untrusted_reader
from .model_file import load_task_model
from .onnx_nets import read_onnx_transformer
from .pytorch_examples import read_pytorch_examples
from .torch7 import T7_MAGIC
from .torch7_models import read_johnson_t7

FORMATS = ("deeplearnjs", "pytorch", "torch7", "onnx", "stylelab")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 1 << 20
_VARIABLE = re.compile(r"^Variable(?:_(\d+))?$")


def sniff(path):
    """The format of a network file or folder, from its bytes (or, for a folder, its manifest)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, MANIFEST)):
            return "deeplearnjs"
        raise ValueError(f"{path} is a folder without a {MANIFEST}: not a deeplearn.js checkpoint")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise ValueError(f"no such model file or folder: {path}") from None
    if head.startswith(HDF5_MAGIC):
        return "stylelab"
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return "pytorch"
    if head[:4] in T7_MAGIC:
        return "torch7"
    if path.lower().endswith(".onnx"):             # protobuf has no magic bytes
        return "onnx"
    expected = {".h5": "an HDF5 file (a stylelab model is one; make one with `stylelab train` "
                       "or `stylelab models convert`)",
                ".pth": "a PyTorch checkpoint", ".model": "a PyTorch checkpoint",
                ".t7": "a Torch7 file"}.get(os.path.splitext(path)[1].lower())
    if expected:
        raise ValueError(f"{path} is not {expected}")
    raise ValueError(f"{path}: not a network this reader knows (a deeplearn.js folder, a "
                     f"pytorch/examples .pth or .onnx, a Torch7 .t7 or a stylelab .h5)")


@untrusted_reader("style network file")
def read_network(path, fmt=None, dtype=np.float32):
    """A style network from any format of :data:`FORMATS`, and where it came from.

    Parameters
    ----------
    path : str
        A file, or a deeplearn.js folder.
    fmt : str, optional
        One of :data:`FORMATS`; told from the bytes when omitted.
    dtype : float dtype

    Returns
    -------
    net : TransformNet
    meta : dict
        ``task`` ("style"), ``source_format``, ``source`` (the name and its
        SHA-256), and what the file records of itself.
    """
    path = os.fspath(path).rstrip("/") or "/"
    fmt = fmt or sniff(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "stylelab":
        return load_task_model(path, "style", dtype)
    if fmt == "deeplearnjs":
        net, digest = read_deeplearnjs(path, dtype)
        extra = {}
    elif fmt == "pytorch":
        net, extra = read_pytorch_examples(path, dtype), {}
        digest = sha256_of(path)
    elif fmt == "onnx":
        net, found = read_onnx_transformer(path, dtype)
        extra, digest = {"found": found}, sha256_of(path)
    else:
        net, extra = read_johnson_t7(path, dtype)
        digest = sha256_of(path)
    name = os.path.basename(path)
    meta = {"task": "style", "source_format": fmt, "source": f"{name} sha256:{digest}",
            "style_name": os.path.splitext(name)[0], **extra}
    return net, meta


# -- deeplearn.js / ml5.js checkpoints of lengstrom/fast-style-transfer ----------

def read_manifest(folder):
    """The manifest's ``{variable: (file path, shape)}``, each entry checked; never outside `folder`."""
    path = os.path.join(folder, MANIFEST)
    # The manifest is held to the rule of every file it names: a plain file of this folder.
    if not stat.S_ISREG(os.lstat(path).st_mode) or \
            os.path.dirname(os.path.realpath(path)) != os.path.realpath(folder):
        raise ValueError(f"{path} is a link or not a plain file; a checkpoint's files must be "
                         f"its own")
    if os.path.getsize(path) > MAX_MANIFEST_BYTES:
        raise ValueError(f"{path}: {os.path.getsize(path)} bytes, more than a manifest ever takes")
    try:
        with open(path, "rb") as f:
            manifest = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})"[:300]) from None
    if not isinstance(manifest, dict) or not manifest:
        raise ValueError(f"{path}: expected an object of variables")
    home = os.path.realpath(folder)
    entries = {}
    for name, entry in manifest.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str) or \
                not isinstance(entry.get("shape"), list):
            raise ValueError(f"{path}: variable {name!r} lacks a filename or shape")
        filename, shape = entry["filename"], entry["shape"]
        if (os.path.basename(filename) != filename or filename in ("", ".", "..")
                or "\\" in filename or "/" in filename):
            raise ValueError(f"{path}: variable {name!r} names {filename!r}, which is not a "
                             f"plain file name in the checkpoint's folder")
        file_path = os.path.join(folder, filename)
        if os.path.dirname(os.path.realpath(file_path)) != home:
            raise ValueError(f"{path}: {filename} links outside the checkpoint's folder")
        if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape) \
                or len(shape) > 4:
            raise ValueError(f"{path}: variable {name!r} has the shape {shape!r}")
        entries[name] = (file_path, tuple(shape))
    return entries


def _read_variable(name, file_path, shape):
    if not os.path.isfile(file_path):
        raise ValueError(f"{file_path}: the file variable {name!r} names is missing")
    expected = 4 * int(np.prod(shape, dtype=np.int64))
    size = os.path.getsize(file_path)
    if size != expected:
        raise ValueError(f"{file_path}: {size} bytes, but variable {name!r} of shape "
                         f"{shape} takes {expected} (raw float32)")
    with open(file_path, "rb") as f:
        data = f.read(expected + 1)
    if len(data) != expected:
        raise ValueError(f"{file_path}: changed while it was read")
    values = np.frombuffer(data, dtype="<f4").reshape(shape).astype(np.float64)
    check_finite(values, f"{file_path}: variable {name!r}")
    return values


def read_deeplearnjs(folder, dtype=np.float32):
    """lengstrom/fast-style-transfer's network from a deeplearn.js folder; and the folder's SHA-256.

    The variables, in TensorFlow's creation order (``Variable``,
    ``Variable_1``, ...), are per layer a filter (HWIO; a transposed conv's
    ``(K, K, C_out, C_in)``), the instance norm's shift and its scale:
    ``conv1, conv2 (stride 2), conv3 (stride 2), 2 per residual block,
    conv_t1, conv_t2 (transposed), conv_out``. No conv has a bias.
    """
    entries = read_manifest(folder)
    order = []
    for name in entries:
        m = _VARIABLE.match(name)
        if not m:
            raise ValueError(f"{os.path.join(folder, MANIFEST)}: {name!r} is not a TensorFlow "
                             f"variable name (Variable, Variable_1, ...)")
        order.append((int(m.group(1) or 0), name))
    order.sort()
    if [i for i, _ in order] != list(range(len(order))):
        raise ValueError(f"{os.path.join(folder, MANIFEST)}: the variables do not run from "
                         f"Variable to Variable_{len(order) - 1} without gaps")
    digest = hashlib.sha256()
    with open(os.path.join(folder, MANIFEST), "rb") as f:
        digest.update(f.read())
    values = []
    for _, name in order:
        file_path, shape = entries[name]
        values.append(_read_variable(name, file_path, shape))
        with open(file_path, "rb") as f:
            digest.update(f.read())
    return _tensorflow_network(values, folder, dtype), digest.hexdigest()


def _tensorflow_network(values, folder, dtype):
    """Map the variables, three per layer, onto the TransformNet of the "tensorflow" options."""
    if len(values) % 3 or len(values) < 18 or (len(values) // 3 - 6) % 2:
        raise ValueError(f"{folder}: {len(values)} variables do not form lengstrom's network "
                         f"(3 per layer: conv, 2 strided, 2 per residual block, 2 transposed, out)")
    layers = [values[i:i + 3] for i in range(0, len(values), 3)]
    blocks = (len(layers) - 6) // 2
    w = [layer[0] for layer in layers]

    def fail(i, what):
        raise ValueError(f"{folder}: layer {i + 1} ({what}) has filters {w[i].shape}; the "
                         f"variables do not form lengstrom's network")
    if w[0].ndim != 4 or w[0].shape[2] != 3 or w[0].shape[0] != w[0].shape[1] or w[0].shape[0] % 2 == 0:
        fail(0, "the first conv, KxKx3xF")
    widths = [w[0].shape[3]]
    for i in (1, 2):
        if w[i].shape[:3] != (3, 3, widths[-1]):
            fail(i, "a 3x3 stride-2 conv")
        widths.append(w[i].shape[3])
    for i in range(3, 3 + 2 * blocks):
        if w[i].shape != (3, 3, widths[-1], widths[-1]):
            fail(i, "a residual conv")
    up = []
    for i in (3 + 2 * blocks, 4 + 2 * blocks):          # transposed: (K, K, C_out, C_in)
        if w[i].ndim != 4 or w[i].shape[:2] != (3, 3) or w[i].shape[3] != (up or widths)[-1]:
            fail(i, "a 3x3 transposed conv")
        up.append(w[i].shape[2])
    last = w[-1]
    if last.ndim != 4 or last.shape[2:] != (up[-1], 3) or last.shape[0] != last.shape[1] \
            or last.shape[0] % 2 == 0:
        fail(len(w) - 1, "the output conv, KxKxCx3")
    for i, (filters, shift, scale) in enumerate(layers):
        out = filters.shape[2] if i in (3 + 2 * blocks, 4 + 2 * blocks) else filters.shape[3]
        if shift.shape != (out,) or scale.shape != (out,):
            raise ValueError(f"{folder}: layer {i + 1}'s instance norm has shift {shift.shape} "
                             f"and scale {scale.shape}, its conv {out} channels")
    k1, k2 = w[0].shape[0], last.shape[0]
    arch = (f"c{k1}s1-{widths[0]},d{widths[1]},d{widths[2]},"
            + (f"R{widths[2]}x{blocks}," if blocks else "") + f"u{up[0]},u{up[1]},c{k2}s1-3")
    names = (["conv1", "down1", "down2"] + [f"res{b + 1}" for b in range(blocks)]
             + ["up1", "up2", "conv2"])
    params, i = {}, 0
    for stage in names:
        parts = ("1", "2") if stage.startswith("res") else ("",)
        for part in parts:
            filters, shift, scale = layers[i]
            # HWIO -> (O, H, W, I); a transposed conv's (K, K, C_out, C_in) -> (C_in, K, K, C_out)
            params[f"{stage}.w{part}"] = filters.transpose(3, 0, 1, 2)
            params[f"{stage}.b{part}"] = np.zeros(filters.shape[2] if stage.startswith("up")
                                                  else filters.shape[3])
            params[f"{stage}.gamma{part}"], params[f"{stage}.beta{part}"] = scale, shift
            i += 1
    params = {k: asarray(np.ascontiguousarray(v), dtype=dtype) for k, v in params.items()}
    return transform_net(arch, params=params, **SOURCES["tensorflow"])

"""Convert published VGG weight files to stylelab's HDF5 layout.

Each source is recognised from the file's first bytes and has its own input
convention and family (recorded in the output, so no caller ever needs to
know them):

==================  =============  =====  =====  ========================  ==========  =========
source              filters        order  scale  mean                      std         family
==================  =============  =====  =====  ========================  ==========  =========
torchvision .pth    (F, C, H, W)   RGB    1      0.485, 0.456, 0.406       0.229, ...  torchvision
neural-style-pt     (F, C, H, W)   BGR    255    103.939, 116.779, 123.68  1, 1, 1     caffe
.pth
Caffe .caffemodel   (F, C, H, W)   BGR    255    103.939, 116.779, 123.68  1, 1, 1     caffe or
                                                                                       normalised
Torch7 .t7          (F, C, H, W)   RGB    1      0 (a 1x1 conv first)      1, 1, 1     normalised
Keras .h5           (H, W, C, F)   BGR    255    103.939, 116.779, 123.68  1, 1, 1     caffe
ONNX .onnx          (F, C, H, W)   as --convention (or known by its digest)        caffe or
                                                                                       torchvision
MatConvNet .mat     (W, H, C, F)   RGB    255    the file's averageImage   1, 1, 1     caffe
==================  =============  =====  =====  ========================  ==========  =========

A ``.pth`` of torchvision's VGG and one of neural-style-pt's (Caffe's
weights under torchvision's key names) look alike; they are told apart by
the first 8 hex digits of the file's SHA-256, which torch.hub puts in the
published names (``vgg19-dcbb9e9d.pth``, ``vgg19-d01eb7cb.pth``). Any other
``.pth`` needs ``convention=`` said: the converter does not guess. Nor does
an ONNX file say how its VGG wants its pixels: the same rule holds
(:data:`stylelab.files.onnx_nets.KNOWN_ONNX`). A
``.caffemodel`` is Caffe's VGG unless its net is named "normalised" or
``convention="normalised"`` says so (bethgelab's ``vgg_normalised``).

References: torchvision's ``transforms.Normalize`` values for its ImageNet
models; Keras ``applications.vgg19.preprocess_input`` ("converted from RGB to
BGR, then each color channel is zero-centered with respect to the ImageNet
dataset, without scaling"); MatConvNet's ``vl_nnconv`` ("F is an array of
dimension FW x FH x FC x K") and its Caffe importer, which transposes Caffe's
(K, C, H, W) blobs to (W, H, C, K).
"""

import hashlib
import os
import struct
import zlib

import numpy as np

from ..nets.vgg import BLOCKS, conv_shapes, convs_upto, layer_names
from .atomic import check_outputs
from .hdf5 import open_hdf5
from .limits import check_finite, untrusted_reader
from .caffe import read_caffemodel
from .onnx_nets import KNOWN_ONNX, read_onnx_vgg
from .pth import load_pth, sequential_convs
from .torch7 import T7_MAGIC
from .torch7_vgg import IDENTITY, read_torch7_vgg
from .vgg_h5 import CAFFE, CONVENTIONS, FAMILIES, save_vgg_h5

KERAS = CAFFE
MATCONVNET = dict(channel_order="RGB", input_scale=255.0, std=[1.0, 1.0, 1.0])

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# The published .pth files of VGG, by the first 8 hex digits of their SHA-256:
# (arch, family). torchvision's, and neural-style-pt's conversions of Caffe's.
KNOWN_PTH = {"dcbb9e9d": ("vgg19", "torchvision"), "397923af": ("vgg16", "torchvision"),
             "d01eb7cb": ("vgg19", "caffe"), "00b39a1b": ("vgg16", "caffe")}


def _arch_from_count(n, path):
    for arch in BLOCKS:
        if len(conv_shapes(arch)) == n:
            return arch
    raise ValueError(f"{path}: found {n} conv layers, but VGG-16 has 13 and VGG-19 has 16")


def sniff(path):
    """The format of `path` from its first bytes: 'pth', 'keras', 'matconvnet', 'torch7' or 'caffe'."""
    try:
        with open(path, "rb") as f:
            head = f.read(520)
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not a weight file") from None
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return "pth"
    if head.startswith(HDF5_MAGIC):
        return "keras"
    if head.startswith(b"MATLAB 5.0 MAT-file"):
        return "matconvnet"
    if head.startswith(b"MATLAB 7.3 MAT-file") or head[512:520] == HDF5_MAGIC:
        raise ValueError(f"{path}: MATLAB v7.3 files are not supported; in MATLAB, "
                         f"re-save it with save(..., '-v7')")
    if head[:4] in T7_MAGIC:
        return "torch7"
    if path.lower().endswith(".caffemodel"):        # protobuf has no magic bytes
        return "caffe"
    if path.lower().endswith(".onnx"):
        return "onnx"
    raise ValueError(f"{path}: not a VGG weight file this converter knows (a .pth, "
                     f".caffemodel, .onnx, Torch7 .t7, Keras .h5 or MatConvNet .mat)")


@untrusted_reader("torchvision checkpoint")
def read_torchvision(path):
    """``features.N.weight`` (F, C, H, W) -> {conv name: (w, b)} in (F, H, W, C).

    A state dict of bare ``N.weight`` keys is pytorch-AdaIN's
    ``vgg_normalised.pth``: read by :func:`read_sequential_vgg`.
    """
    state = load_pth(path)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    if state and not any(str(k).startswith("features.") for k in state):
        return read_sequential_vgg(state, path)
    indices = sorted({int(k.split(".")[1]) for k in state
                      if k.startswith("features.") and k.endswith(".weight")})
    arch = _arch_from_count(len(indices), path)
    weights = {}
    # torchvision's `features` lists conv, ReLU and pool modules in the papers'
    # order, so a conv's module index is its position in that list.
    names = layer_names(arch)
    for name in conv_shapes(arch):
        i = names.index(name)
        try:
            w, b = state[f"features.{i}.weight"], state[f"features.{i}.bias"]
        except KeyError as exc:
            raise ValueError(f"{path}: {name} (key {exc.args[0]}) is missing") from None
        if w.ndim != 4:
            raise ValueError(f"{path}: {name} weight has shape {w.shape}, expected 4 axes")
        weights[name] = (w.transpose(0, 2, 3, 1), b)
    return dict(arch=arch, weights=weights)


def read_sequential_vgg(state, path):
    """pytorch-AdaIN's ``vgg_normalised.pth``: a 1x1 colour conv, then VGG-19's convs, reflection-padded.

    Its ``nn.Sequential`` (``net.py``) pads each 3x3 conv with
    ``ReflectionPad2d(1)``; a state dict holds the convs only, in order.
    """
    convs = sequential_convs(state, path)
    if not convs or convs[0][1].shape != (3, 1, 1, 3):
        raise ValueError(f"{path}: neither torchvision's keys (features.N.weight) nor the "
                         f"normalised VGG's (a 1x1 colour conv first)")
    rest = convs[1:]
    names = list(conv_shapes("vgg19"))[:len(rest)]
    if not rest or len(rest) > len(names):
        raise ValueError(f"{path}: {len(rest)} 3x3 convs after the colour conv; VGG-19 has 16")
    weights = {n: (w, b) for n, (_, w, b) in zip(names, rest)}
    return dict(arch="vgg19", weights=weights, convention=dict(IDENTITY), family="normalised",
                padding="reflect", preprocess=convs[0][1:])


def family_by_digest(path, arch, convention, digest, known, unknown, may_override=False):
    """Whose VGG a file holds, by its digest (in `known`) or as `convention` says.

    Parameters
    ----------
    path, arch : str
    convention : str or None
        What ``--convention`` said.
    digest : str
        The file's hex SHA-256.
    known : dict
        First 8 hex digits -> (arch, family): the files seen before.
    unknown : str
        The message (after the path) when neither the digest nor `convention` tells.
    may_override : bool
        Whether `convention` may differ from what the digest says (an ONNX
        file's is a measured choice, not a fact of the file).

    Raises ValueError when neither tells, or when they disagree.
    """
    found = known.get(digest[:8])
    if found is not None and found[0] != arch:
        raise ValueError(f"{path}: its digest is that of {found[1]}'s {found[0]}, but it "
                         f"holds {arch} weights; the file is damaged")
    if convention is None:
        if found is None:
            raise ValueError(f"{path}: {unknown}")
        return found[1]
    if found is not None and found[1] != convention and not may_override:
        raise ValueError(f"{path} is {found[1]}'s {arch} (by its digest), not "
                         f"{convention}'s; leave out --convention")
    return convention


@untrusted_reader("Keras weight file")
def read_keras(path):
    """Keras ``block{b}_conv{i}`` kernels (H, W, C, F) -> (F, H, W, C)."""
    with open_hdf5(path, "a Keras weight file") as f:
        if "arch" in f.attrs and "channel_order" in f.attrs:
            raise ValueError(f"{path} is already in stylelab's layout; load it with "
                             f"stylelab.files.weights.load_vgg")
        convs = sorted(k for k in f.keys() if k.startswith("block") and "_conv" in k)
        arch = _arch_from_count(len(convs), path)
        weights = {}
        for name in conv_shapes(arch):
            block, i = name[4], name[6]
            key = f"block{block}_conv{i}"
            if key not in f:
                raise ValueError(f"{path}: {name} (group {key}) is missing")
            g = f[key]
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in g.attrs.get("weight_names", [])]
            kernel = next((n for n in names if "kernel" in n or n.endswith("W:0")), None)
            bias = next((n for n in names if "bias" in n or n.endswith("b:0")), None)
            if kernel is None or bias is None or kernel not in g or bias not in g:
                raise ValueError(f"{path}: {name} ({key}) lacks a kernel or bias")
            f_, k, _, c = conv_shapes(arch)[name]          # checked before a byte is read
            if g[kernel].shape != (k, k, c, f_) or g[bias].shape != (f_,):
                raise ValueError(f"{path}: {name} has kernel {g[kernel].shape} and bias "
                                 f"{g[bias].shape}, but {arch} needs {(k, k, c, f_)} and {(f_,)}")
            w, b = g[kernel][()], g[bias][()]
            weights[name] = (w.transpose(3, 0, 1, 2), b)
    return dict(arch=arch, weights=weights, convention=dict(KERAS), family="caffe")


def _field(struct, name, path):
    try:
        return getattr(struct, name)
    except AttributeError:
        raise ValueError(f"{path}: MatConvNet layer lacks the field {name!r}") from None


@untrusted_reader("MatConvNet file")
def read_matconvnet(path):
    """MatConvNet ``layers{i}.weights = {filters (W, H, C, F), biases}`` -> (F, H, W, C)."""
    import scipy.io
    check_mat_sizes(path)
    try:
        data = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except Exception as exc:  # scipy raises many types for corrupt files
        raise ValueError(f"{path}: cannot read as a MATLAB file ({exc})"[:300]) from None
    if "layers" not in data:
        raise ValueError(f"{path}: no 'layers' in this MATLAB file; not a MatConvNet model")
    convs = []
    for layer in np.atleast_1d(data["layers"]):
        if str(getattr(layer, "type", "")) == "conv":
            convs.append(layer)
    arch = _arch_from_count(len(convs), path)
    weights = {}
    for name, layer in zip(conv_shapes(arch), convs):
        if hasattr(layer, "weights"):
            filters, biases = np.atleast_1d(layer.weights)[:2]
        else:  # the oldest MatConvNet models: separate fields
            filters, biases = _field(layer, "filters", path), _field(layer, "biases", path)
        filters = np.asarray(filters)
        if filters.ndim != 4:
            raise ValueError(f"{path}: {name} filters have shape {filters.shape}, "
                             f"expected 4 axes")
        weights[name] = (filters.transpose(3, 1, 0, 2), np.asarray(biases).reshape(-1))
    meta = data.get("meta", None)
    norm = getattr(meta, "normalization", None) if meta is not None else data.get("normalization")
    avg = getattr(norm, "averageImage", None) if norm is not None else None
    if avg is None:
        raise ValueError(f"{path}: no normalization.averageImage (the input mean)")
    avg = np.asarray(avg, dtype=np.float64)
    mean = avg.reshape(-1, 3).mean(axis=0) if avg.size > 3 else avg.reshape(3)
    return dict(arch=arch, weights=weights, family="caffe",
                convention=dict(MATCONVNET, mean=[float(m) for m in mean]))


def read_caffe(path):
    """A ``.caffemodel``'s VGG: the conv layers in order, named as VGG's."""
    net_name, convs = read_caffemodel(path)
    arch = _arch_from_count(len(convs), path)
    weights = {name: (w, b) for name, (_, w, b) in zip(conv_shapes(arch), convs)}
    normalised = "normali" in net_name.lower()
    return dict(arch=arch, weights=weights, convention=dict(CAFFE),
                family="normalised" if normalised else None)


def read_torch7(path):
    """A normalised VGG-19 ``.t7`` (:mod:`stylelab.files.torch7_vgg`)."""
    arch, weights, preprocess, padding = read_torch7_vgg(path)
    return dict(arch=arch, weights=weights, convention=dict(IDENTITY), family="normalised",
                padding=padding, preprocess=preprocess)


def check_mat_sizes(path, max_expansion=64):
    """Refuse a MATLAB 5 file whose compressed variables declare more than they can hold.

    ``scipy.io.loadmat`` inflates each zlib-compressed variable whole. The
    header of each (8 bytes: type and byte count of the matrix inside) is
    inflated here first, with a bound, and its byte count checked against
    the compressed bytes that carry it: a 2 MB file cannot declare 4 GB.
    """
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            f.seek(128)                                          # the MAT-file header
            while f.tell() + 8 <= size:
                kind, nbytes = struct.unpack("<II", f.read(8))
                start = f.tell()
                if nbytes > size - start:
                    raise ValueError(f"{path}: a variable declares {nbytes} bytes, more than "
                                     f"the file holds; refused")
                if kind == 15:                                   # miCOMPRESSED
                    head = zlib.decompressobj().decompress(f.read(min(nbytes, 64)), 8)
                    if len(head) == 8:
                        inner = struct.unpack("<II", head)[1]
                        if inner > nbytes * max_expansion + (1 << 16):
                            raise ValueError(f"{path}: a compressed variable of {nbytes} bytes "
                                             f"declares {inner} once inflated; refused")
                f.seek(start + nbytes + (-nbytes % 8 if kind != 15 else 0))
    except (zlib.error, struct.error) as exc:
        raise ValueError(f"{path}: cannot read as a MATLAB file ({exc})") from None


READERS = {"pth": read_torchvision, "keras": read_keras, "matconvnet": read_matconvnet,
           "caffe": read_caffe, "torch7": read_torch7, "onnx": read_onnx_vgg}


def sha256_of(path):
    """The hex SHA-256 of a file's bytes, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_vgg_any(src, convention=None, source_name=None, sha256=None):
    """Read a VGG weight file of any published format: what :func:`convert_vgg` would store.

    Returns
    -------
    dict
        ``arch``, ``weights`` {conv: (w, b)} float32, ``convention`` (the input
        convention), ``family``, ``padding``, ``preprocess`` ((w, b) or None)
        and ``source`` (name and sha256): the keyword arguments of
        :class:`stylelab.nets.vgg.VGG` and of :func:`save_vgg_h5`.
    """
    if convention is not None and convention not in FAMILIES:
        raise ValueError(f"--convention must be one of {', '.join(FAMILIES)}, got {convention!r}")
    kind = sniff(src)
    found = READERS[kind](src)
    arch, weights = found["arch"], found["weights"]
    name = source_name or os.path.basename(src)
    sha256 = sha256 or sha256_of(src)
    if kind == "pth" and found.get("family") is None:
        family = family_by_digest(
            name, arch, convention, sha256, KNOWN_PTH,
            "cannot tell whether this .pth holds torchvision's VGG (inputs in [0, 1]) or "
            "Caffe's (neural-style-pt's, BGR 0..255); say which with --convention caffe or "
            "--convention torchvision")
    elif kind == "pth" and convention not in (None, found["family"]):
        raise ValueError(f"{name} is the normalised VGG (pytorch-AdaIN's layout); leave out "
                         f"--convention")
    elif kind == "pth":
        family = found["family"]
    elif kind == "onnx":
        family = family_by_digest(
            name, arch, convention, sha256, KNOWN_ONNX,
            "an ONNX file does not say how its VGG wants its pixels; say it with --convention "
            "caffe (BGR, 0..255 minus the mean: Caffe's and Keras's VGG) or --convention "
            "torchvision (RGB in 0..1, normalised: torchvision's)", may_override=True)
    elif convention is not None and kind == "caffe":
        family = convention
    else:
        family = found.get("family") or "caffe"
        if convention is not None and convention != family:
            raise ValueError(f"{name} holds {family} weights (a {kind} file says so itself); "
                             f"leave out --convention")
    weights = {n: (np.asarray(w, np.float32), np.asarray(b, np.float32))
               for n, (w, b) in weights.items()}
    preprocess = found.get("preprocess")
    if preprocess is not None:
        preprocess = tuple(np.asarray(a, np.float32) for a in preprocess)
    for n, (w, b) in {**weights, **({"preprocess": preprocess} if preprocess else {})}.items():
        check_finite(w, f"{src}: {n}'s weights")
        check_finite(b, f"{src}: {n}'s bias")
    return dict(arch=arch, weights=weights,
                convention=found.get("convention") or dict(CONVENTIONS[family]), family=family,
                padding=found.get("padding", "zeros"), preprocess=preprocess,
                source=f"{name} sha256:{sha256}")


def convert_vgg(src, dst, half=False, upto=None, source_name=None, sha256=None,
                expect_arch=None, convention=None):
    """Convert a VGG weight file to stylelab's HDF5 layout (written atomically).

    Parameters
    ----------
    src : str
        A ``.pth`` (torchvision's, neural-style-pt's or pytorch-AdaIN's),
        ``.caffemodel``, Torch7 ``.t7`` (the normalised VGG-19), Keras ``.h5``
        or MatConvNet ``.mat`` file.
    dst : str
        The ``.h5`` file to write.
    half : bool
        Store float16.
    upto : str, optional
        Keep only the layers needed up to this one (e.g. ``"relu5_1"``).
    source_name, sha256 : str, optional
        The original file's name and hex sha256, recorded as ``source``, when
        `src` is a stand-in for it (a download streams into a temporary file,
        hashing as it goes); by default `src`'s own name and digest.
    expect_arch : {"vgg16", "vgg19"}, optional
        Refuse a file holding the other network (a download named vgg19
        that is really VGG-16).
    convention : {"caffe", "torchvision", "normalised"}, optional
        Whose VGG `src` is, where the file cannot say: needed for a ``.pth``
        whose digest is not a published one; ``"normalised"`` marks a
        ``.caffemodel`` of the normalised VGG-19.

    Returns
    -------
    arch : str
    """
    check_outputs([dst], [src])
    f = read_vgg_any(src, convention, source_name, sha256)
    arch, weights = f["arch"], f["weights"]
    if expect_arch is not None and arch != expect_arch:
        raise ValueError(f"{source_name or os.path.basename(src)} holds {arch} weights, not "
                         f"{expect_arch}; nothing was saved")
    if upto is not None:
        weights = {n: weights[n] for n in convs_upto(arch, upto)}
    save_vgg_h5(dst, arch, weights, f["convention"], f["source"], half=half, family=f["family"],
                padding=f["padding"], preprocess=f["preprocess"])
    return arch

"""stylelab's HDF5 layout for VGG weights (``docs/weights.md``): write it, read it back.

A weight file holds the filters as (F, 3, 3, C) -- the layout of
:func:`stylelab.layers.conv2d_forward` -- one group per conv layer, and
records the input convention the weights were trained with and where they
came from. Reading one never runs code from it: HDF5 datasets and
attributes are data, opened by :func:`stylelab.files.hdf5.open_hdf5` (no
links to other files, no external storage), every shape checked against
the architecture before it is read, NaN and infinity refused.
:func:`stylelab.files.weights.load_vgg` builds the network from a file.
"""

import os

import h5py
import numpy as np

from ..backend import to_numpy
from ..nets.vgg import (BLOCKS, CONVENTION_KEYS, PADDINGS, check_preprocess_conv, check_weights,
                        conv_shapes, family_of, normalise_convention, random_weights)
from .atomic import check_space, write_atomically
from .hdf5 import open_hdf5
from .limits import check_finite, untrusted_reader

TORCHVISION = dict(channel_order="RGB", input_scale=1.0,
                   mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
CAFFE = dict(channel_order="BGR", input_scale=255.0,
             mean=[103.939, 116.779, 123.68], std=[1.0, 1.0, 1.0])
# Whose VGG a file holds: Caffe's (Simonyan & Zisserman's own, as neural-style and
# Keras use it), torchvision's (retrained in PyTorch), or Caffe's normalised by
# Gatys et al. (each filter's mean activation over ImageNet scaled to 1).
FAMILIES = ("caffe", "torchvision", "normalised")
CONVENTIONS = {"caffe": CAFFE, "torchvision": TORCHVISION, "normalised": CAFFE}


def save_vgg_h5(path, arch, weights, convention, source, half=False, family=None,
                padding="zeros", preprocess=None):
    """Write weights in stylelab's HDF5 layout, atomically.

    Parameters
    ----------
    path : str
    arch : {"vgg16", "vgg19"}
    weights : dict name -> (w, b)
        ``w`` of shape (F, 3, 3, C), ``b`` of shape (F,); a prefix of the
        conv layers of `arch` (conv1_1 first).
    convention : dict
        ``channel_order`` ("RGB" | "BGR"), ``input_scale`` (1.0 | 255.0),
        ``mean`` and ``std`` (3 floats each, in channel_order and
        input_scale units).
    source : str
        Where the weights came from (file name and its sha256).
    half : bool
        Store float16 instead of float32.
    family : {"caffe", "torchvision", "normalised"}, optional
        Whose VGG this is (default: told from `convention`, :func:`family_of`).
    padding : {"zeros", "reflect"}
    preprocess : (w (3, 1, 1, 3), b (3,)), optional
        The 1x1 conv the Torch7 normalised VGG runs first.
    """
    check_weights(arch, weights, what="weights")
    family = family or family_of(convention)
    if family not in FAMILIES or padding not in PADDINGS:
        raise ValueError(f"family must be one of {FAMILIES} and padding one of {PADDINGS}, "
                         f"got {family!r} and {padding!r}")
    preprocess = check_preprocess_conv(preprocess, "save_vgg_h5")
    extra = {} if preprocess is None else {"preprocess": preprocess}
    for name, (w, b) in {**weights, **extra}.items():
        check_finite(w, f"{name}'s weights")
        check_finite(b, f"{name}'s bias")
    convention = normalise_convention(convention, where="save_vgg_h5")
    dtype = np.float16 if half else np.float32
    check_space(path, sum((w.size + b.size) * np.dtype(dtype).itemsize
                          for w, b in {**weights, **extra}.values()))

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.attrs["arch"] = arch
            f.attrs["channel_order"] = convention["channel_order"]
            f.attrs["input_scale"] = convention["input_scale"]
            f.attrs["mean"] = convention["mean"]
            f.attrs["std"] = convention["std"]
            f.attrs["source"] = source
            f.attrs["family"] = family
            f.attrs["padding"] = padding
            for name, (w, b) in {**extra, **weights}.items():
                g = f.create_group(name)     # h5py writes host arrays: to_numpy, explicitly
                g.create_dataset("weight", data=to_numpy(w).astype(dtype))
                g.create_dataset("bias", data=to_numpy(b).astype(dtype))
    write_atomically(path, write)


def save_random_vgg_h5(path, arch="vgg19", seed=0, upto=None, family="torchvision"):
    """Write a VGG file of **random weights** (:func:`stylelab.nets.vgg.random_weights`), for tests and demos.

    Its ``source`` attribute says "random weights": nothing it computes is
    what a trained VGG would see. It takes the input convention of `family`
    (torchvision's by default), so it stands in for that family's file.
    """
    save_vgg_h5(path, arch, random_weights(arch, seed, upto), CONVENTIONS[family],
                source=f"random weights (seed {seed})", family=family)


def _attr_str(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def weights_arch(path):
    """The ``arch`` a weight file records (``"vgg16"``, ``"vgg19"``), read without its weights."""
    with open_hdf5(path, "a VGG weight file") as f:
        return _attr_str(f.attrs.get("arch", "unknown"))


def weights_source(path):
    """The ``source`` a weight file records (``"random weights (seed 0)"`` for test files)."""
    with open_hdf5(path, "a VGG weight file") as f:
        return _attr_str(f.attrs.get("source", "unknown"))


def read_vgg_h5(path):
    """Read and check a weight file in stylelab's layout (data only; no code runs).

    Returns
    -------
    arch : str
    weights : dict name -> (w, b), NumPy arrays as stored
    convention : dict (see :func:`save_vgg_h5`)
    """
    f = read_vgg_file(path)
    return f["arch"], f["weights"], f["convention"]


def _stored_pair(f, path, name, shape):
    """``(w, b)`` of group `name`, checked to be floats of `shape` (and `shape[:1]`) before reading."""
    g = f[name]
    w, b = (g.get("weight"), g.get("bias")) if isinstance(g, h5py.Group) else (None, None)
    if not isinstance(w, h5py.Dataset) or not isinstance(b, h5py.Dataset):
        raise ValueError(f"{path}: {name} lacks its weight or bias")
    if w.dtype.kind != "f" or b.dtype.kind != "f":
        raise ValueError(f"{path}: {name} is not stored as floats")
    if w.shape != shape or b.shape != shape[:1]:
        raise ValueError(f"{path}: {name} has weight {w.shape} and bias {b.shape}, "
                         f"but it needs {shape} and {shape[:1]}")
    pair = (w[()], b[()])
    check_finite(pair[0], f"{path}: {name}'s weights")
    check_finite(pair[1], f"{path}: {name}'s bias")
    return pair


@untrusted_reader("VGG weight file")
def read_vgg_file(path):
    """Everything a weight file in stylelab's layout holds, checked (data only; no code runs).

    Returns
    -------
    dict
        ``arch``, ``weights``, ``convention`` (as :func:`read_vgg_h5`),
        ``family`` (see :data:`FAMILIES`), ``padding``, ``preprocess``
        (``(w, b)`` or None) and ``source``: the keyword arguments of
        :class:`stylelab.nets.vgg.VGG` besides pooling and dtype.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"no such weight file: {path}")
    f = open_hdf5(path, "an HDF5 weight file (convert VGG weights with `stylelab weights "
                        "convert`)")
    with f:
        missing = [k for k in ("arch",) + CONVENTION_KEYS if k not in f.attrs]
        if missing:
            raise ValueError(f"{path}: not a stylelab VGG file (attribute "
                             f"{missing[0]!r} is missing); convert it with "
                             f"`stylelab weights convert`")
        arch = _attr_str(f.attrs["arch"])
        if arch not in BLOCKS:
            raise ValueError(f"{path}: unknown arch {arch!r}")
        convention = normalise_convention(
            {k: _attr_str(f.attrs[k]) if k == "channel_order" else f.attrs[k]
             for k in CONVENTION_KEYS}, where=path)
        family = _attr_str(f.attrs.get("family", family_of(convention)))
        padding = _attr_str(f.attrs.get("padding", "zeros"))
        if family not in FAMILIES or padding not in PADDINGS:
            raise ValueError(f"{path}: unknown family {family!r} or padding {padding!r}")
        weights = {}
        for name in conv_shapes(arch):
            if name not in f:
                break
            # Each shape is checked before a byte is read.
            weights[name] = _stored_pair(f, path, name, conv_shapes(arch)[name])
        check_weights(arch, weights, what=path)
        preprocess = _stored_pair(f, path, "preprocess", (3, 1, 1, 3)) if "preprocess" in f else None
        source = _attr_str(f.attrs.get("source", "unknown"))
    return dict(arch=arch, weights=weights, convention=convention, family=family,
                padding=padding, preprocess=preprocess, source=source)

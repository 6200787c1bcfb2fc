"""Caffe's ``.caffemodel`` VGG files, read from protobuf's wire format without Caffe.

A ``.caffemodel`` is one protobuf message, ``NetParameter``
(:mod:`stylelab.files.protobuf` reads the wire format). The fields read
here, from Caffe's ``caffe.proto``::

    NetParameter      1 name (string)   2 layers (V1LayerParameter, files of 2014)
                                        100 layer (LayerParameter, later files)
    V1LayerParameter  4 name   5 type (enum; CONVOLUTION = 4)   6 blobs
    LayerParameter    1 name   2 type (string "Convolution")    7 blobs
    BlobProto         7 shape (BlobShape: 1 dim, packed int64)
                      1 num  2 channels  3 height  4 width   (older files)
                      5 data (packed float32)   8 double_data (packed float64)

Every other field is skipped by its length, unread. The file is mapped, not
loaded: VGG-19's 548 MB are mostly its classifier, which is never touched;
only the conv layers' blobs are copied out. Every length is checked against
the bytes of the message that holds it, so a file cannot make the reader
allocate more than it holds or loop past its end.

A conv blob is ``(F, C, KH, KW)``; stylelab's filters are ``(F, KH, KW, C)``.
The input convention is Caffe's VGG: BGR, 0..255, minus the mean pixel.
"""

import mmap
import os

import numpy as np

from .limits import untrusted_reader
from .protobuf import fields, packed, packed_varints, string

V1_CONVOLUTION = 4


def read_blob(buf, span, path, what):
    """A ``BlobProto`` as a float ndarray of its shape."""
    dims, legacy, data = None, {}, None
    for number, _, value in fields(buf, *span, path):
        if number == 7:
            dims = []
            for n, _, v in fields(buf, *value, path):
                if n == 1:
                    dims += packed_varints(buf, v, path)
        elif number in (1, 2, 3, 4) and isinstance(value, int):
            legacy[number] = value
        elif number == 5:
            data = packed(buf, value, "<f4", path, f"{what}'s data")
        elif number == 8 and data is None:
            data = packed(buf, value, "<f8", path, f"{what}'s data")
    if dims is None:
        dims = [legacy.get(i, 0) for i in (1, 2, 3, 4)]
    if data is None:
        raise ValueError(f"{path}: {what} has no data")
    if any(d < 0 or d > 1 << 31 for d in dims) or int(np.prod(dims, dtype=object)) != data.size:
        raise ValueError(f"{path}: {what} declares shape {tuple(dims)} but holds {data.size} "
                         f"values")
    return data.reshape(dims)


def _layer(buf, span, path, v1):
    """A layer's (name, is it a convolution, blob spans)."""
    name_field, type_field, blob_field = (4, 5, 6) if v1 else (1, 2, 7)
    name, kind, blobs = "?", None, []
    for number, _, value in fields(buf, *span, path):
        if number == name_field:
            name = string(buf, value, path, "a layer name")
        elif number == type_field:
            kind = value if v1 else string(buf, value, path, "a layer type")
        elif number == blob_field:
            blobs.append(value)
    is_conv = kind == V1_CONVOLUTION if v1 else kind == "Convolution"
    return name, is_conv, blobs


@untrusted_reader("Caffe model")
def read_caffemodel(path):
    """The conv layers of a ``.caffemodel``, in file order.

    Returns
    -------
    net_name : str
        The ``NetParameter``'s name (``"VGG_ILSVRC_19_layers"``, ...).
    convs : list of (layer name, w of shape (F, KH, KW, C), b of shape (F,))
    """
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError(f"{path} is empty")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        net_name, convs = "", []
        for number, _, value in fields(buf, 0, size, path):
            if number == 1:
                net_name = string(buf, value, path, "the net's name")
            elif number in (2, 100):
                if not isinstance(value, tuple):
                    raise ValueError(f"{path}: a layer is not a message")
                name, is_conv, blobs = _layer(buf, value, path, v1=number == 2)
                if not is_conv:
                    continue
                if len(blobs) != 2:
                    raise ValueError(f"{path}: conv layer {name} has {len(blobs)} blobs, "
                                     f"expected weights and bias")
                w = read_blob(buf, blobs[0], path, f"{name}'s weights")
                b = read_blob(buf, blobs[1], path, f"{name}'s bias").reshape(-1)
                if w.ndim != 4:
                    raise ValueError(f"{path}: {name}'s weights have shape {w.shape}, "
                                     f"expected 4 axes (F, C, KH, KW)")
                # Copies: the arrays must outlive the mapping.
                convs.append((name, np.array(w.transpose(0, 2, 3, 1), np.float32),
                              np.array(b, np.float32)))
    if not convs:
        raise ValueError(f"{path}: no convolution layers; not a VGG .caffemodel")
    return net_name, convs


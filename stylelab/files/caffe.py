"""Caffe's ``.caffemodel`` VGG files, read from protobuf's wire format without Caffe.

A ``.caffemodel`` is one protobuf message, ``NetParameter``, written as a run
of fields, each a key (a varint: ``field number << 3 | wire type``) and a
value: a varint (wire type 0), 8 bytes (1), a length and that many bytes
(2: strings, nested messages, packed arrays) or 4 bytes (5). The fields read
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

V1_CONVOLUTION = 4


def _varint(buf, pos, end, path):
    """A protobuf varint at `pos`: (value, next position)."""
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError(f"{path}: a varint runs past its message (truncated or not a "
                             f".caffemodel)")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def fields(buf, start, end, path):
    """Yield ``(field number, wire type, value)`` of the message in ``buf[start:end]``.

    A length-delimited value is given as its ``(start, end)`` in `buf`, checked
    to lie inside the message; others as their integer (fixed sizes unpacked).
    """
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end, path)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError(f"{path}: field number 0 at byte {pos}; not a protobuf message")
        if wire == 0:
            value, pos = _varint(buf, pos, end, path)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise ValueError(f"{path}: a fixed-size field runs past its message")
            value = int.from_bytes(buf[pos:pos + size], "little")
            pos += size
        elif wire == 2:
            length, pos = _varint(buf, pos, end, path)
            if length > end - pos:
                raise ValueError(f"{path}: a field declares {length} bytes but its message "
                                 f"has {end - pos} left (truncated or corrupt)")
            value = (pos, pos + length)
            pos += length
        else:
            raise ValueError(f"{path}: wire type {wire} (field {number}) is not one a "
                             f".caffemodel uses")
        yield number, wire, value


def _string(buf, span, path, what):
    if not isinstance(span, tuple):
        raise ValueError(f"{path}: {what} is not a string field")
    return bytes(buf[span[0]:span[1]]).decode("utf-8", "replace")


def _packed(buf, span, dtype, path, what):
    if not isinstance(span, tuple):
        raise ValueError(f"{path}: {what} is not stored packed (as Caffe stores it)")
    size = np.dtype(dtype).itemsize
    if (span[1] - span[0]) % size:
        raise ValueError(f"{path}: {what} holds {span[1] - span[0]} bytes, not a whole number "
                         f"of values")
    return np.frombuffer(buf[span[0]:span[1]], dtype=dtype)


def _packed_varints(buf, span, path):
    if not isinstance(span, tuple):
        return [span]                       # one dim written unpacked
    values, pos = [], span[0]
    while pos < span[1]:
        v, pos = _varint(buf, pos, span[1], path)
        values.append(v)
    return values


def read_blob(buf, span, path, what):
    """A ``BlobProto`` as a float ndarray of its shape."""
    dims, legacy, data = None, {}, None
    for number, _, value in fields(buf, *span, path):
        if number == 7:
            dims = []
            for n, _, v in fields(buf, *value, path):
                if n == 1:
                    dims += _packed_varints(buf, v, path)
        elif number in (1, 2, 3, 4) and isinstance(value, int):
            legacy[number] = value
        elif number == 5:
            data = _packed(buf, value, "<f4", path, f"{what}'s data")
        elif number == 8 and data is None:
            data = _packed(buf, value, "<f8", path, f"{what}'s data")
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
            name = _string(buf, value, path, "a layer name")
        elif number == type_field:
            kind = value if v1 else _string(buf, value, path, "a layer type")
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
                net_name = _string(buf, value, path, "the net's name")
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


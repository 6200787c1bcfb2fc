"""Protocol Buffers' wire format, read and written by hand: what Caffe and ONNX files are made of.

A protobuf message is a run of fields, each a key -- a varint,
``field number << 3 | wire type`` -- and a value:

=========  ==============================================================
wire type  value
=========  ==============================================================
0          a varint: 7 bits a byte, low bits first, the top bit set on
           every byte but the last (an int64 below zero takes 10 bytes)
1          8 bytes, little-endian (double, fixed64)
2          a varint length and that many bytes: strings, nested
           messages, packed arrays of numbers
5          4 bytes, little-endian (float, fixed32)
=========  ==============================================================

Nothing in the bytes says which field is which: the schema (``caffe.proto``,
``onnx.proto``) gives the numbers a meaning, and the readers
(:mod:`stylelab.files.caffe`, :mod:`stylelab.files.onnx`) name the ones they
use. Reading copies only what is asked for: a length-delimited value is handed back as
its ``(start, end)`` in the buffer, checked to lie inside the message that
holds it, so a file cannot make a reader allocate more than it holds or
loop past its end. Writing (:class:`Writer`) is the same format the other
way, for :mod:`stylelab.files.onnx_export`.
"""

import struct

import numpy as np

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


def varint(buf, pos, end, path):
    """A varint at `pos`: ``(value, next position)``."""
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError(f"{path}: a varint runs past its message (truncated, or not a "
                             f"protobuf file)")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def signed(value):
    """A varint read as int64 (two's complement: ``-1`` is ten bytes of ones)."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(buf, start, end, path):
    """Yield ``(field number, wire type, value)`` of the message in ``buf[start:end]``.

    A length-delimited value is given as its ``(start, end)`` in `buf`, checked
    to lie inside the message; others as their integer (fixed sizes unpacked
    as unsigned little-endian).
    """
    pos = start
    while pos < end:
        key, pos = varint(buf, pos, end, path)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError(f"{path}: field number 0 at byte {pos}; not a protobuf message")
        if wire == VARINT:
            value, pos = varint(buf, pos, end, path)
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if pos + size > end:
                raise ValueError(f"{path}: a fixed-size field runs past its message")
            value = int.from_bytes(buf[pos:pos + size], "little")
            pos += size
        elif wire == LENGTH:
            length, pos = varint(buf, pos, end, path)
            if length > end - pos:
                raise ValueError(f"{path}: a field declares {length} bytes but its message "
                                 f"has {end - pos} left (truncated or corrupt)")
            value = (pos, pos + length)
            pos += length
        else:
            raise ValueError(f"{path}: wire type {wire} (field {number}) is not one protobuf "
                             f"writes today (groups are long obsolete)")
        yield number, wire, value


def string(buf, span, path, what):
    """A length-delimited field as text."""
    if not isinstance(span, tuple):
        raise ValueError(f"{path}: {what} is not a string field")
    return bytes(buf[span[0]:span[1]]).decode("utf-8", "replace")


def packed(buf, span, dtype, path, what):
    """A packed array of fixed-size numbers, copied out of the buffer (which may be a mapping)."""
    if not isinstance(span, tuple):
        raise ValueError(f"{path}: {what} is not stored packed")
    size = np.dtype(dtype).itemsize
    if (span[1] - span[0]) % size:
        raise ValueError(f"{path}: {what} holds {span[1] - span[0]} bytes, not a whole number "
                         f"of values")
    return np.frombuffer(buf[span[0]:span[1]], dtype=dtype)


def packed_varints(buf, span, path):
    """A repeated varint field's values: packed (a span) or one written unpacked (an int)."""
    if not isinstance(span, tuple):
        return [span]
    values, pos = [], span[0]
    while pos < span[1]:
        v, pos = varint(buf, pos, span[1], path)
        values.append(v)
    return values


def fixed_float(value, wire):
    """A float (wire type 5) or double (1) field's value, from the integer :func:`fields` gives."""
    return struct.unpack("<f" if wire == FIXED32 else "<d",
                         value.to_bytes(4 if wire == FIXED32 else 8, "little"))[0]


# -- writing ----------------------------------------------------------------------

def encode_varint(value):
    """The bytes of a varint; a negative int64 as its ten-byte two's complement."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class Writer:
    """A message being written: fields appended in order, :meth:`bytes` at the end.

    >>> Writer().int(1, 150).bytes().hex()        # protobuf's own example
    '089601'
    """

    def __init__(self):
        self.parts = []

    def _key(self, number, wire):
        self.parts.append(encode_varint(number << 3 | wire))

    def int(self, number, value):
        self._key(number, VARINT)
        self.parts.append(encode_varint(int(value)))
        return self

    def float(self, number, value):
        self._key(number, FIXED32)
        self.parts.append(struct.pack("<f", value))
        return self

    def raw(self, number, data):
        """A length-delimited field: bytes, a string, or a nested :class:`Writer`."""
        if isinstance(data, Writer):
            data = data.bytes()
        elif isinstance(data, str):
            data = data.encode("utf-8")
        self._key(number, LENGTH)
        self.parts.append(encode_varint(len(data)))
        self.parts.append(bytes(data))
        return self

    def ints(self, number, values):
        """A repeated int64, packed (as proto3 writes it)."""
        return self.raw(number, b"".join(encode_varint(int(v)) for v in values))

    def bytes(self):
        return b"".join(self.parts)

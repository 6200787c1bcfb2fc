"""Read Torch7 ``.t7`` files (``torch.save``'s binary format) as data, without Torch or Lua.

Johnson's fast-neural-style networks, and the encoders and decoders Li et
al. and Huang & Belongie released, are Torch7 files. ``torch.load`` would
run a Lua function stored in one; this reader refuses functions, and every
class that is not a tensor, a storage or an ``nn.``/``cudnn.`` module.

The format is a stream of objects, each an int32 *type* followed by its
value (little-endian; "long" is int64 in the files these projects released):

==========  ==========================================================
type        value
==========  ==========================================================
0 nil       nothing
1 number    float64
2 string    int32 length, bytes
3 table     int32 reference, int32 n, n pairs (key object, value object)
4 torch     int32 reference, version string ("V 1"), class name string,
            then the class's own data (below)
5 boolean   int32
6-8         a Lua function: refused
==========  ==========================================================

A reference number met again stands for the object already read (a table
can be shared, or hold itself). A torch object of class
``torch.<Type>Storage`` is an int64 count and the raw values; a
``torch.<Type>Tensor`` is an int32 number of dimensions, int64 sizes,
int64 strides, an int64 offset (1-based) and its storage object; any other
class (``nn.SpatialConvolution``, ...) is followed by one table, its fields.

Untrusted input is bounded: every count is checked against the bytes left
in the file before anything is allocated, tensors must lie inside their
storage, and nesting is limited. A malformed file raises one ``ValueError``
naming it and the problem.
"""

import os
import struct

import numpy as np

from .limits import count, materialise_budget

TYPES = {0: "nil", 1: "number", 2: "string", 3: "table", 4: "torch", 5: "boolean",
         6: "function", 7: "function", 8: "function"}
ELEMENT_TYPES = {"Byte": np.uint8, "Char": np.int8, "Short": np.int16, "Int": np.int32,
                 "Long": np.int64, "Float": np.float32, "Double": np.float64}
MAX_DEPTH = 64            # nn containers nest a few levels; a file nesting thousands is hostile
MAX_DIMS = 16
# A file's first int32, the type of what it holds: a table (3) or a torch object (4).
T7_MAGIC = (b"\x03\x00\x00\x00", b"\x04\x00\x00\x00")


class TorchObject:
    """A Torch7 class instance that is not a tensor: its class name and its fields."""

    def __init__(self, class_name, fields=None):
        self.class_name, self.fields = class_name, fields if fields is not None else {}

    def get(self, key, default=None):
        return self.fields.get(key, default) if isinstance(self.fields, dict) else default

    def __repr__(self):
        return f"TorchObject({self.class_name})"


def load_t7(path):
    """The object a ``.t7`` file holds, with tensors as NumPy arrays and tables as dicts.

    Tables whose keys are 1 .. n become lists. Numbers stay floats (Lua has
    no integers); a caller that needs an int checks and converts.

    Raises
    ------
    ValueError
        Naming `path`: truncated, malformed, a Lua function, or a class that
        is not a tensor, storage or module.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not a Torch7 file") from None
    return _Reader(memoryview(data), path).read()


class _Reader:
    def __init__(self, data, path):
        self.data, self.path, self.pos = data, path, 0
        self.memo, self.depth, self.materialised = {}, 0, 0

    def fail(self, what):
        raise ValueError(f"{self.path}: {what} (at byte {self.pos})")

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            self.fail(f"truncated: {n} more bytes needed, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int32(self):
        return struct.unpack("<i", self.take(4))[0]

    def int64(self):
        return struct.unpack("<q", self.take(8))[0]

    def string(self):
        n = self.int32()
        return bytes(self.take(n)).decode("latin-1")

    def read(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"objects nested more than {MAX_DEPTH} deep")
        try:
            return self._object()
        finally:
            self.depth -= 1

    def _object(self):
        kind = TYPES.get(self.int32())
        if kind is None:
            self.fail("not a Torch7 file (unknown object type)")
        if kind == "nil":
            return None
        if kind == "number":
            return struct.unpack("<d", self.take(8))[0]
        if kind == "boolean":
            return self.int32() == 1
        if kind == "string":
            return self.string()
        if kind == "function":
            self.fail("it holds a Lua function, which is code: refused (a network's file "
                      "holds only tables, tensors and modules)")
        ref = self.int32()
        if ref in self.memo:
            return self.memo[ref]
        return self._table(ref) if kind == "table" else self._torch(ref)

    def _table(self, ref):
        n = self.int32()
        if n < 0 or n * 8 > len(self.data) - self.pos:      # each pair takes 8 bytes at least
            self.fail(f"a table of {n} entries cannot fit in the file")
        table = self.memo[ref] = {}
        for _ in range(n):
            key = self.read()
            if isinstance(key, float) and key.is_integer():
                key = int(key)
            if not isinstance(key, (int, float, str, bool)):
                self.fail("a table key that is a table or tensor (no network file has one)")
            table[key] = self.read()
        if table and all(isinstance(k, int) for k in table) and \
                sorted(table) == list(range(1, len(table) + 1)):
            lst = [table[i] for i in range(1, len(table) + 1)]
            self.memo[ref] = lst
            return lst
        return table

    def _torch(self, ref):
        version = self.string()
        name = self.string() if version.startswith("V ") else version
        kind, element = _torch_class(name)
        if kind == "storage":
            count = self.int64()
            size = np.dtype(element).itemsize
            if count < 0 or count * size > len(self.data) - self.pos:
                self.fail(f"{name} declares {count} values, more than the file holds")
            values = np.frombuffer(self.take(count * size), dtype=np.dtype(element).newbyteorder("<"))
            self.memo[ref] = values
            return values
        if kind == "tensor":
            tensor = self._tensor(name, element)
            self.memo[ref] = tensor
            return tensor
        if kind is None:
            self.fail(f"it holds a {name} object, which no network's file holds (only tensors, "
                      f"storages and nn/cudnn modules are read)")
        obj = self.memo[ref] = TorchObject(name)
        fields = self.read()
        if not isinstance(fields, (dict, list)):
            self.fail(f"the {name} object's fields are not a table")
        obj.fields = fields if isinstance(fields, dict) else dict(enumerate(fields, start=1))
        return obj

    def _tensor(self, name, element):
        ndim = self.int32()
        if not 0 <= ndim <= MAX_DIMS:
            self.fail(f"a {name} of {ndim} dimensions")
        size = [self.int64() for _ in range(ndim)]
        stride = [self.int64() for _ in range(ndim)]
        offset = self.int64() - 1
        storage = self.read()
        if ndim == 0 or 0 in size:
            return np.zeros([max(s, 0) for s in size] if ndim else (0,), dtype=element)
        if storage is None:
            self.fail(f"a {name} of shape {tuple(size)} without a storage")
        if not isinstance(storage, np.ndarray) or storage.dtype != np.dtype(element):
            self.fail(f"a {name} whose storage is not a {name.replace('Tensor', 'Storage')}")
        if min(size) < 0 or min(stride) < 0 or offset < 0:
            self.fail(f"a {name} with a negative size, stride or offset")
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.size:
            self.fail(f"a {name} of shape {tuple(size)} reaches past its storage of "
                      f"{storage.size} values")
        if count(size) > storage.size:
            # Zero or overlapping strides: a few stored values read as a huge tensor.
            self.fail(f"a {name} of shape {tuple(size)} has more values than its storage "
                      f"({storage.size}); refused")
        # What the file may cost is what it holds: views of one storage are copied each time
        # they are used, so their sum is bounded by the file's own size.
        self.materialised += count(size) * storage.itemsize
        if self.materialised > materialise_budget(len(self.data)):
            self.fail(f"its tensors would take {self.materialised} bytes from a "
                      f"{len(self.data)}-byte file (views of one storage, repeated); refused")
        view = np.lib.stride_tricks.as_strided(
            storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride],
            writeable=False)
        return view.astype(np.dtype(element).newbyteorder("="), copy=True)


def _torch_class(name):
    """``("storage" | "tensor" | "module" | None, element dtype or None)`` for a class name."""
    for element, dtype in ELEMENT_TYPES.items():
        for suffix, what in (("Storage", "storage"), ("Tensor", "tensor")):
            if name in (f"torch.{element}{suffix}", f"torch.Cuda{element}{suffix}"):
                return what, dtype
    if name in ("torch.CudaStorage", "torch.CudaTensor"):        # CUDA's floats
        return ("storage" if name.endswith("Storage") else "tensor"), np.float32
    if name.startswith(("nn.", "cudnn.")):
        return "module", None
    return None, None

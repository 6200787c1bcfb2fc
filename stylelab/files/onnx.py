"""ONNX files read without ONNX: the graph, its weights, and the constants it computes.

An ``.onnx`` file is one protobuf message, ``ModelProto``
(:mod:`stylelab.files.protobuf` reads the wire format). The fields read here,
from ONNX's ``onnx.proto``::

    ModelProto      1 ir_version  2 producer_name  7 graph  8 opset_import
                    14 metadata_props (1 key, 2 value)
    OperatorSetId   1 domain  2 version
    GraphProto      1 node  5 initializer  11 input  12 output
    NodeProto       1 input  2 output  3 name  4 op_type  5 attribute
    AttributeProto  1 name  2 f  3 i  4 s  5 t  7 floats  8 ints  20 type
    ValueInfoProto  1 name
    TensorProto     1 dims  2 data_type  4 float_data  5 int32_data
                    7 int64_data  8 name  9 raw_data  10 double_data
                    13 external_data (1 key, 2 value)  14 data_location

Nodes are listed in an order where every input is made before it is used,
so one pass in file order evaluates the graph. A graph is data: nothing in
it runs. The networks stylelab takes from ONNX (a VGG,
:mod:`stylelab.files.onnx_nets`) are found by walking the nodes that compute
from the graph's input, and their weights are the constants those nodes
read: an initializer, or a small constant computation over initializers
(``Constant``, ``Squeeze``, ``Reshape``, ``Concat``... as exporters leave
them), folded here in NumPy.

The file is untrusted. It is mapped, not loaded, and a tensor is copied out
only when a network asks for it, after its declared size (dims times the
item size) is checked against the bytes that hold it. A tensor may live in
another file (``data_location = EXTERNAL``: ``torch.onnx.export`` writes
``model.onnx.data`` beside the model): it is read only if it is a plain
file in the model's own folder -- a bare name, no ``/``, no ``..``, not a
symbolic link -- and the offset and length it declares lie inside it
(docs/security.md).
"""

import mmap
import os
import stat
from dataclasses import dataclass, field

import numpy as np

from .limits import count, untrusted_reader
from .protobuf import fields, fixed_float, packed, packed_varints, signed, string

# TensorProto.DataType -> NumPy, for the types weights and shapes come in.
DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64,
          9: np.bool_, 10: np.float16, 11: np.float64}
# Where each type's values go when not in raw_data: float_data, int32_data, int64_data, double_data.
TYPED_FIELD = {1: (4, "<f4"), 6: (5, "<i4"), 2: (5, "<i4"), 3: (5, "<i4"), 5: (5, "<i4"),
               9: (5, "<i4"), 10: (5, "<i4"), 7: (7, "<i8"), 11: (10, "<f8")}
MAX_DIMS = 8
MAX_FOLDED = 1 << 20           # elements a folded constant may have beyond what the file holds


@dataclass
class Tensor:
    """A tensor the file declares, not yet read: where its bytes are, checked to be there."""
    name: str
    dims: tuple
    dtype: np.dtype
    span: tuple = None               # (start, end) of raw_data in the model file
    typed: tuple = None              # span of float_data, int64_data... (by the type's field)
    external: tuple = None           # (path, offset, length)
    code: int = 1                    # TensorProto.DataType


@dataclass
class Node:
    op: str
    inputs: list
    outputs: list
    name: str = ""
    attrs: dict = field(default_factory=dict)


class OnnxModel:
    """An open ``.onnx`` file: its nodes, inputs and outputs, and its constants on demand.

    Use as a context manager (the file stays mapped inside it)::

        with OnnxModel(path) as model:
            for node in model.nodes: ...
            w = model.constant(node.inputs[1])

    Attributes
    ----------
    nodes : list of Node
        In file order (each node's inputs made before it).
    inputs : list of str
        The graph's data inputs (its inputs that are not initializers).
    outputs : list of str
    opset : int
        The default domain's operator set version.
    producer : str
    metadata : dict of str -> str
        The model's ``metadata_props``.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.size = os.path.getsize(self.path)
        if self.size == 0:
            raise ValueError(f"{self.path} is empty")
        self._file = open(self.path, "rb")
        try:
            self.buf = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:
            self._file.close()
            raise
        self._folded = {}
        try:
            self._parse()
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if getattr(self, "buf", None) is not None:
            self.buf.close()
            self.buf = None
        self._file.close()

    # -- the messages --------------------------------------------------------------

    def _parse(self):
        path, buf = self.path, self.buf
        graph, self.opset, self.producer, ir_version = None, None, "", None
        self.metadata = {}
        for number, _, value in fields(buf, 0, self.size, path):
            if number == 1 and isinstance(value, int):
                ir_version = value
            elif number == 2:
                self.producer = string(buf, value, path, "the producer's name")
            elif number == 14 and isinstance(value, tuple):         # metadata_props
                entry = {n: string(buf, v, path, "metadata") for n, _, v
                         in fields(buf, *value, path)}
                self.metadata[entry.get(1, "")] = entry.get(2, "")
            elif number == 7:
                graph = value
            elif number == 8 and isinstance(value, tuple):
                domain, version = "", None
                for n, _, v in fields(buf, *value, path):
                    if n == 1:
                        domain = string(buf, v, path, "an opset's domain")
                    elif n == 2 and isinstance(v, int):
                        version = v
                if domain in ("", "ai.onnx"):
                    self.opset = version
        if ir_version is None or not isinstance(graph, tuple):
            raise ValueError(f"{path}: no ONNX model here (no IR version or no graph)")
        if self.opset is None:
            self.opset = 1 if ir_version < 3 else None
            if self.opset is None:
                raise ValueError(f"{path}: the model imports no version of ONNX's operators")
        self.nodes, self.tensors, inputs, self.outputs = [], {}, [], []
        for number, _, value in fields(buf, *graph, path):
            if number == 1:
                self.nodes.append(self._node(value))
            elif number == 5:
                t = self._tensor(value)
                self.tensors[t.name] = t
            elif number in (11, 12):
                name = next((string(buf, v, path, "a value's name")
                             for n, _, v in fields(buf, *value, path) if n == 1), "")
                (inputs if number == 11 else self.outputs).append(name)
        # Old files list the initializers among the inputs too.
        self.inputs = [n for n in inputs if n not in self.tensors]

    def _node(self, span):
        path, buf = self.path, self.buf
        node = Node("", [], [])
        for number, _, value in fields(buf, *span, path):
            if number == 1:
                node.inputs.append(string(buf, value, path, "a node's input"))
            elif number == 2:
                node.outputs.append(string(buf, value, path, "a node's output"))
            elif number == 3:
                node.name = string(buf, value, path, "a node's name")
            elif number == 4:
                node.op = string(buf, value, path, "a node's op_type")
            elif number == 5:
                name, attr = self._attribute(value)
                node.attrs[name] = attr
        return node

    def _attribute(self, span):
        path, buf = self.path, self.buf
        name, value, ints, floats = "", None, [], []
        for number, wire, v in fields(buf, *span, path):
            if number == 1:
                name = string(buf, v, path, "an attribute's name")
            elif number == 2 and wire in (1, 5):
                value = fixed_float(v, wire)
            elif number == 3 and isinstance(v, int):
                value = signed(v)
            elif number == 4:
                value = bytes(buf[v[0]:v[1]]) if isinstance(v, tuple) else v
            elif number == 5 and isinstance(v, tuple):
                value = self._tensor(v)
            elif number == 7:
                floats += (list(packed(buf, v, "<f4", path, "floats")) if isinstance(v, tuple)
                           else [fixed_float(v, wire)])
            elif number == 8:
                ints += [signed(i) for i in packed_varints(buf, v, path)]
        if value is None and ints:
            value = ints
        elif value is None and floats:
            value = [float(f) for f in floats]
        elif value is None:
            value = []                 # an empty list attribute
        return name, value

    def _tensor(self, span):
        path, buf = self.path, self.buf
        name, dims, dtype_code, raw, typed, ext, location = "", [], 1, None, None, {}, 0
        for number, wire, value in fields(buf, *span, path):
            if number == 1:
                dims += [signed(d) for d in packed_varints(buf, value, path)]
            elif number == 2 and isinstance(value, int):
                dtype_code = value
            elif number in (4, 5, 7, 10):
                if not isinstance(value, tuple):
                    raise ValueError(f"{path}: a tensor's values are not stored packed")
                typed = (number, value)
            elif number == 8:
                name = string(buf, value, path, "a tensor's name")
            elif number == 9:
                raw = value
            elif number == 13 and isinstance(value, tuple):
                entry = {n: string(buf, v, path, "external data") for n, _, v
                         in fields(buf, *value, path)}
                ext[entry.get(1, "")] = entry.get(2, "")
            elif number == 14 and isinstance(value, int):
                location = value
        what = f"tensor {name!r}"
        if len(dims) > MAX_DIMS or any(d < 0 for d in dims):
            raise ValueError(f"{path}: {what} declares dims {dims}")
        if dtype_code not in DTYPES:
            raise ValueError(f"{path}: {what} has data type {dtype_code}, which no weight uses")
        t = Tensor(name, tuple(dims), np.dtype(DTYPES[dtype_code]).newbyteorder("<"),
                   code=dtype_code)
        nbytes = count(dims) * t.dtype.itemsize
        if location == 1:
            t.external = self._external(ext, nbytes, what)
        elif raw is not None:
            if raw[1] - raw[0] != nbytes:
                raise ValueError(f"{path}: {what} declares {dims} ({nbytes} bytes) but holds "
                                 f"{raw[1] - raw[0]}; refused")
            t.span = raw
        elif typed is not None:
            number, value = typed
            if TYPED_FIELD[dtype_code][0] != number:
                raise ValueError(f"{path}: {what}'s values are in the wrong field for its type")
            t.typed = value
        elif nbytes:
            raise ValueError(f"{path}: {what} declares {dims} but holds no values")
        return t

    def _external(self, entry, nbytes, what):
        """Where an external tensor's bytes are, if the rules allow reading them."""
        path = self.path
        location = entry.get("location", "")
        if (not location or location in (".", "..") or "/" in location or "\\" in location
                or "\0" in location or os.path.isabs(location)):
            raise ValueError(f"{path}: {what} keeps its data in {location!r}; only a file named "
                             f"plainly beside the model is read (no folders, no ..); refused")
        data = os.path.join(os.path.dirname(os.path.abspath(path)), location)
        try:
            st = os.lstat(data)
        except FileNotFoundError:
            raise ValueError(f"{path}: {what} keeps its data in {location}, which is not "
                             f"beside the model") from None
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path}: {what}'s data file {location} is a link or not a plain "
                             f"file; refused")
        try:
            offset = int(entry.get("offset", 0))
            length = int(entry.get("length", nbytes))
        except ValueError:
            raise ValueError(f"{path}: {what}'s external offset or length is not a "
                             f"number") from None
        if length != nbytes or offset < 0 or offset + length > st.st_size:
            raise ValueError(f"{path}: {what} declares {nbytes} bytes at offset {offset} of "
                             f"{location} (length {length}, file {st.st_size} bytes); refused")
        return data, offset, length

    # -- values ---------------------------------------------------------------------

    def read(self, t):
        """A declared tensor's values, copied out (the only place a tensor is allocated)."""
        if t.external is not None:
            data, offset, length = t.external
            with open(data, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise ValueError(f"{self.path}: {data} is not a plain file; refused")
                f.seek(offset)
                raw = f.read(length)
            if len(raw) != length:
                raise ValueError(f"{self.path}: {data} ended early")
            values = np.frombuffer(raw, t.dtype)
        elif t.span is not None:
            values = np.frombuffer(self.buf[t.span[0]:t.span[1]], t.dtype)
        elif t.typed is not None:
            values = packed(self.buf, t.typed, TYPED_FIELD[t.code][1], self.path,
                            f"tensor {t.name!r}")
            if values.size != count(t.dims):
                raise ValueError(f"{self.path}: tensor {t.name!r} declares {t.dims} but holds "
                                 f"{values.size} values")
            if t.dtype == np.float16:       # int32_data holds float16's bits
                values = values.astype("<u2").view("<f2")
            values = values.astype(t.dtype)
        else:
            values = np.zeros(0, t.dtype)
        return values.astype(t.dtype.newbyteorder("="), copy=True).reshape(t.dims)

    def producer_of(self, name):
        return next((n for n in self.nodes if name in n.outputs), None)

    def constant(self, name, what=None):
        """The value of tensor `name`, when it depends on no input: an initializer, or folded.

        Raises ValueError (naming `what`) when it is computed from the graph's input.
        """
        if name in self._folded:
            return self._folded[name]
        if name in self.tensors:
            value = self.read(self.tensors[name])
        else:
            node = self.producer_of(name)
            if node is None or node.op not in FOLD:
                raise ValueError(f"{self.path}: {what or name} is not a constant of the file "
                                 f"(made by {node.op if node else 'nothing'})")
            args = [None if not i else self.constant(i, what) for i in node.inputs]
            value = np.asarray(FOLD[node.op](self, node, *args))
            if value.size > MAX_FOLDED + self.size // 4:
                raise ValueError(f"{self.path}: {node.op} {node.name!r} would make "
                                 f"{value.size} values from a {self.size}-byte file; refused")
        self._folded[name] = value
        return value

    def op_counts(self):
        """``{op_type: count}`` of the graph, for saying what a file holds."""
        counts = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts


# -- constant folding: the few ops exporters leave between an initializer and a weight --

def _constant(model, node):
    a = node.attrs
    if isinstance(a.get("value"), Tensor):
        return model.read(a["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            return np.asarray(a[key], dtype)
    raise ValueError(f"{model.path}: Constant {node.name!r} has no value this reader takes")


def _axes(node, given):
    """An op's axes: an input (opset 13 on), else the attribute (before)."""
    if given is not None:
        return [int(v) for v in np.asarray(given).reshape(-1)]
    return list(node.attrs.get("axes", []))


def _squeeze(model, node, x, axes=None):
    axes = _axes(node, axes)
    return np.squeeze(x, axis=tuple(axes)) if axes else np.squeeze(x)


def _unsqueeze(model, node, x, axes=None):
    out, axes = x, _axes(node, axes)
    rank = x.ndim + len(axes)
    for a in sorted(v % rank for v in axes):
        out = np.expand_dims(out, a)
    return out


def _reshape(model, node, x, shape=None):
    shape = list(node.attrs.get("shape", [])) if shape is None else [int(s) for s in shape]
    shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _slice(model, node, x, starts=None, ends=None, axes=None, steps=None):
    if starts is None:
        starts, ends = node.attrs.get("starts", []), node.attrs.get("ends", [])
        axes = node.attrs.get("axes")
    axes = list(range(len(starts))) if axes is None else [int(a) for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    index = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        e = int(e)
        e = None if (st < 0 and e < -x.shape[a]) else max(min(e, 1 << 62), -(1 << 62))
        index[a] = slice(int(s), e, st)
    return x[tuple(index)]


def _concat(model, node, *xs):
    return np.concatenate([np.asarray(x) for x in xs], axis=node.attrs.get("axis", 0))


def _constant_of_shape(model, node, shape):
    shape = [int(s) for s in np.asarray(shape).reshape(-1)]
    if count(shape) > MAX_FOLDED:
        raise ValueError(f"{model.path}: ConstantOfShape {node.name!r} asks for {shape}; refused")
    value = node.attrs.get("value")
    fill = model.read(value).reshape(-1)[0] if isinstance(value, Tensor) else np.float32(0)
    return np.full(shape, fill, dtype=np.asarray(fill).dtype)


FOLD = {
    "Constant": _constant,
    "Identity": lambda m, n, x: x,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Reshape": _reshape,
    "Transpose": lambda m, n, x: np.transpose(x, n.attrs.get("perm") or None),
    "Cast": lambda m, n, x: x.astype(DTYPES[n.attrs["to"]]),
    "Concat": _concat,
    "Slice": _slice,
    "Gather": lambda m, n, x, i: np.take(x, i.astype(np.int64), axis=n.attrs.get("axis", 0)),
    "ConstantOfShape": _constant_of_shape,
}


@untrusted_reader("ONNX file")
def open_onnx(path):
    """Open an ONNX file (an :class:`OnnxModel`), refusing a malformed one in one line."""
    return OnnxModel(path)


def chain(model):
    """The nodes that compute from the graph's data input, in order.

    Returns
    -------
    list of (Node, list of int)
        Each node, and for each of its inputs the index in this list of the
        node that made it (-1: the graph's input; None: a constant).
    """
    if len(model.inputs) != 1:
        raise ValueError(f"{model.path}: the graph has {len(model.inputs)} data inputs; a "
                         f"network of one image has one")
    made = {model.inputs[0]: -1}
    out = []
    for node in model.nodes:
        sources = [made.get(i) for i in node.inputs]
        if all(s is None for s in sources):
            continue                       # a constant computation (weights, pads, shapes)
        for o in node.outputs:
            made[o] = len(out)
        out.append((node, sources))
    return out

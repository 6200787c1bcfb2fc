"""Read PyTorch checkpoints (``.pth``) without PyTorch, and without running them.

A ``.pth`` file is a pickle, and unpickling can call any function the file
names: ``pickle.load`` on a downloaded checkpoint can run arbitrary code. This
reader uses a restricted unpickler that knows the handful of names a tensor
state dict needs and refuses every other one before anything is called.

Two container formats exist (both written by ``torch.save``):

* zip (PyTorch >= 1.6): ``<name>/data.pkl`` is the pickle; each tensor's
  storage is a raw little-endian file ``<name>/data/<key>``.
* legacy (older files, such as torchvision's VGG checkpoints): one stream of
  pickles -- a magic number, the protocol version, system info, the object,
  the list of storage keys -- followed, per key, by an int64 element count
  and the raw bytes.

In both, the pickle refers to storages by *persistent id*
``("storage", <type>, key, location, numel[, view])`` and rebuilds each tensor
with ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``.
"""

import collections
import io
import os
import pickle
import re
import struct
import zipfile

import numpy as np

from .limits import check_finite, count, materialise_budget, one_line, untrusted_reader

MAX_DIMS = 16
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends: just a dtype."""

    def __init__(self, name):
        self.dtype = np.dtype(STORAGE_DTYPES[name]).newbyteorder("<")


class _TensorRef:
    """A tensor waiting for its storage's bytes: (key, dtype, offset, size, stride)."""

    def __init__(self, storage, offset, size, stride):
        self.key, self.dtype, self.numel = storage
        self.offset, self.size, self.stride = int(offset), tuple(size), tuple(stride)


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    return _TensorRef(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, hooks=None, *_ignored):
    return data


# The pure-Python unpickler: its memo is a dict, where the C one allocates an array as long
# as the largest memo index a file names (a 12-byte pickle can name index 80 000 000).
class _RestrictedUnpickler(pickle._Unpickler):
    ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, stream, path):
        super().__init__(stream)
        self.path = path

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise ValueError(f"refused to load {self.path}: its pickle asks for "
                         f"{module}.{name}, which a tensor checkpoint never needs "
                         f"(a .pth is a pickle that can run code; this reader only "
                         f"rebuilds tensors)")

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType)):
            raise ValueError(f"{self.path}: unexpected persistent id {pid!r:.80}")
        return (str(pid[2]), pid[1].dtype, int(pid[4]))


def _materialise(ref, buffer, path, budget):
    """The tensor `ref` as a NumPy array, read from its storage's bytes (charged to `budget`)."""
    flat = np.frombuffer(buffer, dtype=ref.dtype)
    if flat.size < ref.numel:
        raise ValueError(f"{path} is truncated: storage {ref.key} holds {flat.size} "
                         f"of {ref.numel} values")
    if len(ref.size) > MAX_DIMS or any(not isinstance(s, int) or s < 0
                                       for s in ref.size + ref.stride):
        raise ValueError(f"{path}: a tensor of storage {ref.key} has the shape {ref.size} and "
                         f"strides {ref.stride}")
    if 0 in ref.size:
        return np.zeros(ref.size, dtype=ref.dtype.newbyteorder("="))
    if count(ref.size) > ref.numel:
        # Zero or overlapping strides: a few stored values read as a huge tensor.
        raise ValueError(f"{path}: a tensor of shape {ref.size} has more values than its "
                         f"storage {ref.key} ({ref.numel}); refused")
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
    if ref.offset < 0 or last >= ref.numel:
        raise ValueError(f"{path}: tensor reaches past the end of storage {ref.key}")
    budget.charge(ref)
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset:], shape=ref.size,
        strides=[s * ref.dtype.itemsize for s in ref.stride], writeable=False)
    return view.astype(ref.dtype.newbyteorder("="), copy=True)


MAX_NODES = 1_000_000      # containers and values a checkpoint's object may be walked through


def _resolve(obj, fetch, path, seen=None):
    """Replace every _TensorRef inside `obj` (dicts, lists, tuples) by its array.

    Shared objects are walked once per use, as the result will hold them, so
    the walk is counted: a 300-byte pickle of lists that each hold the one
    before twice would otherwise be walked 2**44 times.
    """
    seen = [0] if seen is None else seen
    seen[0] += 1
    if seen[0] > MAX_NODES:
        raise ValueError(f"{path}: its object holds more than {MAX_NODES} values once its "
                         f"repeats are counted; not a checkpoint's state dict")
    if isinstance(obj, _TensorRef):
        return fetch(obj)
    if isinstance(obj, dict):
        return collections.OrderedDict((k, _resolve(v, fetch, path, seen))
                                       for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, fetch, path, seen) for v in obj)
    return obj


class _Budget:
    """The bytes of tensors made from one file, all together, against what it may cost."""

    def __init__(self, path, file_size):
        self.path, self.left = path, materialise_budget(file_size)

    def charge(self, ref):
        self.left -= count(ref.size) * ref.dtype.itemsize
        if self.left < 0:
            raise ValueError(f"{self.path}: its tensors would take more than twice the file's "
                             f"{os.path.getsize(self.path)} bytes (one storage used again and "
                             f"again); refused")


def _read_member(zf, name, path, archive_size):
    """A zip member's bytes, its declared size checked first (torch stores members uncompressed)."""
    info = zf.getinfo(name)
    if info.file_size > info.compress_size * 64 + (1 << 16) or info.file_size > archive_size * 64:
        raise ValueError(f"{path}: {name} declares {info.file_size} bytes from {info.compress_size}; "
                         f"refused")
    return zf.read(info)


def _load_zip(path):
    archive_size = os.path.getsize(path)
    with zipfile.ZipFile(path) as zf:
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkls) != 1:
            raise ValueError(f"{path}: a zip file, but not a PyTorch checkpoint "
                             f"(no single data.pkl inside)")
        prefix = pkls[0][:-len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in zf.namelist() and \
                _read_member(zf, byteorder, path, archive_size).strip() != b"little":
            raise ValueError(f"{path}: big-endian checkpoints are not supported")
        obj = _RestrictedUnpickler(io.BytesIO(_read_member(zf, pkls[0], path, archive_size)),
                                   path).load()

        budget, members = _Budget(path, archive_size), {}

        def fetch(ref):
            if ref.key not in members:      # each storage read once, however often it is used
                try:
                    members[ref.key] = _read_member(zf, f"{prefix}data/{ref.key}", path,
                                                    archive_size)
                except KeyError:
                    raise ValueError(f"{path}: storage {ref.key} is missing") from None
            return _materialise(ref, members[ref.key], path, budget)
        return _resolve(obj, fetch, path)


def _load_legacy(path):
    with open(path, "rb") as f:
        def load():
            return _RestrictedUnpickler(f, path).load()
        if load() != LEGACY_MAGIC:
            raise ValueError(f"{path}: not a PyTorch checkpoint (bad magic number)")
        load()  # protocol version
        info = load()
        if isinstance(info, dict) and not info.get("little_endian", True):
            raise ValueError(f"{path}: big-endian checkpoints are not supported")
        obj = load()
        keys = load()
        if not isinstance(keys, list):
            raise ValueError(f"{path}: corrupt checkpoint (no storage list)")
        # Storages follow in the order of `keys`: int64 count, then the raw values.
        refs = collections.defaultdict(list)
        _resolve(obj, lambda r: refs[r.key].append(r), path)
        buffers = {}
        for key in keys:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"{path} is truncated: storage {key} is missing")
            (count,) = struct.unpack("<q", head)
            if not refs.get(str(key)) or count < 0:
                raise ValueError(f"{path}: corrupt storage header for {key}")
            itemsize = refs[str(key)][0].dtype.itemsize
            left = os.fstat(f.fileno()).st_size - f.tell()
            if count * itemsize > left:
                raise ValueError(f"{path} is truncated: storage {key} declares {count} values, "
                                 f"{left} bytes are left")
            data = f.read(count * itemsize)
            if len(data) < count * itemsize:
                raise ValueError(f"{path} is truncated inside storage {key}")
            buffers[str(key)] = data

    budget = _Budget(path, os.path.getsize(path))

    def fetch(ref):
        if ref.key not in buffers:
            raise ValueError(f"{path}: storage {ref.key} is missing")
        return _materialise(ref, buffers[ref.key], path, budget)
    return _resolve(obj, fetch, path)


@untrusted_reader("PyTorch checkpoint")
def load_pth(path):
    """Load a PyTorch checkpoint's tensors as NumPy arrays, running no code from it.

    Parameters
    ----------
    path : str

    Returns
    -------
    obj : the unpickled object (usually an OrderedDict name -> ndarray)

    Raises
    ------
    ValueError
        If the file asks for anything but tensors, or is truncated or corrupt.
    """
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        return _load_legacy(path)
    except RecursionError:
        raise
    except RuntimeError as exc:          # zipfile's word for an encrypted member
        raise ValueError(one_line(f"{path}: {exc}; refused")) from None


SEQUENTIAL_KEY = re.compile(r"^(\d+)\.(weight|bias)$")


def sequential_convs(state, path):
    """An ``nn.Sequential`` state dict's convs in module order: ``[(index, w (F, K, K, C), b)]``."""
    indices = {}
    for key in state:
        match = SEQUENTIAL_KEY.match(str(key))
        if not match:
            raise ValueError(f"{path}: key {key!r} is not an nn.Sequential parameter "
                             f"('<index>.weight')")
        indices.setdefault(int(match.group(1)), {})[match.group(2)] = state[key]
    convs = []
    for i in sorted(indices):
        w, b = indices[i].get("weight"), indices[i].get("bias")
        if w is None or b is None or w.ndim != 4 or b.shape != (w.shape[0],):
            raise ValueError(f"{path}: module {i} is not a conv with weight and bias")
        check_finite(w, f"{path}: module {i}'s weight")
        check_finite(b, f"{path}: module {i}'s bias")
        convs.append((i, w.transpose(0, 2, 3, 1), b))
    return convs

"""Hostile and broken files, written as an attacker (or an accident) would make them.

Each writer makes one kind of bad file from a good one: an HDF5 file whose
dataset reads another file, a ``.pth`` whose pickle runs code or whose
tensor declares a gigabyte from four bytes, a zip that inflates to hundreds
of megabytes, a PNG whose header promises 144 million pixels, a float TIFF
of NaN. :mod:`tests.test_hostile` runs every command that reads each kind.
"""

import collections
import os
import pickle
import shutil
import struct
import zipfile
import zlib

import h5py
import numpy as np
import torch
from PIL import Image

# -- HDF5: a dataset replaced by something that reads elsewhere, or claims too much --------

HDF5_TRICKS = ("external storage", "external link", "virtual dataset", "soft link")


def hdf5_with(src, dst, name, trick, other):
    """A copy of HDF5 file `src` whose dataset `name` is replaced by `trick`, pointing at `other`.

    The replacement has the dataset's own shape and dtype: nothing but the
    trick itself is wrong with the file.
    """
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        shape, dtype = f[name].shape, f[name].dtype
        del f[name]
        if trick == "external storage":
            f.create_dataset(name, shape=shape, dtype=dtype,
                             external=[(os.fspath(other), 0, dtype.itemsize * int(np.prod(shape)))])
        elif trick == "external link":
            f[name] = h5py.ExternalLink(os.fspath(other), "/data")
        elif trick == "virtual dataset":
            layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
            layout[...] = h5py.VirtualSource(os.fspath(other), "data", shape=shape)
            f.create_virtual_dataset(name, layout)
        elif trick == "soft link":
            f.create_dataset("aside", data=np.zeros(shape, dtype))
            f[name] = h5py.SoftLink("/aside")
        elif trick == "declares 16 GB":
            # Chunked and compressed, never written: a few kilobytes on disk.
            f.create_dataset(name, shape=(4_000_000_000,), dtype="f4", chunks=(1 << 20,),
                             compression="gzip")
        elif trick == "a string":
            f.create_dataset(name, data=np.array([b"x" * 8] * max(1, shape[0])))
        else:
            raise ValueError(trick)
    return dst


def hdf5_edit(src, dst, change):
    """A copy of `src` with ``change(f)`` applied to it, open for writing."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        change(f)
    return dst


def first_dataset(path, group="/"):
    with h5py.File(path, "r") as f:
        found = []
        f[group].visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
        return f"{group.rstrip('/')}/{sorted(found)[0]}".lstrip("/")


# -- PyTorch .pth: pickles written by hand (what torch.save writes, and worse) ------------

class _Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class _Tensor:
    """Pickles as torch.save pickles a tensor: _rebuild_tensor_v2(storage, offset, size, stride)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


class RunsCode:
    """Unpickled by pickle.load, this runs a shell command: the classic .pth attack."""

    def __init__(self, marker):
        self.marker = os.fspath(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def write_pth(path, obj, storages, method=zipfile.ZIP_STORED):
    """A zip-format .pth of `obj` (with _Tensor/_Storage inside) and raw `storages` {key: bytes}."""
    buf = pickle.io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w", compression=method) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
        for key, data in storages.items():
            z.writestr(f"archive/data/{key}", data)
    return path


def tensor_pth(path, numel, offset, size, stride, stored=None):
    """A .pth holding one tensor over a storage of `numel` floats (`stored` of them written)."""
    stored = numel if stored is None else stored
    t = _Tensor(_Storage("0", numel), offset, size, stride)
    return write_pth(path, collections.OrderedDict([("features.0.weight", t)]),
                     {"0": np.zeros(stored, "<f4").tobytes()})


def zip_bomb_pth(path, megabytes=256):
    """A .pth whose storage member inflates from ~250 KB to `megabytes` MB of zeros."""
    t = _Tensor(_Storage("0", megabytes << 18), 0, (megabytes << 18,), (1,))
    buf = pickle.io.BytesIO()
    _Pickler(buf, protocol=2).dump(collections.OrderedDict([("features.0.weight", t)]))
    with zipfile.ZipFile(path, "w") as z:        # the member deflated a megabyte at a time
        z.writestr("archive/data.pkl", buf.getvalue())
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(megabytes):
                member.write(zeros)
    return path


def zip_flagged(src, dst, member, flag_bits=0, method=None):
    """A copy of zip `src` whose `member` claims encryption (`flag_bits` 1) or another `method`."""
    data = bytearray(open(src, "rb").read())
    name = member.encode()
    for sig, flag_at, method_at, name_len_at, name_at in ((b"PK\x03\x04", 6, 8, 26, 30),
                                                          (b"PK\x01\x02", 8, 10, 28, 46)):
        start = 0
        while (i := data.find(sig, start)) >= 0:
            start = i + 4
            (n,) = struct.unpack_from("<H", data, i + name_len_at)
            if data[i + name_at:i + name_at + n] != name:
                continue
            (flag,) = struct.unpack_from("<H", data, i + flag_at)
            struct.pack_into("<H", data, i + flag_at, flag | flag_bits)
            if method is not None:
                struct.pack_into("<H", data, i + method_at, method)
    open(dst, "wb").write(bytes(data))
    return dst


def nested_pickle_pth(path, depth=200_000):
    """A legacy .pth whose pickle nests lists `depth` deep (RecursionError in a naive reader)."""
    body = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
    head = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2) + \
        pickle.dumps({"little_endian": True}, protocol=2)
    open(path, "wb").write(head + body + pickle.dumps([], protocol=2))
    return path


# -- images -----------------------------------------------------------------------------

def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path, width, height):
    """A grey PNG of width x height zeros: ~0.1% of its pixel count on disk."""
    z = zlib.compressobj(9)
    row = bytes(width + 1)                    # filter byte + pixels
    body = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body)
                + _png_chunk(b"IEND", b""))
    return path


def png_header_only(path, width, height):
    """A PNG whose header declares width x height and whose data is one empty row."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                + _png_chunk(b"IDAT", zlib.compress(b"\0")) + _png_chunk(b"IEND", b""))
    return path


def jpeg_with_size(path, width, height):
    """A small JPEG whose frame header is edited to declare width x height."""
    Image.new("RGB", (16, 16), (90, 120, 200)).save(path, "JPEG")
    data = bytearray(open(path, "rb").read())
    i = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, height, width)
    open(path, "wb").write(bytes(data))
    return path


def gif_with_size(path, width, height):
    """A one-pixel GIF frame on a logical screen of width x height."""
    Image.new("P", (1, 1)).save(path, "GIF")
    data = bytearray(open(path, "rb").read())
    struct.pack_into("<HH", data, 6, width, height)
    open(path, "wb").write(bytes(data))
    return path


def float_tiff(path, value, shape=(20, 24)):
    """A 32-bit float TIFF ('F' mode), one pixel set to `value` (NaN, inf)."""
    a = np.full(shape, 0.5, np.float32)
    a[3, 4] = value
    Image.fromarray(a, mode="F").save(path, "TIFF")
    return path


def exif_rotated_jpeg(path, size=(40, 20), orientation=6):
    """A landscape JPEG whose EXIF says: rotate 90 degrees clockwise to show it."""
    im = Image.new("RGB", size, (200, 30, 30))
    im.paste((30, 30, 200), (0, 0, size[0] // 2, size[1]))      # left half blue
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, "JPEG", exif=exif.tobytes(), quality=95)
    return path


def fifo(path):
    """A named pipe: a reader that opens it blocks until someone writes, so a test that
    hangs (and times out) is one that read a file it had no business reading."""
    os.mkfifo(path)
    return path


def legacy_pth_declaring(path, count):
    """A legacy (pre-zip) .pth of one 4-float tensor whose storage header declares `count` values."""
    torch.save(collections.OrderedDict([("features.0.weight", torch.zeros(4))]), path,
               _use_new_zipfile_serialization=False)
    data = bytearray(open(path, "rb").read())
    at = len(data) - 16 - 8                        # the int64 count before the 4 floats
    assert struct.unpack_from("<q", data, at)[0] == 4
    struct.pack_into("<q", data, at, count)
    open(path, "wb").write(bytes(data))
    return path


def mat_bomb(path, megabytes=256):
    """A MATLAB 5 file whose one compressed variable inflates to `megabytes` MB."""
    z = zlib.compressobj(9)
    body = z.compress(struct.pack("<II", 14, megabytes << 20))     # miMATRIX of that size
    zeros = bytes(1 << 20)
    body += b"".join(z.compress(zeros) for _ in range(megabytes)) + z.flush()
    header = b"MATLAB 5.0 MAT-file, hostile".ljust(116, b" ") + bytes(8) + \
        struct.pack("<H", 0x0100) + b"IM"
    with open(path, "wb") as f:
        f.write(header + struct.pack("<II", 15, len(body)) + body)
    return path


def t7_nested(path, depth=5000):
    """A Torch7 file of tables nested `depth` deep (written iteratively: no recursion here)."""
    from .t7_files import Writer
    w = Writer()
    for _ in range(depth):
        w.int32(3)                                 # a table
        w.ref()
        w.int32(1)                                 # of one entry: 1 -> the next table
        w.obj(1)
    w.obj(None)
    open(path, "wb").write(bytes(w.out))
    return path


def t7_storage_bomb(path, values=1 << 40):
    """A Torch7 file of a few dozen bytes whose one storage declares `values` floats."""
    from .t7_files import Writer
    w = Writer()
    w.int32(4)
    w.ref()
    w.string("V 1")
    w.string("torch.FloatStorage")
    w.int64(values)
    open(path, "wb").write(bytes(w.out))
    return path


# -- ONNX -----------------------------------------------------------------------------

def onnx_edit(src, dst, change):
    """A copy of the ONNX model `src` at `dst`, after ``change(model)`` (an onnx ModelProto)."""
    import onnx
    model = onnx.load(str(src))
    change(model)
    with open(dst, "wb") as f:
        f.write(model.SerializeToString())
    return dst


def onnx_initializer(model, index=0):
    """The `index`-th 4-D initializer (a conv weight) of an onnx ModelProto."""
    return [t for t in model.graph.initializer if len(t.dims) == 4][index]


def onnx_external(model, location, offset=0, length=None):
    """Move the first conv weight's bytes "elsewhere": `location`, as an external data entry."""
    import onnx
    t = onnx_initializer(model)
    size = len(t.raw_data)
    t.ClearField("raw_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    del t.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)),
                       ("length", str(size if length is None else length))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return size


def onnx_declaring(model, dims):
    """The first conv weight declares `dims` but keeps its bytes."""
    t = onnx_initializer(model)
    del t.dims[:]
    t.dims.extend(dims)


def onnx_constant_of_shape(model, shape):
    """The first conv weight is computed: ConstantOfShape(`shape`), a few bytes asking for much."""
    import onnx
    from onnx import helper
    t = onnx_initializer(model)
    name = t.name
    model.graph.initializer.remove(t)
    shape_name = name + "_shape"
    model.graph.initializer.append(helper.make_tensor(shape_name, onnx.TensorProto.INT64,
                                                      [len(shape)], shape))
    model.graph.node.insert(0, helper.make_node("ConstantOfShape", [shape_name], [name]))


# -- round two (issue 29): small files that would take large memory ---------------------

def t7_stride0(path, elements=300_000_000):
    """A Torch7 FloatTensor of `elements` values read, by a zero stride, from a one-value storage."""
    from .t7_files import Writer
    w = Writer()
    w.int32(4)
    w.ref()
    w.string("V 1")
    w.string("torch.FloatTensor")
    w.int32(1)
    w.int64(elements)            # size
    w.int64(0)                   # stride 0: every element is the storage's one value
    w.int64(1)
    w.int32(4)
    w.ref()
    w.string("V 1")
    w.string("torch.FloatStorage")
    w.int64(1)
    w.out += np.float32(1).tobytes()
    open(path, "wb").write(bytes(w.out))
    return path


def t7_views(path, views=400, values=1 << 20):
    """A Torch7 table of `views` tensors, each the whole of one 4 MB storage (written once)."""
    from .t7_files import Writer
    w = Writer()
    w.int32(3)
    w.ref()
    w.int32(views)
    storage_ref = None
    for i in range(views):
        w.obj(i + 1)
        w.int32(4)
        w.ref()
        w.string("V 1")
        w.string("torch.FloatTensor")
        w.int32(1)
        w.int64(values)
        w.int64(1)
        w.int64(1)
        w.int32(4)
        if storage_ref is None:
            w.ref()
            storage_ref = w.refs
            w.string("V 1")
            w.string("torch.FloatStorage")
            w.int64(values)
            w.out += np.zeros(values, np.float32).tobytes()
        else:
            w.int32(storage_ref)    # the same storage, by reference
    open(path, "wb").write(bytes(w.out))
    return path


def pth_aliases(path, keys=1200, values=1 << 18):
    """A .pth whose `keys` state-dict entries are all one memoised 1 MB tensor."""
    import collections
    tensor = _Tensor(_Storage("0", values), 0, (values,), (1,))
    state = collections.OrderedDict((f"features.{i}.weight", tensor) for i in range(keys))
    return write_pth(path, state, {"0": np.zeros(values, "<f4").tobytes()})


def pth_nested_repeats(path, depth=44):
    """A pickle of `depth` nested lists, each holding the one before twice (memoised)."""
    import pickle
    import zipfile
    ops = bytearray(b"\x80\x02")
    ops += b"]q\x00"                                   # list 0
    for i in range(1, depth + 1):
        ops += b"(h" + bytes([i - 1]) + b"h" + bytes([i - 1])   # MARK, GET i-1, GET i-1
        ops += b"l"                                     # LIST from the mark: [prev, prev]
        ops += b"q" + bytes([i])                         # BINPUT i
    ops += b"."
    pickle.loads(bytes(ops))                           # a valid pickle (cheap: all shared)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", bytes(ops))
    return path


def pth_memo_index(path, index=80_000_000):
    """A 12-byte pickle whose memo index is `index` (the C unpickler sizes an array by it)."""
    import struct
    import zipfile
    ops = b"\x80\x02}" + b"r" + struct.pack("<I", index) + b"."      # LONG_BINPUT index
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", ops)
    return path

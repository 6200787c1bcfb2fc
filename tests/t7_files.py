"""A test-only Torch7 writer (``torch.save``'s binary format), and the networks Johnson's train.lua builds.

Nothing here is stylelab: it writes files for stylelab's reader to read, laid
out as Torch7 lays them out (int32 type tags, int32 references, int64 sizes,
little-endian), with modules' fields named as in nn and fast_neural_style.
"""

import struct

import numpy as np


class Module:
    """An nn module to write: its class name and fields."""

    def __init__(self, class_name, **fields):
        self.class_name, self.fields = class_name, fields


class Function:
    """A Lua function (bytecode): what a hostile file would hold."""


class Writer:
    def __init__(self):
        self.out, self.refs = bytearray(), 0

    def int32(self, v):
        self.out += struct.pack("<i", v)

    def int64(self, v):
        self.out += struct.pack("<q", v)

    def string(self, s):
        data = s.encode("latin-1")
        self.int32(len(data))
        self.out += data

    def ref(self):
        self.refs += 1
        self.int32(self.refs)

    def obj(self, v):
        if v is None:
            self.int32(0)
        elif isinstance(v, bool):
            self.int32(5)
            self.int32(1 if v else 0)
        elif isinstance(v, (int, float)):
            self.int32(1)
            self.out += struct.pack("<d", float(v))
        elif isinstance(v, str):
            self.int32(2)
            self.string(v)
        elif isinstance(v, np.ndarray):
            self.tensor(v)
        elif isinstance(v, Module):
            self.int32(4)
            self.ref()
            self.string("V 1")
            self.string(v.class_name)
            self.obj(dict(v.fields))
        elif isinstance(v, Function):
            self.int32(6)
            self.ref()
            self.int32(3)
            self.out += b"\x1bLJ"
            self.obj(None)
        elif isinstance(v, (list, tuple)):
            self.obj({i + 1: item for i, item in enumerate(v)})
        elif isinstance(v, dict):
            self.int32(3)
            self.ref()
            self.int32(len(v))
            for k, item in v.items():
                self.obj(k)
                self.obj(item)
        else:
            raise TypeError(type(v))

    def tensor(self, a):
        name = {np.dtype(np.float32): "Float", np.dtype(np.float64): "Double",
                np.dtype(np.int64): "Long"}[a.dtype]
        a = np.ascontiguousarray(a)
        self.int32(4)
        self.ref()
        self.string("V 1")
        self.string(f"torch.{name}Tensor")
        self.int32(a.ndim)
        for n in a.shape:
            self.int64(n)
        for s in a.strides:
            self.int64(s // a.itemsize)
        self.int64(1)                                  # storage offset, 1-based
        self.int32(4)
        self.ref()
        self.string("V 1")
        self.string(f"torch.{name}Storage")
        self.int64(a.size)
        self.out += a.astype(a.dtype.newbyteorder("<")).tobytes()


def write_t7(path, obj):
    w = Writer()
    w.obj(obj)
    with open(path, "wb") as f:
        f.write(bytes(w.out))


# -- jcjohnson/fast-neural-style's networks, as train.lua builds them ("reflect-start") --

def conv(rng, n_in, n_out, k, stride, pad, dtype):
    return Module("nn.SpatialConvolution", nInputPlane=n_in, nOutputPlane=n_out, kW=k, kH=k,
                  dW=stride, dH=stride, padW=pad, padH=pad,
                  weight=(rng.standard_normal((n_out, n_in, k, k)) / np.sqrt(n_in * k * k)).astype(dtype),
                  bias=(0.1 * rng.standard_normal(n_out)).astype(dtype), train=False)


def norm(rng, kind, n, dtype):
    weight = (1 + 0.2 * rng.standard_normal(n)).astype(dtype)
    bias = (0.1 * rng.standard_normal(n)).astype(dtype)
    if kind == "instance":
        return Module("nn.InstanceNormalization", nOutput=n, eps=1e-5, weight=weight, bias=bias,
                      prev_N=-1)
    return Module("nn.SpatialBatchNormalization", eps=1e-5, momentum=0.1, affine=True,
                  weight=weight, bias=bias, running_mean=(0.3 * rng.standard_normal(n)).astype(dtype),
                  running_var=(0.5 + rng.random(n)).astype(dtype), train=False)


def johnson_network(rng, kind="instance", widths=(8, 12, 16), blocks=2, k=9, dtype=np.float32,
                    input_pad=None):
    """The module list of ``c{k}s1-a,d b,d c,R c x blocks,u b,u a,c{k}s1-3`` with reflect-start padding."""
    a, b, c = widths
    # Each unpadded block takes 2 pixels a side at a quarter of the size: 8 per block in full.
    pad = input_pad if input_pad is not None else 8 * blocks
    mods = [Module("nn.SpatialReflectionPadding", pad_l=pad, pad_r=pad, pad_t=pad, pad_b=pad)]

    def stage(m, n):
        mods.extend([m, norm(rng, kind, n, dtype), Module("nn.ReLU", inplace=True, threshold=0,
                                                            val=0)])
    stage(conv(rng, 3, a, k, 1, (k - 1) // 2, dtype), a)
    stage(conv(rng, a, b, 3, 2, 1, dtype), b)
    stage(conv(rng, b, c, 3, 2, 1, dtype), c)
    for _ in range(blocks):
        inner = Module("nn.Sequential", modules=[
            conv(rng, c, c, 3, 1, 0, dtype), norm(rng, kind, c, dtype),
            Module("nn.ReLU", inplace=True), conv(rng, c, c, 3, 1, 0, dtype),
            norm(rng, kind, c, dtype)])
        mods.append(Module("nn.Sequential", modules=[
            Module("nn.ConcatTable", modules=[inner, Module("nn.ShaveImage", size=2)]),
            Module("nn.CAddTable", inplace=False)]))
    for n_in, n_out in ((c, b), (b, a)):
        full = Module("nn.SpatialFullConvolution", nInputPlane=n_in, nOutputPlane=n_out, kW=3,
                      kH=3, dW=2, dH=2, padW=1, padH=1, adjW=1, adjH=1,
                      weight=(rng.standard_normal((n_in, n_out, 3, 3)) / np.sqrt(n_in * 9)).astype(dtype),
                      bias=(0.1 * rng.standard_normal(n_out)).astype(dtype))
        stage(full, n_out)
    mods += [conv(rng, a, 3, k, 1, (k - 1) // 2, dtype), Module("nn.Tanh"),
             Module("nn.MulConstant", constant_scalar=150.0, inplace=False),
             Module("nn.TotalVariation", strength=1e-6)]
    return Module("nn.Sequential", modules=mods)


def johnson_checkpoint(rng, kind="instance", preprocessing="vgg", **kw):
    """``{model=..., opt=...}`` as train.lua saves it."""
    return {"model": johnson_network(rng, kind, **kw),
            "opt": {"preprocessing": preprocessing, "arch": "c9s1-8,d12,d16,R16,R16,u12,u8,c9s1-3",
                    "padding_type": "reflect-start", "tanh_constant": 150.0,
                    "use_instance_norm": 1.0 if kind == "instance" else 0.0}}

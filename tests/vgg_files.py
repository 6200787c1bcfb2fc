"""Random-weight VGG files in every format the converter reads (no pretrained weights here).

Weights are drawn in PyTorch's layout (F, C, H, W), He-scaled so activations
keep their size through 16 layers, as float32 values (so every format stores
them exactly). Each writer lays them out as that format does.
"""

from collections import OrderedDict

import h5py
import numpy as np
import scipy.io
import torch

from stylelab.nets.vgg import conv_shapes, layer_names

from . import t7_files

TORCHVISION = dict(channel_order="RGB", input_scale=1.0,
                   mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
KERAS = dict(channel_order="BGR", input_scale=255.0,
             mean=[103.939, 116.779, 123.68], std=[1.0, 1.0, 1.0])
MATCONVNET_MEAN = [123.68, 116.779, 103.939]
CAFFE = KERAS
IDENTITY = dict(channel_order="RGB", input_scale=1.0, mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0])


def random_colour_map(seed):
    """A 1x1 conv 3 -> 3 as the normalised VGG's first layer: (w (3, 3, 1, 1), b (3,)), float32.

    The real one is RGB -> BGR, x 255, minus the mean; a random one checks the
    layer, not the numbers.
    """
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((3, 3, 1, 1)) * 50).astype(np.float32)
    b = (rng.standard_normal(3) * 100).astype(np.float32)
    return w, b


def random_torch_weights(arch, seed):
    """{conv name: (w (F, C, 3, 3), b (F,))}, float32."""
    rng = np.random.default_rng(seed)
    out = OrderedDict()
    for name, (f, k, _, c) in conv_shapes(arch).items():
        w = rng.standard_normal((f, c, k, k)) * np.sqrt(2.0 / (9 * c))
        out[name] = (w.astype(np.float32), (0.1 * rng.standard_normal(f)).astype(np.float32))
    return out


def stylelab_vgg(arch, weights, dtype, engine="fast"):
    """stylelab's VGG (the fast engine, as load_vgg builds it, or the readable one) with the
    torchvision convention, from :func:`random_torch_weights`' arrays."""
    from stylelab.files.weights import ENGINES
    channels_last = {k: (w.transpose(0, 2, 3, 1), b) for k, (w, b) in weights.items()}
    return ENGINES[engine](arch, channels_last, TORCHVISION, dtype=dtype)


def as_float64(weights):
    """{conv: (w, b)} in float64, for the PyTorch side of float64 comparisons."""
    return {k: (w.astype(np.float64), b.astype(np.float64)) for k, (w, b) in weights.items()}


def write_torchvision(path, arch, weights, legacy=False):
    names = layer_names(arch)
    state = OrderedDict()
    for name, (w, b) in weights.items():
        i = names.index(name)
        state[f"features.{i}.weight"] = torch.from_numpy(w)
        state[f"features.{i}.bias"] = torch.from_numpy(b)
    # torchvision files carry the classifier too; the converter must skip it.
    state["classifier.0.weight"] = torch.zeros(4, 8)
    state["classifier.0.bias"] = torch.zeros(4)
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)


def write_keras(path, arch, weights):
    with h5py.File(path, "w") as f:
        layer_list = []
        for name, (w, b) in weights.items():
            key = f"block{name[4]}_conv{name[6]}"
            layer_list.append(key)
            g = f.create_group(key)
            g.attrs["weight_names"] = [f"{key}/kernel:0".encode(), f"{key}/bias:0".encode()]
            g.create_dataset(f"{key}/kernel:0", data=w.transpose(2, 3, 1, 0))  # (H, W, C, F)
            g.create_dataset(f"{key}/bias:0", data=b)
        f.attrs["layer_names"] = [k.encode() for k in layer_list]


def write_matconvnet(path, arch, weights, old_format=False):
    names = layer_names(arch)
    cells = np.empty((1, len(names)), dtype=object)
    for j, name in enumerate(names):
        kind = name.rstrip("0123456789_")
        layer = {"name": name, "type": kind}
        if kind == "conv":
            w, b = weights[name]
            pair = np.empty((1, 2), dtype=object)
            pair[0, 0] = w.transpose(3, 2, 1, 0)          # (W, H, C, F), as MatConvNet
            pair[0, 1] = b.reshape(1, -1)
            layer.update(weights=pair, stride=np.array([1, 1]), pad=np.array([1, 1, 1, 1]))
        cells[0, j] = layer
    mean = np.array(MATCONVNET_MEAN)
    if old_format:  # beta releases: a full average image at the top level
        data = {"layers": cells,
                "normalization": {"averageImage": np.ones((8, 8, 3)) * mean}}
    else:
        data = {"layers": cells, "meta": {"normalization": {"averageImage": mean.reshape(1, 1, 3)}}}
    scipy.io.savemat(path, data)


def torch_vgg(arch, weights, convention, x, pooling="max", upto=None, padding="zeros",
              preprocess=None):
    """PyTorch's VGG on RGB `x` (N, 3, H, W) in [0, 1] with the given convention.

    `padding` "reflect" and a `preprocess` 1x1 conv ``(w (3, 3, 1, 1), b)``
    make it the normalised Torch7 VGG. Returns the output of every layer, in
    order (up to `upto` if given), as a dict of tensors.
    """
    F = torch.nn.functional
    h = x
    if convention["channel_order"] == "BGR":
        h = h.flip(1)
    on = dict(device=x.device, dtype=x.dtype)       # CPU in the tests; CUDA in the GPU check
    mean = torch.tensor(convention["mean"], **on).view(1, 3, 1, 1)
    std = torch.tensor(convention["std"], **on).view(1, 3, 1, 1)
    h = (h * convention["input_scale"] - mean) / std
    if preprocess is not None:
        h = F.conv2d(h, torch.from_numpy(preprocess[0]).to(**on),
                     torch.from_numpy(preprocess[1]).to(**on))
    out = {}
    for name in layer_names(arch):
        if name.startswith("conv"):
            if name not in weights:
                break
            w, b = weights[name]
            if padding == "reflect":
                h = F.conv2d(F.pad(h, (1, 1, 1, 1), mode="reflect"),
                             torch.from_numpy(w).to(**on), torch.from_numpy(b).to(**on))
            else:
                h = F.conv2d(h, torch.from_numpy(w).to(**on),
                             torch.from_numpy(b).to(**on), padding=1)
        elif name.startswith("relu"):
            h = torch.relu(h)
        elif pooling == "max":
            h = torch.nn.functional.max_pool2d(h, 2)
        else:
            h = torch.nn.functional.avg_pool2d(h, 2)
        out[name] = h
        if name == upto:
            break
    return out


# -- Caffe's .caffemodel, written field by field (protobuf's wire format) --

def _varint(v):
    out = bytearray()
    while True:
        byte, v = v & 0x7F, v >> 7
        out.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(out)


def pb_field(number, payload):
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def pb_varint_field(number, value):
    return _varint(number << 3) + _varint(value)


def caffe_blob(a, legacy=False):
    """A BlobProto of float32 `a`: its shape (BlobShape, or num/channels/height/width) and data."""
    if legacy:
        dims = list(a.shape) + [1] * (4 - a.ndim)
        head = b"".join(pb_varint_field(i + 1, d) for i, d in enumerate(dims))
    else:
        head = pb_field(7, pb_field(1, b"".join(_varint(d) for d in a.shape)))
    return head + pb_field(5, np.ascontiguousarray(a, "<f4").tobytes())


def write_caffemodel(path, arch, weights, v1=True, net_name=None):
    """A .caffemodel of VGG's convs, ReLUs and poolings (and a classifier blob to skip).

    `v1`: the 2014 layout (``layers``, enum types), as VGG_ILSVRC_19_layers
    is; else the later one (``layer``, string types).
    """
    layers = []
    for name in layer_names(arch):
        kind = name.rstrip("0123456789_")
        blobs = []
        if kind == "conv":
            w, b = weights[name]
            blobs = [caffe_blob(w, legacy=v1), caffe_blob(b.reshape(1, 1, 1, -1) if v1 else b,
                                                         legacy=v1)]
        if v1:
            enum = {"conv": 4, "relu": 18, "pool": 17}[kind]
            body = pb_field(4, name.encode()) + pb_varint_field(5, enum)
            body += b"".join(pb_field(6, blob) for blob in blobs)
            layers.append(pb_field(2, body))
        else:
            typ = {"conv": "Convolution", "relu": "ReLU", "pool": "Pooling"}[kind]
            body = pb_field(1, name.encode()) + pb_field(2, typ.encode())
            body += b"".join(pb_field(7, blob) for blob in blobs)
            layers.append(pb_field(100, body))
    fc = np.ones((4, 8), np.float32)
    fc_body = (pb_field(4, b"fc6") + pb_varint_field(5, 14) + pb_field(6, caffe_blob(fc))
               if v1 else pb_field(1, b"fc6") + pb_field(2, b"InnerProduct") + pb_field(7, caffe_blob(fc)))
    layers.append(pb_field(2 if v1 else 100, fc_body))
    name = net_name or f"VGG_ILSVRC_{arch[3:]}_layers"
    with open(path, "wb") as f:
        f.write(pb_field(1, name.encode()) + b"".join(layers))


# -- the normalised VGG-19 as Torch7 files (AdaIN's, Li et al.'s) --

def normalised_t7_modules(weights, colour_map, upto=None, reflect=True):
    """The nn.Sequential's modules: 1x1 colour map, then VGG-19 with reflection padding."""
    M = t7_files.Module
    w0, b0 = colour_map
    mods = [M("nn.SpatialConvolution", nInputPlane=3, nOutputPlane=3, kW=1, kH=1, dW=1, dH=1,
              padW=0, padH=0, weight=w0, bias=b0)]
    for name in layer_names("vgg19"):
        if name.startswith("conv"):
            if name not in weights:
                break
            w, b = weights[name]
            if reflect:
                mods.append(M("nn.SpatialReflectionPadding", pad_l=1, pad_r=1, pad_t=1, pad_b=1))
            mods.append(M("nn.SpatialConvolution", nInputPlane=w.shape[1], nOutputPlane=w.shape[0],
                          kW=3, kH=3, dW=1, dH=1, padW=0 if reflect else 1,
                          padH=0 if reflect else 1, weight=w, bias=b))
        elif name.startswith("relu"):
            mods.append(M("nn.ReLU", inplace=True))
        else:
            mods.append(M("nn.SpatialMaxPooling", kW=2, kH=2, dW=2, dH=2, padW=0, padH=0,
                          ceil_mode=True))
        if name == upto:
            break
    return mods


def write_normalised_t7(path, weights, colour_map, upto=None, reflect=True):
    t7_files.write_t7(path, t7_files.Module(
        "nn.Sequential", modules=normalised_t7_modules(weights, colour_map, upto, reflect)))

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

TORCHVISION = dict(channel_order="RGB", input_scale=1.0,
                   mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
KERAS = dict(channel_order="BGR", input_scale=255.0,
             mean=[103.939, 116.779, 123.68], std=[1.0, 1.0, 1.0])
MATCONVNET_MEAN = [123.68, 116.779, 103.939]


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


def torch_vgg(arch, weights, convention, x, pooling="max", upto=None):
    """PyTorch's VGG on RGB `x` (N, 3, H, W) in [0, 1] with the given convention.

    Returns the output of every layer, in order (up to `upto` if given), as a
    dict of tensors.
    """
    h = x
    if convention["channel_order"] == "BGR":
        h = h.flip(1)
    mean = torch.tensor(convention["mean"], dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(convention["std"], dtype=x.dtype).view(1, 3, 1, 1)
    h = (h * convention["input_scale"] - mean) / std
    out = {}
    for name in layer_names(arch):
        if name.startswith("conv"):
            if name not in weights:
                break
            w, b = weights[name]
            h = torch.nn.functional.conv2d(h, torch.from_numpy(w).to(x.dtype),
                                           torch.from_numpy(b).to(x.dtype), padding=1)
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

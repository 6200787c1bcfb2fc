"""Johnson et al.'s network and losses written in PyTorch, the reference for the tests
and for benchmarks/fast_style.py.

The parameters come from stylelab's dict and are moved to PyTorch's layout
once, with the same permutation as every other tensor (``reference.to_torch``).
"""

import torch
import torch.nn.functional as F

from stylelab.nets.transform import parse_arch

from .reference import to_torch


def torch_params(params, grad=True):
    """stylelab's parameter dict as leaf tensors in PyTorch's layout.

    Conv filters (F, K, K, C) become (F, C, K, K); a transposed conv's
    (C_in, K, K, C_out) become (C_in, C_out, K, K): the same permutation.
    """
    return {k: to_torch(v, grad=grad) for k, v in params.items()}


def _conv(h, p, kernel, stride):
    pad = kernel // 2
    h = F.pad(h, (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(h, p["w"], p["b"], stride=stride)


def _norm_relu(h, p, suffix=""):
    h = F.instance_norm(h, weight=p["gamma" + suffix], bias=p["beta" + suffix], eps=1e-5)
    return torch.relu(h) if suffix != "2" else h


def torch_transform(x, tp, arch, upsample="nearest", norm="instance", output="tanh"):
    """The transformation network on `x` (N, C, H, W) with parameters from :func:`torch_params`.

    ``norm="none", output="linear"`` make it one of Li et al.'s decoders.
    """
    h = x
    for st in parse_arch(arch, x.shape[1]):
        p = {k[len(st.name) + 1:]: v for k, v in tp.items() if k.startswith(st.name + ".")}
        if st.kind == "res":
            r = _norm_relu(_conv(h, {"w": p["w1"], "b": p["b1"]}, 3, 1), p, "1")
            r = _norm_relu(_conv(r, {"w": p["w2"], "b": p["b2"]}, 3, 1), p, "2")
            h = h + r
            continue
        if st.kind == "up" and upsample == "transpose":
            h = F.conv_transpose2d(h, p["w"], p["b"], stride=2, padding=1, output_padding=1)
        else:
            if st.kind == "up":
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = _conv(h, p, st.kernel, st.stride)
        if st.last:
            h = (torch.tanh(h) + 1) / 2 if output == "tanh" else h
        elif norm == "instance":
            h = _norm_relu(h, p)
        else:
            h = torch.relu(h)
    return h


def torch_gram(f):
    """G / (C H W) for each image of (N, C, H, W): (N, C, C)."""
    n, c, h, w = f.shape
    fm = f.reshape(n, c, h * w)
    return fm @ fm.transpose(1, 2) / (c * h * w)


def torch_tv(y):
    return ((y[:, :, 1:] - y[:, :, :-1]) ** 2).sum() + ((y[:, :, :, 1:] - y[:, :, :, :-1]) ** 2).sum()


def torch_perceptual(y, photos, style_feats, vgg_fn, weights, content_layers, style_layers):
    """Johnson's loss in PyTorch: mean-squared feature, Gram and TV terms.

    `vgg_fn(x)` returns {layer: tensor}; `style_feats` are the style image's.
    Returns (total, {term: value}).
    """
    n = y.shape[0]
    fy = vgg_fn(y)
    with torch.no_grad():
        fc = vgg_fn(photos)
    terms = {"content": sum(F.mse_loss(fy[l], fc[l]) for l in content_layers)
             * weights["content"]}
    if weights.get("pixel"):
        terms["pixel"] = weights["pixel"] * F.mse_loss(y, photos)
    if style_layers:
        terms["style"] = weights["style"] * sum(
            F.mse_loss(torch_gram(fy[l]), torch_gram(style_feats[l]).expand(n, -1, -1))
            for l in style_layers)
    if weights["tv"]:
        terms["tv"] = weights["tv"] * torch_tv(y) / n
    return sum(terms.values()), terms

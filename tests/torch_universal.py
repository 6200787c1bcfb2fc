"""Li et al.'s universal style transfer written in PyTorch: the reference for the
tests and for benchmarks/wct.py.

Features are PyTorch's (1, C, h, w); the transforms work on the paper's
C x M matrices. Decoders are :func:`tests.torch_models.torch_transform`
with no norm and a linear output; inversion is SciPy's L-BFGS-B driven by
PyTorch's loss and gradient, with the options stylelab's L-BFGS uses.
"""

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import Bounds, minimize

from .torch_models import torch_transform
from .vgg_files import torch_vgg


def _centred(f):
    """(1, C, h, w) -> the C x M matrix minus its mean, and the mean (C, 1)."""
    m = f[0].reshape(f.shape[1], -1)
    mean = m.mean(dim=1, keepdim=True)
    return m - mean, mean


def _power(fc, p, eps):
    """E D^p E^T of the covariance of centred `fc`, over eigenvalues > eps * max."""
    cov = fc @ fc.T / max(fc.shape[1] - 1, 1)
    d, e = torch.linalg.eigh(cov)
    keep = d > eps * d.max() if d.max() > 0 else d > 0
    return e[:, keep] @ torch.diag(d[keep] ** p) @ e[:, keep].T


def torch_wct(fc, styles, alpha, eps, weights=None):
    """Whiten `fc` (1, C, h, w) once, colour with each style, mix, blend with alpha."""
    weights = weights or [1.0 / len(styles)] * len(styles)
    c, _ = _centred(fc)
    white = _power(c, -0.5, eps) @ c
    mixed = 0
    for w, fs in zip(weights, styles):
        s, mean_s = _centred(fs)
        mixed = mixed + w * (_power(s, 0.5, eps) @ white + mean_s)
    return alpha * mixed.reshape(fc.shape) + (1 - alpha) * fc


def torch_whiten_and_color(cf, sf, alpha, ridge, eps=1e-5, relative=False):
    """PytorchWCT's whiten_and_color (``ridge`` 1: its identity on the content covariance;
    0: Li et al.'s Torch code), blended with alpha: (1, C, h, w) in and out.

    Eigenvalues below `eps` are left out, as both released codes do; ``relative=True``
    leaves out those at most ``eps`` times the largest instead (stylelab's convention).
    """
    def kept(e):
        return int((e > eps * e.max()).sum()) if relative else int((e >= eps).sum())

    c = cf[0].reshape(cf.shape[1], -1)
    mean_c = c.mean(dim=1, keepdim=True)
    cc = c - mean_c
    cov = cc @ cc.t() / (cc.shape[1] - 1) + ridge * torch.eye(c.shape[0], dtype=c.dtype)
    _, e, v = torch.svd(cov)                # singular values in decreasing order
    k = kept(e)
    white = v[:, :k] @ torch.diag(e[:k].pow(-0.5)) @ v[:, :k].t() @ cc
    s = sf[0].reshape(sf.shape[1], -1)
    mean_s = s.mean(dim=1, keepdim=True)
    sc = s - mean_s
    cov_s = sc @ sc.t() / (sc.shape[1] - 1)
    _, es, vs = torch.svd(cov_s)
    ks = kept(es)
    target = vs[:, :ks] @ torch.diag(es[:ks].pow(0.5)) @ vs[:, :ks].t() @ white + mean_s
    return (alpha * target + (1 - alpha) * c).reshape(cf.shape)


def torch_wct_regions(fc, styles, labels, alpha, eps):
    """Each region of `labels` (h, w) whitened alone and coloured with its style."""
    flat = fc[0].reshape(fc.shape[1], -1)
    out = torch.empty_like(flat)
    lab = torch.as_tensor(labels.reshape(-1))
    for k, fs in enumerate(styles):
        idx = torch.nonzero(lab == k)[:, 0]
        if len(idx):
            region = flat[:, idx].reshape(1, fc.shape[1], 1, len(idx))
            out[:, idx] = torch_wct(region, [fs], 1.0, eps)[0].reshape(fc.shape[1], -1)
    return alpha * out.reshape(fc.shape) + (1 - alpha) * fc


def torch_invert(encode, target, x0, iterations, stats=None):
    """L-BFGS-B on ``1/2 ||encode(x) - target||^2`` from `x0`, in [0, 1]; the best x seen.

    `stats`, a dict, gets its ``"evaluations"`` count increased.
    """
    best = [np.inf, None]

    def fun(z):
        if stats is not None:
            stats["evaluations"] = stats.get("evaluations", 0) + 1
        x = torch.tensor(z.reshape(x0.shape), dtype=x0.dtype, device=x0.device,
                         requires_grad=True)
        loss = 0.5 * ((encode(x) - target) ** 2).sum()
        loss.backward()
        if loss.item() < best[0]:
            best[:] = [loss.item(), z.copy()]
        return loss.item(), x.grad.cpu().numpy().astype(np.float64).reshape(-1)

    z0 = x0.detach().cpu().numpy().astype(np.float64).reshape(-1)
    minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=Bounds(0.0, 1.0),
             options=dict(maxiter=iterations, maxfun=50 * iterations + 20, ftol=0.0, gtol=0.0))
    return torch.tensor(best[1].reshape(x0.shape), dtype=x0.dtype, device=x0.device)


def torch_universal(weights, convention, content, styles, levels=(5, 4, 3, 2, 1), alpha=0.6,
                    eps=1e-5, decoders=None, style_weights=None, labels=None, iterations=10,
                    stats=None):
    """The cascade on (1, 3, H, W) `content` and a list of (1, 3, Hs, Ws) `styles`.

    `weights` are VGG-19's {conv: (w (F, C, 3, 3), b)} arrays in the
    content's dtype; `decoders` {level: (torch params, arch)} or None for
    inversion; `labels` a label map at the (padded) content's size or None;
    `stats` as :func:`torch_invert`.
    """
    def encode(x, layer):
        return torch_vgg("vgg19", weights, convention, x, upto=layer)[layer]

    h, w = content.shape[2:]
    m = 2 ** (levels[0] - 1)
    x = F.pad(content, (0, -w % m, 0, -h % m), mode="reflect")
    with torch.no_grad():
        style_feats = [torch_vgg("vgg19", weights, convention, s, upto=f"relu{levels[0]}_1")
                       for s in styles]              # every level's, from one pass each
        for v in levels:
            layer = f"relu{v}_1"
            fc = encode(x, layer)
            fs = [f[layer] for f in style_feats]
            if labels is None:
                fcs = torch_wct(fc, fs, alpha, eps, style_weights)
            else:
                rows = ((np.arange(fc.shape[2]) + 0.5) * labels.shape[0] / fc.shape[2]).astype(int)
                cols = ((np.arange(fc.shape[3]) + 0.5) * labels.shape[1] / fc.shape[3]).astype(int)
                fcs = torch_wct_regions(fc, fs, labels[rows][:, cols], alpha, eps)
            if decoders is not None:
                tp, arch = decoders[v]
                x = torch_transform(fcs, tp, arch, norm="none", output="linear").clamp(0, 1)
            else:
                with torch.enable_grad():
                    x = torch_invert(lambda y, layer=layer: encode(y, layer), fcs, x, iterations,
                                     stats)
    return x[:, :, :h, :w]

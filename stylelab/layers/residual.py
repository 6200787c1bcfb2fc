"""The residual block of Johnson et al.'s network: conv-norm-ReLU-conv-norm, plus the input.

::

    h = norm2(conv2(ReLU(norm1(conv1(x)))))        3x3 convs
    y = x + h

The identity path lets the block learn only a correction to its input, which
is why a stack of five trains easily; the backward pass adds the gradient of
the identity (``dy`` itself) to the branch's.

The published networks differ in three details, options here:

* ``padding``: the convs pad by reflection (PyTorch's example, stylelab),
  with zeros (TensorFlow), or not at all -- ``"valid"``, Johnson's own
  release: each conv shrinks the map by 2, so the shortcut is cropped by 2
  pixels on every side to match (his ``ShaveImage``), and the network pads
  its input once, by reflection, to make up for it.
* ``norm``: instance norm, or batch norm at test time (a per-channel scale
  and shift, :func:`~stylelab.layers.normalization.scale_shift_forward`).
* ``eps`` of the instance norm (1e-5 in PyTorch and Torch7, 1e-3 in the
  TensorFlow release).
"""

from .activations import relu_backward, relu_forward, relu_inplace
from . import conv as readable_conv
from .normalization import (instance_norm_backward, instance_norm_forward, scale_shift_backward,
                            scale_shift_forward)

PARAMS = ("w1", "b1", "gamma1", "beta1", "w2", "b2", "gamma2", "beta2")
PADDINGS = ("reflect", "zeros", "valid")
NORMS = ("instance", "affine")
SHAVE = 2          # a "valid" block's two 3x3 convs take 1 pixel each from every side


def norm_forward(norm, x, gamma, beta, eps=1e-5, inplace=False):
    """Instance norm, or the affine map batch norm is at test time: ``(y, cache)``."""
    if norm == "instance":
        return instance_norm_forward(x, gamma, beta, eps=eps, inplace=inplace)
    if norm == "affine":
        return scale_shift_forward(x, gamma, beta, inplace=inplace)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def norm_backward(norm, dy, cache):
    """Gradients of :func:`norm_forward`: ``(dx, dgamma, dbeta)``."""
    return (instance_norm_backward if norm == "instance" else scale_shift_backward)(dy, cache)


def _conv_options(padding):
    if padding not in PADDINGS:
        raise ValueError(f"residual_block: padding must be one of {PADDINGS}, got {padding!r}")
    if padding == "valid":
        return dict(padding=0)
    return dict(padding="same", pad_mode=padding)


def residual_block_forward(x, params, keep_cache=True, padding="reflect", norm="instance",
                           eps=1e-5, conv=None):
    """One residual block.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    params : dict
        ``w1``, ``w2`` of shape (C, 3, 3, C); ``b1``, ``b2``, ``gamma1``,
        ``beta1``, ``gamma2``, ``beta2`` of shape (C,).
    keep_cache : bool
        False for inference: the norms and the ReLU work in place and no
        cache is returned.
    padding : {"reflect", "zeros", "valid"}
    norm : {"instance", "affine"}
    eps : float
        The instance norm's.
    conv : module, optional
        Where the conv layer comes from: anything with ``conv2d_forward`` and
        ``conv2d_backward`` -- :mod:`stylelab.layers.conv` (the default, im2col)
        or :mod:`stylelab.layers.fast` (the same numbers on the fast kernels).

    Returns
    -------
    y : ndarray of shape (N, H, W, C), or (N, H - 4, W - 4, C) if ``"valid"``
    cache : the five layers' caches, or None
    """
    missing = [k for k in PARAMS if k not in params]
    if missing:
        raise ValueError(f"residual_block: params lack {missing}")
    pads = _conv_options(padding)
    conv = conv or readable_conv
    shortcut = x[:, SHAVE:-SHAVE, SHAVE:-SHAVE] if padding == "valid" else x
    if not keep_cache:
        h, _ = conv.conv2d_forward(x, params["w1"], params["b1"], **pads)
        h, _ = norm_forward(norm, h, params["gamma1"], params["beta1"], eps, inplace=True)
        h = relu_inplace(h)
        h, _ = conv.conv2d_forward(h, params["w2"], params["b2"], **pads)
        h, _ = norm_forward(norm, h, params["gamma2"], params["beta2"], eps, inplace=True)
        h += shortcut
        return h, None
    h, c1 = conv.conv2d_forward(x, params["w1"], params["b1"], **pads)
    h, c2 = norm_forward(norm, h, params["gamma1"], params["beta1"], eps)
    h, c3 = relu_forward(h)
    h, c4 = conv.conv2d_forward(h, params["w2"], params["b2"], **pads)
    h, c5 = norm_forward(norm, h, params["gamma2"], params["beta2"], eps)
    return shortcut + h, (c1, c2, c3, c4, c5, norm, padding, conv)


def residual_block_backward(dy, cache):
    """Gradients of :func:`residual_block_forward`.

    Returns
    -------
    dx : ndarray of shape (N, H, W, C)
    grads : dict with the keys of ``params``
    """
    c1, c2, c3, c4, c5, norm, padding, conv = cache
    grads = {}
    d, grads["gamma2"], grads["beta2"] = norm_backward(norm, dy, c5)
    d, grads["w2"], grads["b2"] = conv.conv2d_backward(d, c4)
    d = relu_backward(d, c3)
    d, grads["gamma1"], grads["beta1"] = norm_backward(norm, d, c2)
    d, grads["w1"], grads["b1"] = conv.conv2d_backward(d, c1)
    if padding == "valid":          # the shortcut was cropped: its gradient lands inside
        d[:, SHAVE:-SHAVE, SHAVE:-SHAVE] += dy
        return d, grads
    return dy + d, grads

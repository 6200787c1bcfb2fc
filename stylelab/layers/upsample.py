"""Nearest-neighbour upsampling by 2 (each pixel becomes a 2x2 block), and the stage it starts.

Johnson et al. upsample with transposed convolutions; nearest upsampling
followed by an ordinary convolution avoids the checkerboard artefacts those
make (Odena et al. 2016). Output size: ``2H x 2W``.

:func:`upsample_conv_forward` is that stage, nearest x2 then a 3x3 conv with
reflection padding: the ``u`` stages of :mod:`stylelab.nets.transform` and
the decoders: the two layers as written.
:func:`stylelab.layers.fast.upsample_conv_forward` computes the same numbers
as four 2x2 convs of the small image, never making the large one.
"""

import warnings

from ..backend import get_array_module
from ._checks import check_activation
from .conv import conv2d_backward, conv2d_forward


def upsample2x_forward(x):
    """Repeat every pixel into a 2x2 block.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)

    Returns
    -------
    y : ndarray of shape (N, 2H, 2W, C)
    cache : the input shape
    """
    check_activation("upsample2x", x)
    xp = get_array_module(x)
    n, h, w, c = x.shape
    y = xp.empty((n, 2 * h, 2 * w, c), dtype=x.dtype)
    for r in (0, 1):
        for s in (0, 1):
            y[:, r::2, s::2, :] = x
    return y, x.shape


def upsample2x_backward(dy, cache):
    """Gradient of :func:`upsample2x_forward`: each pixel collects its block's four gradients."""
    return dy[:, 0::2, 0::2] + dy[:, 0::2, 1::2] + dy[:, 1::2, 0::2] + dy[:, 1::2, 1::2]


def upsample_conv_forward(x, w, b, method="compose"):
    """``conv2d(upsample2x(x), w, b, padding="same", pad_mode="reflect")``.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    w : ndarray of shape (F, 3, 3, C)
    b : ndarray of shape (F,)
    method : {"compose"}
        Kept for the old ``method="auto"``, which now warns and composes: the
        four-phase form is :func:`stylelab.layers.fast.upsample_conv_forward`.

    Returns
    -------
    y : ndarray of shape (N, 2H, 2W, F)
    cache : what :func:`upsample_conv_backward` needs
    """
    if method == "auto":
        warnings.warn("upsample_conv_forward: method='auto' is deprecated -- the four-phase "
                      "form is stylelab.layers.fast.upsample_conv_forward; this composes the "
                      "two layers", DeprecationWarning, stacklevel=2)
    elif method != "compose":
        raise ValueError(f"upsample_conv: method must be 'compose', got {method!r}")
    u, up_cache = upsample2x_forward(x)
    y, conv_cache = conv2d_forward(u, w, b, pad_mode="reflect")
    return y, (up_cache, conv_cache)


def upsample_conv_backward(dy, cache, input_grad=True):
    """Gradients of :func:`upsample_conv_forward`.

    Returns
    -------
    dx : ndarray of shape (N, H, W, C), or None if not `input_grad`
    dw : ndarray of shape (F, 3, 3, C)
    db : ndarray of shape (F,)
    """
    up_cache, conv_cache = cache
    du, dw, db = conv2d_backward(dy, conv_cache, input_grad=input_grad)
    return (upsample2x_backward(du, up_cache) if input_grad else None), dw, db

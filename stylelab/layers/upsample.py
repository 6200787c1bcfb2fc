"""Nearest-neighbour upsampling by 2 (each pixel becomes a 2x2 block), and the stage it starts.

Johnson et al. upsample with transposed convolutions; nearest upsampling
followed by an ordinary convolution avoids the checkerboard artefacts those
make (Odena et al. 2016). Output size: ``2H x 2W``.

:func:`upsample_conv_forward` is that stage, nearest x2 then a 3x3 conv with
reflection padding: the ``u`` stages of :mod:`stylelab.nets.transform` and
the decoders. ``method="compose"`` runs the two layers as written (the
reference); by default :mod:`stylelab.layers.fast.upsample_conv` computes the
same numbers as four 2x2 convs of the small image.
"""

from ..backend import get_array_module
from ._checks import check_activation
from .conv import conv2d_backward, conv2d_forward
from .fast import upsample_conv as fused


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


def upsample_conv_forward(x, w, b, method="auto"):
    """``conv2d(upsample2x(x), w, b, padding="same", pad_mode="reflect")``.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    w : ndarray of shape (F, 3, 3, C)
    b : ndarray of shape (F,)
    method : {"auto", "compose"}
        ``"compose"``: :func:`upsample2x_forward`, then :func:`~stylelab.layers.conv2d_forward`
        with im2col. ``"auto"``: four 2x2 convs of the small image (the same numbers).

    Returns
    -------
    y : ndarray of shape (N, 2H, 2W, F)
    cache : what :func:`upsample_conv_backward` needs
    """
    if method == "compose":
        u, up_cache = upsample2x_forward(x)
        y, conv_cache = conv2d_forward(u, w, b, pad_mode="reflect", method="im2col")
        return y, ("compose", (up_cache, conv_cache))
    if method != "auto":
        raise ValueError(f"upsample_conv: method must be 'auto' or 'compose', got {method!r}")
    y, cache = fused.forward(x, w, b)
    return y, ("auto", cache)


def upsample_conv_backward(dy, cache, input_grad=True):
    """Gradients of :func:`upsample_conv_forward`.

    Returns
    -------
    dx : ndarray of shape (N, H, W, C), or None if not `input_grad`
    dw : ndarray of shape (F, 3, 3, C)
    db : ndarray of shape (F,)
    """
    method, inner = cache
    if method == "auto":
        return fused.backward(dy, inner, input_grad)
    up_cache, conv_cache = inner
    du, dw, db = conv2d_backward(dy, conv_cache, input_grad=input_grad)
    return (upsample2x_backward(du, up_cache) if input_grad else None), dw, db

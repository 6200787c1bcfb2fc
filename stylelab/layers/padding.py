"""Spatial padding of a channels-last batch, and its gradient.

Zero padding surrounds the image with zeros. Reflection padding mirrors the
image at its border *without* repeating the edge pixel (as ``numpy.pad``'s
``"reflect"`` and PyTorch's ``F.pad(mode="reflect")``)::

    row:      x2 x1 | x0 x1 x2 x3 | x2 x1        (pad = 2)

Edge padding repeats the border pixel (``numpy.pad``'s ``"edge"``, PyTorch's
``"replicate"``)::

    row:      x0 x0 | x0 x1 x2 x3 | x3 x3

Every padded value is a copy of an interior one, so in the backward pass its
gradient flows back to the pixel it was copied from.
"""

from ..backend import get_array_module
from ._checks import check_activation

PAD_MODES = ("zeros", "reflect", "edge")


def pad2d_forward(x, pad, mode="zeros"):
    """Pad the two spatial axes of `x` by `pad` pixels on every side.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    pad : int
        Pixels added above, below, left and right.
    mode : {"zeros", "reflect", "edge"}
        Reflection needs ``pad < H`` and ``pad < W``.

    Returns
    -------
    y : ndarray of shape (N, H + 2*pad, W + 2*pad, C)
    cache : tuple
        What :func:`pad2d_backward` needs.
    """
    check_activation("pad2d", x)
    if mode not in PAD_MODES:
        raise ValueError(f"pad2d: pad_mode must be one of {PAD_MODES}, got {mode!r}")
    if not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad2d: pad must be a non-negative int, got {pad!r}")
    n, h, w, c = x.shape
    if mode == "reflect" and (pad >= h or pad >= w):
        raise ValueError(f"pad2d: reflect padding {pad} needs an input larger "
                         f"than {pad} pixels on each side, got shape {tuple(x.shape)}")
    cache = (pad, mode)
    if pad == 0:
        return x, cache
    xp = get_array_module(x)
    if mode == "zeros":
        y = xp.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=x.dtype)
        y[:, pad:-pad, pad:-pad, :] = x
        return y, cache
    widths = ((0, 0), (pad, pad), (pad, pad), (0, 0))
    return xp.pad(x, widths, mode=mode), cache


def _fold_reflected(d, pad, axis):
    """Add the gradient of each mirrored row (or column) to its source.

    Along `axis` the padded array has ``size = L + 2*pad`` entries; padded
    entry ``r < pad`` copies entry ``2*pad - r`` and the entry ``pad + L + j``
    at the far end copies ``pad + L - 2 - j``.
    """
    v = d.swapaxes(1, axis)          # a view: writing to it writes to d
    size = v.shape[1]
    length = size - 2 * pad
    for r in range(pad):
        v[:, 2 * pad - r] += v[:, r]
        v[:, pad + length - 2 - r] += v[:, pad + length + r]


def _fold_edges(d, pad, axis):
    """Add the gradient of each repeated border row (or column) to the border itself."""
    v = d.swapaxes(1, axis)
    length = v.shape[1] - 2 * pad
    v[:, pad] += v[:, :pad].sum(axis=1)
    v[:, pad + length - 1] += v[:, pad + length:].sum(axis=1)


def pad2d_backward(dy, cache):
    """Gradient of :func:`pad2d_forward`.

    Parameters
    ----------
    dy : ndarray of shape (N, H + 2*pad, W + 2*pad, C)
    cache : tuple from :func:`pad2d_forward`

    Returns
    -------
    dx : ndarray of shape (N, H, W, C)
    """
    pad, mode = cache
    if pad == 0:
        return dy
    if mode in ("reflect", "edge"):
        fold = _fold_reflected if mode == "reflect" else _fold_edges
        dy = dy.copy()
        fold(dy, pad, axis=1)
        fold(dy, pad, axis=2)
    xp = get_array_module(dy)
    return xp.ascontiguousarray(dy[:, pad:-pad, pad:-pad, :])

"""Spatial padding of a channels-last batch, and its gradient.

Zero padding surrounds the image with zeros. Reflection padding mirrors the
image at its border *without* repeating the edge pixel (as ``numpy.pad``'s
``"reflect"`` and PyTorch's ``F.pad(mode="reflect")``)::

    row:      x2 x1 | x0 x1 x2 x3 | x2 x1        (pad = 2)

Edge padding repeats the border pixel (``numpy.pad``'s ``"edge"``, PyTorch's
``"replicate"``)::

    row:      x0 x0 | x0 x1 x2 x3 | x3 x3

The four sides may differ, ``(top, bottom, left, right)``: TensorFlow's
"SAME" padding of a stride-2 conv puts one pixel more below and to the right
than above and to the left (:func:`same_padding`).

Every padded value is a copy of an interior one, so in the backward pass its
gradient flows back to the pixel it was copied from.
"""

from ..backend import get_array_module
from ._checks import check_activation

PAD_MODES = ("zeros", "reflect", "edge")
CONVENTIONS = ("symmetric", "tf")


def sides(pad, where="pad2d"):
    """``pad`` as ``(top, bottom, left, right)``: an int is the same on every side."""
    if isinstance(pad, int) and not isinstance(pad, bool):
        pad = (pad,) * 4
    if (not isinstance(pad, (tuple, list)) or len(pad) != 4
            or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in pad)):
        raise ValueError(f"{where}: pad must be a non-negative int or (top, bottom, left, "
                         f"right) of them, got {pad!r}")
    return tuple(pad)


def same_padding(size, kernel, stride=1, convention="symmetric"):
    """Padding (before, after) along one axis that keeps a conv's output at ``ceil(size / stride)``.

    ``"symmetric"``: ``(K - 1) // 2`` on both sides, as PyTorch and Torch7
    models pad (for stride 2 and an even size the output is then ``size / 2``
    too). ``"tf"``: TensorFlow's "SAME", ``P = max((ceil(size / s) - 1) * s + K - size, 0)``
    in all, the smaller half before::

        >>> same_padding(8, 3, 2, "tf"), same_padding(7, 3, 2, "tf"), same_padding(8, 9, 1, "tf")
        ((0, 1), (1, 1), (4, 4))
    """
    if convention == "symmetric":
        return (kernel - 1) // 2, (kernel - 1) // 2
    if convention != "tf":
        raise ValueError(f"padding convention must be one of {CONVENTIONS}, got {convention!r}")
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad2d_forward(x, pad, mode="zeros"):
    """Pad the two spatial axes of `x`.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    pad : int or (top, bottom, left, right)
        Pixels added on each side (an int: the same on all four).
    mode : {"zeros", "reflect", "edge"}
        Reflection needs each side's padding smaller than that axis.

    Returns
    -------
    y : ndarray of shape (N, top + H + bottom, left + W + right, C)
    cache : tuple
        What :func:`pad2d_backward` needs: ``((top, bottom, left, right), mode)``.
    """
    check_activation("pad2d", x)
    if mode not in PAD_MODES:
        raise ValueError(f"pad2d: pad_mode must be one of {PAD_MODES}, got {mode!r}")
    top, bottom, left, right = sides(pad)
    n, h, w, c = x.shape
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        shown = top if len({top, bottom, left, right}) == 1 else (top, bottom, left, right)
        raise ValueError(f"pad2d: reflect padding {shown} needs an input larger "
                         f"than {max(top, bottom, left, right)} pixels on each side, "
                         f"got shape {tuple(x.shape)}")
    cache = ((top, bottom, left, right), mode)
    if not any(cache[0]):
        return x, cache
    xp = get_array_module(x)
    if mode == "zeros":
        y = xp.zeros((n, top + h + bottom, left + w + right, c), dtype=x.dtype)
        y[:, top:top + h, left:left + w, :] = x
        return y, cache
    widths = ((0, 0), (top, bottom), (left, right), (0, 0))
    return xp.pad(x, widths, mode=mode), cache


def fill_border(buf, pad, mode="zeros"):
    """Pad in place: fill the border of `buf` around an interior that is already there.

    The same values :func:`pad2d_forward` would put around the interior, for
    a caller that wrote its result straight into a larger buffer (the fast
    engines do, so that no padded copy is made). Rows first, then whole
    columns, so that the corners come along.

    Parameters
    ----------
    buf : ndarray of shape (N, top + H + bottom, left + W + right, C)
        Written in place.
    pad : int or (top, bottom, left, right)
    mode : {"zeros", "reflect", "edge"}

    Returns
    -------
    buf
    """
    if mode not in PAD_MODES:
        raise ValueError(f"fill_border: pad_mode must be one of {PAD_MODES}, got {mode!r}")
    top, bottom, left, right = sides(pad, "fill_border")
    h, w = buf.shape[1] - top - bottom, buf.shape[2] - left - right
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise ValueError(f"fill_border: reflect padding {(top, bottom, left, right)} needs an "
                         f"interior larger than that, got {h}x{w}")
    rows, cols = buf, buf.transpose(0, 2, 1, 3)           # a column is a row of the transpose
    for a, before, after, n in ((rows[:, :, left:left + w], top, bottom, h),
                                (cols, left, right, w)):
        if mode == "zeros":
            a[:, :before], a[:, before + n:] = 0, 0
        elif mode == "edge":
            a[:, :before] = a[:, before:before + 1]
            a[:, before + n:] = a[:, before + n - 1:before + n]
        else:   # padded row before - 1 - i is interior row 1 + i; row before + n + i is n - 2 - i
            a[:, :before] = a[:, before + 1:2 * before + 1][:, ::-1]
            a[:, before + n:] = a[:, before + n - 1 - after:before + n - 1][:, ::-1]
    return buf


def _fold_reflected(d, before, after, axis):
    """Add the gradient of each mirrored row (or column) to its source.

    Along `axis` the padded array has ``before + L + after`` entries; padded
    entry ``r < before`` copies entry ``2*before - r``, and the entry
    ``before + L + j`` at the far end copies ``before + L - 2 - j``.
    """
    v = d.swapaxes(1, axis)          # a view: writing to it writes to d
    length = v.shape[1] - before - after
    for r in range(before):
        v[:, 2 * before - r] += v[:, r]
    for j in range(after):
        v[:, before + length - 2 - j] += v[:, before + length + j]


def _fold_edges(d, before, after, axis):
    """Add the gradient of each repeated border row (or column) to the border itself."""
    v = d.swapaxes(1, axis)
    length = v.shape[1] - before - after
    if before:
        v[:, before] += v[:, :before].sum(axis=1)
    if after:
        v[:, before + length - 1] += v[:, before + length:].sum(axis=1)


def pad2d_backward(dy, cache):
    """Gradient of :func:`pad2d_forward`.

    Parameters
    ----------
    dy : ndarray of shape (N, top + H + bottom, left + W + right, C)
    cache : from :func:`pad2d_forward`

    Returns
    -------
    dx : ndarray of shape (N, H, W, C)
    """
    (top, bottom, left, right), mode = cache
    if not (top or bottom or left or right):
        return dy
    if mode in ("reflect", "edge"):
        fold = _fold_reflected if mode == "reflect" else _fold_edges
        dy = dy.copy()
        fold(dy, top, bottom, axis=1)
        fold(dy, left, right, axis=2)
    xp = get_array_module(dy)
    return xp.ascontiguousarray(dy[:, top:dy.shape[1] - bottom, left:dy.shape[2] - right, :])

"""Nearest x2 upsampling followed by a 3x3 conv, as four 2x2 convs on the small image.

In ``conv3x3(upsample2x(x))`` the output pixel ``(2i + a, 2j + b)`` sees
only input pixels of rows ``i - 1, i`` (``a = 0``) or ``i, i + 1`` (``a = 1``):
the upsampled image repeats each row, so two of the kernel's three rows land
on the same input row and their weights add up::

    a = 0:  rows (i - 1, i)  weights (w[0], w[1] + w[2])
    a = 1:  rows (i, i + 1)  weights (w[0] + w[1], w[2])       (columns alike)

So each of the four output *phases* ``(a, b)`` is a 2x2 convolution of the
small image, with filters made from the 3x3 ones -- 4 taps per output pixel
instead of 9, on an input four times smaller. Reflection padding of the
upsampled image by 1 repeats the small image's border pixel, so the small
image is padded with its edge. All four phases run as one shifted
correlation with 4F filters::

    Y4 = shifted.correlate(pad_edge(x, 1), W4)    # (N, H+1, W+1, 4F), 2x2 taps
    y[:, a::2, b::2] = Y4[:, a:a+H, b:b+W, phase (a, b)'s F filters]

Tested against :func:`stylelab.layers.upsample_conv_forward`, the two
layers as written (upsample, then the conv with reflection padding).
"""

from ...backend import get_array_module
from ..padding import pad2d_backward, pad2d_forward
from . import shifted
from .taps import conv_taps, flip_swap
from .workspace import KERNEL_OUTPUT, scratch

# R[a][p, k]: kernel row k of the 3x3 filter feeds row p of phase a's 2x2 filter.
_R = ([[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]])


def _phase_filters(w):
    """(F, 3, 3, C) -> (4F, 2, 2, C): phase (a, b)'s filters at rows (2a + b) * F ..."""
    xp = get_array_module(w)
    r = [xp.asarray(m, dtype=w.dtype) for m in _R]
    return xp.concatenate([xp.einsum("pk,ql,fklc->fpqc", r[a], r[b], w)
                           for a in (0, 1) for b in (0, 1)])


def _phase_filters_backward(dw4, f):
    """The 3x3 filters' gradient from the phase filters' (the transpose of the sums)."""
    xp = get_array_module(dw4)
    r = [xp.asarray(m, dtype=dw4.dtype) for m in _R]
    return sum(xp.einsum("pk,ql,fpqc->fklc", r[a], r[b], dw4[(2 * a + b) * f:(2 * a + b + 1) * f])
               for a in (0, 1) for b in (0, 1))


def upsample_conv_forward(x, w, b):
    """``conv2d(upsample2x(x), w, b, padding="same", pad_mode="reflect")``, computed small.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    w : ndarray of shape (F, 3, 3, C)
    b : ndarray of shape (F,)

    Returns
    -------
    y : ndarray of shape (N, 2H, 2W, F)
    cache : what :func:`upsample_conv_backward` needs
    """
    if w.ndim != 4 or w.shape[1:3] != (3, 3) or w.shape[3] != x.shape[3]:
        raise ValueError(f"upsample_conv: w must have shape (F, 3, 3, {x.shape[3]}), "
                         f"got {tuple(w.shape)}")
    xp = get_array_module(x, w)
    n, h, wd, _ = x.shape
    xpad, pad_cache = pad2d_forward(x, 1, "edge")
    y = xp.empty((n, 2 * h, 2 * wd, w.shape[0]), dtype=x.dtype)
    return upsample_conv_into(xpad, w, b, y), (xpad, pad_cache, w)


def upsample_conv_into(xpad, w, b, out, work=None):
    """The forward pass's arithmetic on an input already edge-padded, into `out`.

    Parameters
    ----------
    xpad : ndarray of shape (N, H + 2, W + 2, C)
        The small image inside a border of 1 that repeats its edge.
    w : ndarray of shape (F, 3, 3, C)
    b : ndarray of shape (F,)
    out : ndarray of shape (N, 2H, 2W, F)
        Any strides (the inside of a bordered buffer).
    work : Workspace, optional
        Where the four phases' products live
        (:mod:`~stylelab.layers.fast.workspace`); a new array if omitted.

    Returns
    -------
    out
    """
    xp = get_array_module(xpad, w)
    n, hp, wp, _ = xpad.shape
    h, wd, f = hp - 2, wp - 2, w.shape[0]
    # (N, H+2, W+2, 4F), the outputs at [:H+1, :W+1]; the bias goes in with the products
    grid = scratch(work, KERNEL_OUTPUT, (n, hp, wp, 4 * f), xpad.dtype, xp)
    y4 = shifted.correlate(xpad, conv_taps(_phase_filters(w)), 2, bias=xp.tile(b, 4), out=grid)
    for a in (0, 1):
        for c in (0, 1):
            phase = 2 * a + c
            out[:, a::2, c::2] = y4[:, a:a + h, c:c + wd, phase * f:(phase + 1) * f]
    return out


def upsample_conv_backward(dy, cache, input_grad=True):
    """Gradients of :func:`upsample_conv_forward`.

    Returns
    -------
    dx : ndarray of shape (N, H, W, C), or None if not `input_grad`
    dw : ndarray of shape (F, 3, 3, C)
    db : ndarray of shape (F,)
    """
    xpad, pad_cache, w = cache
    xp = get_array_module(dy, w)
    n, hp, wp, c = xpad.shape
    h, wd, f = hp - 2, wp - 2, w.shape[0]
    dy4 = xp.zeros((n, h + 1, wd + 1, 4 * f), dtype=dy.dtype)
    for a in (0, 1):
        for cc in (0, 1):
            phase = 2 * a + cc
            dy4[:, a:a + h, cc:cc + wd, phase * f:(phase + 1) * f] = dy[:, a::2, cc::2]
    db = dy.sum(axis=(0, 1, 2))
    dw = _phase_filters_backward(shifted.filter_gradient(xpad, dy4, 2), f)
    if not input_grad:
        return None, dw, db
    # dx of a 2x2 'valid' correlation: correlate dy4 (zero-padded by 1) with the flipped filters.
    dy4p, _ = pad2d_forward(dy4, 1, "zeros")
    dxpad = shifted.correlate(dy4p, conv_taps(flip_swap(_phase_filters(w))), 2)
    return pad2d_backward(dxpad, pad_cache), dw, db

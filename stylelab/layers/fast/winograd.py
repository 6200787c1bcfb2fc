"""3x3 convolution with fewer multiplications: Winograd's minimal filtering F(2x2, 3x3).

Lavin & Gray (2016), "Fast Algorithms for Convolutional Neural Networks". A
direct 3x3 correlation spends 9 multiply-adds per output pixel and channel
pair. Winograd computes a 2x2 block of outputs from the 4x4 block of inputs
around it with 16: transform the input tile ``d`` and the filter ``g``,
multiply elementwise, transform back::

    Y = A^T [ (G g G^T) * (B^T d B) ] A

    B^T = [1  0 -1  0]      G = [ 1    0    0 ]      A^T = [1  1  1  0]
          [0  1  1  0]          [1/2  1/2  1/2]            [0  1 -1 -1]
          [0 -1  1  0]          [1/2 -1/2  1/2]
          [0  1  0 -1]          [ 0    0    1 ]

Summed over the input channels, the elementwise products become 16 matrix
products, one per position of the 4x4 tile: ``M_k = V_k @ U_k`` with ``V_k``
of shape (tiles, C) and ``U_k`` of shape (C, F). That is 16/4 = 4
multiply-adds per output instead of 9, paid for by the transforms, which are
additions and subtractions of whole arrays. They cost memory traffic, so this
wins where there are many channels (VGG's blocks 4 and 5); where there are
few, :mod:`stylelab.layers.fast.shifted` is faster. The result is the same
correlation, up to rounding (the transforms are exact in binary, but the
order of additions differs).
"""

import numpy as np

from ...backend import get_array_module
from .blas import matmul
from .taps import flip_swap

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def winograd_taps(w):
    """Filters (F, 3, 3, C) transformed to ``U`` of shape (16, C, F): ``U[4i+j] = (G g G^T)[i, j]``."""
    xp = get_array_module(w)
    f, k, _, c = w.shape
    if k != 3:
        raise ValueError(f"Winograd F(2x2, 3x3) needs 3x3 filters, got {k}x{k}")
    g = xp.asarray(_G)
    # G g G^T for every (f, c): G along the filter's rows, then along its columns.
    rows = xp.tensordot(g, w.astype(xp.float64), axes=(1, 1))      # (4, F, 3, C)
    u = xp.tensordot(rows, g, axes=(2, 1))                          # (4, F, C, 4)
    u = u.transpose(0, 3, 2, 1)                                     # (4, 4, C, F)
    return xp.ascontiguousarray(u.reshape(16, c, f).astype(w.dtype))


def winograd_backward_taps(w):
    """``U`` for the input gradient: :func:`~stylelab.layers.fast.taps.flip_swap`'s filters, transformed."""
    return winograd_taps(flip_swap(w))


def correlate(xpad, u, out=None):
    """Stride-1 'valid' 3x3 correlation of an input padded by 1, by Winograd F(2x2, 3x3).

    Parameters
    ----------
    xpad : ndarray of shape (N, H + 2, W + 2, C)
        H and W even (every 2x2 output block is whole).
    u : ndarray of shape (16, C, F)
        From :func:`winograd_taps`.
    out : ndarray of shape (N, H, W, F), optional

    Returns
    -------
    y : ndarray of shape (N, H, W, F)
    """
    xp = get_array_module(xpad, u)
    n, hp, wp, c = xpad.shape
    h, w = hp - 2, wp - 2
    if h % 2 or w % 2:
        raise ValueError(f"Winograd F(2x2, 3x3) needs an even output size, got {h}x{w}")
    ty, tx, f = h // 2, w // 2, u.shape[2]
    # B^T d B, rows first: tile row i of every tile is a stride-2 view of xpad.
    r = [xpad[:, i:i + 2 * ty:2] for i in range(4)]                 # (N, ty, Wp, C)
    rows = (r[0] - r[2], r[1] + r[2], r[2] - r[1], r[1] - r[3])
    v = xp.empty((16, n, ty, tx, c), dtype=xpad.dtype)
    for i, row in enumerate(rows):
        col = [row[:, :, j:j + 2 * tx:2] for j in range(4)]        # (N, ty, tx, C)
        xp.subtract(col[0], col[2], out=v[4 * i])
        xp.add(col[1], col[2], out=v[4 * i + 1])
        xp.subtract(col[2], col[1], out=v[4 * i + 2])
        xp.subtract(col[1], col[3], out=v[4 * i + 3])
    # The 16 products, summing over the input channels.
    v = v.reshape(16, n * ty * tx, c)
    m = xp.empty((16, n * ty * tx, f), dtype=xpad.dtype)
    for k in range(16):
        matmul(v[k], u[k], out=m[k])
    # A^T M A: each 4x4 tile of products back to a 2x2 block of outputs.
    m = m.reshape(4, 4, n, ty, tx, f)
    s = [m[0, j] + m[1, j] + m[2, j] for j in range(4)]
    t = [m[1, j] - m[2, j] - m[3, j] for j in range(4)]
    y = xp.empty((n, h, w, f), dtype=xpad.dtype) if out is None else out
    xp.add(s[0] + s[1], s[2], out=y[:, 0::2, 0::2])
    xp.subtract(s[1] - s[2], s[3], out=y[:, 0::2, 1::2])
    xp.add(t[0] + t[1], t[2], out=y[:, 1::2, 0::2])
    xp.subtract(t[1] - t[2], t[3], out=y[:, 1::2, 1::2])
    return y

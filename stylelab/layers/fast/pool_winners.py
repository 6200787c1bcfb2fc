"""Max-pooling that remembers its winners: one byte per window instead of the input.

:func:`stylelab.layers.maxpool2x2_backward` finds each window's winner
again from the input and output it keeps. A network whose pooling reads a
ReLU's output that nothing else needs (VGG's last ReLU of each block) can
drop that output and keep only which corner won -- a sixteenth of its
memory in float32 -- and apply the ReLU's mask in the backward pass: the
winner passed iff the maximum is positive (:mod:`stylelab.nets.fast_vgg`).
"""

from ...backend import get_array_module
from ..pooling import CORNERS, corners


def winners(x, y):
    """Which corner won each window: the first, in row-major order, equal to the maximum.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    y : ndarray of shape (N, H // 2, W // 2, C), from :func:`stylelab.layers.maxpool2x2_forward`

    Returns
    -------
    won : uint8 ndarray like `y`, values 0..3 (see ``stylelab.layers.pooling.CORNERS``)
        A sixteenth of `x`'s memory in float32: what a network keeps instead
        of `x` when nothing else needs `x` afterwards.
    """
    xp = get_array_module(x)
    a, b, c, _ = corners(x, "maxpool2x2")
    # winner = 0 if a wins, else 1 if b wins, else 2 if c wins, else 3:
    # (a != y) * (1 + (b != y) * (1 + (c != y))), in place in uint8.
    won = xp.not_equal(c, y).astype(xp.uint8)
    won += 1
    xp.multiply(won, xp.not_equal(b, y), out=won)
    won += 1
    xp.multiply(won, xp.not_equal(a, y), out=won)
    return won


def backward(dy, won, x_shape, out=None):
    """:func:`stylelab.layers.maxpool2x2_backward` from stored winners instead of ``(x, y)``.

    Parameters
    ----------
    dy : ndarray of shape (N, H // 2, W // 2, C)
    won : from :func:`winners`
    x_shape : tuple (N, H, W, C)
    out : ndarray of shape `x_shape`, optional; every entry is overwritten

    Returns
    -------
    dx : ndarray of shape `x_shape`
    """
    xp = get_array_module(dy)
    ho, wo = won.shape[1:3]
    dx = xp.zeros(x_shape, dtype=dy.dtype) if out is None else out
    if out is not None:
        dx[:, 2 * ho:] = 0
        dx[:, :, 2 * wo:] = 0
    for k, (r, c) in enumerate(CORNERS):
        xp.multiply(dy, won == k, out=dx[:, r:2 * ho:2, c:2 * wo:2, :])
    return dx

"""2x2 pooling with stride 2: max (as in VGG) and average (Gatys et al.'s choice).

Each output pixel looks at a window of four input pixels, its four *corners*::

    x[2i,   2j]  x[2i,   2j+1]          corner 0  corner 1
    x[2i+1, 2j]  x[2i+1, 2j+1]          corner 2  corner 3

With channels-last arrays each corner, for every window at once, is a strided
slice such as ``x[:, 0::2, 1::2, :]``, so both poolings are four slices and no
reshuffling. An odd height or width floors, as in PyTorch: the last row or
column is dropped and gets no gradient.

Output size: ``Ho = H // 2``, ``Wo = W // 2``.
"""

from ..backend import get_array_module
from ._checks import check_activation

# (row, column) offset of each corner, in the row-major order PyTorch scans a window.
CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))


def corners(x, where):
    """The four corner slices of every 2x2 window, each (N, H//2, W//2, C)."""
    check_activation(where, x)
    n, h, w, c = x.shape
    if h < 2 or w < 2:
        raise ValueError(f"{where}: 2x2 pooling needs at least 2x2 pixels, got "
                         f"shape {tuple(x.shape)}")
    ho, wo = h // 2, w // 2
    return [x[:, dy:2 * ho:2, dx:2 * wo:2, :] for dy, dx in CORNERS]


def _spread(parts, x_shape):
    """Place four (N, Ho, Wo, C) corner arrays back into an (N, H, W, C) array."""
    xp = get_array_module(parts[0])
    dx = xp.zeros(x_shape, dtype=parts[0].dtype)
    ho, wo = parts[0].shape[1:3]
    for (dy_, dx_), part in zip(CORNERS, parts):
        dx[:, dy_:2 * ho:2, dx_:2 * wo:2, :] = part
    return dx


def maxpool2x2_forward(x, out=None):
    """Max over each 2x2 window, stride 2.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    out : ndarray of shape (N, H // 2, W // 2, C), optional
        Where to write the result (it may be a view).

    Returns
    -------
    y : ndarray of shape (N, H // 2, W // 2, C)
    cache : (x, y)
        The backward pass finds each window's winner again from these (no
        index array is stored: `x` and `y` are kept by the network anyway).
    """
    xp = get_array_module(x)
    a, b, c, d = corners(x, "maxpool2x2")
    y = xp.maximum(a, b, out=out)
    xp.maximum(y, c, out=y)
    xp.maximum(y, d, out=y)
    return y, (x, y)


def maxpool2x2_backward(dy, cache, out=None):
    """Gradient of :func:`maxpool2x2_forward`: each window's winner takes ``dy``.

    The winner is the *first* corner, in row-major order, equal to the
    window's maximum -- the element PyTorch's scan keeps when values tie.

    Parameters
    ----------
    dy : ndarray of shape (N, H // 2, W // 2, C)
    cache : from :func:`maxpool2x2_forward`
    out : ndarray of shape (N, H, W, C), optional
        Where to write the result; every entry is overwritten.

    Returns
    -------
    dx : ndarray of shape (N, H, W, C)
    """
    x, y = cache
    xp = get_array_module(dy)
    ho, wo = y.shape[1:3]
    if out is None:
        dx = xp.zeros(x.shape, dtype=dy.dtype)
    else:
        dx = out
        dx[:, 2 * ho:] = 0            # an odd last row or column gets no gradient
        dx[:, :, 2 * wo:] = 0
    taken = None
    for (r, c), corner in zip(CORNERS, corners(x, "maxpool2x2")):
        wins = corner == y
        if taken is None:
            taken = wins.copy()
        else:
            wins &= ~taken                # an earlier corner already won the tie
            taken |= wins
        xp.multiply(dy, wins, out=dx[:, r:2 * ho:2, c:2 * wo:2, :])
    return dx


def avgpool2x2_forward(x):
    """Mean over each 2x2 window, stride 2.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)

    Returns
    -------
    y : ndarray of shape (N, H // 2, W // 2, C)
    cache : tuple
        The input shape.
    """
    a, b, c, d = corners(x, "avgpool2x2")
    return (a + b + c + d) * x.dtype.type(0.25), x.shape


def avgpool2x2_backward(dy, cache):
    """Gradient of :func:`avgpool2x2_forward`: each corner gets ``dy / 4``."""
    quarter = dy * dy.dtype.type(0.25)
    return _spread([quarter] * 4, cache)

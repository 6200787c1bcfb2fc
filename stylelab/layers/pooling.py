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


def _corners(x, where):
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


def maxpool2x2_forward(x):
    """Max over each 2x2 window, stride 2.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)

    Returns
    -------
    y : ndarray of shape (N, H // 2, W // 2, C)
    cache : (argmax, x_shape)
        ``argmax`` (uint8, shape of `y`) is the corner that won each window:
        the *first* maximum in row-major order, as PyTorch picks it.
    """
    xp = get_array_module(x)
    corners = _corners(x, "maxpool2x2")
    # argmax returns the first of equal maxima (and the first NaN), which is
    # exactly the element PyTorch's scan keeps.
    argmax = xp.stack(corners, axis=-1).argmax(axis=-1).astype(xp.uint8)
    y = xp.maximum(xp.maximum(corners[0], corners[1]),
                   xp.maximum(corners[2], corners[3]))
    return y, (argmax, x.shape)


def maxpool2x2_backward(dy, cache):
    """Gradient of :func:`maxpool2x2_forward`: each window's winner takes ``dy``.

    Parameters
    ----------
    dy : ndarray of shape (N, H // 2, W // 2, C)
    cache : from :func:`maxpool2x2_forward`

    Returns
    -------
    dx : ndarray of shape (N, H, W, C)
    """
    argmax, x_shape = cache
    return _spread([dy * (argmax == k) for k in range(4)], x_shape)


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
    a, b, c, d = _corners(x, "avgpool2x2")
    return (a + b + c + d) * x.dtype.type(0.25), x.shape


def avgpool2x2_backward(dy, cache):
    """Gradient of :func:`avgpool2x2_forward`: each corner gets ``dy / 4``."""
    quarter = dy * dy.dtype.type(0.25)
    return _spread([quarter] * 4, cache)

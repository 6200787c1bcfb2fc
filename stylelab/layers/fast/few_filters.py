"""Stride-1 convolution to few filters (an RGB output): products first, then shifts.

With F = 3 a shifted product per tap (:mod:`stylelab.layers.fast.shifted`)
would be a thin (L x C) @ (C x 3) that reads the whole input for three
columns of output, K*K times over. Instead every tap's filters meet the
input in one product, and the taps are then added at their shifts::

    Z = W_all @ X.T          # (K*K*F, C) @ (C, L): row t*F + f is tap t, filter f
    Y.T[f, p] = sum over t of Z[t*F + f, p + off_t]

Kept transposed, each shifted sum adds long contiguous rows. Rows are done
`chunk` at a time, so Z stays small. (The input gradient of a layer *from*
RGB is such a correlation too: its flip-swapped filters have F = 3.)
"""

from ...backend import get_array_module
from .blas import matmul
from .shifted import valid_length


def correlate(xpad, w, bias=None, chunk=1 << 16):
    """Stride-1 'valid' correlation of a padded input with few filters.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    w : ndarray of shape (F, K, K, C)
    bias : ndarray of shape (F,), optional
    chunk : int
        Output rows per product.

    Returns
    -------
    y : ndarray of shape (N, Hp - K + 1, Wp - K + 1, F)
    """
    xp = get_array_module(xpad, w)
    n, hp, wp, c = xpad.shape
    f, k = w.shape[0], w.shape[1]
    rows = xp.ascontiguousarray(xpad).reshape(n * hp * wp, c)
    length = valid_length(xpad.shape, k)
    reach = (k - 1) * wp + (k - 1)                     # the largest tap offset
    w_all = xp.ascontiguousarray(w.transpose(1, 2, 0, 3)).reshape(k * k * f, c)
    out_t = xp.zeros((f, n * hp * wp), dtype=xpad.dtype)
    for r0 in range(0, length, chunk):
        r1 = min(r0 + chunk, length)
        z = matmul(w_all, rows[r0:r1 + reach].T)        # (K*K*F, r1 - r0 + reach)
        for t in range(k * k):
            offset = (t // k) * wp + t % k
            out_t[:, r0:r1] += z[t * f:(t + 1) * f, offset:offset + r1 - r0]
    if bias is not None:
        out_t[:, :length] += bias[:, None]
    grid = xp.ascontiguousarray(out_t.T).reshape(n, hp, wp, f)
    return grid[:, :hp - k + 1, :wp - k + 1, :]

"""Stride-1 convolution to few filters (an RGB output): products first, then shifts.

With F = 3 a shifted product per tap (:mod:`stylelab.layers.fast.shifted`)
would be a thin (L x C) @ (C x 3) that reads the whole input for three
columns of output, K*K times over. Instead the K taps of one filter row meet
the input in one product, and the taps are then added at their shifts::

    for each filter row ky:
        Z = W_ky @ X[ky*Wp : ...].T     # (K*F, C) @ (C, L + K - 1): row kx*F + f is tap (ky, kx), filter f
        Y.T[f, p] += Z[kx*F + f, p + kx]   for each kx

Kept transposed, each shifted sum adds long contiguous rows. The output goes
`chunk` rows at a time -- its sums moved into the output grid while in cache --
so ``Z`` is a few megabytes, made once and reused:
a product over the whole image at once would write K*K*F/C times the input
(for the wave networks' 32 -> 3 layer, 68 MB per 65536 rows), out to memory
and back, and fresh memory of that size is page faults on every call.
(The input gradient of a layer *from* RGB is such a correlation too: its
flip-swapped filters have F = 3.)
"""

from ...backend import get_array_module
from .blas import matmul
from .shifted import valid_length
from .workspace import KERNEL_INPUT, KERNEL_OUTPUT, scratch

CHUNK = 1 << 15   # output rows per product: Z is K*F*(CHUNK + K - 1) numbers (3.5 MB for 9x9, F = 3)


def correlate(xpad, w, bias=None, chunk=CHUNK, work=None):
    """Stride-1 'valid' correlation of a padded input with few filters.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    w : ndarray of shape (F, K, K, C)
    bias : ndarray of shape (F,), optional
    chunk : int
        Output rows per product.
    work : Workspace, optional
        Where ``Z`` and a chunk's sums live (:mod:`~stylelab.layers.fast.workspace`).

    Returns
    -------
    y : ndarray of shape (N, Hp - K + 1, Wp - K + 1, F), a view into a new (N, Hp, Wp, F) grid
    """
    xp = get_array_module(xpad, w)
    n, hp, wp, c = xpad.shape
    f, k = w.shape[0], w.shape[1]
    rows = xp.ascontiguousarray(xpad).reshape(n * hp * wp, c)
    length = valid_length(xpad.shape, k)
    w_rows = xp.ascontiguousarray(w.transpose(1, 2, 0, 3)).reshape(k, k * f, c)   # (ky, kx*F+f, C)
    grid = xp.empty((n, hp, wp, f), dtype=xpad.dtype)
    flat = grid.reshape(n * hp * wp, f)
    size = min(chunk, length)
    z_store = scratch(work, KERNEL_INPUT, (k * f * (size + k - 1),), xpad.dtype, xp)
    sums = scratch(work, KERNEL_OUTPUT, (f, size), xpad.dtype, xp)
    for r0 in range(0, length, chunk):
        m = min(chunk, length - r0)
        z = z_store[:k * f * (m + k - 1)].reshape(k * f, m + k - 1)   # C-contiguous: BLAS writes it
        block = sums[:, :m]
        for ky in range(k):
            start = r0 + ky * wp
            matmul(w_rows[ky], rows[start:start + m + k - 1].T, out=z)
            for kx in range(k):
                tap = z[kx * f:(kx + 1) * f, kx:kx + m]
                if ky or kx:
                    block += tap
                elif bias is None:
                    block[...] = tap
                else:
                    xp.add(tap, bias[:, None], out=block)
        flat[r0:r0 + m] = block.T              # this chunk's rows of the grid, while in cache
    return grid[:, :hp - k + 1, :wp - k + 1, :]
